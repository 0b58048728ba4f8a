// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice A holder's packed account: units in the unrestricted partition (bits 0..95), units in the
///         lock-up partition (96..191), the distribution epoch the holder was last checkpointed at
///         (192..223) and its identity stamp (224..255): the token's identity generation (224..239) at which the
///         holder last passed the registry's transfer check and the day (unix time / 1 day, 240..255) that
///         verification expires (see TrancheLogic.cleared).
type Account is uint256;

/// @notice The tranche's packed state: total supply (bits 0..95), current principal (96..191), epoch =
///         number of distributions (192..207, at most 65,535), identity generation (208..223) and flags (224..):
///         issuance closed, history of the current epoch written, books closed (record date passed, distribution
///         pending), settled (deal over), paused, holding rules set (a minimum holding or a maximum number of
///         holders), identity cache on (230); the number of holders (232..255). Pausing, the rules flag, the
///         identity cache and the holder count sit here so that a transfer reads and writes one tranche slot: the
///         configuration slot is read only when a rule needs it.
type TrancheState is uint256;

/// @notice The tranche's packed flows: total interest distributed (bits 0..95), cumulative write-down
///         outstanding (96..191), unswept rounding dust in credit scale 2**32 (192..255).
type Flows is uint256;

using AccountLib for Account global;
using TrancheStateLib for TrancheState global;
using FlowsLib for Flows global;

uint256 constant MASK96 = (1 << 96) - 1;
uint256 constant MASK32 = (1 << 32) - 1;
uint256 constant MASK64 = (1 << 64) - 1;
uint256 constant MASK16 = (1 << 16) - 1;

/// @title AccountLib
/// @notice Typed accessors of {Account}. Amounts are at most 2**96 - 1 (the token's MAX_AMOUNT); callers
///         check ranges before crediting, so the accessors do not.
library AccountLib {
    uint256 private constant BALANCES = (1 << 192) - 1;

    function unrestricted(Account a) internal pure returns (uint256) {
        return Account.unwrap(a) & MASK96;
    }

    function locked(Account a) internal pure returns (uint256) {
        return (Account.unwrap(a) >> 96) & MASK96;
    }

    function balance(Account a) internal pure returns (uint256) {
        uint256 w = Account.unwrap(a);
        return (w & MASK96) + ((w >> 96) & MASK96);
    }

    function epoch(Account a) internal pure returns (uint256) {
        return (Account.unwrap(a) >> 192) & MASK32;
    }

    /// @notice The identity stamp: generation (low 16 bits) and expiry day (high 16 bits); zero when none.
    function stamp(Account a) internal pure returns (uint256) {
        return Account.unwrap(a) >> 224;
    }

    /// @notice The same balances and epoch with identity stamp `stamp_` (at most 32 bits).
    function withStamp(Account a, uint256 stamp_) internal pure returns (Account) {
        return Account.wrap((Account.unwrap(a) & ((1 << 224) - 1)) | (stamp_ << 224));
    }

    /// @notice True when the account holds no unit in either partition.
    function isEmpty(Account a) internal pure returns (bool) {
        return Account.unwrap(a) & BALANCES == 0;
    }

    /// @notice The same balances and identity stamp, checkpointed at `epoch_`.
    function atEpoch(Account a, uint256 epoch_) internal pure returns (Account) {
        return Account.wrap((Account.unwrap(a) & ~(MASK32 << 192)) | (epoch_ << 192));
    }

    /// @notice Add units to each partition (the caller guarantees they fit).
    function credit(Account a, uint256 unrestricted_, uint256 locked_) internal pure returns (Account) {
        return Account.wrap(Account.unwrap(a) + unrestricted_ + (locked_ << 96));
    }

    /// @notice Remove units from each partition (the caller guarantees they are there).
    function debit(Account a, uint256 unrestricted_, uint256 locked_) internal pure returns (Account) {
        return Account.wrap(Account.unwrap(a) - unrestricted_ - (locked_ << 96));
    }

    /// @notice The account with no units, keeping its checkpoint epoch and identity stamp.
    function emptied(Account a) internal pure returns (Account) {
        return Account.wrap(Account.unwrap(a) & ~BALANCES);
    }
}

/// @title TrancheStateLib
/// @notice Typed accessors of {TrancheState}.
library TrancheStateLib {
    uint256 internal constant ISSUANCE_CLOSED = 1 << 224;
    uint256 internal constant HISTORY_WRITTEN = 1 << 225;
    uint256 internal constant BOOKS_CLOSED = 1 << 226;
    uint256 internal constant SETTLED = 1 << 227;
    uint256 internal constant PAUSED = 1 << 228;
    uint256 internal constant HOLDING_RULES = 1 << 229;
    /// @notice The identity registry keeps this token informed of restrictive changes: stamps of the current
    ///         identity generation are valid.
    uint256 internal constant IDENTITY_CACHE = 1 << 230;
    uint256 internal constant HOLDERS_SHIFT = 232;
    uint256 internal constant GENERATION_SHIFT = 208;
    /// @notice Largest epoch (number of distributions): 65,535, over 5,000 years of monthly payments.
    uint256 internal constant MAX_EPOCH = MASK16;
    /// @notice Largest identity generation: the cache stays off once it is reached.
    uint256 internal constant MAX_GENERATION = MASK16;
    /// @notice Largest number of holders at once (the dust bound already assumes fewer than 2**24 accounts).
    uint256 internal constant MAX_HOLDER_COUNT = (1 << 24) - 1;

    function supply(TrancheState s) internal pure returns (uint256) {
        return TrancheState.unwrap(s) & MASK96;
    }

    function principal(TrancheState s) internal pure returns (uint256) {
        return (TrancheState.unwrap(s) >> 96) & MASK96;
    }

    function epoch(TrancheState s) internal pure returns (uint256) {
        return (TrancheState.unwrap(s) >> 192) & MASK16;
    }

    /// @notice The identity generation (bumped by every reset of the identity cache, never reused).
    function identityGeneration(TrancheState s) internal pure returns (uint256) {
        return (TrancheState.unwrap(s) >> GENERATION_SHIFT) & MASK16;
    }

    /// @notice The same state with identity generation `generation` (at most 65,535).
    function withIdentityGeneration(TrancheState s, uint256 generation) internal pure returns (TrancheState) {
        return TrancheState.wrap(
            (TrancheState.unwrap(s) & ~(MASK16 << GENERATION_SHIFT)) | (generation << GENERATION_SHIFT)
        );
    }

    function holders(TrancheState s) internal pure returns (uint256) {
        return TrancheState.unwrap(s) >> HOLDERS_SHIFT;
    }

    /// @notice The same state with `holders_` holders (the caller checks `holders_ <= MAX_HOLDER_COUNT`).
    function withHolders(TrancheState s, uint256 holders_) internal pure returns (TrancheState) {
        return TrancheState.wrap((TrancheState.unwrap(s) & ((1 << HOLDERS_SHIFT) - 1)) | (holders_ << HOLDERS_SHIFT));
    }

    function has(TrancheState s, uint256 flag) internal pure returns (bool) {
        return TrancheState.unwrap(s) & flag != 0;
    }

    function with(TrancheState s, uint256 flag) internal pure returns (TrancheState) {
        return TrancheState.wrap(TrancheState.unwrap(s) | flag);
    }

    function without(TrancheState s, uint256 flag) internal pure returns (TrancheState) {
        return TrancheState.wrap(TrancheState.unwrap(s) & ~flag);
    }

    /// @notice The same epoch, generation, flags and holders with a new supply and principal (both at most 2**96 - 1).
    function withAmounts(TrancheState s, uint256 supply_, uint256 principal_) internal pure returns (TrancheState) {
        return TrancheState.wrap(((TrancheState.unwrap(s) >> 192) << 192) | supply_ | (principal_ << 96));
    }

    /// @notice The same supply and flags with a new principal.
    function withPrincipal(TrancheState s, uint256 principal_) internal pure returns (TrancheState) {
        return TrancheState.wrap((TrancheState.unwrap(s) & ~(MASK96 << 96)) | (principal_ << 96));
    }

    /// @notice The state after a distribution: new principal, epoch `epoch_` (at most MAX_EPOCH), history of the
    ///         new epoch not yet written, books open again, issuance closed (generation, holders, other flags kept).
    function distributed(TrancheState s, uint256 principal_, uint256 epoch_) internal pure returns (TrancheState) {
        uint256 kept = (TrancheState.unwrap(s) >> GENERATION_SHIFT) << GENERATION_SHIFT;
        kept = (kept & ~(HISTORY_WRITTEN | BOOKS_CLOSED)) | ISSUANCE_CLOSED;
        return TrancheState.wrap(kept | supply(s) | (principal_ << 96) | (epoch_ << 192));
    }
}

/// @title FlowsLib
/// @notice Typed accessors of {Flows}.
library FlowsLib {
    function interest(Flows f) internal pure returns (uint256) {
        return Flows.unwrap(f) & MASK96;
    }

    function writeDown(Flows f) internal pure returns (uint256) {
        return (Flows.unwrap(f) >> 96) & MASK96;
    }

    function dust(Flows f) internal pure returns (uint256) {
        return Flows.unwrap(f) >> 192;
    }

    function withInterest(Flows f, uint256 interest_) internal pure returns (Flows) {
        return Flows.wrap((Flows.unwrap(f) & ~MASK96) | interest_);
    }

    function withWriteDown(Flows f, uint256 writeDown_) internal pure returns (Flows) {
        return Flows.wrap((Flows.unwrap(f) & ~(MASK96 << 96)) | (writeDown_ << 96));
    }

    /// @notice The dust field set to `dust_`, saturating at 2**64 - 1 (never reverts).
    function withDust(Flows f, uint256 dust_) internal pure returns (Flows) {
        if (dust_ > MASK64) dust_ = MASK64;
        return Flows.wrap((Flows.unwrap(f) & ((1 << 192) - 1)) | (dust_ << 192));
    }
}
