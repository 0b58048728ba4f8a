// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IIdentityCache, IIdentityRegistry} from "../../interfaces/IIdentityRegistry.sol";
import {ITrancheToken} from "../../interfaces/ITrancheToken.sol";
import {ComplianceCodes as C} from "../compliance/ComplianceCodes.sol";
import {DistributionMath as M, Pair, PairLib} from "./DistributionMath.sol";
import {Account, Flows, TrancheState, TrancheStateLib as S} from "./TrancheWords.sol";
import {TrancheStore, TrancheLogic, Config, Mode, LOCKED} from "./TrancheStore.sol";

/// @title TrancheOps
/// @notice The tranche token's less frequent operations, linked into it: issuance, redemption, wallet recovery,
/// cancellation of a cancelled offering's units and dust sweeps. Runs in the token's context (DELEGATECALL) on
/// its `TrancheStore`; access control is checked by the token, events and errors are the token's.
library TrancheOps {
    using SafeERC20 for IERC20;

    /// @notice Issue `value` units to `to` in `partition` (issuance open, receiver eligible, holding rules).
    function issue(TrancheStore storage t, IIdentityRegistry registry, bytes32 partition, address to, uint256 value)
        external
    {
        TrancheState st = t.state;
        if (st.has(S.ISSUANCE_CLOSED)) revert ITrancheToken.IssuanceNotAllowed();
        bytes1 code = C.INVALID_RECEIVER;
        bytes32 reason = C.RECEIVER_ZERO_ADDRESS;
        uint256 expiry = 0;
        // slither-disable-next-line unused-return -- an issue has no sender, so no sender's expiry
        if (to != address(0)) (code, reason,, expiry) = registry.transferClearance(address(0), to);
        // The receiver was just cleared: its account carries a fresh identity stamp.
        Account acct = t.accounts[to].withStamp(TrancheLogic.newStamp(TrancheLogic.liveGeneration(t), expiry));
        uint256 toBalance = acct.balance();
        if (code == C.TRANSFER_SUCCESS && st.has(S.HOLDING_RULES)) {
            Config memory cfg = t.cfg;
            if (toBalance + value < cfg.minHolding) (code, reason) = (C.TRANSFER_FAILURE, C.MIN_HOLDING_RECEIVER);
            else if (cfg.maxHolders != 0 && toBalance == 0 && value != 0 && st.holders() >= cfg.maxHolders) {
                (code, reason) = (C.TRANSFER_FAILURE, C.MAX_HOLDERS);
            }
        }
        if (code != C.TRANSFER_SUCCESS) revert ITrancheToken.TransferBlocked(address(0), to, code, reason);
        uint256 supply = st.supply() + value;
        if (supply > M.MAX_AMOUNT) revert ITrancheToken.ValueOutOfRange("totalSupply", supply, M.MAX_AMOUNT);
        // Issuance is open only at factor 1 (before any distribution or write-down): principal <= supply.
        t.state = st.withAmounts(supply, st.principal() + value);
        t.totalIssued += value;
        // No distribution happened yet (issuance closes at the first one): epoch 0, no checkpoint needed.
        t.accounts[to] = partition == LOCKED ? acct.credit(0, value) : acct.credit(value, 0);
        if (toBalance == 0 && value != 0) TrancheLogic.countHolder(t, true);
        emit IERC20.Transfer(address(0), to, value);
    }

    /// @notice Redeem `value` of `from`'s units under `mode` (holder, operator or controller). Nothing can be
    /// redeemed before the deal settles the tranche: its principal is still owed by the deal's books.
    function redeem(TrancheStore storage t, IIdentityRegistry registry, address from, uint256 value, Mode mode)
        external
    {
        (bytes1 code, bytes32 reason) = _redeemStatus(t, registry, from, value, mode);
        if (code != C.TRANSFER_SUCCESS) revert ITrancheToken.TransferBlocked(from, address(0), code, reason);
        Account acct = TrancheLogic.checkpoint(t, from, t.accounts[from], t.state.epoch());
        uint256 unrestricted = acct.unrestricted();
        uint256 fromLocked = 0;
        if (mode == Mode.Locked) fromLocked = value;
        else if (mode != Mode.Unrestricted && value > unrestricted) fromLocked = value - unrestricted;
        acct = acct.debit(value - fromLocked, fromLocked);
        t.accounts[from] = acct;
        if (value != 0 && acct.isEmpty()) TrancheLogic.countHolder(t, false);
        TrancheLogic.retire(t, value);
        emit IERC20.Transfer(from, address(0), value);
    }

    /// @notice Move every unit and every unclaimed credit of `lost` to `replacement`, a wallet of the same
    /// investor that may hold units.
    function recoverWallet(TrancheStore storage t, IIdentityRegistry registry, address lost, address replacement)
        external
    {
        (bytes1 code, bytes32 reason) = registry.checkTransfer(address(0), replacement);
        if (code == C.TRANSFER_SUCCESS && (lost == replacement || !registry.isSameInvestor(lost, replacement))) {
            (code, reason) = (C.INVALID_RECEIVER, C.NOT_SAME_INVESTOR);
        }
        if (code != C.TRANSFER_SUCCESS) revert ITrancheToken.RecoveryRefused(lost, replacement, code, reason);
        uint256 epoch = t.state.epoch();
        Account a = TrancheLogic.checkpoint(t, lost, t.accounts[lost], epoch);
        Account b = TrancheLogic.checkpoint(t, replacement, t.accounts[replacement], epoch);
        uint256 units = a.balance();
        bool receiverWasEmpty = b.isEmpty();
        t.accounts[replacement] = b.credit(a.unrestricted(), a.locked());
        t.accounts[lost] = a.emptied();
        if (units != 0 && !receiverWasEmpty) TrancheLogic.countHolder(t, false);
        Pair credit = _mergeCredit(t, lost, replacement);
        emit IERC20.Transfer(lost, replacement, units);
        emit ITrancheToken.WalletRecovered(msg.sender, lost, replacement, units, credit.interest(), credit.principal());
    }

    /// @dev Move the credit and payouts of `lost` to `replacement` (both checkpointed) and return the moved credit.
    ///      Credit and payouts move together, so the replacement can withdraw what the lost wallet could. Each wallet
    ///      may have been paid up to the rounding slack above its credit, so the two credits together can round to
    ///      a unit less than the two payouts: the merged credit is raised to count what was paid (by at most the
    ///      slack, 2**-24 units per kind), which keeps earned >= withdrawn for the claim and the views. The dust
    ///      bound then counts each recovery as one more account (docs/token.md).
    function _mergeCredit(TrancheStore storage t, address lost, address replacement) private returns (Pair credit) {
        credit = t.accrued[lost];
        Pair paid = t.withdrawn[lost];
        Pair merged = t.accrued[replacement].add(credit.interest(), credit.principal());
        Pair withdrawn = t.withdrawn[replacement].add(paid.interest(), paid.principal());
        t.accrued[replacement] = PairLib.pack(
            M.covering(merged.interest(), withdrawn.interest()), M.covering(merged.principal(), withdrawn.principal())
        );
        t.withdrawn[replacement] = withdrawn;
        t.accrued[lost] = Pair.wrap(0);
        t.withdrawn[lost] = Pair.wrap(0);
    }

    /// @notice Cancel every unit of `holder` before the first distribution (refund of a cancelled offering).
    function cancel(TrancheStore storage t, IIdentityRegistry registry, address holder) external returns (uint256 units) {
        if (t.state.has(S.ISSUANCE_CLOSED)) revert ITrancheToken.CancelNotAllowed();
        bytes32 reason = registry.claimBlocker(holder);
        if (reason != C.OK) revert ITrancheToken.ClaimBlocked(holder, C.INVALID_SENDER, reason);
        // Issuance open: no distribution yet (epoch 0, no checkpoint needed) and factor 1, so the units retired
        // carry exactly their face of principal.
        Account acct = t.accounts[holder];
        units = acct.balance();
        if (units == 0) return 0;
        // Epoch 0 (no distribution yet): the emptied account is cleared whole, its identity stamp too, which frees
        // the slot (a stamp is only ever a shortcut to the registry).
        t.accounts[holder] = Account.wrap(0);
        TrancheLogic.countHolder(t, false);
        TrancheLogic.retire(t, units);
        emit IERC20.Transfer(holder, address(0), units);
        emit ITrancheToken.UnitsCancelled(holder, units);
    }

    /// @notice Close the sub-unit remainders of `emptyHolders` and send the whole units of dust to the
    /// residual recipient.
    function sweepDust(TrancheStore storage t, IERC20 currency, address[] calldata emptyHolders)
        external
        returns (uint256 amount)
    {
        uint256 closed = 0;
        for (uint256 i; i < emptyHolders.length; ++i) {
            address holder = emptyHolders[i];
            // An empty account's checkpoint epoch is left as it is: with no balance it earns nothing more, and
            // its credit (read whenever the epoch is not 0) is what is closed here.
            if (!t.accounts[holder].isEmpty()) revert ITrancheToken.HolderNotEmpty(holder);
            Pair credit = t.accrued[holder];
            uint256 fracInterest = M.subUnitRemainder(credit.interest());
            uint256 fracPrincipal = M.subUnitRemainder(credit.principal());
            t.accrued[holder] = Pair.wrap(Pair.unwrap(credit) - fracInterest - (fracPrincipal << 128));
            closed += fracInterest + fracPrincipal;
        }
        Flows flows = t.flows;
        // Closed remainders are below 2**33 per holder; the dust field saturates like in `distribute`.
        uint256 dust = flows.dust() + closed;
        amount = M.wholeUnits(dust);
        t.flows = flows.withDust(dust - (amount << 32));
        t.dustSwept += amount;
        address recipient = t.residualRecipient;
        emit ITrancheToken.DustSwept(msg.sender, recipient, amount);
        if (amount != 0) currency.safeTransfer(recipient, amount);
    }

    /// @notice Drop every identity stamp (a new generation) and switch the cache on or off (the token checked that
    /// its registry is the caller). Generations are never reused, so a stamp of an earlier one can never become
    /// valid again; once they are spent the cache stays off.
    function resetIdentityCache(TrancheStore storage t, bool enabled) external {
        TrancheState st = t.state;
        uint256 generation = st.identityGeneration();
        if (generation < S.MAX_GENERATION) st = st.withIdentityGeneration(++generation);
        else enabled = false;
        t.state = enabled ? st.with(S.IDENTITY_CACHE) : st.without(S.IDENTITY_CACHE);
        emit IIdentityCache.IdentityCacheReset(generation, enabled);
    }

    /// @notice Set the maximum number of holders (`maxHolders`) or the minimum holding to `value` (the token
    /// checked the admin role); flag HOLDING_RULES of the state <=> a minimum holding or a maximum is set.
    function setHoldingRule(TrancheStore storage t, bool maxHolders, uint256 value) external {
        Config storage cfg = t.cfg;
        if (maxHolders) {
            if (value > type(uint32).max) revert ITrancheToken.ValueOutOfRange("maxHolders", value, type(uint32).max);
            cfg.maxHolders = uint32(value);
            emit ITrancheToken.MaxHoldersSet(msg.sender, value);
        } else {
            if (value > M.MAX_AMOUNT) revert ITrancheToken.ValueOutOfRange("minimumHolding", value, M.MAX_AMOUNT);
            cfg.minHolding = uint96(value);
            emit ITrancheToken.MinimumHoldingSet(msg.sender, value);
        }
        TrancheState st = t.state;
        t.state = cfg.minHolding != 0 || cfg.maxHolders != 0 ? st.with(S.HOLDING_RULES) : st.without(S.HOLDING_RULES);
    }

    /// @dev Rules of a redemption (holder, operator or controller); never reverts.
    function _redeemStatus(TrancheStore storage t, IIdentityRegistry registry, address from, uint256 value, Mode mode)
        private
        view
        returns (bytes1, bytes32)
    {
        if (!t.state.has(S.SETTLED)) return (C.FUNDS_LOCKED, C.PRINCIPAL_OWED);
        Config memory cfg = t.cfg;
        Account acct = t.accounts[from];
        uint256 unrestricted = acct.unrestricted();
        uint256 locked = acct.locked();
        if (mode != Mode.Forced && t.state.has(S.PAUSED)) return (C.TRANSFERS_HALTED, C.PAUSED);
        uint256 available =
            mode == Mode.Unrestricted ? unrestricted : mode == Mode.Locked ? locked : unrestricted + locked;
        if (value > available) return (C.INSUFFICIENT_BALANCE, C.BALANCE);
        if (mode == Mode.Forced) return (C.TRANSFER_SUCCESS, C.OK);
        if (
            block.timestamp < cfg.lockupEnd && (mode == Mode.Locked || (mode == Mode.Default && value > unrestricted))
        ) return (C.FUNDS_LOCKED, C.LOCKUP);
        (bytes1 code, bytes32 reason) = registry.checkTransfer(from, address(0));
        if (code != C.TRANSFER_SUCCESS) return (code, reason);
        uint256 remaining = unrestricted + locked - value;
        if (remaining != 0 && remaining < cfg.minHolding) return (C.TRANSFER_FAILURE, C.MIN_HOLDING_SENDER);
        return (C.TRANSFER_SUCCESS, C.OK);
    }
}
