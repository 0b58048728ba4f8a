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
///
/// Gas: `closePeriod` allocates the twelve arrays of its two results in one zeroed block, works on `next`
/// in place, and folds the sums it needs (non-equity balances, dues, PDL) into the passes that already
/// visit the classes. Arithmetic on amounts stays checked wherever a sum or product of inputs could exceed
/// 2**256 (the call then reverts with Panic(0x11) rather than wrap); `unchecked` is used only where each
/// block's comment proves the result in range. Array indices stay bounds-checked.
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
        return closePeriodOfValidTerms(p, s, r);
    }

    /// @notice `closePeriod` for terms that already passed `validateParams` (an SPV checks its terms once, at
    /// construction, and they never change): checks the state and the report, then runs the waterfall.
    function closePeriodOfValidTerms(DealParams memory p, DealState memory s, PeriodReport memory r)
        internal
        pure
        returns (PeriodResult memory res, DealState memory next)
    {
        validateState(p, s);
        validateReport(s, r);
        _allocate(p, s, res, next);
        (res.sequential, res.reserveStepUp) = _switches(p, s.triggersBreached);

        _allocateLoss(r, next, res);
        uint256 revenue = _payFees(p, s, r.interestCollections, next, res);
        uint256 icDenominator;
        uint256 debtBegin;
        (revenue, icDenominator, debtBegin) = _payInterest(p, s, revenue, next, res);
        unchecked {
            // Steps 1 and 2 only draw on the reserve, so the draws total its fall (no underflow).
            res.reserveDraw = s.reserveBalance - next.reserveBalance;
        }
        res.reserveTarget = reserveTarget(p, r.poolEndingBalance, debtBegin, res.reserveStepUp);
        revenue = _settleReserve(revenue, next, res);

        // 4. Principal (PDL debits above the repaid balances are released in the same pass).
        (uint256 residual, uint256 pdlTotal, uint256 debtEnd) =
            _payPrincipal(r.scheduledPrincipal + r.prepayments + r.recoveries, 0, debtBegin, next, res);

        // 5. PDL cure from excess spread, credited senior first and paid as principal.
        uint256 cure = _min(revenue, pdlTotal);
        if (cure != 0) {
            res.pdlCurePaid = cure;
            uint256 cureLeft;
            (cureLeft,, debtEnd) = _payPrincipal(cure, cure, debtEnd, next, res);
            unchecked {
                // cure <= revenue and cureLeft <= cure: the result is at most `revenue`.
                revenue = revenue - cure + cureLeft;
            }
        }

        // 6. Residual to the equity class: principal no class could take + revenue left.
        res.residual = residual + revenue;

        next.periodsClosed = s.periodsClosed + 1;
        next.poolBalance = r.poolEndingBalance;
        next.cumulativeDefaults = s.cumulativeDefaults + r.defaults;
        next.cumulativeRecoveries = s.cumulativeRecoveries + r.recoveries;
        next.triggersBreached = res.triggersBreached =
            _evaluateTriggers(p, s.triggersBreached, r, debtEnd, icDenominator, next, res);
        res.cleanUpCallAvailable = r.poolEndingBalance * BPS <= p.cleanUpCallBps * p.originalPoolBalance;
    }

    // ------------------------------------------------------------------------------------------------
    // Input checks
    // ------------------------------------------------------------------------------------------------

    /// @notice Revert with an `IWaterfall` error if the terms cannot be run.
    function validateParams(DealParams memory p) internal pure {
        ClassParams[] memory classes = p.classes;
        uint256 n = classes.length;
        if (n == 0 || n > MAX_CLASSES) _revert(IWaterfall.InvalidClassCount.selector, 1, n, 0, 0);
        for (uint256 i; i < n; ++i) {
            ClassParams memory c = classes[i];
            bool isEquity = c.isEquity;
            unchecked {
                // n >= 1
                if (isEquity != (i == n - 1)) _revert(IWaterfall.InvalidEquityClass.selector, 1, i, 0, 0);
            }
            uint256 coupon = c.couponBps;
            if (coupon > BPS || (isEquity && coupon != 0)) _revert(IWaterfall.InvalidCoupon.selector, 2, i, coupon, 0);
        }
        FeeParams[] memory fees = p.fees;
        if (fees.length > MAX_FEES) _revert(IWaterfall.InvalidFeeCount.selector, 1, fees.length, 0, 0);
        for (uint256 k; k < fees.length; ++k) {
            uint256 feeBps = fees[k].poolBps;
            if (feeBps > BPS) _revert(IWaterfall.InvalidFeeBps.selector, 2, k, feeBps, 0);
        }
        if (p.triggers.length > MAX_TRIGGERS) _revert(IWaterfall.InvalidTriggerCount.selector, 1, p.triggers.length, 0, 0);
        uint256 months = p.periodMonths;
        if (months == 0 || months > MAX_PERIOD_MONTHS) _revert(IWaterfall.InvalidPeriodMonths.selector, 1, months, 0, 0);
        if (p.reserveTargetBps > BPS || p.reserveStepUpTargetBps > BPS) {
            _revert(IWaterfall.InvalidReserveBps.selector, 2, p.reserveTargetBps, p.reserveStepUpTargetBps, 0);
        }
        unchecked {
            // n >= 1
            if (p.reserveCoveredClasses > n - 1) _revert(IWaterfall.InvalidReserveCover.selector, 2, p.reserveCoveredClasses, n - 1, 0);
        }
        if (p.originalPoolBalance == 0) _revert(IWaterfall.ZeroOriginalPool.selector, 0, 0, 0, 0);
    }

    /// @notice Revert with an `IWaterfall` error if the state does not fit the terms.
    function validateState(DealParams memory p, DealState memory s) internal pure {
        uint256 n = p.classes.length;
        uint256[] memory balances = s.classBalances;
        uint256[] memory pdl = s.pdl;
        if (balances.length != n) _revert(IWaterfall.InvalidStateLength.selector, 3, 0, n, balances.length);
        if (s.interestShortfalls.length != n) {
            _revert(IWaterfall.InvalidStateLength.selector, 3, 1, n, s.interestShortfalls.length);
        }
        if (pdl.length != n) _revert(IWaterfall.InvalidStateLength.selector, 3, 2, n, pdl.length);
        if (s.feeShortfalls.length != p.fees.length) {
            _revert(IWaterfall.InvalidStateLength.selector, 3, 3, p.fees.length, s.feeShortfalls.length);
        }
        for (uint256 i; i < n; ++i) {
            (uint256 d, uint256 b) = (pdl[i], balances[i]);
            if (d > b) _revert(IWaterfall.PdlExceedsBalance.selector, 3, i, d, b);
        }
    }

    /// @notice Revert with an `IWaterfall` error if the report does not reconcile with the pool balance.
    function validateReport(DealState memory s, PeriodReport memory r) internal pure {
        uint256 pool = s.poolBalance;
        uint256 reduction = r.scheduledPrincipal + r.prepayments + r.defaults;
        if (reduction > pool) _revert(IWaterfall.PoolReductionExceedsBalance.selector, 2, pool, reduction, 0);
        unchecked {
            // reduction <= pool (checked just above)
            pool -= reduction;
        }
        if (pool != r.poolEndingBalance) _revert(IWaterfall.PoolBalanceMismatch.selector, 2, pool, r.poolEndingBalance, 0);
        uint256 delinquent = r.delinquent30 + r.delinquent60 + r.delinquent90Plus;
        if (delinquent > pool) _revert(IWaterfall.DelinquencyExceedsPool.selector, 2, delinquent, pool, 0);
    }

    // ------------------------------------------------------------------------------------------------
    // Building blocks (also used by an SPV for views)
    // ------------------------------------------------------------------------------------------------

    /// @notice 30/360 accrual of `bpsPerAnnum` on `amount` over `months` months, rounded down.
    function accrue(uint256 amount, uint256 bpsPerAnnum, uint256 months) internal pure returns (uint256) {
        return amount * bpsPerAnnum * months / ACCRUAL_DENOMINATOR;
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
        // The period close's own routine, on a copy of the balances and with an empty PDL.
        uint256 n = balances.length;
        // slither-disable-next-line uninitialized-local -- a zeroed memory struct: the fields the principal pass reads are set below
        DealState memory work;
        work.classBalances = new uint256[](n);
        work.pdl = new uint256[](n);
        _copyInto(balances, work.classBalances);
        // slither-disable-next-line uninitialized-local -- a zeroed memory struct: the fields the principal pass reads are set below
        PeriodResult memory out;
        out.sequential = sequential;
        out.principalPaid = paid = new uint256[](n);
        out.pdlCured = new uint256[](n);
        (left,,) = _payPrincipal(amount, 0, sequential ? 0 : _debt(balances), work, out);
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

    /// @dev The principal mode and the reserve step-up in force: one pass over the breached triggers.
    function _switches(DealParams memory p, uint256 breached) private pure returns (bool sequential, bool stepUp) {
        sequential = p.principalMode == PrincipalMode.Sequential;
        if (breached == 0) return (sequential, false);
        TriggerParams[] memory triggers = p.triggers;
        for (uint256 j; j < triggers.length; ++j) {
            if ((breached >> j) & 1 == 1) {
                TriggerParams memory t = triggers[j];
                if (t.switchesToSequential) sequential = true;
                if (t.stepsUpReserve) stepUp = true;
            }
        }
    }

    /// @dev 0. Net loss debits the PDL junior first (capped at balance - debit); net recoveries credit it
    /// senior first. `res.pdlCured` is still zero here, so the credits are assigned.
    function _allocateLoss(PeriodReport memory r, DealState memory next, PeriodResult memory res) private pure {
        (uint256 defaults, uint256 recoveries) = (r.defaults, r.recoveries);
        uint256[] memory pdl = next.pdl;
        if (defaults > recoveries) {
            uint256[] memory balances = next.classBalances;
            uint256[] memory writeDown = res.writeDown;
            unchecked {
                // defaults > recoveries; pdl[i] <= balances[i] (validateState), so the room is not negative,
                // the new debit stays <= the balance, and d <= left.
                uint256 left = defaults - recoveries;
                for (uint256 i = pdl.length; i != 0 && left != 0;) {
                    --i;
                    uint256 d = _min(left, balances[i] - pdl[i]);
                    writeDown[i] = d;
                    pdl[i] += d;
                    left -= d;
                }
                res.lossUnallocated = left;
            }
        } else if (recoveries > defaults) {
            uint256[] memory cured = res.pdlCured;
            unchecked {
                // recoveries > defaults; c <= pdl[i] and c <= left.
                uint256 left = recoveries - defaults;
                for (uint256 i; i < pdl.length && left != 0; ++i) {
                    uint256 c = _min(left, pdl[i]);
                    cured[i] = c;
                    pdl[i] -= c;
                    left -= c;
                }
            }
        }
    }

    /// @dev 1. Fees in order: carried shortfall (from `s`) + this period's accrual, from revenue then the
    /// reserve; the new shortfall is written to `next`.
    function _payFees(
        DealParams memory p,
        DealState memory s,
        uint256 revenue,
        DealState memory next,
        PeriodResult memory res
    ) private pure returns (uint256) {
        FeeParams[] memory fees = p.fees;
        uint256[] memory shortfalls = next.feeShortfalls;
        for (uint256 k; k < fees.length; ++k) {
            FeeParams memory f = fees[k];
            uint256 due = f.fixedAmount + accrue(s.poolBalance, f.poolBps, p.periodMonths);
            res.feeDue[k] = due;
            uint256 paid;
            (revenue, paid, shortfalls[k]) = _pay(s.feeShortfalls[k] + due, revenue, true, next);
            res.feePaid[k] = paid;
        }
        return revenue;
    }

    /// @dev 2. Interest by seniority on beginning balances; the reserve covers the first
    /// `reserveCoveredClasses` classes; unpaid interest (carried shortfall from `s` + due) is written to
    /// `next` and carried forward without interest. Also returns the interest-coverage denominator (fees +
    /// non-equity interest due) and the beginning non-equity balance, summed with checked arithmetic.
    function _payInterest(
        DealParams memory p,
        DealState memory s,
        uint256 revenue,
        DealState memory next,
        PeriodResult memory res
    ) private pure returns (uint256, uint256 icDenominator, uint256 debtBegin) {
        icDenominator = _sum(res.feeDue);
        uint256[] memory balances = next.classBalances;
        uint256[] memory shortfalls = next.interestShortfalls;
        for (uint256 i; i < balances.length; ++i) {
            uint256 due = accrue(balances[i], p.classes[i].couponBps, p.periodMonths);
            res.interestDue[i] = due;
            if (i + 1 < balances.length) {
                icDenominator += due;
                debtBegin += balances[i];
            }
            uint256 paid;
            (revenue, paid, shortfalls[i]) = _pay(s.interestShortfalls[i] + due, revenue, i < p.reserveCoveredClasses, next);
            res.interestPaid[i] = paid;
        }
        return (revenue, icDenominator, debtBegin);
    }

    /// @dev Pay `owed` from `revenue`, then (if `fromReserve`) from the reserve in `next`.
    /// @return revenueLeft revenue after the payment
    /// @return paid paid in total
    /// @return unpaid carried forward
    function _pay(uint256 owed, uint256 revenue, bool fromReserve, DealState memory next)
        private
        pure
        returns (uint256 revenueLeft, uint256 paid, uint256 unpaid)
    {
        unchecked {
            // Each amount taken is a min() of what is left and what is owed: nothing goes negative and
            // paid <= owed.
            paid = revenue < owed ? revenue : owed;
            revenueLeft = revenue - paid;
            unpaid = owed - paid;
            if (fromReserve && unpaid != 0) {
                uint256 reserve = next.reserveBalance;
                uint256 draw = reserve < unpaid ? reserve : unpaid;
                next.reserveBalance = reserve - draw;
                paid += draw;
                unpaid -= draw;
            }
        }
    }

    /// @dev 3. Replenish the reserve to `res.reserveTarget` from revenue, or release the excess into revenue.
    function _settleReserve(uint256 revenue, DealState memory next, PeriodResult memory res)
        private
        pure
        returns (uint256)
    {
        uint256 target = res.reserveTarget;
        uint256 reserve = next.reserveBalance;
        if (reserve < target) {
            uint256 deposit;
            unchecked {
                // reserve < target; deposit <= revenue and reserve + deposit <= target.
                deposit = _min(revenue, target - reserve);
                revenue -= deposit;
            }
            res.reserveDeposit = deposit;
            next.reserveBalance = reserve + deposit;
        } else if (reserve > target) {
            uint256 release;
            unchecked {
                // reserve > target
                release = reserve - target;
            }
            res.reserveRelease = release;
            next.reserveBalance = target;
            revenue += release;
        }
        return revenue;
    }

    /// @dev Pay `amount` as principal by the period's mode (`res.sequential`), in place: class balances fall,
    /// `res.principalPaid` rises. In the same pass over the classes: `credit` is first credited to the PDL
    /// senior first (the excess-spread cure), and a PDL debit above the repaid balance is released (that
    /// class has been paid its debit in cash). `debt` is the non-equity balance before the payment.
    /// @return left what no class could take
    /// @return pdlTotal the PDL of all classes after the payment (checked sum)
    /// @return debtAfter the non-equity balance after the payment
    function _payPrincipal(uint256 amount, uint256 credit, uint256 debt, DealState memory next, PeriodResult memory res)
        private
        pure
        returns (uint256 left, uint256 pdlTotal, uint256 debtAfter)
    {
        left = amount;
        if (!res.sequential && left != 0 && left < debt) left = _payProRata(left, debt, next, res);
        (left, pdlTotal, debtAfter) = _paySenior(left, credit, next, res);
    }

    /// @dev The pro-rata shares of `amount` < `debt` among the non-equity classes (debt > 0, so there are at
    /// least two classes), rounded down; returns the rounding dust.
    function _payProRata(uint256 amount, uint256 debt, DealState memory next, PeriodResult memory res)
        private
        pure
        returns (uint256 dust)
    {
        uint256[] memory balances = next.classBalances;
        uint256[] memory paid = res.principalPaid;
        uint256 shared = 0;
        for (uint256 i; i + 1 < balances.length; ++i) {
            uint256 x = amount * balances[i] / debt;
            unchecked {
                // amount < debt, so x <= balances[i]; the shares add up to at most `amount`; a class is
                // never paid above its beginning balance, so paid[i] cannot overflow.
                balances[i] -= x;
                paid[i] += x;
                shared += x;
            }
        }
        unchecked {
            dust = amount - shared;
        }
    }

    /// @dev By seniority: pay `amount` (everything when sequential, the rounding dust when pro-rata), the
    /// equity class last; credit and release the PDL as `_payPrincipal` says.
    function _paySenior(uint256 amount, uint256 credit, DealState memory next, PeriodResult memory res)
        private
        pure
        returns (uint256 left, uint256 pdlTotal, uint256 debtAfter)
    {
        left = amount;
        uint256[] memory balances = next.classBalances;
        uint256[] memory pdl = next.pdl;
        for (uint256 i; i < balances.length; ++i) {
            uint256 balance = balances[i];
            uint256 debit = pdl[i];
            unchecked {
                // Every amount moved is a min() of the two sides, so nothing goes negative; principalPaid[i]
                // and pdlCured[i] stay at most the class's beginning balance; debtAfter <= debt.
                uint256 x = left < balance ? left : balance;
                if (x != 0) {
                    balance -= x;
                    balances[i] = balance;
                    res.principalPaid[i] += x;
                    left -= x;
                }
                x = credit < debit ? credit : debit;
                credit -= x;
                if (debit - x > balance) x = debit - balance;
                if (x != 0) {
                    debit -= x;
                    pdl[i] = debit;
                    res.pdlCured[i] += x;
                }
                if (i + 1 < balances.length) debtAfter += balance;
            }
            pdlTotal += debit;
        }
    }

    /// @dev Test every trigger on the closing figures (`next` already holds them); returns the new bitmask.
    function _evaluateTriggers(
        DealParams memory p,
        uint256 previouslyBreached,
        PeriodReport memory r,
        uint256 debtEnd,
        uint256 icDenominator,
        DealState memory next,
        PeriodResult memory res
    ) private pure returns (uint256 breached) {
        uint256 cnl = next.cumulativeDefaults;
        unchecked {
            // cumulative net loss, floored at zero: subtracts only when defaults > recoveries
            cnl = cnl > next.cumulativeRecoveries ? cnl - next.cumulativeRecoveries : 0;
        }
        for (uint256 j; j < p.triggers.length; ++j) {
            TriggerParams memory t = p.triggers[j];
            uint256 v = triggerValue(t.kind, p, r, cnl, debtEnd, icDenominator);
            res.triggerValues[j] = v;
            if (triggerBreached(t, v, (previouslyBreached >> j) & 1 == 1)) breached |= 1 << j;
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------

    /// @dev Give `next` and `res` their arrays: the twelve arrays in one zeroed block of memory (one
    /// free-memory-pointer bump and one zero fill instead of twelve allocations). The class balances, the PDL
    /// and the reserve of `s` are copied into `next` (steps 0-5 update them in place); the shortfall arrays
    /// are written whole by steps 1 and 2. Requires the lengths checked by `validateParams` and
    /// `validateState`.
    function _allocate(DealParams memory p, DealState memory s, PeriodResult memory res, DealState memory next)
        private
        pure
    {
        (uint256 n, uint256 f, uint256 t) = (p.classes.length, p.fees.length, p.triggers.length);
        uint256 at;
        assembly ("memory-safe") {
            at := mload(0x40)
            // 8 arrays of n words, 3 of f and 1 of t, each after its length word; n, f, t <= 8.
            let size := shl(5, add(add(mul(8, add(n, 1)), mul(3, add(f, 1))), add(t, 1)))
            // Reading past the end of calldata yields zeros: the usual way to zero memory.
            calldatacopy(at, calldatasize(), size)
            mstore(0x40, add(at, size))
        }
        (next.classBalances, at) = _carve(at, n);
        (next.interestShortfalls, at) = _carve(at, n);
        (next.pdl, at) = _carve(at, n);
        (next.feeShortfalls, at) = _carve(at, f);
        (res.feeDue, at) = _carve(at, f);
        (res.feePaid, at) = _carve(at, f);
        (res.interestDue, at) = _carve(at, n);
        (res.interestPaid, at) = _carve(at, n);
        (res.principalPaid, at) = _carve(at, n);
        (res.writeDown, at) = _carve(at, n);
        (res.pdlCured, at) = _carve(at, n);
        (res.triggerValues,) = _carve(at, t);
        _copyInto(s.classBalances, next.classBalances);
        _copyInto(s.pdl, next.pdl);
        next.reserveBalance = s.reserveBalance;
    }

    /// @dev The array of `length` words at `at` (its length word written; its words already zeroed), and
    /// the address just after it.
    function _carve(uint256 at, uint256 length) private pure returns (uint256[] memory a, uint256 end) {
        assembly ("memory-safe") {
            a := at
            mstore(at, length)
            end := add(at, shl(5, add(length, 1)))
        }
    }

    /// @dev Copy `from` into `to`, which has the same length.
    function _copyInto(uint256[] memory from, uint256[] memory to) private pure {
        assembly ("memory-safe") {
            let end := shl(5, mload(from))
            for { let o := 0x20 } iszero(gt(o, end)) { o := add(o, 0x20) } { mstore(add(to, o), mload(add(from, o))) }
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

    /// @dev Revert with the custom error `selector` and its first `count` arguments of `a`, `b`, `c`: one
    /// shared encoder for every input error (smaller code than an ABI encoding per `revert` statement).
    function _revert(bytes4 selector, uint256 count, uint256 a, uint256 b, uint256 c) private pure {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, selector)
            mstore(add(m, 0x04), a)
            mstore(add(m, 0x24), b)
            mstore(add(m, 0x44), c)
            revert(m, add(4, shl(5, count)))
        }
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }

    function _max(uint256 a, uint256 b) private pure returns (uint256) {
        return a > b ? a : b;
    }
}
