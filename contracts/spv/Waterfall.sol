// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {
    ClassParams,
    DealParams,
    DealState,
    FeeParams,
    IWaterfall,
    PeriodReport,
    PeriodResult,
    PrincipalMode,
    TriggerKind,
    TriggerParams
} from "../../interfaces/IWaterfall.sol";

/// @title Waterfall
/// @notice The ChainABS priority of payments as pure functions over memory structs: one call of
/// `closePeriod` is one payment-date close. The Python model `chainabs.waterfall` is its executable
/// specification (same order, same integer arithmetic, same rounding); docs/waterfall.md states it in
/// words. Loops run over classes, fees and triggers only (each at most 8): the cost does not depend on
/// the number of holders or assets.
/// @dev Order: 0 losses to the PDL (reverse seniority) -> 1 senior fees -> 2 class interest by seniority
/// -> 3 reserve to target -> 4 principal -> 5 PDL cure from excess spread -> 6 residual to equity;
/// triggers are tested on the closing figures and govern the next close. Every division rounds down.
library Waterfall {
    /// @notice One in basis points.
    uint256 internal constant BPS = 10_000;
    /// @notice 30/360 accrual denominator: amount * bps * months / (10,000 * 12).
    uint256 internal constant ACCRUAL_DENOMINATOR = 120_000;
    /// @notice Loop bounds.
    uint256 internal constant MAX_CLASSES = 8;
    uint256 internal constant MAX_FEES = 8;
    uint256 internal constant MAX_TRIGGERS = 8;
    uint256 internal constant MAX_PERIOD_MONTHS = 12;
    /// @notice Value of a coverage ratio whose denominator is zero.
    uint256 internal constant UNBOUNDED_RATIO = type(uint256).max;

    // ------------------------------------------------------------------------------------------------
    // Period close
    // ------------------------------------------------------------------------------------------------

    /// @notice Run the priority of payments for one period.
    /// @param p the deal's terms
    /// @param s the state after the previous close (not modified)
    /// @param r the servicer's collections report for the period
    /// @return res what was paid
    /// @return next the state for the next close
    function closePeriod(DealParams memory p, DealState memory s, PeriodReport memory r)
        internal
        pure
        returns (PeriodResult memory res, DealState memory next)
    {
        validateParams(p);
        validateState(p, s);
        validateReport(s, r);
        uint256 n = p.classes.length;
        next = _copyState(s);
        res = _emptyResult(n, p.fees.length, p.triggers.length);
        res.sequential = isSequential(p, s.triggersBreached);
        res.reserveStepUp = isReserveStepUp(p, s.triggersBreached);
        uint256 debtBegin = _debt(s.classBalances);

        _allocateLoss(r, next, res);
        uint256 revenue = _payFees(p, s.poolBalance, r.interestCollections, next, res);
        revenue = _payInterest(p, revenue, next, res);
        res.reserveTarget = reserveTarget(p, r.poolEndingBalance, debtBegin, res.reserveStepUp);
        revenue = _settleReserve(revenue, next, res);

        // 4. Principal.
        res.residual = _payPrincipal(r.scheduledPrincipal + r.prepayments + r.recoveries, next, res);
        _releaseRepaidPdl(next, res);

        // 5. PDL cure from excess spread, credited senior first and paid as principal.
        uint256 cure = _min(revenue, _sum(next.pdl));
        res.pdlCurePaid = cure;
        uint256 left = cure;
        for (uint256 i; i < n; ++i) {
            uint256 c = _min(left, next.pdl[i]);
            next.pdl[i] -= c;
            res.pdlCured[i] += c;
            left -= c;
        }
        uint256 cureLeft = _payPrincipal(cure, next, res);
        _releaseRepaidPdl(next, res);

        // 6. Residual to the equity class.
        res.residual += revenue - cure + cureLeft;

        next.periodsClosed = s.periodsClosed + 1;
        next.poolBalance = r.poolEndingBalance;
        next.cumulativeDefaults = s.cumulativeDefaults + r.defaults;
        next.cumulativeRecoveries = s.cumulativeRecoveries + r.recoveries;
        _evaluateTriggers(p, s.triggersBreached, r, next, res);
        res.cleanUpCallAvailable = r.poolEndingBalance * BPS <= p.cleanUpCallBps * p.originalPoolBalance;
    }

    /// @notice `closePeriod` as an external library function. An SPV that calls this one instead of
    /// `closePeriod` delegates to a deployed, linked `Waterfall` rather than inlining the code: smaller SPV
    /// bytecode for the cost of ABI-encoding the structs.
    function closePeriodLinked(DealParams memory p, DealState memory s, PeriodReport memory r)
        external
        pure
        returns (PeriodResult memory res, DealState memory next)
    {
        return closePeriod(p, s, r);
    }

    // ------------------------------------------------------------------------------------------------
    // Input checks
    // ------------------------------------------------------------------------------------------------

    /// @notice Revert with an `IWaterfall` error if the terms cannot be run.
    function validateParams(DealParams memory p) internal pure {
        uint256 n = p.classes.length;
        if (n == 0 || n > MAX_CLASSES) revert IWaterfall.InvalidClassCount(n);
        for (uint256 i; i < n; ++i) {
            ClassParams memory c = p.classes[i];
            if (c.isEquity != (i == n - 1)) revert IWaterfall.InvalidEquityClass(i);
            if (c.couponBps > BPS || (c.isEquity && c.couponBps != 0)) revert IWaterfall.InvalidCoupon(i, c.couponBps);
        }
        if (p.fees.length > MAX_FEES) revert IWaterfall.InvalidFeeCount(p.fees.length);
        for (uint256 k; k < p.fees.length; ++k) {
            if (p.fees[k].poolBps > BPS) revert IWaterfall.InvalidFeeBps(k, p.fees[k].poolBps);
        }
        if (p.triggers.length > MAX_TRIGGERS) revert IWaterfall.InvalidTriggerCount(p.triggers.length);
        if (p.periodMonths == 0 || p.periodMonths > MAX_PERIOD_MONTHS) {
            revert IWaterfall.InvalidPeriodMonths(p.periodMonths);
        }
        if (p.reserveTargetBps > BPS || p.reserveStepUpTargetBps > BPS) {
            revert IWaterfall.InvalidReserveBps(p.reserveTargetBps, p.reserveStepUpTargetBps);
        }
        if (p.reserveCoveredClasses > n - 1) revert IWaterfall.InvalidReserveCover(p.reserveCoveredClasses, n - 1);
        if (p.originalPoolBalance == 0) revert IWaterfall.ZeroOriginalPool();
    }

    /// @notice Revert with an `IWaterfall` error if the state does not fit the terms.
    function validateState(DealParams memory p, DealState memory s) internal pure {
        uint256 n = p.classes.length;
        if (s.classBalances.length != n) revert IWaterfall.InvalidStateLength(0, n, s.classBalances.length);
        if (s.interestShortfalls.length != n) {
            revert IWaterfall.InvalidStateLength(1, n, s.interestShortfalls.length);
        }
        if (s.pdl.length != n) revert IWaterfall.InvalidStateLength(2, n, s.pdl.length);
        if (s.feeShortfalls.length != p.fees.length) {
            revert IWaterfall.InvalidStateLength(3, p.fees.length, s.feeShortfalls.length);
        }
        for (uint256 i; i < n; ++i) {
            if (s.pdl[i] > s.classBalances[i]) revert IWaterfall.PdlExceedsBalance(i, s.pdl[i], s.classBalances[i]);
        }
    }

    /// @notice Revert with an `IWaterfall` error if the report does not reconcile with the pool balance.
    function validateReport(DealState memory s, PeriodReport memory r) internal pure {
        uint256 reduction = r.scheduledPrincipal + r.prepayments + r.defaults;
        if (reduction > s.poolBalance) revert IWaterfall.PoolReductionExceedsBalance(s.poolBalance, reduction);
        if (s.poolBalance - reduction != r.poolEndingBalance) {
            revert IWaterfall.PoolBalanceMismatch(s.poolBalance - reduction, r.poolEndingBalance);
        }
        uint256 delinquent = r.delinquent30 + r.delinquent60 + r.delinquent90Plus;
        if (delinquent > r.poolEndingBalance) revert IWaterfall.DelinquencyExceedsPool(delinquent, r.poolEndingBalance);
    }

    // ------------------------------------------------------------------------------------------------
    // Building blocks (also used by an SPV for views)
    // ------------------------------------------------------------------------------------------------

    /// @notice 30/360 accrual of `bpsPerAnnum` on `amount` over `months` months, rounded down.
    function accrue(uint256 amount, uint256 bpsPerAnnum, uint256 months) internal pure returns (uint256) {
        return amount * bpsPerAnnum * months / ACCRUAL_DENOMINATOR;
    }

    /// @notice True when principal goes sequentially: the deal's mode, or a breached switching trigger.
    function isSequential(DealParams memory p, uint256 triggersBreached) internal pure returns (bool) {
        if (p.principalMode == PrincipalMode.Sequential) return true;
        for (uint256 j; j < p.triggers.length; ++j) {
            if (p.triggers[j].switchesToSequential && (triggersBreached >> j) & 1 == 1) return true;
        }
        return false;
    }

    /// @notice True when a breached trigger steps the reserve target up.
    function isReserveStepUp(DealParams memory p, uint256 triggersBreached) internal pure returns (bool) {
        for (uint256 j; j < p.triggers.length; ++j) {
            if (p.triggers[j].stepsUpReserve && (triggersBreached >> j) & 1 == 1) return true;
        }
        return false;
    }

    /// @notice Reserve target: max(pool end * bps / 10,000, floor) capped at `debtBalance` (the non-equity
    /// balance at the beginning of the period); zero once the pool has run off.
    function reserveTarget(DealParams memory p, uint256 poolEndingBalance, uint256 debtBalance, bool stepUp)
        internal
        pure
        returns (uint256)
    {
        if (poolEndingBalance == 0) return 0;
        uint256 bps = stepUp ? p.reserveStepUpTargetBps : p.reserveTargetBps;
        return _min(_max(poolEndingBalance * bps / BPS, p.reserveFloor), debtBalance);
    }

    /// @notice Share `amount` of principal among classes with `balances` (seniority order, last = equity).
    /// Sequential: most senior first. Pro-rata: non-equity classes in proportion to their balances
    /// (rounded down, the dust to the most senior class with balance left), the equity class only after
    /// all others are repaid. No class is paid above its balance.
    /// @return paid per class
    /// @return left what no class could take
    function allocatePrincipal(uint256 amount, uint256[] memory balances, bool sequential)
        internal
        pure
        returns (uint256[] memory paid, uint256 left)
    {
        uint256 n = balances.length;
        paid = new uint256[](n);
        left = amount;
        if (!sequential && n > 1) {
            uint256 debt = _debt(balances);
            if (left > 0 && left < debt) {
                uint256 shared;
                for (uint256 i; i < n - 1; ++i) {
                    paid[i] = left * balances[i] / debt;
                    shared += paid[i];
                }
                left -= shared;
                for (uint256 i; i < n - 1 && left > 0; ++i) {
                    uint256 extra = _min(left, balances[i] - paid[i]);
                    paid[i] += extra;
                    left -= extra;
                }
            }
        }
        for (uint256 i; i < n; ++i) {
            uint256 extra = _min(left, balances[i] - paid[i]);
            paid[i] += extra;
            left -= extra;
        }
    }

    /// @notice The measured value of a trigger test in bps, rounded down.
    function triggerValue(
        TriggerKind kind,
        DealParams memory p,
        PeriodReport memory r,
        uint256 cumulativeNetLoss,
        uint256 debtEnd,
        uint256 icDenominator
    ) internal pure returns (uint256) {
        if (kind == TriggerKind.CumulativeNetLoss) return cumulativeNetLoss * BPS / p.originalPoolBalance;
        if (kind == TriggerKind.Delinquency60Plus) {
            if (r.poolEndingBalance == 0) return 0;
            return (r.delinquent60 + r.delinquent90Plus) * BPS / r.poolEndingBalance;
        }
        if (kind == TriggerKind.Overcollateralisation) {
            if (debtEnd == 0) return UNBOUNDED_RATIO;
            return r.poolEndingBalance * BPS / debtEnd;
        }
        if (icDenominator == 0) return UNBOUNDED_RATIO;
        return r.interestCollections * BPS / icDenominator;
    }

    /// @notice Maximum tests breach above the threshold, coverage tests below; a non-curable breach stays.
    function triggerBreached(TriggerParams memory t, uint256 value, bool wasBreached) internal pure returns (bool) {
        if (wasBreached && !t.curable) return true;
        if (t.kind == TriggerKind.Overcollateralisation || t.kind == TriggerKind.InterestCoverage) {
            return value < t.thresholdBps;
        }
        return value > t.thresholdBps;
    }

    // ------------------------------------------------------------------------------------------------
    // Steps
    // ------------------------------------------------------------------------------------------------

    /// @dev 0. Net loss debits the PDL junior first (capped at balance - debit); net recoveries credit it
    /// senior first.
    function _allocateLoss(PeriodReport memory r, DealState memory next, PeriodResult memory res) private pure {
        uint256 n = next.classBalances.length;
        if (r.defaults > r.recoveries) {
            uint256 left = r.defaults - r.recoveries;
            for (uint256 k = n; k > 0; --k) {
                uint256 i = k - 1;
                uint256 d = _min(left, next.classBalances[i] - next.pdl[i]);
                res.writeDown[i] = d;
                next.pdl[i] += d;
                left -= d;
            }
            res.lossUnallocated = left;
        } else if (r.recoveries > r.defaults) {
            uint256 left = r.recoveries - r.defaults;
            for (uint256 i; i < n; ++i) {
                uint256 c = _min(left, next.pdl[i]);
                res.pdlCured[i] += c;
                next.pdl[i] -= c;
                left -= c;
            }
        }
    }

    /// @dev 1. Fees in order: carried shortfall + this period's accrual, from revenue then the reserve.
    function _payFees(
        DealParams memory p,
        uint256 poolBegin,
        uint256 revenue,
        DealState memory next,
        PeriodResult memory res
    ) private pure returns (uint256) {
        for (uint256 k; k < p.fees.length; ++k) {
            FeeParams memory f = p.fees[k];
            uint256 due = f.fixedAmount + accrue(poolBegin, f.poolBps, p.periodMonths);
            res.feeDue[k] = due;
            uint256 owed = next.feeShortfalls[k] + due;
            uint256 fromRevenue = _min(revenue, owed);
            revenue -= fromRevenue;
            uint256 fromReserve = _min(next.reserveBalance, owed - fromRevenue);
            next.reserveBalance -= fromReserve;
            res.reserveDraw += fromReserve;
            res.feePaid[k] = fromRevenue + fromReserve;
            next.feeShortfalls[k] = owed - res.feePaid[k];
        }
        return revenue;
    }

    /// @dev 2. Interest by seniority on beginning balances; the reserve covers the first
    /// `reserveCoveredClasses` classes; unpaid interest is carried forward without interest.
    function _payInterest(DealParams memory p, uint256 revenue, DealState memory next, PeriodResult memory res)
        private
        pure
        returns (uint256)
    {
        for (uint256 i; i < p.classes.length; ++i) {
            uint256 due = accrue(next.classBalances[i], p.classes[i].couponBps, p.periodMonths);
            res.interestDue[i] = due;
            uint256 owed = next.interestShortfalls[i] + due;
            uint256 fromRevenue = _min(revenue, owed);
            revenue -= fromRevenue;
            uint256 fromReserve;
            if (i < p.reserveCoveredClasses) {
                fromReserve = _min(next.reserveBalance, owed - fromRevenue);
                next.reserveBalance -= fromReserve;
                res.reserveDraw += fromReserve;
            }
            res.interestPaid[i] = fromRevenue + fromReserve;
            next.interestShortfalls[i] = owed - res.interestPaid[i];
        }
        return revenue;
    }

    /// @dev 3. Replenish the reserve to `res.reserveTarget` from revenue, or release the excess into revenue.
    function _settleReserve(uint256 revenue, DealState memory next, PeriodResult memory res)
        private
        pure
        returns (uint256)
    {
        uint256 target = res.reserveTarget;
        if (next.reserveBalance < target) {
            uint256 deposit = _min(revenue, target - next.reserveBalance);
            res.reserveDeposit = deposit;
            next.reserveBalance += deposit;
            revenue -= deposit;
        } else if (next.reserveBalance > target) {
            uint256 release = next.reserveBalance - target;
            res.reserveRelease = release;
            next.reserveBalance = target;
            revenue += release;
        }
        return revenue;
    }

    /// @dev Pay `amount` as principal by the period's mode; returns what no class could take.
    function _payPrincipal(uint256 amount, DealState memory next, PeriodResult memory res)
        private
        pure
        returns (uint256 left)
    {
        uint256[] memory paid;
        (paid, left) = allocatePrincipal(amount, next.classBalances, res.sequential);
        for (uint256 i; i < paid.length; ++i) {
            next.classBalances[i] -= paid[i];
            res.principalPaid[i] += paid[i];
        }
    }

    /// @dev A class repaid below its PDL debit has been paid that debit in cash: the excess is cured.
    function _releaseRepaidPdl(DealState memory next, PeriodResult memory res) private pure {
        for (uint256 i; i < next.pdl.length; ++i) {
            if (next.pdl[i] > next.classBalances[i]) {
                res.pdlCured[i] += next.pdl[i] - next.classBalances[i];
                next.pdl[i] = next.classBalances[i];
            }
        }
    }

    /// @dev Test every trigger on the closing figures (`next` already holds them).
    function _evaluateTriggers(
        DealParams memory p,
        uint256 previouslyBreached,
        PeriodReport memory r,
        DealState memory next,
        PeriodResult memory res
    ) private pure {
        uint256 cnl = next.cumulativeDefaults > next.cumulativeRecoveries
            ? next.cumulativeDefaults - next.cumulativeRecoveries
            : 0;
        uint256 debtEnd = _debt(next.classBalances);
        uint256 icDenominator = _sum(res.feeDue) + _sum(res.interestDue) - res.interestDue[res.interestDue.length - 1];
        uint256 breached;
        for (uint256 j; j < p.triggers.length; ++j) {
            TriggerParams memory t = p.triggers[j];
            uint256 v = triggerValue(t.kind, p, r, cnl, debtEnd, icDenominator);
            res.triggerValues[j] = v;
            if (triggerBreached(t, v, (previouslyBreached >> j) & 1 == 1)) breached |= 1 << j;
        }
        res.triggersBreached = breached;
        next.triggersBreached = breached;
    }

    // ------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------

    function _copyState(DealState memory s) private pure returns (DealState memory c) {
        c.periodsClosed = s.periodsClosed;
        c.poolBalance = s.poolBalance;
        c.classBalances = _copy(s.classBalances);
        c.interestShortfalls = _copy(s.interestShortfalls);
        c.pdl = _copy(s.pdl);
        c.feeShortfalls = _copy(s.feeShortfalls);
        c.reserveBalance = s.reserveBalance;
        c.cumulativeDefaults = s.cumulativeDefaults;
        c.cumulativeRecoveries = s.cumulativeRecoveries;
        c.triggersBreached = s.triggersBreached;
    }

    function _emptyResult(uint256 n, uint256 fees, uint256 triggers) private pure returns (PeriodResult memory res) {
        res.feeDue = new uint256[](fees);
        res.feePaid = new uint256[](fees);
        res.interestDue = new uint256[](n);
        res.interestPaid = new uint256[](n);
        res.principalPaid = new uint256[](n);
        res.writeDown = new uint256[](n);
        res.pdlCured = new uint256[](n);
        res.triggerValues = new uint256[](triggers);
    }

    function _copy(uint256[] memory a) private pure returns (uint256[] memory c) {
        c = new uint256[](a.length);
        for (uint256 i; i < a.length; ++i) {
            c[i] = a[i];
        }
    }

    /// @dev Sum of all but the last (equity) element.
    function _debt(uint256[] memory balances) private pure returns (uint256 total) {
        for (uint256 i; i + 1 < balances.length; ++i) {
            total += balances[i];
        }
    }

    function _sum(uint256[] memory a) private pure returns (uint256 total) {
        for (uint256 i; i < a.length; ++i) {
            total += a[i];
        }
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }

    function _max(uint256 a, uint256 b) private pure returns (uint256) {
        return a > b ? a : b;
    }
}
