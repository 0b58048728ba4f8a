"""One assumptions object for the projection, roll-rate and Monte Carlo engines (chainabs.model.assumptions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chainabs.model import cashflows, delinquency, montecarlo
from chainabs.model.analytics import Scenario
from chainabs.model.assumptions import AssumptionError, Assumptions

MATRIX = delinquency.roll_rate_matrix(current_to_30=0.03, roll_30_60=0.4, roll_60_90=0.5, roll_90_default=0.6,
                                      cure_30=0.3, cure_60=0.2, cure_90=0.1)


def test_the_same_object_drives_every_engine_like_its_keywords():
    a = Assumptions(cpr=0.12, cdr=0.04, severity=0.55, recovery_lag=2, servicing_fee=0.01)
    keywords = dict(cpr=0.12, cdr=0.04, severity=0.55, recovery_lag=2, servicing_fee=0.01)
    pd.testing.assert_frame_equal(cashflows.project_pool(1_000.0, 0.15, 24, a),
                                  cashflows.project_pool(1_000.0, 0.15, 24, **keywords))
    tape = montecarlo.synthetic_tape(30, seed=3, term=24)
    assert np.array_equal(montecarlo.simulate(tape, a, paths=5, seed=9).cashflows,
                          montecarlo.simulate(tape, paths=5, seed=9, **keywords).cashflows)
    roll = Assumptions(cpr=0.12, severity=0.55, recovery_lag=2)
    pd.testing.assert_frame_equal(delinquency.project_delinquency(1_000.0, 0.15, 24, MATRIX, roll),
                                  delinquency.project_delinquency(1_000.0, 0.15, 24, MATRIX, cpr=0.12, severity=0.55,
                                                                  recovery_lag=2))


def test_a_scenario_is_assumptions():
    assert Scenario(0.1, 0.02, 0.6, 3).assumptions() == Assumptions(cpr=0.1, cdr=0.02, severity=0.6, recovery_lag=3)


def test_overrides_replace_a_measure_of_the_same_kind_and_keep_the_rest():
    base = Assumptions(psa=150, sda=100, severity=0.4)
    both = Assumptions.of(base, cdr=0.05)
    assert (both.psa, both.sda, both.cdr, both.severity) == (150, None, 0.05, 0.4)


@pytest.mark.parametrize("bad, message", [
    (dict(nope=1), "unknown assumption"),
    (dict(cpr=0.1, psa=100), "at most one prepayment measure"),
    (dict(severity=1.5), "severity"),
    (dict(recovery_lag=1.5), "recovery_lag"),
    (dict(recovery_lag=-1), "recovery_lag"),
    (dict(servicing_fee=-0.01), "servicing_fee"),
])
def test_bad_assumptions_name_the_field(bad, message):
    with pytest.raises(AssumptionError, match=message):
        Assumptions.of(**bad) if "nope" in bad or len(bad) == 1 else Assumptions(**bad)


def test_the_roll_rate_engine_refuses_a_default_measure():
    with pytest.raises(AssumptionError, match="transition matrix"):
        delinquency.project_delinquency(1_000.0, 0.15, 24, MATRIX, cdr=0.05)
