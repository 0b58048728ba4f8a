// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {Waterfall} from "./Waterfall.sol";
import {SPVBooks, DealStorage, SPVRefs, BuyBacks, Revolving} from "./SPVStorage.sol";
import {PeriodReport} from "../../interfaces/IWaterfall.sol";
import {ISPV, Phase, ReportFigure} from "../../interfaces/ISPV.sol";
import {ISPVTranche} from "../../interfaces/ISPVDependencies.sol";
import {IAssetRegistry} from "../../interfaces/IAssetRegistry.sol";
import {ChallengeKind, IServicingCourt, ServicingCommitment, TapeSums} from "../../interfaces/IServicing.sol";

/// @title SPVServicing
/// @notice The SPV's servicing paths, linked into it: a period report accepted only when its figures equal the
/// loan-level data on chain (its servicing tape's committed totals and the asset registry's tallies and flows),
/// and loans bought back out of the pool. Runs in the SPV's context (DELEGATECALL) on its `DealStorage`; access
/// control is checked by the SPV.
library SPVServicing {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using SPVBooks for DealStorage;

    uint256 private constant BPS = 10_000;
    uint256 private constant YEAR_360 = 360 days;
    /// @dev `PoolCriteria.allowedAssetTypes` of a pool of rent only (asset type 4, rent: `chainabs.model.assets`):
    /// a REIT's leases.
    uint16 private constant RENT_ONLY = 1 << 4;

    /// @dev A period's dilutions as the court recorded them (`IServicingCourt.takeDilution`).
    struct Diluted {
        uint256 loss;
        uint256 repurchased;
        uint256 cash;
        uint256 previous;
        uint256 limitBps;
    }

    /// @notice `ISPV.submitReport`.
    function submitReport(
        DealStorage storage s,
        SPVRefs memory refs,
        PeriodReport calldata report,
        ServicingCommitment calldata c,
        string calldata tapeUri
    ) external {
        s.requirePhase(Phase.Active);
        uint256 period = uint256(s.progress.periodsClosed) + 1;
        if (s.pendingHash != bytes32(0)) revert ISPV.ReportPending(period);
        // A clean-up call still flagged with no report pending is one whose close sold the pool to the originator
        // (`SPV.closePeriod` keeps the flag): no report on a pool the deal no longer owns; anyone may end the deal.
        if (s.core.cleanUpPending) revert ISPV.PoolSold(refs.poolId, refs.originator);
        // Loans bought back since the last report: their principal and interest are this period's collections.
        BuyBacks memory bought = s.buyBacks;
        PeriodReport memory r = report;
        r.prepayments += bought.principal;
        r.interestCollections += bought.interest;
        // A REIT's period without rent is reported like any other (its losses must reach the waterfall); its
        // close has no rental income to distribute (the registry is read only then).
        if (
            r.interestCollections == 0
                && IAssetRegistry(refs.registry).poolCriteria(refs.poolId).allowedAssetTypes == RENT_ONLY
        ) emit ISPV.NoRentCollected(period);
        Waterfall.validateReport(s.loadState(refs.classCount, refs.feeCount), r);
        uint256 deposit = _checkAndOpen(s, refs, report, r, c, period);
        uint256 heldBuyBacks = uint256(bought.principal) + bought.interest;
        s.pendingHash = keccak256(abi.encode(report));
        s.pendingDepositor = msg.sender;
        s.cash.pendingCollections = (uint256(s.cash.pendingCollections) + deposit + heldBuyBacks).toUint128();
        s.totals.collections = (uint256(s.totals.collections) + deposit).toUint128();
        if (heldBuyBacks != 0) {
            s.pendingBuyBacks = bought;
            delete s.buyBacks;
            s.core.buyBackPending = true;
        }
        s.commitments[period] = keccak256(abi.encode(c.root, c.sums));
        // Record date: the coming distribution goes to the holders of this moment.
        _closeBooks(refs);
        if (deposit > 0) IERC20(refs.currency).safeTransferFrom(msg.sender, address(this), deposit);
        emit ISPV.ReportSubmitted(period, msg.sender, deposit, c, tapeUri, report);
    }

    /// @dev The period's dilutions (credit notes, disputes) as the court recorded them (the originator's
    /// repurchase cash the court holds is paid to the SPV now: the period's first pending collections), the report
    /// against the chain, then the revolving period's purchases. Returns what the servicer deposits: the report's
    /// collections less what purchases with a cancelled report of this period already spent (only the rest was
    /// returned), less the court's cash: what it pays now and what a cancelled report of this period kept of it
    /// (`Cash.pendingCollections`). Never below zero: court cash above what the report still needs (smaller
    /// collections than the cancelled report's, whose purchases its depositor's cash paid) is owed back to the
    /// cancelled report's depositor (`DepositOverpaid`).
    function _checkAndOpen(
        DealStorage storage s,
        SPVRefs memory refs,
        PeriodReport calldata report,
        PeriodReport memory r,
        ServicingCommitment calldata c,
        uint256 period
    ) private returns (uint256) {
        Diluted memory d = Diluted(0, 0, 0, 0, 0);
        uint256 court = 0; // the court's cash: paid now, and kept by a cancelled report of this period
        // Only a revolving deal has dilution terms in its court (a static deal's report does not call it).
        bool revolving = s.core.revolving;
        if (revolving) {
            (d.loss, d.repurchased, d.cash, d.previous, d.limitBps) = IServicingCourt(refs.court).takeDilution(period);
            // Nothing is pending before a report but the court's cash a cancelled report of this period kept.
            court = uint256(s.cash.pendingCollections) + d.cash;
        }
        _checkAgainstChain(s, refs, report, c, period, d);
        _openPurchases(s, refs, period, r, d);
        uint256 owed = report.interestCollections + report.scheduledPrincipal + report.prepayments + report.recoveries
            - (revolving ? s.revolving.purchased : 0);
        if (court > owed) {
            _overpaid(s, period, court - owed);
            court = owed;
        }
        s.cash.pendingCollections = court.toUint128();
        s.totals.collections = (uint256(s.totals.collections) + d.cash).toUint128();
        return owed - court;
    }

    /// @dev `excess` of the court's cash is more than a report submitted again needs: owed back to the cancelled
    /// report's depositor, and no longer in the pending collections (`Totals.courtCashGone`).
    function _overpaid(DealStorage storage s, uint256 period, uint256 excess) private {
        address depositor = s.pendingDepositor;
        s.returnable[depositor] += excess;
        s.totals.depositsReturnable = (uint256(s.totals.depositsReturnable) + excess).toUint128();
        uint256 gone = s.totals.courtCashGonePeriod == period ? s.totals.courtCashGone : 0;
        (s.totals.courtCashGone, s.totals.courtCashGonePeriod) = ((gone + excess).toUint96(), uint32(period));
        emit ISPV.DepositOverpaid(period, depositor, excess);
    }

    /// @dev In a revolving period: first the early-amortization tests of the period just closed (its report's 60+
    /// days delinquent principal over the pool balance its close left, purchases included, above the limit;
    /// its annualised excess spread over its beginning pool below the limit): a breach ends the revolving
    /// period for good with that period; they run once per period (a report submitted again after a cancel
    /// keeps the first submission's verdict: its commitment is set). Then the principal this period may
    /// reinvest (a report submitted again after a cancelled one must cover what the first one's purchases
    /// already spent), and the figures of this report that the next period's tests read. `r`: the report with
    /// the buy-backs joined.
    function _openPurchases(
        DealStorage storage s,
        SPVRefs memory refs,
        uint256 period,
        PeriodReport memory r,
        Diluted memory d
    ) private {
        if (!s.core.revolving || period > s.revolving.lastPeriod) return; // static: no `Revolving` slot read
        Revolving memory rv = s.revolving;
        uint256 pool = s.core.poolBalance;
        // Once per period, at its first report: a report submitted again after a cancel (the cancelled one's
        // commitment is kept) would find that report's own figures in `rv`; the first one's verdict stands.
        if (period > 1 && s.commitments[period] == bytes32(0)) {
            uint256 limit = rv.delinquencyLimitBps;
            uint256 value = pool == 0 ? 0 : uint256(rv.delinquent) * BPS / pool;
            if (limit != 0 && value > limit) return _endRevolving(s, period - 1, 2, int256(value), limit);
            // The period's dilutions (both treatments) over its beginning pool.
            limit = d.limitBps;
            value = rv.beginning == 0 ? 0 : d.previous * BPS / rv.beginning;
            if (limit != 0 && value > limit) return _endRevolving(s, period - 1, 1, int256(value), limit);
            limit = rv.excessSpreadLimitBps;
            if (limit != 0) {
                (uint256 fees, uint256 interest) = _paidSoFar(s, refs);
                int256 spread = int256(uint256(rv.interestIn)) - int256(fees - rv.feesBefore)
                    - int256(interest - rv.classInterestBefore);
                // The model's floor division: any shortfall of spread is below every limit.
                int256 es = rv.beginning == 0 ? int256(0)
                    : spread * int256(BPS * 12) / int256(refs.periodMonths * rv.beginning);
                if (spread < 0 || es < int256(limit)) return _endRevolving(s, period - 1, 0, es, limit);
            }
        }
        uint256 available = r.scheduledPrincipal + r.prepayments - s.buyBacks.principal; // the report's own
        if (rv.purchased > available) revert ISPV.InsufficientPrincipalCollections(rv.purchased, available);
        s.revolving.available = available.toUint112();
        s.revolving.delinquent = (r.delinquent60 + r.delinquent90Plus).toUint112();
        if (d.limitBps != 0) s.revolving.beginning = pool.toUint128();
        if (rv.excessSpreadLimitBps != 0) {
            (uint256 fees, uint256 interest) = _paidSoFar(s, refs);
            s.revolving.interestIn = r.interestCollections.toUint128();
            s.revolving.beginning = pool.toUint128();
            s.revolving.feesBefore = fees.toUint128();
            s.revolving.classInterestBefore = interest.toUint112();
        }
    }

    function _endRevolving(DealStorage storage s, uint256 last, uint8 kind, int256 value, uint256 limit) private {
        s.revolving.lastPeriod = uint32(last);
        emit ISPV.EarlyAmortization(last, kind, value, limit);
    }

    /// @dev What closes paid so far: the fees' total and the interest of every class but the last (the equity),
    /// delivered to its token or held for it.
    function _paidSoFar(DealStorage storage s, SPVRefs memory refs) private view returns (uint256 fees, uint256 interest) {
        for (uint256 k; k < refs.feeCount; ++k) {
            fees += s.feePaid[k];
        }
        // slither-disable-next-line unused-return -- only the class tokens are needed here
        (address[] memory tokens,) = SPVBooks.readTerms(refs.paramsPointer, refs.classCount);
        for (uint256 i; i + 1 < tokens.length; ++i) {
            interest += ISPVTranche(tokens[i]).totalInterestDistributed() + s.held[i].interest;
        }
    }

    /// @notice `IPoolPurchaser.onPoolPurchase`: the deal's registry registered `count` receivables of
    /// `principal` that the originator sold into the deal's pool; pay them at par from the pending report's
    /// principal collections, or revert (which undoes the registration).
    function purchase(DealStorage storage s, SPVRefs memory refs, uint256 poolId, address seller, uint256 count, uint256 principal)
        external
    {
        if (msg.sender != refs.registry || poolId != refs.poolId || seller != refs.originator) {
            revert ISPV.NotPoolRegistry(msg.sender);
        }
        s.requirePhase(Phase.Active);
        uint256 period = uint256(s.progress.periodsClosed) + 1;
        Revolving memory rv = s.revolving;
        if (period > rv.lastPeriod) revert ISPV.RevolvingPeriodEnded(period, rv.lastPeriod);
        // Purchases spend a pending report's collections: not a disputed report's, nor into a called pool.
        if (s.pendingHash == bytes32(0)) revert ISPV.NoReportPending(period);
        if (s.core.disputed) revert ISPV.ReportDisputed(period);
        if (s.core.cleanUpPending) revert ISPV.CleanUpCallNotAvailable(0, 0);
        uint256 unspent = uint256(rv.available) - rv.purchased;
        if (principal > unspent) revert ISPV.InsufficientPrincipalCollections(principal, unspent);
        s.revolving.purchased = (uint256(rv.purchased) + principal).toUint112();
        uint256 counted = rv.purchasePeriod == period ? rv.purchasedCount : 0;
        s.revolving.purchasePeriod = uint32(period);
        s.revolving.purchasedCount = (counted + count).toUint64();
        s.revolving.paid = (uint256(rv.paid) + principal).toUint128();
        s.cash.pendingCollections = (uint256(s.cash.pendingCollections) - principal).toUint128();
        emit ISPV.ReceivablesPurchased(period, seller, count, principal, unspent - principal);
        IERC20(refs.currency).safeTransfer(seller, principal);
    }

    /// @notice `ISPV.buyBack` (the SPV checked that the caller is its court and `buyer` its originator).
    function buyBack(DealStorage storage s, SPVRefs memory refs, address buyer, uint256 assetId, uint256 principal)
        external
    {
        s.requirePhase(Phase.Active);
        IAssetRegistry registry = IAssetRegistry(refs.registry);
        IAssetRegistry.AssetInfo memory info = registry.assetInfo(assetId);
        bool active = info.status >= IAssetRegistry.AssetStatus.Performing
            && info.status <= IAssetRegistry.AssetStatus.Delinquent90;
        if (s.pendingHash != bytes32(0) || info.poolId != refs.poolId || !active || principal > info.principal) {
            revert ISPV.BuyBackNotAllowed(assetId);
        }
        uint256 closed = s.progress.periodsClosed;
        uint256 since = closed == 0 ? s.core.closedAt : SPVBooks.paymentDate(refs.firstPaymentDate, refs.periodMonths, closed);
        uint256 elapsed = block.timestamp > since ? block.timestamp - since : 0;
        uint256 interest = principal * info.rateBps * elapsed / (YEAR_360 * BPS);
        BuyBacks memory b = s.buyBacks;
        s.buyBacks = BuyBacks((uint256(b.principal) + principal).toUint128(), (uint256(b.interest) + interest).toUint128());
        s.totals.collections = (uint256(s.totals.collections) + principal + interest).toUint128();
        registry.repurchase(assetId, keccak256(abi.encode("buy-back", principal, interest)));
        // `buyer` is the court's caller, checked by SPV.buyBack to hold ORIGINATOR_ROLE: it pays for its own buy-back.
        // slither-disable-next-line arbitrary-send-erc20 -- the payer is the checked originator (above)
        IERC20(refs.currency).safeTransferFrom(buyer, address(this), principal + interest);
        emit ISPV.LoanBoughtBack(assetId, buyer, principal, interest);
    }

    /// @dev Every figure of the report against the tape's committed totals and the registry (first mismatch
    /// reverts, named); then the registry's flows are kept for the next report's deltas.
    function _checkAgainstChain(
        DealStorage storage s,
        SPVRefs memory refs,
        PeriodReport calldata r,
        ServicingCommitment calldata c,
        uint256 period,
        Diluted memory d
    ) private {
        TapeSums calldata t = c.sums;
        _equal(ReportFigure.PoolBalance, r.poolEndingBalance, t.ending);
        _equal(ReportFigure.ScheduledPrincipal, r.scheduledPrincipal, t.scheduled);
        _equal(ReportFigure.Prepayments, r.prepayments, t.prepaid);
        _equal(ReportFigure.Defaults, r.defaults, t.defaulted);
        _equal(ReportFigure.InterestCollections, r.interestCollections, t.interest);
        _equal(ReportFigure.Recoveries, r.recoveries, t.recoveries);
        IAssetRegistry.ServicingFigures memory f = IAssetRegistry(refs.registry).servicingFigures(refs.poolId);
        // Receivables bought with a cancelled report of this period are in the registry, not in this tape.
        uint256 bought = s.core.revolving && s.revolving.purchasePeriod == period ? s.revolving.purchasedCount : 0;
        _equal(ReportFigure.LoanCount, t.count + bought, f.count);
        _equal(ReportFigure.Delinquent30, r.delinquent30, f.delinquent30);
        _equal(ReportFigure.Delinquent60, r.delinquent60, f.delinquent60);
        _equal(ReportFigure.Delinquent90Plus, r.delinquent90Plus, f.delinquent90);
        IAssetRegistry.PoolFlows memory last = s.flowsAt[(period - 1) % 2];
        // Defaults: whole receivables defaulted in the registry, and the period's dilutions counted as losses.
        _equal(ReportFigure.DefaultsOnChain, r.defaults, f.flows.defaulted - last.defaulted + d.loss);
        _equal(ReportFigure.RecoveriesOnChain, r.recoveries, f.flows.recoveries - last.recoveries);
        // Prepayments: at least the receivables prepaid in full and the dilutions the originator repurchased.
        uint256 prepaidInFull = f.flows.prepaidInFull - last.prepaidInFull + d.repurchased;
        if (prepaidInFull > r.prepayments) revert ISPV.ReportDisagrees(ReportFigure.PrepaidInFull, r.prepayments, prepaidInFull);
        uint256 paidOff = f.flows.repaid - last.repaid;
        if (paidOff > r.scheduledPrincipal) revert ISPV.ReportDisagrees(ReportFigure.PaidOff, r.scheduledPrincipal, paidOff);
        s.flowsAt[period % 2] = f.flows;
    }

    /// @dev Close every class token's books. The tokens come with the terms' code (one cold account) rather
    /// than from each class's storage slot.
    function _closeBooks(SPVRefs memory refs) private {
        // slither-disable-next-line unused-return -- only the class tokens are needed to close their books
        (address[] memory tokens,) = SPVBooks.readTerms(refs.paramsPointer, refs.classCount);
        for (uint256 i = 0; i < tokens.length; ++i) {
            ISPVTranche(tokens[i]).closeBooks();
        }
    }

    function _equal(ReportFigure figure, uint256 reported, uint256 onChain) private pure {
        if (reported != onChain) revert ISPV.ReportDisagrees(figure, reported, onChain);
    }
}
