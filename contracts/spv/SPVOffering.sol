// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {SPVBooks, DealStorage, SPVRefs} from "./SPVStorage.sol";
import {ISPV, Phase} from "../../interfaces/ISPV.sol";
import {ISPVTranche} from "../../interfaces/ISPVDependencies.sol";
import {IAssetRegistry} from "../../interfaces/IAssetRegistry.sol";

/// @title SPVOffering
/// @notice The SPV's offering, linked into it: subscriptions (payment and delivery in one transaction), the
/// closing (true sale), cancellation and refunds. Runs in the SPV's context (DELEGATECALL) on its
/// `DealStorage`; events and errors are the SPV's (`ISPV`). Access control is checked by the SPV.
library SPVOffering {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using SPVBooks for DealStorage;

    /// @notice `ISPV.subscribe` / `subscribeRetained`.
    function subscribe(DealStorage storage s, SPVRefs memory refs, uint256 classIndex, uint256 amount, bool retained)
        external
    {
        s.requirePhase(Phase.Offering);
        if (block.timestamp > refs.offeringDeadline) revert ISPV.OfferingExpired(refs.offeringDeadline, block.timestamp);
        if (classIndex >= refs.classCount) revert ISPV.UnknownClass(classIndex);
        if (amount == 0) revert ISPV.ZeroAmount();
        uint256 have = s.subscribed[classIndex];
        uint256 available = uint256(s.books[classIndex].balance) - have;
        if (amount > available) revert ISPV.OverSubscribed(classIndex, amount, available);
        s.subscribed[classIndex] = have + amount;
        s.totals.subscriptions = (uint256(s.totals.subscriptions) + amount).toUint128();
        IERC20(refs.currency).safeTransferFrom(msg.sender, address(this), amount);
        ISPVTranche token = ISPVTranche(s.extra[classIndex].token);
        if (retained) token.issueByPartition(refs.retainedPartition, msg.sender, amount, "");
        else token.issue(msg.sender, amount, "");
        emit ISPV.Subscribed(msg.sender, classIndex, amount, retained);
    }

    /// @notice `ISPV.closeDeal`.
    function closeDeal(DealStorage storage s, SPVRefs memory refs) external {
        s.requirePhase(Phase.Offering);
        if (block.timestamp > refs.offeringDeadline) revert ISPV.OfferingExpired(refs.offeringDeadline, block.timestamp);
        uint256 n = refs.classCount;
        for (uint256 i; i < n; ++i) {
            uint256 have = s.subscribed[i];
            uint256 size = s.books[i].balance;
            if (have != size) revert ISPV.NotFullySubscribed(i, have, size);
        }
        // The pool must be sealed (cut-off tape committed), still the originator's, of the deal's size, and
        // unchanged since its cut-off: nothing left it (count) and nothing was paid down or written off
        // (principal), so the SPV pays for exactly the tape the investors subscribed against.
        IAssetRegistry registry = IAssetRegistry(refs.registry);
        IAssetRegistry.PoolInfo memory pool = registry.poolInfo(refs.poolId);
        uint256 dealPrincipal = s.core.poolBalance;
        if (
            !pool.isSealed || pool.owner != refs.originator || pool.cutoffPrincipal != dealPrincipal
                || pool.principal != pool.cutoffPrincipal || pool.count != pool.cutoffCount
        ) {
            revert ISPV.PoolNotReady(
                refs.poolId, pool.principal, dealPrincipal, pool.count, pool.cutoffCount, pool.isSealed, pool.owner
            );
        }
        // ... and never sold before: a pool moved away and back had servicing open (statuses, repurchases).
        if (pool.sold) revert ISPV.PoolSoldBefore(refs.poolId, pool.owner);
        s.core.phase = Phase.Active;
        s.core.closedAt = uint40(block.timestamp);
        uint256 price = s.totals.subscriptions;
        s.totals.paidToOriginator = price.toUint128();
        s.cash.reserveBalance = refs.reserveInitial.toUint128();
        s.totals.reserveFunded = refs.reserveInitial.toUint128();
        IERC20 currency = IERC20(refs.currency);
        for (uint256 i; i < n; ++i) {
            address token = s.extra[i].token;
            // No unit can be issued after closing; each token pulls its distributions under one standing
            // approval (saves an approval per payment).
            ISPVTranche(token).closeIssuance();
            currency.forceApprove(token, type(uint256).max);
        }
        // True sale: the pool's certificates move to the SPV in the same transaction as the payment.
        registry.transferPool(refs.poolId, address(this));
        if (refs.reserveInitial > 0) currency.safeTransferFrom(msg.sender, address(this), refs.reserveInitial);
        currency.safeTransfer(refs.originator, price);
        emit ISPV.DealClosed(refs.poolId, msg.sender, price, refs.reserveInitial);
    }

    /// @notice `ISPV.cancelOffering`: the arranger at any time of the offering, anyone after its deadline.
    function cancelOffering(DealStorage storage s, SPVRefs memory refs, bool isArranger) external {
        s.requirePhase(Phase.Offering);
        bool afterDeadline = block.timestamp > refs.offeringDeadline;
        if (!afterDeadline && !isArranger) revert ISPV.OfferingStillOpen(refs.offeringDeadline, block.timestamp);
        s.core.phase = Phase.Cancelled;
        emit ISPV.OfferingCancelled(msg.sender, s.totals.subscriptions, afterDeadline);
    }

    /// @notice `ISPV.refund`: cancel `holder`'s units in every class, pay back one unit of currency per unit.
    function refund(DealStorage storage s, SPVRefs memory refs, address holder) external returns (uint256 amount) {
        s.requirePhase(Phase.Cancelled);
        for (uint256 i; i < refs.classCount; ++i) {
            amount += ISPVTranche(s.extra[i].token).cancel(holder);
        }
        if (amount == 0) revert ISPV.NothingOwed();
        s.totals.refunded = (uint256(s.totals.refunded) + amount).toUint128();
        emit ISPV.Refunded(holder, msg.sender, amount);
        IERC20(refs.currency).safeTransfer(holder, amount);
    }
}
