// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IIdentityRegistry} from "../../interfaces/IIdentityRegistry.sol";
import {ITrancheToken} from "../../interfaces/ITrancheToken.sol";
import {ComplianceCodes as C} from "../compliance/ComplianceCodes.sol";
import {DistributionMath as M, Pair, PairLib} from "./DistributionMath.sol";
import {Account, Flows, MASK32, TrancheState, TrancheStateLib as S} from "./TrancheWords.sol";

// The tranche token's books, in one struct so that the token and its linked library `TrancheOps` share them
// (the token keeps one `TrancheStore` state variable and hands it to the library as a storage pointer), and
// the rules that both apply (`TrancheLogic`, internal: compiled into each).

// ERC-1410 default partition (ERC-20 transfers draw from it and land in it).
bytes32 constant UNRESTRICTED = "unrestricted";
// ERC-1410 lock-up partition (retained slices).
bytes32 constant LOCKED = "locked";

/// @dev Which balance a transfer draws from. Default: ERC-20 (unrestricted, then locked once the lock-up is
///      over). Forced: controller, keeps the partition of every unit.
enum Mode {
    Default,
    Unrestricted,
    Locked,
    Forced
}

/// @dev One slot, read by a transfer only when a rule needs it: holding rules set (flag HOLDING_RULES of the state),
///      or units drawn from the lock-up partition. Pausing, the identity cache and the number of holders live in
///      the state slot.
struct Config {
    bool controlRenounced;
    uint32 maxHolders;
    uint40 lockupEnd;
    uint96 minHolding;
}

struct TrancheStore {
    Config cfg;
    mapping(address holder => Account) accounts;
    /// @dev holder => credit earned up to its checkpoint, scaled by 2**32 (cumulative, never decreases except
    ///      when `sweepDust` closes the sub-unit remainder of an empty holder or a recovery moves it)
    mapping(address holder => Pair) accrued;
    /// @dev holder => base units withdrawn so far
    mapping(address holder => Pair) withdrawn;
    /// @dev epoch => per-token accumulators (scaled 2**96) after that epoch's distribution; written lazily, by the
    ///      first checkpoint that moves an account to the epoch (see the token's notes)
    mapping(uint256 epoch => Pair) accumulators;
    /// @dev the accumulators of the latest epoch (always up to date)
    Pair current;
    mapping(address holder => mapping(address spender => uint256)) allowances;
    mapping(address holder => mapping(address operator => bool)) operators;
    mapping(address holder => mapping(bytes32 partition => mapping(address operator => bool))) partitionOperators;
    /// @dev supply, current principal, epoch and flags; both amounts are at most MAX_AMOUNT
    TrancheState state;
    /// @dev interest distributed, write-down and dust. The write-down sits here so that a write-down /
    ///      reinstatement in the same transaction as a distribution (the SPV's period close) finds the slot
    ///      warm. The principal distributed is not stored: it follows from the principal identity.
    Flows flows;
    uint256 totalIssued;
    uint256 totalRedeemed;
    uint256 principalRetired;
    uint256 interestShortfall;
    uint256 dustSwept;
    address residualRecipient;
    address deal;
}

/// @title TrancheLogic
/// @notice Transfer rules, checkpoints and retirement of units on a `TrancheStore`.
library TrancheLogic {
    /// @notice The single source of truth for transfer rules; `canTransfer*` return it, transfers revert with it.
    /// @dev Reads the state slot and both accounts (the configuration slot only for a rule that needs it); asks
    ///      the identity registry only about a party whose identity stamp is not valid (see `cleared`).
    function transferStatus(
        TrancheStore storage t,
        IIdentityRegistry registry,
        address from,
        address to,
        uint256 value,
        Mode mode
    ) internal view returns (bytes1 code, bytes32 reason, bytes32 partition) {
        (code, reason, partition,) = moveStatus(t, registry, from, to, value, mode);
    }

    /// @notice `transferStatus`, and the identity stamps the two accounts carry after the move (`from`'s in
    ///         bits 0..31, `to`'s in 32..63): renewed for a party the registry has just cleared, else kept.
    function moveStatus(
        TrancheStore storage t,
        IIdentityRegistry registry,
        address from,
        address to,
        uint256 value,
        Mode mode
    ) internal view returns (bytes1, bytes32, bytes32 partition, uint256 stamps) {
        TrancheState st = t.state;
        if (to == address(0)) return (C.INVALID_RECEIVER, C.RECEIVER_ZERO_ADDRESS, mode == Mode.Locked ? LOCKED : UNRESTRICTED, 0);
        // Nobody holds units at the zero address; a move from it would log a mint (the registry skips a zero sender).
        if (from == address(0)) return (C.INVALID_SENDER, C.SENDER_ZERO_ADDRESS, mode == Mode.Locked ? LOCKED : UNRESTRICTED, 0);
        if (mode != Mode.Forced) {
            bytes32 halted = st.has(S.PAUSED) ? C.PAUSED : st.has(S.BOOKS_CLOSED) ? C.BOOKS_CLOSED : bytes32(0);
            if (halted != bytes32(0)) return (C.TRANSFERS_HALTED, halted, mode == Mode.Locked ? LOCKED : UNRESTRICTED, 0);
        }
        bytes1 code;
        bytes32 reason;
        uint256 fromBalance;
        (code, reason, fromBalance, partition) = balanceStatus(t, t.accounts[from], value, mode);
        if (code != C.TRANSFER_SUCCESS) return (code, reason, partition, 0);
        (code, reason, stamps) = identityStatus(t, registry, from, to, mode == Mode.Forced);
        if (code != C.TRANSFER_SUCCESS) return (code, reason, partition, 0);
        if (from != to && st.has(S.HOLDING_RULES)) {
            (code, reason) = holdingRules(t, st, to, fromBalance - value, value);
            if (code != C.TRANSFER_SUCCESS) return (code, reason, partition, 0);
        }
        return (C.TRANSFER_SUCCESS, C.OK, partition, stamps);
    }

    /// @notice The identity rules of a move from `from` (not checked when `forced`) to `to`, as the registry's
    ///         `transferClearance` answers them; a party with a valid stamp is not asked about. Also returns the
    ///         stamps both accounts carry after the move (as `moveStatus`).
    function identityStatus(TrancheStore storage t, IIdentityRegistry registry, address from, address to, bool forced)
        internal
        view
        returns (bytes1 code, bytes32 reason, uint256 stamps)
    {
        uint256 generation = liveGeneration(t);
        uint256 fromStamp = t.accounts[from].stamp();
        uint256 toStamp = t.accounts[to].stamp();
        address askFrom = forced || cleared(generation, fromStamp) ? address(0) : from;
        address askTo = cleared(generation, toStamp) ? address(0) : to;
        if (askFrom != address(0) || askTo != address(0)) {
            uint256 fromExpiry;
            uint256 toExpiry;
            (code, reason, fromExpiry, toExpiry) = registry.transferClearance(askFrom, askTo);
            if (code != C.TRANSFER_SUCCESS) return (code, reason, 0);
            if (askFrom != address(0)) fromStamp = newStamp(generation, fromExpiry);
            if (askTo != address(0)) toStamp = newStamp(generation, toExpiry);
        }
        return (C.TRANSFER_SUCCESS, C.OK, fromStamp | (toStamp << 32));
    }

    /// @notice The identity generation stamps are valid at: the configuration's generation while the registry keeps
    ///         the cache informed, else 0 (no stamp is valid).
    function liveGeneration(TrancheStore storage t) internal view returns (uint256) {
        TrancheState st = t.state;
        return st.has(S.IDENTITY_CACHE) ? st.identityGeneration() : 0;
    }

    /// @notice True when a stamp says its holder passed the registry's transfer check (verified, not expired, not
    ///         frozen, jurisdiction allowed) at the live generation `generation` (no restrictive change since) and the
    ///         day its verification expires has not begun. Conservative: a stamp is never valid past the expiry.
    function cleared(uint256 generation, uint256 stamp) internal view returns (bool) {
        return generation != 0 && stamp & 0xffff == generation && block.timestamp < (stamp >> 16) * 1 days;
    }

    /// @notice The stamp of a holder the registry has just cleared, whose verification expires at `expiry`
    ///         (0 while the cache is off).
    function newStamp(uint256 generation, uint256 expiry) internal pure returns (uint256) {
        if (generation == 0) return 0;
        uint256 day = expiry / 1 days;
        return generation | ((day > 0xffff ? 0xffff : day) << 16);
    }

    /// @notice Balance and lock-up rules of a move of `value` units drawn from `acct` under `mode`; also returns
    ///         the sender's balance and the partition the units come from (locked once the unrestricted units
    ///         do not suffice). The lock-up end is read only when locked units move.
    function balanceStatus(TrancheStore storage t, Account acct, uint256 value, Mode mode)
        internal
        view
        returns (bytes1, bytes32, uint256 fromBalance, bytes32 partition)
    {
        uint256 unrestricted = acct.unrestricted();
        fromBalance = acct.balance();
        partition = mode == Mode.Locked ? LOCKED : UNRESTRICTED;
        if (mode == Mode.Unrestricted) {
            if (value > unrestricted) return (C.INSUFFICIENT_BALANCE, C.BALANCE, fromBalance, partition);
        } else if (mode == Mode.Locked) {
            if (value > fromBalance - unrestricted) return (C.INSUFFICIENT_BALANCE, C.BALANCE, fromBalance, partition);
            if (block.timestamp < t.cfg.lockupEnd) return (C.FUNDS_LOCKED, C.LOCKUP, fromBalance, partition);
        } else {
            if (value > fromBalance) return (C.INSUFFICIENT_BALANCE, C.BALANCE, fromBalance, partition);
            if (value > unrestricted) {
                partition = LOCKED;
                if (mode == Mode.Default && block.timestamp < t.cfg.lockupEnd) {
                    return (C.FUNDS_LOCKED, C.LOCKUP, fromBalance, partition);
                }
            }
        }
        return (C.TRANSFER_SUCCESS, C.OK, fromBalance, partition);
    }

    /// @notice `holdingStatus` of a move of `value` units to `to`, leaving the sender `remaining`.
    function holdingRules(TrancheStore storage t, TrancheState st, address to, uint256 remaining, uint256 value)
        internal
        view
        returns (bytes1, bytes32)
    {
        return holdingStatus(t.cfg, st.holders(), t.accounts[to].balance(), remaining, value);
    }

    /// @notice Minimum holding and maximum holders for a move of `value` units leaving the sender `remaining`
    ///         and the receiver, who holds `toBalance`, `toBalance + value`.
    function holdingStatus(Config memory cfg, uint256 holders, uint256 toBalance, uint256 remaining, uint256 value)
        internal
        pure
        returns (bytes1, bytes32)
    {
        if (cfg.minHolding != 0) {
            if (remaining != 0 && remaining < cfg.minHolding) return (C.TRANSFER_FAILURE, C.MIN_HOLDING_SENDER);
            if (toBalance + value < cfg.minHolding) return (C.TRANSFER_FAILURE, C.MIN_HOLDING_RECEIVER);
        }
        if (cfg.maxHolders != 0 && toBalance == 0 && value != 0 && remaining != 0 && holders >= cfg.maxHolders) {
            return (C.TRANSFER_FAILURE, C.MAX_HOLDERS);
        }
        return (C.TRANSFER_SUCCESS, C.OK);
    }

    /// @notice Move `value` units from `from` to `to` under `mode`'s rules (reverts with `TransferBlocked`).
    function checkedMove(
        TrancheStore storage t,
        IIdentityRegistry registry,
        address from,
        address to,
        uint256 value,
        Mode mode
    ) internal {
        (bytes1 code, bytes32 reason,, uint256 stamps) = moveStatus(t, registry, from, to, value, mode);
        if (code != C.TRANSFER_SUCCESS) revert ITrancheToken.TransferBlocked(from, to, code, reason);
        emit IERC20.Transfer(from, to, value);
        if (from == to) return;
        (Account a, Account b) = checkpointPair(t, from, to, stamps);
        bool receiverWasEmpty = b.isEmpty();
        {
            uint256 unrestricted = a.unrestricted();
            uint256 fromLocked = 0;
            if (mode == Mode.Locked) fromLocked = value;
            else if (mode != Mode.Unrestricted && value > unrestricted) fromLocked = value - unrestricted;
            // Balances were checked by transferStatus; the receiver cannot exceed the uint96 total supply.
            a = a.debit(value - fromLocked, fromLocked);
            b = mode == Mode.Forced ? b.credit(value - fromLocked, fromLocked) : b.credit(value, 0);
        }
        t.accounts[from] = a;
        t.accounts[to] = b;
        if (value != 0 && a.isEmpty() != receiverWasEmpty) countHolder(t, receiverWasEmpty);
    }

    /// @notice Both parties of a move checkpointed to the current epoch, carrying the identity stamps `stamps`
    ///         (as `moveStatus` returns them).
    function checkpointPair(TrancheStore storage t, address from, address to, uint256 stamps)
        internal
        returns (Account a, Account b)
    {
        uint256 epoch = t.state.epoch();
        a = checkpoint(t, from, t.accounts[from].withStamp(stamps & MASK32), epoch);
        b = checkpoint(t, to, t.accounts[to].withStamp(stamps >> 32), epoch);
    }

    /// @notice One holder more (`added`) or less in the state's holder count.
    function countHolder(TrancheStore storage t, bool added) internal {
        TrancheState st = t.state;
        uint256 n = st.holders();
        if (added) {
            if (n == S.MAX_HOLDER_COUNT) revert ITrancheToken.ValueOutOfRange("holderCount", n + 1, S.MAX_HOLDER_COUNT);
            ++n;
        } else {
            --n;
        }
        t.state = st.withHolders(n);
    }

    /// @notice Bring `holder`'s credit up to `epoch` (the current one); returns the account with the new
    ///         checkpoint epoch. A holder never checkpointed after a distribution (epoch 0) has no credit yet.
    function checkpoint(TrancheStore storage t, address holder, Account acct, uint256 epoch) internal returns (Account) {
        uint256 then = acct.epoch();
        if (then == epoch) return acct;
        // Store the accumulators of the current epoch as its history unless already done in this epoch: done
        // before any account's checkpoint is set to `epoch`, which keeps the history invariant.
        TrancheState st = t.state;
        if (!st.has(S.HISTORY_WRITTEN)) {
            t.accumulators[epoch] = t.current;
            t.state = st.with(S.HISTORY_WRITTEN);
        }
        uint256 balance = acct.balance();
        if (balance != 0) {
            (uint256 interest, uint256 principal) = pending(t, balance, then);
            t.accrued[holder] = t.accrued[holder].add(interest, principal);
        }
        return acct.atEpoch(epoch);
    }

    /// @notice Credit (scaled 2**32) earned by `balance` tokens from epoch `then` to now; for `then` != 0 the
    ///         history `accumulators[then]` exists (the account was moved to `then` by `checkpoint`).
    function pending(TrancheStore storage t, uint256 balance, uint256 then) internal view returns (uint256, uint256) {
        Pair accNow = t.current;
        if (then == 0) {
            return (M.accrued(balance, 0, accNow.interest()), M.accrued(balance, 0, accNow.principal()));
        }
        Pair accThen = t.accumulators[then];
        return (
            M.accrued(balance, accThen.interest(), accNow.interest()),
            M.accrued(balance, accThen.principal(), accNow.principal())
        );
    }

    /// @notice Whole base units earned by `holder` so far (checkpointed credit plus what accrued since).
    function accumulative(TrancheStore storage t, address holder) internal view returns (uint256 interest, uint256 principal) {
        Account acct = t.accounts[holder];
        uint256 then = acct.epoch();
        // Credit exists only once an account was checkpointed after a distribution (epoch != 0).
        if (then != 0) {
            Pair credit = t.accrued[holder];
            (interest, principal) = (credit.interest(), credit.principal());
        }
        uint256 balance = acct.balance();
        if (balance != 0) {
            (uint256 pendingInterest, uint256 pendingPrincipal) = pending(t, balance, then);
            interest += pendingInterest;
            principal += pendingPrincipal;
        }
        return (M.toUnits(interest), M.toUnits(principal));
    }

    /// @notice Retire `value` tokens: their pro-rata share of current principal and outstanding write-down.
    function retire(TrancheStore storage t, uint256 value) internal {
        if (value == 0) return;
        TrancheState st = t.state;
        uint256 supply = st.supply();
        uint256 remainingSupply = supply - value;
        uint256 principal = st.principal();
        Flows flows = t.flows;
        uint256 written = flows.writeDown();
        uint256 keptPrincipal = M.retained(principal, remainingSupply, supply);
        uint256 keptWritten = M.retained(written, remainingSupply, supply);
        t.state = st.withAmounts(remainingSupply, keptPrincipal);
        t.flows = flows.withWriteDown(keptWritten);
        t.principalRetired += (principal - keptPrincipal) + (written - keptWritten);
        t.totalRedeemed += value;
    }
}
