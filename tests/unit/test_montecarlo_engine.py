"""Loan-level Monte Carlo: determinism, identities on every path, agreement with the standard projection."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainabs.model import cashflows as cf
from chainabs.model import montecarlo as mc
from chainabs.model.cashflows import AssumptionError


@pytest.fixture(scope="module")
def tape():
    return mc.synthetic_tape(250, seed=11, term=24, max_age=6)


def _principal_residual(result: mc.MonteCarloResult, advancing: bool) -> np.ndarray:
    c = result.column
    out = c("actual_amortization") + c("voluntary_prepayments") + c("principal_recovery") + c("principal_loss")
    if advancing:
        out = out + c("amortization_from_defaults")
    return result.original_balance - out.sum(axis=1) - c("performing_balance")[:, -1] - c("foreclosure_balance")[:, -1]


@pytest.mark.parametrize("advancing", [True, False])
def test_principal_in_equals_principal_out_plus_losses_on_every_path(tape, advancing):
    r = mc.simulate(tape, paths=40, seed=5, cpr=0.2, cdr=0.25, severity=0.6, recovery_lag=3,
                    advancing=advancing, default_vol=0.8, prepay_vol=0.4)
    assert np.abs(_principal_residual(r, advancing)).max() <= 1e-9 * r.original_balance
    c = r.column
    prior = np.concatenate([np.full((r.paths, 1), r.original_balance), c("performing_balance")[:, :-1]], axis=1)
    np.testing.assert_allclose(
        c("performing_balance"),
        prior - c("new_defaults") - c("voluntary_prepayments") - c("actual_amortization"),
        atol=1e-7,
    )
    np.testing.assert_allclose(c("liquidated_balance"), c("principal_loss") + c("principal_recovery"), atol=1e-9)
    np.testing.assert_allclose(c("total_collections"), c("principal_collections") + c("interest_collections"))
    assert (r.cashflows >= -1e-7).all()
    assert r.losses.std() > 0  # paths differ


def test_same_seed_same_result_whatever_the_workers(tape):
    kw = dict(paths=30, seed=9, cpr=0.1, cdr=0.1, severity=0.5, recovery_lag=2, default_vol=0.5)
    a = mc.simulate(tape, workers=1, **kw)
    b = mc.simulate(tape, workers=2, **kw)
    np.testing.assert_array_equal(a.cashflows, b.cashflows)
    c = mc.simulate(tape, **dict(kw, seed=10))
    assert not np.array_equal(a.cashflows, c.cashflows)


def test_small_path_blocks_repeat_and_keep_identities(tape, monkeypatch):
    kw = dict(paths=12, seed=3, cpr=0.1, cdr=0.2, severity=0.5, recovery_lag=2)
    monkeypatch.setattr(mc, "BLOCK_ELEMENTS", 250 * 5)  # 5 paths per block: blocks of 5, 5 and 2 paths
    first = mc.simulate(tape, **kw)
    assert first.meta["block_paths"] == 5
    np.testing.assert_array_equal(first.cashflows, mc.simulate(tape, **kw).cashflows)
    assert np.abs(_principal_residual(first, True)).max() <= 1e-9 * first.original_balance


def test_without_randomness_every_path_is_the_deterministic_projection(tape):
    det = cf.project_loans(tape, severity=0.5, recovery_lag=2, servicing_fee=0.005)
    r = mc.simulate(tape, paths=3, seed=1, severity=0.5, recovery_lag=2, servicing_fee=0.005)
    for p in range(3):
        frame = r.path_frame(p)
        np.testing.assert_allclose(frame[list(cf.SUM_COLUMNS)], det[list(cf.SUM_COLUMNS)], rtol=1e-10, atol=1e-8)


@pytest.mark.parametrize("advancing", [True, False])
def test_mean_of_paths_converges_to_the_standard_projection(tape, advancing):
    kw = dict(cpr=0.15, cdr=0.12, severity=0.6, recovery_lag=3, advancing=advancing, servicing_fee=0.01)
    det = cf.project_loans(tape, **kw)
    mean = mc.simulate(tape, paths=2000, seed=21, **kw).mean_frame()
    for col in cf.SUM_COLUMNS:
        total = det[col].sum()
        assert mean[col].sum() == pytest.approx(total, rel=0.02, abs=1e-6), col


def test_all_loans_default_with_certainty_and_full_severity(tape):
    r = mc.simulate(tape, paths=4, seed=2, mdr=[1.0] + [0.0] * 23, severity=1.0)
    np.testing.assert_allclose(r.losses, tape.balance.sum())
    assert r.column("actual_amortization").sum() == 0.0


def test_loss_distribution_and_tranche_hook(tape):
    seen = []

    def senior_mezz(path: pd.DataFrame) -> dict[str, float]:
        seen.append(len(path))
        loss = path.principal_loss.sum()
        return {"mezz": min(loss, 0.05 * path.attrs["original_balance"]), "equity_hit": float(loss > 0)}

    r = mc.simulate(tape, paths=50, seed=4, cdr=0.2, severity=0.7, default_vol=1.0, tranche_losses=senior_mezz)
    assert seen == [24] * 50
    assert list(r.tranche_losses.columns) == ["mezz", "equity_hit"]
    assert r.tranche_losses.index.name == "path" and len(r.tranche_losses) == 50
    np.testing.assert_allclose(r.tranche_losses.mezz, np.minimum(r.losses, 0.05 * r.original_balance))
    dist = r.loss_distribution()
    assert dist["q0.5"] <= dist["q0.99"] <= dist["es0.99"] + 1e-12
    assert dist["mean"] == pytest.approx(r.loss_rates.mean())
    # Systematic factors: multipliers have mean about 1 and widen the loss distribution.
    calm = mc.simulate(tape, paths=50, seed=4, cdr=0.2, severity=0.7)
    assert calm.loss_rates.std() < r.loss_rates.std()


def test_bad_inputs_rejected(tape):
    with pytest.raises(AssumptionError, match="paths"):
        mc.simulate(tape, paths=0, seed=1)
    with pytest.raises(AssumptionError, match="seed"):
        mc.simulate(tape, paths=1, seed=-1)
    with pytest.raises(AssumptionError, match="default_vol"):
        mc.simulate(tape, paths=1, seed=1, default_vol=-0.1)
    with pytest.raises(AssumptionError, match="factor_corr"):
        mc.simulate(tape, paths=1, seed=1, factor_corr=2)
    with pytest.raises(AssumptionError, match="cdr: rate 1.5 at month 1 is over 100 %"):
        mc.simulate(tape, paths=1, seed=1, cdr=1.5)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    cpr=st.floats(0, 1),
    cdr=st.floats(0, 1),
    severity=st.floats(0, 1),
    lag=st.integers(0, 6),
    advancing=st.booleans(),
    vol=st.floats(0, 2),
)
def test_identity_property(seed, cpr, cdr, severity, lag, advancing, vol):
    tape = mc.synthetic_tape(40, seed=seed % 1000, term=12, max_age=3)
    r = mc.simulate(tape, paths=8, seed=seed, cpr=cpr, cdr=cdr, severity=severity, recovery_lag=lag,
                    advancing=advancing, default_vol=vol, prepay_vol=vol)
    assert np.abs(_principal_residual(r, advancing)).max() <= 1e-9 * r.original_balance
    assert (r.losses <= severity * r.column("new_defaults").sum(axis=1) + 1e-7).all()


def test_each_loan_defaults_and_prepays_at_its_own_rate_not_the_bound():
    """The coarse draw only skips cells above the highest rate of the chunk; a loan whose rate is far below
    that bound must still default and prepay at its own rate. Two seasoning groups in one chunk: new loans
    (SDA/PSA curves at age 1: 3 % a year) and loans aged 29 (age 30: 90 % a year). Balances 1 and 1,000 let
    month 1's defaulted balance on a path be read back as (new loans, seasoned loans) exactly."""
    n, paths = 100, 20_000
    tape = pd.DataFrame({"balance": [1.0] * n + [1000.0] * n, "wac": 0.12, "term": 40, "age": [0] * n + [29] * n})
    r = mc.simulate(tape, paths=paths, seed=12, sda=15_000, psa=1_500, recovery_lag=0)
    defaulted = r.column("new_defaults")[:, 0]
    seasoned = np.floor(defaulted / 1000.0)
    new = defaulted - 1000.0 * seasoned
    assert np.array_equal(new, np.round(new)) and new.max() <= n  # decoded exactly
    prepaid = r.column("voluntary_prepayments")[:, 0]  # each loan prepays its balance after month 1's amortization
    after = 1.0 - cf.scheduled_fractions(np.array([0.12, 0.12]), np.array([40, 40]), np.array([0, 29]), 1)[:, 0]
    seasoned_p = np.floor(prepaid / (1000.0 * after[1]) + 1e-9)
    new_p = np.round((prepaid - seasoned_p * 1000.0 * after[1]) / after[0])
    for count, rate in (
        (new, cf.monthly_rates("sda", 15_000, 1, 0)[0, 0]),
        (seasoned, cf.monthly_rates("sda", 15_000, 1, 29)[0, 0]),
        (new_p, cf.monthly_rates("psa", 1_500, 1, 0)[0, 0]),
        (seasoned_p, cf.monthly_rates("psa", 1_500, 1, 29)[0, 0]),
    ):
        trials = n * paths
        # prepayment is drawn only among loans that did not default: P = SMM for the prepay cell [MDR, MDR+SMM)
        expected = trials * rate
        assert abs(count.sum() - expected) <= 5 * math.sqrt(expected * (1 - rate)), (rate, count.sum(), expected)


class _FakeLibc:
    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad):
        self.calls.append(("malloc_trim", pad))
        return 1


def test_fixed_malloc_thresholds_are_raised_for_the_run_and_put_back(monkeypatch, tape):
    """Dask workers start with MALLOC_TRIM_THRESHOLD_ set: the run serves its arrays from the heap, then puts
    glibc's mmap threshold back and trims, so the worker's memory returns to the system as dask intends."""
    libc = _FakeLibc()
    monkeypatch.setattr(mc.ctypes, "CDLL", lambda name: libc)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    seen = []
    real = mc._run_block
    monkeypatch.setattr(mc, "_run_block", lambda *a: seen.append(list(libc.calls)) or real(*a))
    mc.simulate(tape, paths=3, seed=1, cdr=0.1, workers=1)
    assert seen and all(calls == [("mallopt", -3, 32 * 1024 * 1024)] for calls in seen)  # during every block
    assert libc.calls == [("mallopt", -3, 32 * 1024 * 1024), ("mallopt", -3, 128 * 1024), ("malloc_trim", 0)]
    libc.calls.clear()
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "262144")  # a threshold the process was given is the one restored
    mc.simulate(tape, paths=3, seed=1, cdr=0.1, workers=1)
    assert libc.calls[1] == ("mallopt", -3, 262144)


def test_adaptive_malloc_thresholds_are_left_alone(monkeypatch, tape):
    libc = _FakeLibc()
    monkeypatch.setattr(mc.ctypes, "CDLL", lambda name: libc)
    for name in mc._FIXED_MALLOC_ENV:
        monkeypatch.delenv(name, raising=False)
    mc.simulate(tape, paths=3, seed=1, cdr=0.1, workers=1)
    assert libc.calls == []


def test_a_process_setting_is_restored_by_the_last_run_not_the_first():
    """Runs side by side in one process (a thread-pool executor, a multi-threaded Dask worker) share the BLAS and
    malloc settings: the first to start applies, the last to end restores; one ending early restores nothing."""
    import threading

    log = []
    setting = mc._ProcessSetting(lambda: log.append("apply") or (lambda: log.append("undo")))
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with setting.held():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def second():
        a_in.wait(5)
        with setting.held():
            b_in.set()
            a_out.wait(5)
            assert log == ["apply"]  # the first run ended; the setting is still held for this one

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert log == ["apply", "undo"]
    with setting.held():  # a later run applies it again
        pass
    assert log == ["apply", "undo", "apply", "undo"]
    nothing = mc._ProcessSetting(lambda: None)  # nothing to change (no OpenBLAS found, adaptive malloc)
    with nothing.held(), nothing.held():
        pass


def test_a_thread_pool_executor_gives_the_in_process_result_and_leaves_blas_as_it_was(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    tape = mc.synthetic_tape(2000, seed=1, term=36)
    monkeypatch.setattr(mc, "TASK_ELEMENTS", 2000 * 500)  # one block per task: four run side by side
    kw = dict(paths=3000, seed=3, cdr=0.1, cpr=0.1, severity=0.4)
    ref = mc.simulate(tape, workers=1, **kw)
    with ThreadPoolExecutor(4) as ex:
        pooled = mc.simulate(tape, executor=ex, **kw)
    np.testing.assert_array_equal(ref.cashflows, pooled.cashflows)
    assert (mc._BLAS._holders, mc._BLAS._undo) == (0, None)  # released: OpenBLAS has its own thread count back


def test_progress_counts_every_loan_path_then_every_path_in_process_and_on_an_executor(tape, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(mc, "LOAN_CHUNK", 100)  # chunks of 100, 100 and 50 loans
    monkeypatch.setattr(mc, "BLOCK_ELEMENTS", 100 * 4)  # blocks of 4 paths: 4, 4, 2
    monkeypatch.setattr(mc, "TASK_ELEMENTS", 100 * 8)  # two blocks per task

    def run(**kw):
        seen = []
        mc.simulate(tape, paths=10, seed=1, cdr=0.1, tranche_losses=lambda f: {"x": 0.0},
                    progress=lambda stage, done, total: seen.append((stage, done, total)), **kw)
        return seen

    with ThreadPoolExecutor(2) as pool:
        runs = (run(workers=1), run(workers=2), run(executor=pool))
    for seen in runs:
        simulated = [(d, t) for s, d, t in seen if s == "simulate"]
        assert [s for s, _, _ in seen] == ["simulate"] * len(simulated) + ["tranches"] * 10  # simulate, then tranches
        assert all(t == 250 * 10 for _, t in simulated) and simulated[-1][0] == 2500
        assert [d for d, _ in simulated] == sorted({d for d, _ in simulated})  # strictly increasing
        assert [(d, t) for s, d, t in seen if s == "tranches"] == [(p, 10) for p in range(1, 11)]
