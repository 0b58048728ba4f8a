// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {SPVBooks, DealStorage, SPVRefs, ClassBook, Held, Totals, BuyBacks} from "./SPVStorage.sol";
import {DealParams} from "../../interfaces/IWaterfall.sol";
import {ISPV, Ledger, Phase} from "../../interfaces/ISPV.sol";
import {ISPVTranche} from "../../interfaces/ISPVDependencies.sol";
import {IAssetRegistry} from "../../interfaces/IAssetRegistry.sol";
import {IServicingCourt} from "../../interfaces/IServicing.sol";

/// @title SPVSettlement
/// @notice The SPV's settlement paths, linked into it: the trustee's cancel of a pending report and the
/// return of its deposits, the clean-up call priced from the registry, delivery of held class payments, the
/// end of the deal, fee withdrawals and the ledger. Runs in the SPV's context (DELEGATECALL) on its
/// `DealStorage`; access control is checked by the SPV.
library SPVSettlement {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using SPVBooks for DealStorage;

    uint256 private constant BPS = 10_000;

    /// @notice `ISPV.cancelReport`.
    function cancelReport(DealStorage storage s, SPVRefs memory refs) external {
        s.requirePhase(Phase.Active);
        uint256 period = uint256(s.progress.periodsClosed) + 1;
        if (s.pendingHash == bytes32(0)) revert ISPV.NoReportPending(period);
        // Only the totals' slots a cancel needs (the call price, what is returnable, the court's cash).
        uint256 callPrice = s.totals.pendingCleanUpPrice;
        uint256 collections = s.cash.pendingCollections;
        if (s.core.buyBackPending) {
            // Loans bought back before the report stay with the next one: their cash is not the servicer's.
            BuyBacks memory moved = s.pendingBuyBacks;
            BuyBacks memory later = s.buyBacks;
            s.buyBacks = BuyBacks(
                (uint256(later.principal) + moved.principal).toUint128(), (uint256(later.interest) + moved.interest).toUint128()
            );
            collections -= uint256(moved.principal) + moved.interest;
            delete s.pendingBuyBacks;
            s.core.buyBackPending = false;
        }
        // The originator's repurchase cash the court passed with the report stays with the deal for the next
        // report (the court pays each repurchase once): what the report's purchases did not spend of it, as they
        // spend the servicer's deposit first. Only a revolving deal has dilutions.
        uint256 kept = 0;
        if (s.core.revolving) kept = _keepCourtCash(s, refs, period, collections);
        collections -= kept;
        s.core.disputed = false;
        s.pendingHash = bytes32(0);
        s.cash.pendingCollections = uint128(kept); // kept <= the uint128 pending collections
        if (collections > 0) s.returnable[s.pendingDepositor] += collections;
        if (callPrice > 0) {
            s.returnable[refs.originator] += callPrice;
            s.totals.pendingCleanUpPrice = 0;
            s.totals.pendingCleanUpRecoveries = 0;
            s.core.cleanUpPending = false;
        }
        s.totals.depositsReturnable = (uint256(s.totals.depositsReturnable) + collections + callPrice).toUint128();
        for (uint256 i; i < refs.classCount; ++i) {
            ISPVTranche(s.extra[i].token).openBooks();
        }
        emit ISPV.ReportCancelled(period, msg.sender, collections, callPrice);
    }

    /// @dev The court's cash in the pending collections (the period's repurchases, all taken while a report is
    /// pending, less what left them before) and what of it the deal keeps: at most `collections`.
    function _keepCourtCash(DealStorage storage s, SPVRefs memory refs, uint256 period, uint256 collections)
        private
        returns (uint256 kept)
    {
        // slither-disable-next-line unused-return -- the losses bring no cash
        (, uint256 court) = IServicingCourt(refs.court).dilutionOf(address(this), period);
        uint256 gone = s.totals.courtCashGonePeriod == period ? s.totals.courtCashGone : 0;
        court -= gone;
        kept = court < collections ? court : collections;
        if (kept != court) {
            (s.totals.courtCashGone, s.totals.courtCashGonePeriod) = ((gone + court - kept).toUint96(), uint32(period));
        }
    }

    /// @notice `ISPV.withdrawReturned`.
    function withdrawReturned(DealStorage storage s, SPVRefs memory refs) external returns (uint256 amount) {
        amount = s.returnable[msg.sender];
        if (amount == 0) revert ISPV.NothingOwed();
        s.returnable[msg.sender] = 0;
        Totals memory t = s.totals;
        s.totals.depositsReturnable = (uint256(t.depositsReturnable) - amount).toUint128();
        s.totals.depositsReturned = (uint256(t.depositsReturned) + amount).toUint128();
        emit ISPV.DepositReturned(msg.sender, amount);
        IERC20(refs.currency).safeTransfer(msg.sender, amount);
    }

    /// @notice `ISPV.exerciseCleanUpCall` (the SPV checked the role, the phase and that the report is the pending
    /// one).
    function exerciseCleanUpCall(DealStorage storage s, SPVRefs memory refs, uint256 reportedEnding) external {
        uint256 period = uint256(s.progress.periodsClosed) + 1;
        // Receivables bought into the pool this period are not in the report's pool balance: the originator
        // cannot buy back what it has just sold (the close would not reconcile, and the certificates would go
        // back without their price).
        uint256 purchased = s.core.revolving ? s.revolving.purchased : 0;
        if (purchased != 0) revert ISPV.CleanUpCallAfterPurchases(period, purchased);
        // The live principal is the pending report's pool balance (equal to its servicing tape's committed total
        // when it was accepted, and open to fraud proofs until its close); the registry, whose performing
        // balances may lag the tape, bounds it, and its defaulted loans' claims are bought at their carrying value.
        IAssetRegistry.ServicingFigures memory f = IAssetRegistry(refs.registry).servicingFigures(refs.poolId);
        uint256 defaulted = f.defaultedClaims;
        uint256 live = reportedEnding;
        if (live > f.principal - defaulted) revert ISPV.RegistryMismatch(reportedEnding, f.principal - defaulted);
        // slither-disable-next-line unused-return -- the call price needs the terms, not the class tokens
        (DealParams memory p,) = SPVBooks.readParams(refs.paramsPointer, refs.classCount);
        uint256 level = p.originalPoolBalance * p.cleanUpCallBps / BPS;
        if (s.totals.pendingCleanUpPrice != 0 || live == 0 || live > level) {
            revert ISPV.CleanUpCallNotAvailable(live, level);
        }
        uint256 price = live + defaulted;
        s.totals.pendingCleanUpPrice = price.toUint128();
        s.totals.pendingCleanUpRecoveries = uint256(defaulted).toUint128();
        s.core.cleanUpPending = true;
        s.totals.cleanUpProceeds = (uint256(s.totals.cleanUpProceeds) + price).toUint128();
        IERC20(refs.currency).safeTransferFrom(msg.sender, address(this), price);
        emit ISPV.CleanUpCallExercised(period, msg.sender, price, live, defaulted);
    }

    /// @notice `ISPV.releaseHeld`: deliver what is held for class `i` to its token (reverts if it still
    /// refuses; nothing changes then).
    function releaseHeld(DealStorage storage s, uint256 i) external {
        Held memory h = s.held[i];
        uint256 amount = uint256(h.interest) + h.principal;
        if (amount == 0) revert ISPV.NothingOwed();
        delete s.held[i];
        s.totals.heldForClasses = (uint256(s.totals.heldForClasses) - amount).toUint128();
        ISPVTranche token = ISPVTranche(s.extra[i].token);
        token.distribute(h.interest, h.principal);
        // A pending report is the next period's record date: the distribution reopened this class's books, which
        // would let its holders of record sell the coming payment before the close. They are closed again.
        if (s.pendingHash != bytes32(0)) token.closeBooks();
        // A class held at the end of the deal is settled once its last payment is delivered.
        if (s.core.phase == Phase.Ended) token.settle();
        emit ISPV.ClassPaymentReleased(i, h.interest, h.principal);
    }

    /// @notice `ISPV.endDeal`.
    function endDeal(DealStorage storage s, SPVRefs memory refs, bool isTrustee) external {
        s.requirePhase(Phase.Active);
        uint256 n = refs.classCount;
        uint256 closed = s.progress.periodsClosed;
        if (s.pendingHash != bytes32(0)) revert ISPV.ReportPending(closed + 1);
        // With no report pending, a clean-up call still flagged is one whose close sold the pool to the originator
        // (the SPV's own record: the registry's owner could be changed back): nothing more can come in (a report is
        // refused, `PoolSold`), so no period can close any more and the notes' unpaid principal is written off now
        // rather than at legal final, by anyone.
        bool sold = s.core.cleanUpPending;
        if (block.timestamp >= refs.legalFinalDate) {
            // Every period due by legal final must have closed, unless the trustee ends the deal (a servicer
            // that stopped reporting cannot keep the deal open for ever) or the pool was sold.
            uint256 next = SPVBooks.paymentDate(refs.firstPaymentDate, refs.periodMonths, closed + 1);
            if (next <= refs.legalFinalDate && !isTrustee && !sold) revert ISPV.PeriodsOutstanding(closed, next);
        } else {
            uint256 poolBalance = s.core.poolBalance;
            uint256 debt = 0;
            for (uint256 i; i + 1 < n; ++i) {
                debt += s.books[i].balance;
            }
            if (poolBalance != 0) revert ISPV.CannotEnd(poolBalance, debt, refs.legalFinalDate);
            if (!sold) {
                // While the SPV owns the pool, the notes must be paid, and defaulted loans may still bring recoveries.
                if (debt != 0) revert ISPV.CannotEnd(poolBalance, debt, refs.legalFinalDate);
                IAssetRegistry registry = IAssetRegistry(refs.registry);
                if (registry.poolOwner(refs.poolId) == address(this)) {
                    uint256 defaulted = registry.servicingFigures(refs.poolId).defaultedClaims;
                    if (defaulted != 0) revert ISPV.RecoveriesOutstanding(defaulted);
                }
            }
        }
        s.core.phase = Phase.Ended;

        // What the deal still holds: the reserve, and what waited for a report that never came (the trustee ended
        // the deal at legal final before it): the price of loans bought back since the last report, and the
        // originator's repurchase cash a cancelled report kept (the pending collections with no report pending).
        // One pot, no period after this: it is applied in a post-enforcement priority (docs/waterfall.md, "The end
        // of the deal"): the fees' carried shortfalls in fee order, then each note class, senior first, its carried
        // interest shortfall and then its unpaid principal; the rest goes to the equity class. Whatever principal
        // is still unpaid is lost: written off (beyond the principal deficiency already recorded) and the balances
        // closed; a shortfall still unpaid is lost too and stays in the books as the record.
        uint256 cash = _lateCash(s, refs, closed) + s.cash.reserveBalance + s.cash.pendingCollections;
        delete s.cash;
        uint256 owing = s.core.shortfallFees;
        if (owing != 0) cash = _payFeeShortfalls(s, owing, refs.feeCount, closed, cash);
        (uint256 released, uint256 finalWriteDown) = _closeClasses(s, closed, n, s.core.shortfallClasses, cash);
        // Every class whose payments were all delivered is settled (redemptions open); a class with held
        // payments is settled when they are released.
        for (uint256 i; i < n; ++i) {
            Held memory h = s.held[i];
            if (uint256(h.interest) + h.principal == 0) ISPVTranche(s.extra[i].token).settle();
        }
        emit ISPV.DealEnded(closed, released, finalWriteDown, block.timestamp >= refs.legalFinalDate);
    }

    /// @dev At the end of the deal: each class, senior first, paid from `cash` its carried interest shortfall
    /// (`carried` flags the classes with one) and its unpaid principal; the rest to the equity class (as
    /// interest, like a close's residual). Returns what the equity class got and the principal written off.
    function _closeClasses(DealStorage storage s, uint256 period, uint256 n, uint256 carried, uint256 cash)
        private
        returns (uint256, uint256 finalWriteDown)
    {
        uint256 left = 0;
        for (uint256 i; i < n; ++i) {
            (uint256 spent, uint256 lost, bool short_) =
                _closeClass(s, period, i, i + 1 < n ? cash : 0, (carried >> i) & 1 == 1);
            cash -= spent;
            finalWriteDown += lost;
            if (short_) left |= 1 << i;
        }
        if (left != carried) s.core.shortfallClasses = uint8(left); // at most 8 classes
        // slither-disable-next-line unused-return -- delivered or held for the equity class: either way accounted for
        if (cash > 0) s.payClass(ISPVTranche(s.extra[n - 1].token), period, n - 1, cash, 0, 0, 0);
        return (cash, finalWriteDown);
    }

    /// @dev At the end of the deal: the fees' carried shortfalls (`owing` flags them) from `cash`, in fee order,
    /// booked as earned (their recipients withdraw them); what `cash` cannot pay stays as the fee's shortfall, lost
    /// with the deal. Returns the cash left.
    function _payFeeShortfalls(DealStorage storage s, uint256 owing, uint256 f, uint256 period, uint256 cash)
        private
        returns (uint256)
    {
        uint256 left = 0;
        for (uint256 k; k < f; ++k) {
            if ((owing >> k) & 1 == 0) continue;
            uint256 due = s.feeShortfall[k];
            uint256 paid = cash < due ? cash : due;
            if (paid != 0) {
                cash -= paid;
                s.feeShortfall[k] = uint128(due - paid); // below the uint128 shortfall
                s.feePaid[k] = (uint256(s.feePaid[k]) + paid).toUint128();
            }
            if (paid != due) left |= 1 << k;
            emit ISPV.FeeShortfallSettled(period, k, paid, due - paid);
        }
        if (left != owing) s.core.shortfallFees = uint8(left); // at most 8 fees
        return cash;
    }

    /// @dev At the end of the deal, the cash that waited for a report that never came: the price of the loans
    /// bought back since the last report (taken out of the buy-backs' book), and, in a revolving deal, the
    /// originator's repurchases of receivables diluted since then, which the court holds until a report takes
    /// them (taken now, as a report would: counted in the collections).
    function _lateCash(DealStorage storage s, SPVRefs memory refs, uint256 closed) private returns (uint256 cash) {
        BuyBacks memory bought = s.buyBacks;
        cash = uint256(bought.principal) + bought.interest;
        if (cash != 0) {
            delete s.buyBacks;
            emit ISPV.BuyBackProceedsApplied(closed, cash);
        }
        if (s.core.revolving) {
            // slither-disable-next-line unused-return -- only the cash: the deal ends, no test reads the rest
            (,, uint256 diluted,,) = IServicingCourt(refs.court).takeDilution(closed + 1);
            if (diluted != 0) {
                s.totals.collections = (uint256(s.totals.collections) + diluted).toUint128();
                cash += diluted;
            }
        }
    }

    /// @dev At the end of the deal: pay class `i` from `cash` its carried interest shortfall (`carried`: it has
    /// one) and then up to its unpaid principal, write off the rest of the principal and close its book; returns
    /// the cash spent, the principal written off and whether a shortfall is still unpaid (lost with the deal: the
    /// class's and its token's shortfall keep it).
    function _closeClass(DealStorage storage s, uint256 period, uint256 i, uint256 cash, bool carried)
        private
        returns (uint256 spent, uint256 lost, bool short_)
    {
        uint256 interest = 0;
        uint256 principal;
        uint256 remaining = 0;
        {
            uint256 shortfall = carried ? s.extra[i].interestShortfall : 0;
            interest = cash < shortfall ? cash : shortfall;
            remaining = shortfall - interest;
            if (carried) {
                short_ = remaining != 0;
                if (interest != 0) s.extra[i].interestShortfall = uint96(remaining); // below the uint96 shortfall
                emit ISPV.InterestShortfallSettled(period, i, interest, remaining);
            }
            ClassBook memory book = s.books[i];
            uint256 unpaid = uint256(book.balance) - book.pdl;
            principal = cash - interest < unpaid ? cash - interest : unpaid;
            lost = unpaid - principal;
            spent = interest + principal;
        }
        delete s.books[i];
        _payOrWriteDown(s, period, i, interest, principal, lost, remaining);
    }

    /// @dev Pay class `i` `interest` and `principal` with its write-down of `lost` in the same call; held (its
    /// token refuses) or nothing paid, the write-down alone. Interest paid (delivered or held, as in a close) is
    /// paid shortfall: the token's shortfall becomes `remaining`.
    function _payOrWriteDown(
        DealStorage storage s,
        uint256 period,
        uint256 i,
        uint256 interest,
        uint256 principal,
        uint256 lost,
        uint256 remaining
    ) private {
        ISPVTranche token = ISPVTranche(s.extra[i].token);
        if ((interest + principal == 0 || !s.payClass(token, period, i, interest, principal, lost, 0)) && lost > 0) {
            token.writeDown(lost);
        }
        if (interest != 0) token.setInterestShortfall(remaining);
    }

    /// @notice `ISPV.setFeeRecipient`: what the fee earned so far is first paid to the previous recipient; a
    /// failed transfer (a blocked address) must not stop the trustee from redirecting the fee.
    function setFeeRecipient(DealStorage storage s, SPVRefs memory refs, uint256 feeIndex, address recipient) external {
        if (feeIndex >= refs.feeCount) revert ISPV.UnknownFee(feeIndex);
        if (recipient == address(0)) revert ISPV.ZeroFeeRecipient(feeIndex);
        address previous = s.feeRecipients[feeIndex];
        uint256 owed = s.feePaid[feeIndex] - s.feeWithdrawn[feeIndex];
        if (owed > 0) {
            s.feeWithdrawn[feeIndex] += owed; // booked before the transfer, undone if it fails
            if (IERC20(refs.currency).trySafeTransfer(previous, owed)) {
                emit ISPV.FeesWithdrawn(feeIndex, previous, msg.sender, owed);
            } else {
                s.feeWithdrawn[feeIndex] -= owed;
                emit ISPV.FeeSettlementFailed(feeIndex, previous, owed);
            }
        }
        s.feeRecipients[feeIndex] = recipient;
        emit ISPV.FeeRecipientChanged(feeIndex, previous, recipient);
    }

    /// @notice `ISPV.withdrawFees`.
    function withdrawFees(DealStorage storage s, SPVRefs memory refs, uint256 feeIndex) external returns (uint256 amount) {
        if (feeIndex >= refs.feeCount) revert ISPV.UnknownFee(feeIndex);
        amount = s.feePaid[feeIndex] - s.feeWithdrawn[feeIndex];
        if (amount == 0) return 0;
        s.feeWithdrawn[feeIndex] += amount;
        address recipient = s.feeRecipients[feeIndex];
        emit ISPV.FeesWithdrawn(feeIndex, recipient, msg.sender, amount);
        IERC20(refs.currency).safeTransfer(recipient, amount);
    }

    /// @notice `ISPV.feeRecipients` (a view kept out of the SPV's code, which is near the EIP-170 limit).
    function feeRecipients(DealStorage storage s, uint256 f) external view returns (address[] memory recipients) {
        recipients = new address[](f);
        for (uint256 k; k < f; ++k) {
            recipients[k] = s.feeRecipients[k];
        }
    }

    /// @notice `ISPV.distributedToClass` for a class index the SPV checked (kept out of its code likewise).
    function distributedToClass(DealStorage storage s, uint256 i) external view returns (uint256) {
        ISPVTranche token = ISPVTranche(s.extra[i].token);
        return token.totalInterestDistributed() + token.totalPrincipalDistributed();
    }

    /// @notice `ISPV.ledger`.
    function ledger(DealStorage storage s, SPVRefs memory refs) external view returns (Ledger memory l) {
        Totals memory t = s.totals;
        l.subscriptions = t.subscriptions;
        l.reserveFunded = t.reserveFunded;
        l.collections = t.collections;
        l.cleanUpProceeds = t.cleanUpProceeds;
        l.paidToOriginator = t.paidToOriginator;
        l.refunded = t.refunded;
        for (uint256 i; i < refs.feeCount; ++i) {
            uint256 withdrawn = s.feeWithdrawn[i];
            l.feesPaid += withdrawn;
            l.feesOwed += s.feePaid[i] - withdrawn;
        }
        // What each tranche token received from the SPV is in the token's own books.
        for (uint256 i; i < refs.classCount; ++i) {
            ISPVTranche token = ISPVTranche(s.extra[i].token);
            l.distributed += token.totalInterestDistributed() + token.totalPrincipalDistributed();
        }
        l.heldForClasses = t.heldForClasses;
        l.reserveBalance = s.cash.reserveBalance;
        l.pendingCollections = uint256(s.cash.pendingCollections) + t.pendingCleanUpPrice;
        l.depositsReturned = t.depositsReturned;
        l.depositsReturnable = t.depositsReturnable;
        Phase phase = s.core.phase;
        if (phase == Phase.Offering || phase == Phase.Cancelled) l.unsettledSubscriptions = t.subscriptions - t.refunded;
        BuyBacks memory bought = s.buyBacks;
        l.buyBackProceeds = uint256(bought.principal) + bought.interest;
        l.revolvingPurchases = s.revolving.paid;
    }
}
