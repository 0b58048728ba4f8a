"""Pool performance assumptions: one object shared by the standard-formula projection
(:mod:`chainabs.model.cashflows`), the roll-rate projection (:mod:`chainabs.model.delinquency`), the
loan-level Monte Carlo (:mod:`chainabs.model.montecarlo`) and the deal analytics' scenarios.

Prepayments are given by at most one measure (``smm`` or ``cpr``: decimals; ``psa``: percent of the PSA
curve), defaults by at most one (``mdr`` or ``cdr``: decimals; ``sda``: percent of the SDA curve), each a
number or one value per projected month. ``severity`` is the loss as a share of the defaulted balance,
realised ``recovery_lag`` months after default; ``servicing_fee`` a decimal per annum taken off the coupon;
with ``advancing`` the servicer advances scheduled principal and interest of defaulted loans.

The engines take an :class:`Assumptions` and, for convenience, the same names as keywords
(``project_pool(..., cpr=0.1, severity=0.4)``): :meth:`Assumptions.of` merges both and rejects a name it
does not know.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

#: A rate assumption: a number, one value per projected month, or nothing.
RateInput = Union[float, int, Sequence[float], np.ndarray, None]

PREPAYMENT_MEASURES = ("smm", "cpr", "psa")
DEFAULT_MEASURES = ("mdr", "cdr", "sda")
MEASURES = PREPAYMENT_MEASURES + DEFAULT_MEASURES


class AssumptionError(ValueError):
    """An assumption or loan input the standard formulas cannot use; the message names field and rule."""


@dataclass(frozen=True)
class Assumptions:
    """Prepayment and default measures, loss severity and timing, servicing fee, P&I advancing."""

    smm: RateInput = None
    cpr: RateInput = None
    psa: RateInput = None
    mdr: RateInput = None
    cdr: RateInput = None
    sda: RateInput = None
    severity: float = 0.0
    recovery_lag: int = 0
    servicing_fee: float = 0.0
    advancing: bool = True

    def __post_init__(self) -> None:
        if not (isinstance(self.severity, (int, float, np.floating)) and math.isfinite(self.severity)):
            raise AssumptionError(f"severity: {self.severity!r} is not a number")
        if not 0.0 <= self.severity <= 1.0:
            raise AssumptionError(f"severity: {self.severity:g} must be between 0 and 1 (1 = 100 % loss)")
        lag = self.recovery_lag
        if (isinstance(lag, bool) or not isinstance(lag, (int, float, np.integer, np.floating))
                or not math.isfinite(lag) or int(lag) != lag or lag < 0):
            raise AssumptionError(f"recovery_lag: {lag!r} must be a whole number of months >= 0")
        fee = self.servicing_fee
        if not (isinstance(fee, (int, float, np.floating)) and math.isfinite(fee) and fee >= 0):
            raise AssumptionError(f"servicing_fee: {fee!r} must be a decimal >= 0")
        for kind, measures in (("prepayment", PREPAYMENT_MEASURES), ("default", DEFAULT_MEASURES)):
            chosen = [m for m in measures if getattr(self, m) is not None]
            if len(chosen) > 1:
                raise AssumptionError(
                    f"give at most one {kind} measure ({', '.join(measures)}); got {' and '.join(chosen)}"
                )

    @classmethod
    def of(cls, assumptions: Assumptions | None = None, **overrides: Any) -> Assumptions:
        """``assumptions`` (default: none at all) with ``overrides`` by name; an unknown name is an error.

        A measure given in ``overrides`` replaces the base's measure of the same kind (a ``cdr`` replaces a
        base ``sda``)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise AssumptionError(f"unknown assumption(s) {', '.join(unknown)}; expected {', '.join(sorted(names))}")
        base = assumptions or cls()
        for measures in (PREPAYMENT_MEASURES, DEFAULT_MEASURES):
            if any(overrides.get(m) is not None for m in measures):
                overrides = {**{m: None for m in measures}, **overrides}
        return dataclasses.replace(base, **overrides)

    def measure(self, kind: str) -> tuple[str, RateInput] | None:
        """The ``prepayment`` or ``default`` measure given (name, value), or None."""
        measures = PREPAYMENT_MEASURES if kind == "prepayment" else DEFAULT_MEASURES
        chosen = [m for m in measures if getattr(self, m) is not None]
        return (chosen[0], getattr(self, chosen[0])) if chosen else None
