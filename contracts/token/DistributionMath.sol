// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title DistributionMath
/// @notice Pure arithmetic of pull-based (ERC-2222 style) distributions and of the tranche's principal.
/// @dev Scales: per-token accumulators are base units per token unit times 2**96 (`ACC_SCALE`); holder
///      credits are base units times 2**32 (`CREDIT_SCALE`). Every division rounds down.
library DistributionMath {
    /// @notice Scale of the per-token accumulators.
    uint256 internal constant ACC_SCALE = 1 << 96;
    /// @notice Scale of checkpointed holder credits.
    uint256 internal constant CREDIT_SCALE = 1 << 32;
    /// @notice Largest cumulative amount of one kind (interest or principal) a tranche can distribute, and
    ///         largest total supply: keeps every product below 2**256 and every credit below 2**128.
    uint256 internal constant MAX_AMOUNT = type(uint96).max;

    /// @notice Accumulator increment for distributing `amount` over `supply` token units (rounded down).
    function perTokenIncrement(uint256 amount, uint256 supply) internal pure returns (uint256) {
        return amount * ACC_SCALE / supply;
    }

    /// @notice Credit (scaled by 2**32, rounded down) earned by `balance` tokens while the accumulator
    ///         moved from `accFrom` to `accTo`.
    function accrued(uint256 balance, uint256 accFrom, uint256 accTo) internal pure returns (uint256) {
        return balance * (accTo - accFrom) >> 64;
    }

    /// @notice Rounding slack (2**-24 base units) added before flooring a credit: the accumulator's own
    ///         truncation (far below 2**-24 for realistic balances) must not turn an exact share of k units into
    ///         k - 1. A holder's payout never exceeds the exact share by more than 2**-24 units, so the sum of
    ///         payouts never exceeds the funds while fewer than 2**24 accounts have ever held the tranche.
    uint256 internal constant ROUNDING_SLACK = 1 << 8;

    /// @notice Whole base units of a scaled credit: floor(credit / 2**32 + 2**-24).
    function toUnits(uint256 credit) internal pure returns (uint256) {
        return (credit + ROUNDING_SLACK) >> 32;
    }

    /// @notice The smallest credit at least `credit` that counts `paid` whole units (`toUnits` of it is at least
    ///         `paid`). A payout may exceed its credit by up to the slack, so the sum of two paid credits can round
    ///         to a unit less than the two payouts: a merged credit (wallet recovery) is raised to this.
    function covering(uint256 credit, uint256 paid) internal pure returns (uint256) {
        if (paid == 0) return credit;
        uint256 least = (paid << 32) - ROUNDING_SLACK;
        return credit < least ? least : credit;
    }

    /// @notice Sub-unit remainder of a credit that no payout will ever cover (0 when the slack already
    ///         counts the next unit).
    function subUnitRemainder(uint256 credit) internal pure returns (uint256) {
        uint256 whole = toUnits(credit) << 32;
        return whole <= credit ? credit - whole : 0;
    }

    /// @notice The part of `amount` that stays with `remaining` out of `supply` tokens (rounded down).
    function retained(uint256 amount, uint256 remaining, uint256 supply) internal pure returns (uint256) {
        return Math.mulDiv(amount, remaining, supply);
    }

    /// @notice Rounding remainder of one distribution in accumulator scale times supply:
    ///         `amount * 2**96 - supply * perTokenIncrement(amount, supply)`, below `supply`. The holders as a
    ///         whole are allocated `remainder / 2**96` base units less than `amount`.
    function incrementRemainder(uint256 amount, uint256 supply) internal pure returns (uint256) {
        return amount * ACC_SCALE % supply;
    }

    /// @notice Unallocated dust of a distribution in credit scale (2**32), rounded down, from the sum of its
    ///         interest and principal `remainders` (`incrementRemainder`): floor(remainders / 2**64).
    ///         Rounding down only ever under-counts dust, so a sweep never takes funds a holder can claim.
    function remainderCredit(uint256 remainders) internal pure returns (uint256) {
        return remainders >> 64;
    }

    /// @notice Whole base units of a credit-scale amount, rounded down (no slack: used for dust sweeps).
    function wholeUnits(uint256 credit) internal pure returns (uint256) {
        return credit >> 32;
    }
}

/// @notice Two amounts packed in one word: interest in the low 128 bits, principal in the high 128 bits.
type Pair is uint256;

using PairLib for Pair global;

/// @title PairLib
/// @notice Packing of (interest, principal) amounts into one storage word.
library PairLib {
    /// @notice A packed amount does not fit in 128 bits.
    error PairOverflow(uint256 interest, uint256 principal);

    function pack(uint256 interest_, uint256 principal_) internal pure returns (Pair) {
        if ((interest_ | principal_) >> 128 != 0) revert PairOverflow(interest_, principal_);
        return Pair.wrap(interest_ | (principal_ << 128));
    }

    function interest(Pair p) internal pure returns (uint256) {
        return Pair.unwrap(p) & type(uint128).max;
    }

    function principal(Pair p) internal pure returns (uint256) {
        return Pair.unwrap(p) >> 128;
    }

    /// @notice Component-wise sum (reverts if a component leaves 128 bits).
    function add(Pair p, uint256 interest_, uint256 principal_) internal pure returns (Pair) {
        return pack(interest(p) + interest_, principal(p) + principal_);
    }
}
