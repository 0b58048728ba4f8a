"""The reference waterfall: the executable specification of ``contracts/spv/Waterfall.sol``.

One call of :func:`close_period` is one payment-date close of a deal. It takes the deal's fixed terms
(:class:`DealParams`), the state carried from the previous close (:class:`DealState`) and the servicer's
collections report (:class:`PeriodReport`), and returns what was paid (:class:`PeriodResult`) and the state
for the next close. The Solidity library does exactly the same, in the same order, with the same integer
arithmetic and the same rounding; ``tests/integration/test_waterfall_differential.py`` holds them equal.

Units: every amount is an integer in the currency's base unit (1 USDC = 10**6); every rate and ratio is in
basis points (1 bp = 1/10,000); interest and percentage fees accrue 30/360 on the period's beginning
balance, i.e. ``amount * bps * period_months // 120_000``. Every division rounds down.

Priority of payments (see ``docs/waterfall.md`` for the full text):

0. losses: net loss = defaults - recoveries debits the principal deficiency ledger (PDL) in reverse
   seniority; a negative net loss (recoveries above defaults) credits it senior first;
1. senior fees in their listed order (reserve draws cover what revenue cannot);
2. class interest by seniority (current + carried shortfall; the reserve covers the most senior classes
   named in the spec; the rest is carried forward without interest on interest);
3. reserve: replenished up to its target from revenue, or the excess above target released into revenue;
4. principal: scheduled + prepayments + recoveries, sequential or pro-rata;
5. PDL cure: what is left of revenue, up to the PDL, paid as principal the same way;
6. residual: the rest of revenue plus any principal no class can take, to the equity class.

Triggers are tested after the payments, on the period's closing figures, and govern the *next* close.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import pandas as pd

#: One in basis points.
BPS = 10_000
#: Denominator of a 30/360 accrual of ``bps`` per annum over ``months`` months: 10,000 bps x 12 months.
ACCRUAL_DENOMINATOR = BPS * 12
#: Bounds of the loops of the on-chain library (classes, fees, triggers).
MAX_CLASSES = 8
MAX_FEES = 8
MAX_TRIGGERS = 8
#: Largest period length in months (one payment a year).
MAX_PERIOD_MONTHS = 12
#: The value of a coverage ratio whose denominator is zero ("infinitely covered"): uint256 max.
UNBOUNDED_RATIO = 2**256 - 1


class PrincipalMode(IntEnum):
    """How principal is shared among the classes (Solidity ``enum PrincipalMode``)."""

    SEQUENTIAL = 0
    PRO_RATA = 1


class TriggerKind(IntEnum):
    """What a trigger measures (Solidity ``enum TriggerKind``). All values are in basis points."""

    #: cumulative (defaults - recoveries) / original pool balance; breached when above the threshold.
    CUMULATIVE_NET_LOSS = 0
    #: (60-89 + 90+ days delinquent principal) / pool ending balance; breached when above the threshold.
    DELINQUENCY_60_PLUS = 1
    #: pool ending balance / non-equity class balances after payments; breached when below the threshold.
    OVERCOLLATERALISATION = 2
    #: interest collections / (fees + non-equity interest) due this period; breached when below.
    INTEREST_COVERAGE = 3


#: Kinds breached when the value is BELOW the threshold (coverage tests); the others when ABOVE it.
MINIMUM_TESTS = frozenset({TriggerKind.OVERCOLLATERALISATION, TriggerKind.INTEREST_COVERAGE})


class WaterfallError(ValueError):
    """Bad input to the waterfall. ``name`` and ``args`` equal the Solidity custom error and its arguments."""

    def __init__(self, name: str, *args: int):
        self.name = name
        self.error_args = tuple(int(a) for a in args)
        super().__init__(f"{name}({', '.join(str(a) for a in self.error_args)})")


#: Solidity signatures of the custom errors (selector = keccak256(signature)[:4]).
ERROR_SIGNATURES: dict[str, str] = {
    "InvalidClassCount": "InvalidClassCount(uint256)",
    "InvalidEquityClass": "InvalidEquityClass(uint256)",
    "InvalidCoupon": "InvalidCoupon(uint256,uint256)",
    "InvalidFeeCount": "InvalidFeeCount(uint256)",
    "InvalidFeeBps": "InvalidFeeBps(uint256,uint256)",
    "InvalidTriggerCount": "InvalidTriggerCount(uint256)",
    "InvalidPeriodMonths": "InvalidPeriodMonths(uint256)",
    "InvalidReserveBps": "InvalidReserveBps(uint256,uint256)",
    "InvalidReserveCover": "InvalidReserveCover(uint256,uint256)",
    "ZeroOriginalPool": "ZeroOriginalPool()",
    "InvalidStateLength": "InvalidStateLength(uint256,uint256,uint256)",
    "PdlExceedsBalance": "PdlExceedsBalance(uint256,uint256,uint256)",
    "PoolReductionExceedsBalance": "PoolReductionExceedsBalance(uint256,uint256)",
    "PoolBalanceMismatch": "PoolBalanceMismatch(uint256,uint256)",
    "DelinquencyExceedsPool": "DelinquencyExceedsPool(uint256,uint256)",
}

#: ``InvalidStateLength`` field codes.
STATE_FIELD_CLASS_BALANCES = 0
STATE_FIELD_INTEREST_SHORTFALLS = 1
STATE_FIELD_PDL = 2
STATE_FIELD_FEE_SHORTFALLS = 3


# --------------------------------------------------------------------------------------------------
# Structures (field order = Solidity struct member order = ABI tuple order)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassParams:
    """One class (tranche); its seniority is its index in :attr:`DealParams.classes` (0 = most senior)."""

    coupon_bps: int
    is_equity: bool


@dataclass(frozen=True)
class FeeParams:
    """A senior fee due each period: ``fixed_amount`` + ``pool_bps`` p.a. of the beginning pool, 30/360."""

    fixed_amount: int
    pool_bps: int


@dataclass(frozen=True)
class TriggerParams:
    """A performance test and what its breach switches."""

    kind: TriggerKind
    threshold_bps: int
    switches_to_sequential: bool
    steps_up_reserve: bool
    curable: bool


@dataclass(frozen=True)
class DealParams:
    """The fixed terms of a deal the waterfall needs."""

    period_months: int
    original_pool_balance: int
    classes: tuple[ClassParams, ...]
    fees: tuple[FeeParams, ...]
    reserve_target_bps: int
    reserve_step_up_target_bps: int
    reserve_floor: int
    reserve_covered_classes: int
    principal_mode: PrincipalMode
    triggers: tuple[TriggerParams, ...]
    clean_up_call_bps: int

    def as_abi(self) -> tuple:
        """The ``DealParams`` tuple for a contract call."""
        return (
            self.period_months,
            self.original_pool_balance,
            [(c.coupon_bps, c.is_equity) for c in self.classes],
            [(f.fixed_amount, f.pool_bps) for f in self.fees],
            self.reserve_target_bps,
            self.reserve_step_up_target_bps,
            self.reserve_floor,
            self.reserve_covered_classes,
            int(self.principal_mode),
            [
                (int(t.kind), t.threshold_bps, t.switches_to_sequential, t.steps_up_reserve, t.curable)
                for t in self.triggers
            ],
            self.clean_up_call_bps,
        )


@dataclass(frozen=True)
class DealState:
    """What one close hands to the next. Per-class lists are in seniority order."""

    periods_closed: int
    pool_balance: int
    class_balances: tuple[int, ...]
    interest_shortfalls: tuple[int, ...]
    pdl: tuple[int, ...]
    fee_shortfalls: tuple[int, ...]
    reserve_balance: int
    cumulative_defaults: int
    cumulative_recoveries: int
    triggers_breached: int

    def as_abi(self) -> tuple:
        """The ``DealState`` tuple for a contract call."""
        return (
            self.periods_closed,
            self.pool_balance,
            list(self.class_balances),
            list(self.interest_shortfalls),
            list(self.pdl),
            list(self.fee_shortfalls),
            self.reserve_balance,
            self.cumulative_defaults,
            self.cumulative_recoveries,
            self.triggers_breached,
        )

    @classmethod
    def from_abi(cls, value: Sequence[Any] | Mapping[str, Any]) -> DealState:
        """Build from a decoded ``DealState`` struct (a tuple, or a mapping of its members in order)."""
        v = _members(value)
        return cls(
            int(v[0]), int(v[1]), _ints(v[2]), _ints(v[3]), _ints(v[4]), _ints(v[5]),
            int(v[6]), int(v[7]), int(v[8]), int(v[9]),
        )

    @property
    def cumulative_net_loss(self) -> int:
        """Cumulative defaults less cumulative recoveries, floored at zero."""
        return max(self.cumulative_defaults - self.cumulative_recoveries, 0)


@dataclass(frozen=True)
class PeriodReport:
    """The servicer's collections report for one period (principal amounts, not counts)."""

    interest_collections: int
    scheduled_principal: int
    prepayments: int
    recoveries: int
    defaults: int
    delinquent_30: int
    delinquent_60: int
    delinquent_90_plus: int
    pool_ending_balance: int

    def as_abi(self) -> tuple:
        """The ``PeriodReport`` tuple for a contract call."""
        return dataclasses.astuple(self)

    @property
    def cash_in(self) -> int:
        """All cash collected this period: interest + scheduled principal + prepayments + recoveries."""
        return self.interest_collections + self.principal_available

    @property
    def principal_available(self) -> int:
        """Available principal: scheduled principal + prepayments + recoveries."""
        return self.scheduled_principal + self.prepayments + self.recoveries


@dataclass(frozen=True)
class PeriodResult:
    """What one close paid. Per-class lists in seniority order; per-fee lists in fee order."""

    sequential: bool
    reserve_step_up: bool
    fee_due: tuple[int, ...]
    fee_paid: tuple[int, ...]
    interest_due: tuple[int, ...]
    interest_paid: tuple[int, ...]
    principal_paid: tuple[int, ...]
    write_down: tuple[int, ...]
    pdl_cured: tuple[int, ...]
    reserve_draw: int
    reserve_release: int
    reserve_deposit: int
    reserve_target: int
    pdl_cure_paid: int
    residual: int
    loss_unallocated: int
    trigger_values: tuple[int, ...]
    triggers_breached: int
    clean_up_call_available: bool

    @classmethod
    def from_abi(cls, value: Sequence[Any] | Mapping[str, Any]) -> PeriodResult:
        """Build from a decoded ``PeriodResult`` struct (a tuple, or a mapping of its members in order)."""
        v = _members(value)
        return cls(
            bool(v[0]), bool(v[1]),
            _ints(v[2]), _ints(v[3]), _ints(v[4]), _ints(v[5]), _ints(v[6]), _ints(v[7]), _ints(v[8]),
            int(v[9]), int(v[10]), int(v[11]), int(v[12]), int(v[13]), int(v[14]), int(v[15]),
            _ints(v[16]), int(v[17]), bool(v[18]),
        )

    @property
    def cash_out(self) -> int:
        """Where the period's cash went: fees + interest + principal + net reserve change + residual."""
        return (
            sum(self.fee_paid) + sum(self.interest_paid) + sum(self.principal_paid)
            + self.reserve_deposit - self.reserve_draw - self.reserve_release + self.residual
        )


def _ints(values: Iterable[Any]) -> tuple[int, ...]:
    return tuple(int(x) for x in values)


def _members(value: Sequence[Any] | Mapping[str, Any]) -> list[Any]:
    """A decoded struct's members in declaration order (web3 decodes event structs as mappings)."""
    return list(value.values()) if isinstance(value, Mapping) else list(value)


# --------------------------------------------------------------------------------------------------
# Input checks (same order and same errors as the library)
# --------------------------------------------------------------------------------------------------


def validate_params(p: DealParams) -> None:
    """Raise :class:`WaterfallError` if the terms cannot be run."""
    n = len(p.classes)
    if n == 0 or n > MAX_CLASSES:
        raise WaterfallError("InvalidClassCount", n)
    for i, c in enumerate(p.classes):
        if c.is_equity != (i == n - 1):
            raise WaterfallError("InvalidEquityClass", i)
        if c.coupon_bps > BPS or (c.is_equity and c.coupon_bps != 0):
            raise WaterfallError("InvalidCoupon", i, c.coupon_bps)
    if len(p.fees) > MAX_FEES:
        raise WaterfallError("InvalidFeeCount", len(p.fees))
    for k, f in enumerate(p.fees):
        if f.pool_bps > BPS:
            raise WaterfallError("InvalidFeeBps", k, f.pool_bps)
    if len(p.triggers) > MAX_TRIGGERS:
        raise WaterfallError("InvalidTriggerCount", len(p.triggers))
    if p.period_months == 0 or p.period_months > MAX_PERIOD_MONTHS:
        raise WaterfallError("InvalidPeriodMonths", p.period_months)
    if p.reserve_target_bps > BPS or p.reserve_step_up_target_bps > BPS:
        raise WaterfallError("InvalidReserveBps", p.reserve_target_bps, p.reserve_step_up_target_bps)
    if p.reserve_covered_classes > n - 1:
        raise WaterfallError("InvalidReserveCover", p.reserve_covered_classes, n - 1)
    if p.original_pool_balance == 0:
        raise WaterfallError("ZeroOriginalPool")


def validate_state(p: DealParams, s: DealState) -> None:
    """Raise :class:`WaterfallError` if the state does not fit the terms."""
    n = len(p.classes)
    for code, values, expected in (
        (STATE_FIELD_CLASS_BALANCES, s.class_balances, n),
        (STATE_FIELD_INTEREST_SHORTFALLS, s.interest_shortfalls, n),
        (STATE_FIELD_PDL, s.pdl, n),
        (STATE_FIELD_FEE_SHORTFALLS, s.fee_shortfalls, len(p.fees)),
    ):
        if len(values) != expected:
            raise WaterfallError("InvalidStateLength", code, expected, len(values))
    for i in range(n):
        if s.pdl[i] > s.class_balances[i]:
            raise WaterfallError("PdlExceedsBalance", i, s.pdl[i], s.class_balances[i])


def validate_report(s: DealState, r: PeriodReport) -> None:
    """Raise :class:`WaterfallError` if the report does not reconcile with the pool balance.

    The pool ending balance must equal the beginning balance less scheduled principal, prepayments and
    defaults; delinquent principal (all buckets) is part of the ending pool and cannot exceed it.
    """
    reduction = r.scheduled_principal + r.prepayments + r.defaults
    if reduction > s.pool_balance:
        raise WaterfallError("PoolReductionExceedsBalance", s.pool_balance, reduction)
    if s.pool_balance - reduction != r.pool_ending_balance:
        raise WaterfallError("PoolBalanceMismatch", s.pool_balance - reduction, r.pool_ending_balance)
    delinquent = r.delinquent_30 + r.delinquent_60 + r.delinquent_90_plus
    if delinquent > r.pool_ending_balance:
        raise WaterfallError("DelinquencyExceedsPool", delinquent, r.pool_ending_balance)


# --------------------------------------------------------------------------------------------------
# The steps
# --------------------------------------------------------------------------------------------------


def accrue(amount: int, bps_per_annum: int, months: int) -> int:
    """30/360 accrual of ``bps_per_annum`` on ``amount`` over ``months`` months, rounded down."""
    return amount * bps_per_annum * months // ACCRUAL_DENOMINATOR


def sequential_mode(p: DealParams, triggers_breached: int) -> bool:
    """True when principal goes sequentially: the deal's mode, or a breached trigger that switches it."""
    if p.principal_mode == PrincipalMode.SEQUENTIAL:
        return True
    return any(t.switches_to_sequential and (triggers_breached >> j) & 1 for j, t in enumerate(p.triggers))


def reserve_step_up(p: DealParams, triggers_breached: int) -> bool:
    """True when a breached trigger steps the reserve target up."""
    return any(t.steps_up_reserve and (triggers_breached >> j) & 1 for j, t in enumerate(p.triggers))


def reserve_target(p: DealParams, pool_ending_balance: int, debt_balance: int, step_up: bool) -> int:
    """The reserve target: max(pool end x bps, floor), capped at the non-equity classes' balance.

    ``debt_balance`` is the non-equity classes' balance at the beginning of the period. Zero once the pool
    has run off (pool ending balance 0) or the notes are repaid, so the whole reserve is released.
    """
    if pool_ending_balance == 0:
        return 0
    bps = p.reserve_step_up_target_bps if step_up else p.reserve_target_bps
    return min(max(pool_ending_balance * bps // BPS, p.reserve_floor), debt_balance)


def allocate_principal(
    amount: int, balances: Sequence[int], sequential: bool
) -> tuple[list[int], int]:
    """Share ``amount`` of principal among the classes; returns (paid per class, amount left over).

    Sequential: most senior first, each class up to its balance. Pro-rata: the non-equity classes (all
    but the last) in proportion to their balances, each share rounded down, the rounding dust then paid
    to the most senior class with balance left; the equity class (the last) only once every other class
    is repaid. No class is paid above its balance; what no class can take is returned as left over.
    """
    n = len(balances)
    paid = [0] * n
    remaining = amount
    if not sequential and n > 1:
        debt = sum(balances[: n - 1])
        if 0 < remaining < debt:
            for i in range(n - 1):
                paid[i] = remaining * balances[i] // debt
            remaining -= sum(paid)
            # Dust (< number of classes) to the most senior class with balance left.
            for i in range(n - 1):
                if remaining == 0:
                    break
                extra = min(remaining, balances[i] - paid[i])
                paid[i] += extra
                remaining -= extra
    for i in range(n):
        extra = min(remaining, balances[i] - paid[i])
        paid[i] += extra
        remaining -= extra
    return paid, remaining


def trigger_value(
    kind: TriggerKind,
    p: DealParams,
    r: PeriodReport,
    cumulative_net_loss: int,
    debt_end: int,
    ic_denominator: int,
) -> int:
    """The measured value of a trigger test, in basis points rounded down."""
    if kind == TriggerKind.CUMULATIVE_NET_LOSS:
        return cumulative_net_loss * BPS // p.original_pool_balance
    if kind == TriggerKind.DELINQUENCY_60_PLUS:
        if r.pool_ending_balance == 0:
            return 0
        return (r.delinquent_60 + r.delinquent_90_plus) * BPS // r.pool_ending_balance
    if kind == TriggerKind.OVERCOLLATERALISATION:
        if debt_end == 0:
            return UNBOUNDED_RATIO
        return r.pool_ending_balance * BPS // debt_end
    if ic_denominator == 0:
        return UNBOUNDED_RATIO
    return r.interest_collections * BPS // ic_denominator


def trigger_breached(t: TriggerParams, value: int, was_breached: bool) -> bool:
    """Maximum tests breach above the threshold, coverage tests below it; a non-curable one stays breached."""
    if was_breached and not t.curable:
        return True
    if t.kind in MINIMUM_TESTS:
        return value < t.threshold_bps
    return value > t.threshold_bps


def close_period(p: DealParams, s: DealState, r: PeriodReport) -> tuple[PeriodResult, DealState]:
    """Run the priority of payments for one period; return the payments and the next state."""
    validate_params(p)
    validate_state(p, s)
    validate_report(s, r)
    n = len(p.classes)
    m = p.period_months
    balances = list(s.class_balances)
    pdl = list(s.pdl)
    interest_short = list(s.interest_shortfalls)
    fee_short = list(s.fee_shortfalls)
    reserve = s.reserve_balance
    sequential = sequential_mode(p, s.triggers_breached)
    step_up = reserve_step_up(p, s.triggers_breached)
    debt_begin = sum(balances[: n - 1])

    # 0. Losses: net loss debits the PDL junior first; net recoveries credit it senior first.
    write_down = [0] * n
    pdl_cured = [0] * n
    loss_unallocated = 0
    if r.defaults > r.recoveries:
        left = r.defaults - r.recoveries
        for i in reversed(range(n)):
            d = min(left, balances[i] - pdl[i])
            write_down[i] = d
            pdl[i] += d
            left -= d
        loss_unallocated = left
    elif r.recoveries > r.defaults:
        left = r.recoveries - r.defaults
        for i in range(n):
            c = min(left, pdl[i])
            pdl_cured[i] += c
            pdl[i] -= c
            left -= c

    revenue = r.interest_collections
    reserve_draw = 0

    # 1. Senior fees, in order; the reserve covers what revenue cannot.
    fee_due = [0] * len(p.fees)
    fee_paid = [0] * len(p.fees)
    for k, f in enumerate(p.fees):
        fee_due[k] = f.fixed_amount + accrue(s.pool_balance, f.pool_bps, m)
        owed = fee_short[k] + fee_due[k]
        from_revenue = min(revenue, owed)
        revenue -= from_revenue
        from_reserve = min(reserve, owed - from_revenue)
        reserve -= from_reserve
        reserve_draw += from_reserve
        fee_paid[k] = from_revenue + from_reserve
        fee_short[k] = owed - fee_paid[k]

    # 2. Class interest by seniority; the reserve covers the first `reserve_covered_classes` classes.
    interest_due = [0] * n
    interest_paid = [0] * n
    for i, c in enumerate(p.classes):
        interest_due[i] = accrue(balances[i], c.coupon_bps, m)
        owed = interest_short[i] + interest_due[i]
        from_revenue = min(revenue, owed)
        revenue -= from_revenue
        from_reserve = 0
        if i < p.reserve_covered_classes:
            from_reserve = min(reserve, owed - from_revenue)
            reserve -= from_reserve
            reserve_draw += from_reserve
        interest_paid[i] = from_revenue + from_reserve
        interest_short[i] = owed - interest_paid[i]

    # 3. Reserve to target: replenish from revenue, or release the excess into revenue.
    target = reserve_target(p, r.pool_ending_balance, debt_begin, step_up)
    reserve_deposit = 0
    reserve_release = 0
    if reserve < target:
        reserve_deposit = min(revenue, target - reserve)
        revenue -= reserve_deposit
        reserve += reserve_deposit
    elif reserve > target:
        reserve_release = reserve - target
        reserve -= reserve_release
        revenue += reserve_release

    # 4. Principal.
    principal_paid, residual = allocate_principal(r.principal_available, balances, sequential)
    for i in range(n):
        balances[i] -= principal_paid[i]
    _release_repaid_pdl(balances, pdl, pdl_cured)

    # 5. PDL cure from excess spread, credited senior first and paid as principal.
    cure = min(revenue, sum(pdl))
    revenue -= cure
    left = cure
    for i in range(n):
        c = min(left, pdl[i])
        pdl[i] -= c
        pdl_cured[i] += c
        left -= c
    cure_paid, cure_left = allocate_principal(cure, balances, sequential)
    for i in range(n):
        balances[i] -= cure_paid[i]
        principal_paid[i] += cure_paid[i]
    _release_repaid_pdl(balances, pdl, pdl_cured)

    # 6. Residual to the equity class.
    residual += revenue + cure_left

    # Triggers on the closing figures; they govern the next close.
    cumulative_defaults = s.cumulative_defaults + r.defaults
    cumulative_recoveries = s.cumulative_recoveries + r.recoveries
    cnl = max(cumulative_defaults - cumulative_recoveries, 0)
    debt_end = sum(balances[: n - 1])
    ic_denominator = sum(fee_due) + sum(interest_due[: n - 1])
    values = []
    breached = 0
    for j, t in enumerate(p.triggers):
        v = trigger_value(t.kind, p, r, cnl, debt_end, ic_denominator)
        values.append(v)
        if trigger_breached(t, v, bool((s.triggers_breached >> j) & 1)):
            breached |= 1 << j

    result = PeriodResult(
        sequential=sequential,
        reserve_step_up=step_up,
        fee_due=tuple(fee_due),
        fee_paid=tuple(fee_paid),
        interest_due=tuple(interest_due),
        interest_paid=tuple(interest_paid),
        principal_paid=tuple(principal_paid),
        write_down=tuple(write_down),
        pdl_cured=tuple(pdl_cured),
        reserve_draw=reserve_draw,
        reserve_release=reserve_release,
        reserve_deposit=reserve_deposit,
        reserve_target=target,
        pdl_cure_paid=cure,
        residual=residual,
        loss_unallocated=loss_unallocated,
        trigger_values=tuple(values),
        triggers_breached=breached,
        clean_up_call_available=r.pool_ending_balance * BPS <= p.clean_up_call_bps * p.original_pool_balance,
    )
    state = DealState(
        periods_closed=s.periods_closed + 1,
        pool_balance=r.pool_ending_balance,
        class_balances=tuple(balances),
        interest_shortfalls=tuple(interest_short),
        pdl=tuple(pdl),
        fee_shortfalls=tuple(fee_short),
        reserve_balance=reserve,
        cumulative_defaults=cumulative_defaults,
        cumulative_recoveries=cumulative_recoveries,
        triggers_breached=breached,
    )
    return result, state


def _release_repaid_pdl(balances: list[int], pdl: list[int], pdl_cured: list[int]) -> None:
    """A class repaid below its PDL debit has been paid that debit in cash: the excess debit is cured."""
    for i in range(len(balances)):
        if pdl[i] > balances[i]:
            pdl_cured[i] += pdl[i] - balances[i]
            pdl[i] = balances[i]


# --------------------------------------------------------------------------------------------------
# Identities every close satisfies (used by the tests and by anyone auditing a deal)
# --------------------------------------------------------------------------------------------------


def check_identities(s: DealState, r: PeriodReport, res: PeriodResult, nxt: DealState) -> None:
    """Assert the conservation identities of one close; raises ``AssertionError`` naming the broken one.

    * cash: cash in = fees + interest + principal + (reserve deposit - draw - release) + residual;
    * reserve: end = begin - draw - release + deposit;
    * per class: balance end = begin - principal paid; PDL end = begin + write-down - cured <= balance;
    * interest and fee shortfalls: end = begin + due - paid.
    """
    assert r.cash_in == res.cash_out, f"cash: in {r.cash_in} != out {res.cash_out}"
    expected_reserve = s.reserve_balance - res.reserve_draw - res.reserve_release + res.reserve_deposit
    assert nxt.reserve_balance == expected_reserve, "reserve balance does not reconcile"
    for i in range(len(s.class_balances)):
        assert nxt.class_balances[i] == s.class_balances[i] - res.principal_paid[i], f"class {i} balance"
        assert nxt.pdl[i] == s.pdl[i] + res.write_down[i] - res.pdl_cured[i], f"class {i} PDL"
        assert 0 <= nxt.pdl[i] <= nxt.class_balances[i], f"class {i} PDL above balance"
        assert nxt.interest_shortfalls[i] == (
            s.interest_shortfalls[i] + res.interest_due[i] - res.interest_paid[i]
        ), f"class {i} interest shortfall"
    for k in range(len(s.fee_shortfalls)):
        assert nxt.fee_shortfalls[k] == s.fee_shortfalls[k] + res.fee_due[k] - res.fee_paid[k], f"fee {k}"
    net_loss = r.defaults - r.recoveries
    assert sum(res.write_down) + res.loss_unallocated == max(net_loss, 0), "loss allocation"


# --------------------------------------------------------------------------------------------------
# Running many periods
# --------------------------------------------------------------------------------------------------


def run_periods(
    p: DealParams, s: DealState, reports: Iterable[PeriodReport]
) -> list[tuple[PeriodResult, DealState]]:
    """Close one period per report, carrying the state forward; returns (result, state after) per period."""
    out = []
    for r in reports:
        res, s = close_period(p, s, r)
        out.append((res, s))
    return out


def periods_frame(
    history: Sequence[tuple[PeriodResult, DealState]], class_names: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per period: fees, reserve, residual, and per class interest, principal, write-down, balance."""
    rows = []
    for res, st in history:
        names = list(class_names) if class_names else [f"class{i}" for i in range(len(st.class_balances))]
        row: dict[str, int | bool] = {
            "period": st.periods_closed,
            "pool_balance": st.pool_balance,
            "fees_paid": sum(res.fee_paid),
            "reserve_balance": st.reserve_balance,
            "reserve_target": res.reserve_target,
            "pdl_cure_paid": res.pdl_cure_paid,
            "residual": res.residual,
            "sequential": res.sequential,
            "triggers_breached": st.triggers_breached,
        }
        for i, name in enumerate(names):
            row[f"{name}_interest"] = res.interest_paid[i]
            row[f"{name}_principal"] = res.principal_paid[i]
            row[f"{name}_write_down"] = res.write_down[i]
            row[f"{name}_balance"] = st.class_balances[i]
            row[f"{name}_pdl"] = st.pdl[i]
            row[f"{name}_interest_shortfall"] = st.interest_shortfalls[i]
        rows.append(row)
    return pd.DataFrame(rows).set_index("period") if rows else pd.DataFrame()


__all__ = [
    "ACCRUAL_DENOMINATOR", "BPS", "ClassParams", "DealParams", "DealState", "ERROR_SIGNATURES", "FeeParams",
    "MAX_CLASSES", "MAX_FEES", "MAX_PERIOD_MONTHS", "MAX_TRIGGERS", "PeriodReport", "PeriodResult",
    "PrincipalMode", "TriggerKind", "TriggerParams", "UNBOUNDED_RATIO", "WaterfallError", "accrue",
    "allocate_principal", "check_identities", "close_period",
    "periods_frame", "reserve_step_up", "reserve_target", "run_periods", "sequential_mode", "trigger_breached",
    "trigger_value", "validate_params", "validate_report", "validate_state",
]
