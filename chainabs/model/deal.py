"""The whole life of a deal, off chain: the executable specification of ``contracts/spv/SPV.sol``.

:mod:`chainabs.model.waterfall` specifies one period close; :class:`DealModel` adds what the SPV does around
it, with the same integer arithmetic: the offering and closing (true sale, reserve funding), the pending
period report, the clean-up call (the call price arrives as prepayments and the pool goes to zero), the
payments each close makes (fees to recipients; interest, principal and, for the equity class, the residual
to the tranche tokens), the tokens' tranche state, and the end of the deal (unpaid principal written off,
the reserve released to the equity class). It keeps the same conservation ledger as ``SPV.ledger()``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from enum import IntEnum

from chainabs.model.waterfall import BPS, DealParams, DealState, PeriodReport, PeriodResult, close_period, validate_report


class Phase(IntEnum):
    """Solidity ``enum Phase``."""

    OFFERING = 0
    ACTIVE = 1
    ENDED = 2
    CANCELLED = 3


class TermsRule(IntEnum):
    """Solidity ``enum TermsRule`` (why ``SPV``'s constructor refused its arguments: ``InvalidTerms``)."""

    CLASS_COUNT = 0
    FEE_COUNT = 1
    ZERO_ADDRESS = 2
    DATES = 3
    CLASS_TOKEN = 4
    CLASS_SIZE = 5
    FEE_RECIPIENT = 6
    POOL_SIZE = 7
    POOL_ORIGINATOR = 8


SECONDS_PER_DAY = 86_400


def add_months(timestamp: int, months: int) -> int:
    """``DateLib.addMonths``: ``timestamp`` (unix, UTC) moved ``months`` calendar months later, same time of
    day, the day clamped to the last day of a shorter month (Jan 31 + 1 month = Feb 28 or 29)."""
    if months == 0:
        return timestamp
    day, seconds = divmod(timestamp, SECONDS_PER_DAY)
    d = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    total = d.year * 12 + (d.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    moved = dt.date(year, month, min(d.day, calendar.monthrange(year, month)[1]))
    return (moved - dt.date(1970, 1, 1)).days * SECONDS_PER_DAY + seconds


def payment_date(first_payment: int, period_months: int, period: int) -> int:
    """``SPV.paymentDate``: payment date of ``period`` (1-based; 0 answers the first payment date)."""
    if period == 0:
        return first_payment
    return add_months(first_payment, (period - 1) * period_months)


class DealModelError(ValueError):
    """An action the SPV would revert; ``name`` is the SPV's custom error."""

    def __init__(self, name: str, *args: object) -> None:
        self.name = name
        self.error_args = args
        super().__init__(f"{name}({', '.join(str(a) for a in args)})")


@dataclass
class Ledger:
    """``SPV.ledger()``: every unit received and where it is now (field order = Solidity struct)."""

    subscriptions: int = 0
    reserve_funded: int = 0
    collections: int = 0
    clean_up_proceeds: int = 0
    paid_to_originator: int = 0
    refunded: int = 0
    fees_paid: int = 0
    fees_owed: int = 0
    distributed: int = 0
    held_for_classes: int = 0
    reserve_balance: int = 0
    pending_collections: int = 0
    deposits_returned: int = 0
    deposits_returnable: int = 0
    unsettled_subscriptions: int = 0
    buy_back_proceeds: int = 0
    revolving_purchases: int = 0

    @property
    def received(self) -> int:
        return self.subscriptions + self.reserve_funded + self.collections + self.clean_up_proceeds

    @property
    def accounted(self) -> int:
        return (
            self.paid_to_originator + self.refunded + self.fees_paid + self.fees_owed + self.distributed
            + self.held_for_classes + self.reserve_balance + self.pending_collections + self.deposits_returned
            + self.deposits_returnable + self.unsettled_subscriptions + self.buy_back_proceeds
            + self.revolving_purchases
        )

    @property
    def held(self) -> int:
        """What the SPV's currency balance must be (at least: currency sent straight to it is in no book)."""
        return (
            self.fees_owed + self.held_for_classes + self.reserve_balance + self.pending_collections
            + self.deposits_returnable + self.unsettled_subscriptions + self.buy_back_proceeds
        )

    def check(self) -> None:
        """Raise AssertionError unless every unit received is accounted for."""
        if self.received != self.accounted:
            raise AssertionError(f"ledger does not balance: received {self.received} != accounted {self.accounted}")


@dataclass
class TrancheView:
    """What a class's token shows after the SPV's calls (mirror of the token's tranche state)."""

    original_face: int
    current_principal: int
    cumulative_write_down: int = 0
    interest_shortfall: int = 0
    interest_distributed: int = 0
    principal_distributed: int = 0


@dataclass
class ClosedPeriod:
    """One close as the SPV reports it: the waterfall result, the state after, and the class payments."""

    period: int
    report: PeriodReport
    result: PeriodResult
    state: DealState
    class_interest: tuple[int, ...]
    clean_up_price: int


@dataclass
class DealModel:
    """A deal from offering to end, mirroring the SPV step by step."""

    params: DealParams
    class_sizes: tuple[int, ...]
    reserve_initial: int
    #: unix time after which nothing can be subscribed or closed and anyone may cancel (None: not modelled)
    offering_deadline: int | None = None
    #: a pool of rent only (a REIT's leases): a report without rent is accepted and noted (``NoRentCollected``:
    #: its close has no rental income for the unit holders); the periods so noted
    rent_only: bool = False
    rentless_periods: list[int] = field(default_factory=list)
    #: ``SPVTerms.lastRevolvingPeriod``: the pending report's principal collections of periods 1 .. this one may
    #: buy receivables at par (:meth:`purchase`); 0 = a static pool
    last_revolving_period: int = 0
    #: ``SPVTerms.earlyAmortizationDelinquencyBps``: after a revolving period whose 60+ delinquent principal
    #: exceeds this share of the pool its close left, the revolving period ends for good (0: no such test)
    early_amortization_delinquency_bps: int = 0
    #: ``SPVTerms.earlyAmortizationExcessSpreadBps``: after a revolving period whose annualised excess spread
    #: (interest collections - fees paid - interest paid to all classes but the last) over its beginning pool
    #: is below this, the revolving period ends for good (0: no such test)
    early_amortization_excess_spread_bps: int = 0
    #: the servicing court's dilution terms (``IServicingCourt.setDilutionTerms``): (repurchase, early-amortization
    #: limit in bps: the period's dilutions over its beginning pool, breached above; 0: none); None: no dilutions
    dilution_terms: tuple[bool, int] | None = None
    phase: Phase = Phase.OFFERING
    subscribed: list[int] = field(default_factory=list)
    state: DealState | None = None
    ledger: Ledger = field(default_factory=Ledger)
    tranches: list[TrancheView] = field(default_factory=list)
    fees_paid: list[int] = field(default_factory=list)
    fees_withdrawn: list[int] = field(default_factory=list)
    distributed: list[int] = field(default_factory=list)
    history: list[ClosedPeriod] = field(default_factory=list)
    #: per class: (interest, principal) a close owed it and its token refused (held by the SPV)
    held: list[tuple[int, int]] = field(default_factory=list)
    pending: PeriodReport | None = None
    pending_clean_up: int = 0
    #: the defaulted loans' part of ``pending_clean_up`` (arrives as recoveries)
    pending_clean_up_recoveries: int = 0
    #: the close of a clean-up call gave the pool to the originator: no report can be made, the deal can end
    pool_sold: bool = False
    #: (principal, interest) of loans bought back since the last report, and of those joined to the pending one
    buy_backs: tuple[int, int] = (0, 0)
    pending_buy_backs: tuple[int, int] = (0, 0)
    #: the pending report was proven false (``ServicingCourt``): it neither closes nor prices a clean-up call
    disputed: bool = False
    #: revolving: the pending report's principal collections (scheduled + prepayments), and what purchases spent
    #: of them in the running period (kept across a cancelled report)
    principal_available: int = 0
    purchased: int = 0
    #: 60+ days delinquent principal of the last revolving report (the early-amortization test's numerator)
    revolving_delinquent: int = 0
    #: the period after which an early-amortization test ended the revolving period (None: not ended early),
    #: the test's kind (``chainabs.model.revolving.EarlyAmortizationKind``) and value in bps
    early_amortization: int | None = None
    early_amortization_test: tuple[int, int] | None = None
    #: the last revolving report's interest collections (buy-backs joined) and beginning pool balance
    revolving_interest: int = 0
    revolving_beginning: int = 0
    #: the last period whose report ran the early-amortization tests (a report of the same period submitted
    #: again after a cancel keeps the first submission's verdict: the SPV finds the period's commitment set)
    revolving_tested: int = 0
    #: per period: (dilution loss, dilution repurchased, repurchase cash the SPV took) as the court records them
    dilutions: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    #: the originator's repurchase cash (the court's) in the pending collections (on chain: the court's
    #: ``dilutionOf`` repurchases less ``Totals.courtCashGone``); a cancelled report keeps what its purchases did not spend of it in ``ledger.pending_collections`` for the
    #: report submitted again
    court_cash: int = 0
    #: the shortfalls the end of the deal settled, in the SPV's event order: (event name, fee or class index,
    #: paid, lost) per fee or class that carried one (``FeeShortfallSettled``, ``InterestShortfallSettled``)
    end_settlements: list[tuple[str, int, int, int]] = field(default_factory=list)
    #: what the last report submitted owed back to the cancelled report's depositor (``DepositOverpaid``: the
    #: court's cash the deal holds exceeds what the report submitted again needs)
    overpaid: int = 0

    def __post_init__(self) -> None:
        n = len(self.params.classes)
        if len(self.class_sizes) != n:
            raise DealModelError("InvalidTerms", TermsRule.CLASS_COUNT, n)
        if sum(self.class_sizes) != self.params.original_pool_balance:
            raise DealModelError("InvalidTerms", TermsRule.POOL_SIZE, 0)
        self.subscribed = [0] * n
        self.distributed = [0] * n
        self.fees_paid = [0] * len(self.params.fees)
        self.fees_withdrawn = [0] * len(self.params.fees)
        self.held = [(0, 0)] * n
        self.tranches = [TrancheView(original_face=0, current_principal=0) for _ in range(n)]
        self.state = DealState(
            periods_closed=0,
            pool_balance=self.params.original_pool_balance,
            class_balances=tuple(self.class_sizes),
            interest_shortfalls=(0,) * n,
            pdl=(0,) * n,
            fee_shortfalls=(0,) * len(self.params.fees),
            reserve_balance=0,
            cumulative_defaults=0,
            cumulative_recoveries=0,
            triggers_breached=0,
        )

    # ------------------------------------------------------------------------------------------ offering
    def subscribe(self, class_index: int, amount: int, now: int | None = None) -> None:
        """An investor pays ``amount`` and receives ``amount`` units of the class (at unix time ``now``)."""
        self._require(Phase.OFFERING)
        self._check_deadline(now)
        if not 0 <= class_index < len(self.class_sizes):
            raise DealModelError("UnknownClass", class_index)
        if amount <= 0:
            raise DealModelError("ZeroAmount")
        available = self.class_sizes[class_index] - self.subscribed[class_index]
        if amount > available:
            raise DealModelError("OverSubscribed", class_index, amount, available)
        self.subscribed[class_index] += amount
        self.ledger.subscriptions += amount
        self.ledger.unsettled_subscriptions += amount
        t = self.tranches[class_index]
        t.original_face += amount
        t.current_principal += amount

    def close_deal(self, now: int | None = None) -> int:
        """Pay the originator, fund the reserve; returns the purchase price."""
        self._require(Phase.OFFERING)
        self._check_deadline(now)
        for i, (have, size) in enumerate(zip(self.subscribed, self.class_sizes)):
            if have != size:
                raise DealModelError("NotFullySubscribed", i, have, size)
        self.phase = Phase.ACTIVE
        price = self.ledger.subscriptions
        self.ledger.paid_to_originator = price
        self.ledger.unsettled_subscriptions = 0
        self.ledger.reserve_funded = self.reserve_initial
        self.ledger.reserve_balance = self.reserve_initial
        self.state = replace(self.state, reserve_balance=self.reserve_initial)
        return price

    def cancel_offering(self, *, arranger: bool = True, now: int | None = None) -> bool:
        """``SPV.cancelOffering`` at unix time ``now``: the arranger at any time of the offering, anyone after its
        deadline; returns whether the deadline had passed."""
        self._require(Phase.OFFERING)
        after = self.offering_deadline is not None and now is not None and now > self.offering_deadline
        if not (arranger or after):
            raise DealModelError("OfferingStillOpen", self.offering_deadline or 0)  # (the chain adds its time)
        self.phase = Phase.CANCELLED
        return after

    def refund(self, units: int) -> int:
        """``SPV.refund`` of a holder of ``units`` units (all classes together): one unit of currency each."""
        self._require(Phase.CANCELLED)
        if units <= 0:
            raise DealModelError("NothingOwed")
        self.ledger.refunded += units
        self.ledger.unsettled_subscriptions -= units
        return units

    # ------------------------------------------------------------------------------------------- periods
    def dilute(self, amount: int, principal: int, already: int = 0) -> tuple[int, bool]:
        """``ServicingCourt.dilute``: a credit note or dispute of ``amount`` on a receivable of ``principal``
        (``already``: what this period diluted of it before), recorded in the current period as the dilution
        terms say (a loss, or a repurchase the originator pays now, held by the court until the report).
        Returns (period, repurchased)."""
        if self.dilution_terms is None:
            raise DealModelError("NoDilutionTerms")
        period = self.state.periods_closed + 1
        if self.phase != Phase.ACTIVE or self.pending is not None:
            raise DealModelError("DilutionNotOpen", period)
        if amount <= 0 or already + amount > principal:
            raise DealModelError("DilutionAboveBalance", already + amount, principal)
        repurchase = self.dilution_terms[0]
        loss, bought, taken = self.dilutions.get(period, (0, 0, 0))
        self.dilutions[period] = (loss, bought + amount, taken) if repurchase else (loss + amount, bought, taken)
        return period, repurchase

    def submit(self, report: PeriodReport) -> int:
        """The servicer deposits the collections; returns their amount. Loans bought back since the last report
        join it: their principal as prepayments, their interest as interest collections."""
        self._require(Phase.ACTIVE)
        if self.pending is not None:
            raise DealModelError("ReportPending", self.state.periods_closed + 1)
        if self.pool_sold:  # the clean-up call's close sold the pool: no report on it (the chain names the pool)
            raise DealModelError("PoolSold")
        merged = self._with_buy_backs(report, self.buy_backs)
        validate_report(self.state, merged)
        period = self.state.periods_closed + 1
        if period <= self.last_revolving_period and period > 1 and self.revolving_tested != period:
            self.revolving_tested = period
            ended = self._early_amortization()
            if ended is not None:
                self.last_revolving_period = period - 1
                self.early_amortization = period - 1
                self.early_amortization_test = ended
        if period <= self.last_revolving_period:
            available = report.scheduled_principal + report.prepayments
            if self.purchased > available:
                raise DealModelError("InsufficientPrincipalCollections", self.purchased, available)
            self.principal_available = available
            self.revolving_delinquent = report.delinquent_60 + report.delinquent_90_plus
            self.revolving_interest = merged.interest_collections
            if self.early_amortization_excess_spread_bps or self._dilution_limit():
                self.revolving_beginning = self.state.pool_balance
        if self.rent_only and merged.interest_collections == 0:
            self.rentless_periods.append(period)
        self.pending = report
        held = sum(self.buy_backs)
        self.pending_buy_backs, self.buy_backs = self.buy_backs, (0, 0)
        self.ledger.buy_back_proceeds -= held
        # receivables bought with a cancelled report of this period were paid from its collections; the court's
        # cash (paid now, or kept by a cancelled report of this period: nothing else is pending before a report)
        # is deposited for the servicer, and what exceeds the report's need goes back to the cancelled report's
        # depositor
        owed = report.cash_in - self.purchased
        cash = self._take_dilution(period)  # the court pays the repurchases it holds with the report
        court = self.ledger.pending_collections + cash
        self.overpaid = max(court - owed, 0)
        court -= self.overpaid
        deposit = owed - court
        self.court_cash = court  # the SPV writes it for a revolving deal only: a static deal's is always 0
        self.ledger.deposits_returnable += self.overpaid
        self.ledger.collections += deposit
        self.ledger.pending_collections = court + deposit + held
        return deposit

    def _take_dilution(self, period: int) -> int:
        """``IServicingCourt.takeDilution``: the originator's repurchase cash of ``period`` the court holds and the
        SPV has not taken yet, now taken (counted in the collections); returns it."""
        loss, bought, taken = self.dilutions.get(period, (0, 0, 0))
        if self.dilution_terms is not None:
            self.dilutions[period] = (loss, bought, bought)
        self.ledger.collections += bought - taken
        return bought - taken

    def _dilution_limit(self) -> int:
        return 0 if self.dilution_terms is None else self.dilution_terms[1]

    def _early_amortization(self) -> tuple[int, int] | None:
        """The early-amortization tests of the period just closed, as the SPV runs them at the next report:
        (kind, value bps) of the first breached (delinquency, then excess spread), else None."""
        pool = self.state.pool_balance
        limit = self.early_amortization_delinquency_bps
        value = 0 if pool == 0 else self.revolving_delinquent * BPS // pool
        if limit and value > limit:
            return 2, value
        limit = self._dilution_limit()
        loss, bought, _ = self.dilutions.get(self.state.periods_closed, (0, 0, 0))
        begin = self.revolving_beginning
        value = 0 if begin == 0 else (loss + bought) * BPS // begin
        if limit and value > limit:
            return 1, value
        limit = self.early_amortization_excess_spread_bps
        if limit:
            res = self.history[-1].result
            spread = self.revolving_interest - sum(res.fee_paid) - sum(res.interest_paid[:-1])
            begin = self.revolving_beginning
            es = 0 if begin == 0 else abs(spread) * BPS * 12 // (self.params.period_months * begin)
            es = -es if spread < 0 else es  # the SPV's division truncates toward zero
            if spread < 0 or es < limit:
                return 0, es
        return None

    def purchase(self, principal: int) -> int:
        """``SPV.onPoolPurchase``: receivables of ``principal`` sold into the pool by the originator are paid at
        par from the pending report's principal collections (revolving periods only). Returns the principal left
        unspent."""
        self._require(Phase.ACTIVE)
        period = self.state.periods_closed + 1
        if period > self.last_revolving_period:
            raise DealModelError("RevolvingPeriodEnded", period, self.last_revolving_period)
        if self.pending is None:
            raise DealModelError("NoReportPending", period)
        if self.disputed:
            raise DealModelError("ReportDisputed", period)
        if self.pending_clean_up:
            raise DealModelError("CleanUpCallNotAvailable", 0, 0)
        unspent = self.principal_available - self.purchased
        if principal > unspent:
            raise DealModelError("InsufficientPrincipalCollections", principal, unspent)
        self.purchased += principal
        self.ledger.pending_collections -= principal
        self.ledger.revolving_purchases += principal
        return unspent - principal

    @staticmethod
    def net_purchases(report: PeriodReport, purchased: int) -> PeriodReport:
        """The report a close runs on after ``purchased`` of its principal bought receivables: netted out of
        scheduled principal first, then prepayments; the bought receivables are in the ending pool."""
        if not purchased:
            return report
        from_scheduled = min(purchased, report.scheduled_principal)
        return replace(report, scheduled_principal=report.scheduled_principal - from_scheduled,
                       prepayments=report.prepayments - (purchased - from_scheduled),
                       pool_ending_balance=report.pool_ending_balance + purchased)

    def dispute(self) -> None:
        """``ServicingCourt`` proved the pending report false (``ChallengeProven``): the trustee must cancel it."""
        self._require(Phase.ACTIVE)
        if self.pending is None:
            raise DealModelError("NoReportPending", self.state.periods_closed + 1)
        self.disputed = True

    def buy_back(self, principal: int, interest: int) -> int:
        """``SPV.buyBack``: the originator buys one loan out of the pool for ``principal`` (its last reported
        balance) plus ``interest`` (accrued since the last payment date, computed on chain); the cash joins the
        next report's collections. Returns the price. Refused while a report is pending."""
        self._require(Phase.ACTIVE)
        if self.pending is not None:
            raise DealModelError("BuyBackNotAllowed", 0)
        p, i = self.buy_backs
        self.buy_backs = (p + principal, i + interest)
        self.ledger.collections += principal + interest
        self.ledger.buy_back_proceeds += principal + interest
        return principal + interest

    @staticmethod
    def _with_buy_backs(report: PeriodReport, bought: tuple[int, int]) -> PeriodReport:
        if bought == (0, 0):
            return report
        return replace(report, prepayments=report.prepayments + bought[0],
                       interest_collections=report.interest_collections + bought[1])

    def clean_up_level(self) -> int:
        """Pool balance at or below which the originator may call the deal."""
        return self.params.original_pool_balance * self.params.clean_up_call_bps // BPS

    def exercise_clean_up_call(self, live: int | None = None, defaulted: int = 0) -> int:
        """The originator buys what is left of the pool, priced from the asset registry: ``live`` (performing
        and delinquent principal, which must equal the pending report's ending balance) at par, plus
        ``defaulted`` (the defaulted loans' carrying value); returns the price. ``live`` None: a registry in
        line with the report (scenario analysis)."""
        self._require(Phase.ACTIVE)
        if self.pending is None:
            raise DealModelError("NoReportPending", self.state.periods_closed + 1)
        if self.disputed:
            raise DealModelError("ReportDisputed", self.state.periods_closed + 1)
        if self.purchased:  # receivables just sold into the pool: the call waits for a later period
            raise DealModelError("CleanUpCallAfterPurchases", self.state.periods_closed + 1, self.purchased)
        if live is None:
            live = self.pending.pool_ending_balance
        if live != self.pending.pool_ending_balance:
            raise DealModelError("RegistryMismatch", self.pending.pool_ending_balance, live)
        level = self.clean_up_level()
        if self.pending_clean_up != 0 or live == 0 or live > level:
            raise DealModelError("CleanUpCallNotAvailable", live, level)
        price = live + defaulted
        self.pending_clean_up = price
        self.pending_clean_up_recoveries = defaulted
        self.ledger.clean_up_proceeds += price
        self.ledger.pending_collections += price
        return price

    def cancel_report(self) -> tuple[int, int]:
        """``SPV.cancelReport``: the pending report's collections and a pending call's price become returnable;
        returns (collections, call price)."""
        self._require(Phase.ACTIVE)
        if self.pending is None:
            raise DealModelError("NoReportPending", self.state.periods_closed + 1)
        collections = self.pending.cash_in - self.purchased
        price = self.pending_clean_up
        moved = self.pending_buy_backs  # stay with the next report: their cash is not the servicer's
        self.buy_backs = (self.buy_backs[0] + moved[0], self.buy_backs[1] + moved[1])
        self.pending_buy_backs = (0, 0)
        self.ledger.buy_back_proceeds += sum(moved)
        # the originator's repurchase cash stays with the deal for the next report (the court pays each
        # repurchase once): what purchases did not spend of it, as they spend the servicer's deposit first
        kept = min(self.court_cash, collections)
        collections -= kept
        self.disputed = False
        self.pending = None
        self.pending_clean_up = 0
        self.pending_clean_up_recoveries = 0
        self.ledger.pending_collections = kept
        self.ledger.deposits_returnable += collections + price
        return collections, price

    def withdraw_returned(self, amount: int) -> None:
        """``SPV.withdrawReturned`` paying ``amount`` back to a depositor."""
        if amount <= 0 or amount > self.ledger.deposits_returnable:
            raise DealModelError("NothingOwed")
        self.ledger.deposits_returnable -= amount
        self.ledger.deposits_returned += amount

    def close_period(self, refused: Collection[int] = ()) -> ClosedPeriod:
        """Run the waterfall on the pending report and make the SPV's payments. ``refused``: classes whose token
        cannot receive this close (their payment is held for them, ``SPV.heldForClass``)."""
        self._require(Phase.ACTIVE)
        if self.pending is None:
            raise DealModelError("NoReportPending", self.state.periods_closed + 1)
        if self.disputed:
            raise DealModelError("ReportDisputed", self.state.periods_closed + 1)
        report = self.pending
        price = self.pending_clean_up
        effective = self._with_buy_backs(self.net_purchases(report, self.purchased), self.pending_buy_backs)
        self.purchased = 0
        self.pending_buy_backs = (0, 0)
        if price:
            recovered = self.pending_clean_up_recoveries
            effective = replace(
                effective,
                prepayments=effective.prepayments + price - recovered,
                recoveries=effective.recoveries + recovered,
                pool_ending_balance=0,
                delinquent_30=0,
                delinquent_60=0,
                delinquent_90_plus=0,
            )
        before = self.state
        res, nxt = close_period(self.params, before, effective)
        self.state = nxt
        self.pending = None
        self.pool_sold = self.pool_sold or price != 0
        self.pending_clean_up = 0
        self.pending_clean_up_recoveries = 0
        self.ledger.pending_collections = 0
        self.ledger.reserve_balance = nxt.reserve_balance
        for i, amount in enumerate(res.fee_paid):
            self.fees_paid[i] += amount
            self.ledger.fees_owed += amount
        n = len(self.class_sizes)
        class_interest = []
        for i in range(n):
            t = self.tranches[i]
            t.current_principal -= res.write_down[i]
            t.cumulative_write_down += res.write_down[i]
            t.current_principal += res.pdl_cured[i]
            t.cumulative_write_down -= res.pdl_cured[i]
            interest = res.interest_paid[i] + (res.residual if i == n - 1 else 0)
            class_interest.append(interest)
            self._pay_class(i, interest, res.principal_paid[i], refused)
            t.interest_shortfall = nxt.interest_shortfalls[i]
        closed = ClosedPeriod(nxt.periods_closed, report, res, nxt, tuple(class_interest), price)
        self.history.append(closed)
        return closed

    def end_deal(
        self, *, legal_final: bool = False, periods_outstanding: bool = False, trustee: bool = False,
        recoveries_outstanding: int = 0, refused: Collection[int] = (),
    ) -> tuple[int, int]:
        """End the deal; returns (released to equity, final write-down). ``legal_final``: at or past legal
        final; ``periods_outstanding``: a payment date on or before legal final has no closed period yet (only
        the trustee may end then); ``recoveries_outstanding``: the registry's defaulted principal while the SPV
        still owns the pool (an early end waits for it). Once the close of a clean-up call gave the pool to the
        originator (:attr:`pool_sold`) nothing more can come in and no period can close: anyone may end the deal,
        before legal final without waiting for the notes to be paid (their unpaid principal is written off) or for
        recoveries (the originator bought the defaulted loans), after it with periods outstanding."""
        self._require(Phase.ACTIVE)
        debt = sum(self.state.class_balances[:-1])
        if self.pending is not None:
            raise DealModelError("ReportPending", self.state.periods_closed + 1)
        if legal_final:
            if periods_outstanding and not trustee and not self.pool_sold:
                raise DealModelError("PeriodsOutstanding", self.state.periods_closed)
        else:
            if self.state.pool_balance != 0 or (debt != 0 and not self.pool_sold):
                raise DealModelError("CannotEnd", self.state.pool_balance, debt)
            if recoveries_outstanding and not self.pool_sold:
                raise DealModelError("RecoveriesOutstanding", recoveries_outstanding)
        self.phase = Phase.ENDED
        # the reserve and what waited for a report that never came (the loans bought back since the last report,
        # the court's cash a cancelled report kept, the originator's repurchases of receivables diluted since the
        # last report, which the SPV takes from the court now): one pot, applied in a post-enforcement priority
        # (docs/waterfall.md, "The end of the deal"): the fees' carried shortfalls in fee order, then each note
        # class, senior first, its carried interest shortfall and then its unpaid principal; the rest goes to the
        # equity class. What is still unpaid is lost: principal written off, shortfalls kept as the record.
        diluted = self._take_dilution(self.state.periods_closed + 1)
        cash = sum(self.buy_backs) + self.state.reserve_balance + self.ledger.pending_collections + diluted
        self.ledger.buy_back_proceeds -= sum(self.buy_backs)
        self.buy_backs = (0, 0)
        self.ledger.pending_collections = 0
        self.end_settlements = []
        fee_left = list(self.state.fee_shortfalls)
        for k, due in enumerate(self.state.fee_shortfalls):
            if not due:
                continue
            paid = min(cash, due)
            cash -= paid
            fee_left[k] = due - paid
            self.fees_paid[k] += paid
            self.ledger.fees_owed += paid
            self.end_settlements.append(("FeeShortfallSettled", k, paid, due - paid))
        final = 0
        last = len(self.tranches) - 1
        class_left = list(self.state.interest_shortfalls)
        for i, t in enumerate(self.tranches):
            available = cash if i < last else 0
            shortfall = self.state.interest_shortfalls[i]
            interest = min(available, shortfall)
            class_left[i] = shortfall - interest
            if shortfall:
                self.end_settlements.append(("InterestShortfallSettled", i, interest, shortfall - interest))
            unpaid = self.state.class_balances[i] - self.state.pdl[i]
            paid = min(available - interest, unpaid)
            cash -= interest + paid
            unpaid -= paid
            t.current_principal -= unpaid
            t.cumulative_write_down += unpaid
            t.interest_shortfall = class_left[i]
            final += unpaid
            self._pay_class(i, interest, paid, refused)
        released = cash
        n = len(self.class_sizes)
        self.state = replace(self.state, class_balances=(0,) * n, pdl=(0,) * n, reserve_balance=0,
                             interest_shortfalls=tuple(class_left), fee_shortfalls=tuple(fee_left))
        self.ledger.reserve_balance = 0
        if released:
            self._pay_class(n - 1, released, 0, refused)
        return released, final

    def redeem(self, class_index: int, units: int) -> None:
        """Units of a settled tranche redeemed after the end (``TrancheToken`` retires their pro-rata share of the
        current principal and of the write-down, rounded down, like ``DistributionMath.retained``)."""
        if self.phase != Phase.ENDED or any(self.held[class_index]):
            raise DealModelError("TransferBlocked", "PRINCIPAL_OWED")
        t = self.tranches[class_index]
        supply = t.original_face
        left = supply - units
        t.current_principal = t.current_principal * left // supply
        t.cumulative_write_down = t.cumulative_write_down * left // supply
        t.original_face = left

    def release_held(self, class_index: int) -> tuple[int, int]:
        """``SPV.releaseHeld``: what is held for the class reaches its token; returns (interest, principal)."""
        interest, principal = self.held[class_index]
        if interest + principal == 0:
            raise DealModelError("NothingOwed")
        self.held[class_index] = (0, 0)
        self.ledger.held_for_classes -= interest + principal
        self._distribute(class_index, interest, principal)
        return interest, principal

    def fee_owed(self, fee_index: int) -> int:
        """What fee ``fee_index`` earned and was not paid out yet (``SPV.feeOwed``)."""
        if not 0 <= fee_index < len(self.fees_paid):
            raise DealModelError("UnknownFee", fee_index)
        return self.fees_paid[fee_index] - self.fees_withdrawn[fee_index]

    def withdraw_fees(self, fee_index: int) -> int:
        """``SPV.withdrawFees`` (and the settlement of ``setFeeRecipient``): pay out what the fee is owed."""
        amount = self.fee_owed(fee_index)
        self.fees_withdrawn[fee_index] += amount
        self.ledger.fees_owed -= amount
        self.ledger.fees_paid += amount
        return amount

    # ----------------------------------------------------------------------------------------- internals
    def _pay_class(self, i: int, interest: int, principal: int, refused: Collection[int]) -> None:
        """Deliver to class ``i``'s token, or hold for it when its token refuses (``SPVBooks.payClass``)."""
        if interest + principal == 0:
            return
        if i in refused:
            held = self.held[i]
            self.held[i] = (held[0] + interest, held[1] + principal)
            self.ledger.held_for_classes += interest + principal
            return
        self._distribute(i, interest, principal)

    def _distribute(self, i: int, interest: int, principal: int) -> None:
        if interest + principal == 0:
            return
        t = self.tranches[i]
        t.interest_distributed += interest
        t.principal_distributed += principal
        t.current_principal -= principal
        self.distributed[i] += interest + principal
        self.ledger.distributed += interest + principal

    def _check_deadline(self, now: int | None) -> None:
        if self.offering_deadline is not None and now is not None and now > self.offering_deadline:
            raise DealModelError("OfferingExpired", self.offering_deadline)  # (the chain adds its time)

    def _require(self, phase: Phase) -> None:
        if self.phase != phase:
            raise DealModelError("WrongPhase", int(phase), int(self.phase))
