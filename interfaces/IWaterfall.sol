// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

// Types, errors and events of the ChainABS waterfall. `contracts/spv/Waterfall.sol` computes over these
// structs; an SPV keeps `DealParams` and `DealState` in storage, calls `Waterfall.closePeriod` once per
// payment date and emits the events below from the `PeriodResult`. The Python model
// `chainabs.waterfall` has the same structures, field for field, in the same order.
//
// Units: amounts in the currency's base unit; rates and ratios in basis points (1/10,000); interest and
// percentage fees accrue 30/360 on beginning balances: amount * bps * months / 120,000, rounded down.
// Per-class arrays are in seniority order (index 0 = most senior; the last class is the equity class).

/// @notice How principal is shared among the classes.
enum PrincipalMode {
    Sequential,
    ProRata
}

/// @notice What a trigger measures (all in basis points, rounded down).
/// CumulativeNetLoss: cumulative (defaults - recoveries) / original pool; breached above the threshold.
/// Delinquency60Plus: (60-89 + 90+ days delinquent principal) / pool ending balance; breached above.
/// Overcollateralisation: pool ending balance / non-equity balances after payments; breached below.
/// InterestCoverage: interest collections / (fees + non-equity interest due this period); breached below.
enum TriggerKind {
    CumulativeNetLoss,
    Delinquency60Plus,
    Overcollateralisation,
    InterestCoverage
}

/// @notice One class (tranche). Its seniority is its index in `DealParams.classes`.
/// @param couponBps fixed coupon per annum in bps (0 for the equity class)
/// @param isEquity true for the last (most junior) class only: it receives the residual
struct ClassParams {
    uint256 couponBps;
    bool isEquity;
}

/// @notice A senior fee due each period: `fixedAmount` + `poolBps` p.a. of the beginning pool balance.
struct FeeParams {
    uint256 fixedAmount;
    uint256 poolBps;
}

/// @notice A performance test and what its breach switches, from the next period close on.
/// @param curable false: once breached it stays breached
struct TriggerParams {
    TriggerKind kind;
    uint256 thresholdBps;
    bool switchesToSequential;
    bool stepsUpReserve;
    bool curable;
}

/// @notice The fixed terms of a deal the waterfall needs.
/// @param periodMonths months per period (1..12), the 30/360 accrual fraction is periodMonths/12
/// @param originalPoolBalance pool balance at cut-off (denominator of the cumulative net loss test)
/// @param reserveCoveredClasses the reserve may pay the interest of classes [0, reserveCoveredClasses)
/// @param cleanUpCallBps clean-up call possible when the pool is at or below this share of the original
struct DealParams {
    uint256 periodMonths;
    uint256 originalPoolBalance;
    ClassParams[] classes;
    FeeParams[] fees;
    uint256 reserveTargetBps;
    uint256 reserveStepUpTargetBps;
    uint256 reserveFloor;
    uint256 reserveCoveredClasses;
    PrincipalMode principalMode;
    TriggerParams[] triggers;
    uint256 cleanUpCallBps;
}

/// @notice What one close hands to the next.
/// @param pdl per-class principal deficiency ledger debit (never above the class balance)
/// @param triggersBreached bit j set = triggers[j] breached at the last close
struct DealState {
    uint256 periodsClosed;
    uint256 poolBalance;
    uint256[] classBalances;
    uint256[] interestShortfalls;
    uint256[] pdl;
    uint256[] feeShortfalls;
    uint256 reserveBalance;
    uint256 cumulativeDefaults;
    uint256 cumulativeRecoveries;
    uint256 triggersBreached;
}

/// @notice The servicer's collections report for one period. Delinquency buckets are principal
/// amounts (30-59, 60-89, 90+ days) included in `poolEndingBalance`, which must equal the beginning pool
/// balance less scheduled principal, prepayments and defaults.
struct PeriodReport {
    uint256 interestCollections;
    uint256 scheduledPrincipal;
    uint256 prepayments;
    uint256 recoveries;
    uint256 defaults;
    uint256 delinquent30;
    uint256 delinquent60;
    uint256 delinquent90Plus;
    uint256 poolEndingBalance;
}

/// @notice What one close paid. Conservation, to the unit: interestCollections + scheduledPrincipal +
/// prepayments + recoveries = sum(feePaid) + sum(interestPaid) + sum(principalPaid) + reserveDeposit
/// - reserveDraw - reserveRelease + residual.
/// @param sequential principal mode applied this period
/// @param reserveStepUp whether the stepped-up reserve target applied
/// @param feeDue this period's accrual per fee (carried shortfalls not included)
/// @param feePaid paid per fee (carried shortfall first, then this period's)
/// @param interestDue this period's interest per class (carried shortfalls not included)
/// @param principalPaid per class, from available principal and from the PDL cure together
/// @param writeDown per class PDL debit of this period's net loss
/// @param pdlCured per class PDL credit (net recoveries, excess-spread cure, repayment below the debit)
/// @param pdlCurePaid revenue spent on the PDL cure (paid out as principal)
/// @param residual to the equity class: revenue left + principal no class could take
/// @param lossUnallocated net loss no class had balance left to absorb (no cash involved)
/// @param triggerValues measured value per trigger, bps rounded down (type(uint256).max = no denominator)
/// @param triggersBreached bitmask after this close; it governs the next close
/// @param cleanUpCallAvailable pool ending balance <= cleanUpCallBps of the original pool
struct PeriodResult {
    bool sequential;
    bool reserveStepUp;
    uint256[] feeDue;
    uint256[] feePaid;
    uint256[] interestDue;
    uint256[] interestPaid;
    uint256[] principalPaid;
    uint256[] writeDown;
    uint256[] pdlCured;
    uint256 reserveDraw;
    uint256 reserveRelease;
    uint256 reserveDeposit;
    uint256 reserveTarget;
    uint256 pdlCurePaid;
    uint256 residual;
    uint256 lossUnallocated;
    uint256[] triggerValues;
    uint256 triggersBreached;
    bool cleanUpCallAvailable;
}

/// @title IWaterfall
/// @notice Errors of the `Waterfall` library and the events an SPV emits from a `PeriodResult`.
interface IWaterfall {
    /// @notice A trigger went from not breached to breached at a period close.
    /// @param period the period just closed (1-based)
    /// @param triggerIndex index in `DealParams.triggers`
    event TriggerBreached(
        uint256 indexed period, uint256 indexed triggerIndex, TriggerKind kind, uint256 valueBps, uint256 thresholdBps
    );

    /// @notice A breached (curable) trigger passed its test again at a period close.
    event TriggerCured(
        uint256 indexed period, uint256 indexed triggerIndex, TriggerKind kind, uint256 valueBps, uint256 thresholdBps
    );

    /// @notice No class, or more than 8.
    error InvalidClassCount(uint256 count);
    /// @notice The class at `index` breaks the rule: exactly the last class is the equity class.
    error InvalidEquityClass(uint256 index);
    /// @notice Coupon above 10,000 bps, or a non-zero coupon on the equity class.
    error InvalidCoupon(uint256 index, uint256 couponBps);
    /// @notice More than 8 fees.
    error InvalidFeeCount(uint256 count);
    /// @notice A fee's pool rate above 10,000 bps.
    error InvalidFeeBps(uint256 index, uint256 poolBps);
    /// @notice More than 8 triggers.
    error InvalidTriggerCount(uint256 count);
    /// @notice Period length outside 1..12 months.
    error InvalidPeriodMonths(uint256 months);
    /// @notice A reserve target above 10,000 bps.
    error InvalidReserveBps(uint256 targetBps, uint256 stepUpTargetBps);
    /// @notice The reserve may cover at most the interest of the non-equity classes.
    error InvalidReserveCover(uint256 covered, uint256 maxCovered);
    /// @notice The original pool balance is zero.
    error ZeroOriginalPool();
    /// @notice A state array has the wrong length. field: 0 classBalances, 1 interestShortfalls, 2 pdl,
    /// 3 feeShortfalls.
    error InvalidStateLength(uint256 field, uint256 expected, uint256 actual);
    /// @notice A class's PDL debit is above its balance.
    error PdlExceedsBalance(uint256 index, uint256 pdl, uint256 balance);
    /// @notice Scheduled principal + prepayments + defaults exceed the beginning pool balance.
    error PoolReductionExceedsBalance(uint256 poolBalance, uint256 reduction);
    /// @notice The reported pool ending balance is not beginning - scheduled - prepayments - defaults.
    error PoolBalanceMismatch(uint256 expected, uint256 reported);
    /// @notice The delinquency buckets add up to more than the pool ending balance.
    error DelinquencyExceedsPool(uint256 delinquent, uint256 poolEndingBalance);
}
