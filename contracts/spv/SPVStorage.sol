// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {SSTORE2} from "solady/utils/SSTORE2.sol";
import {DealParams, DealState} from "../../interfaces/IWaterfall.sol";
import {ISPV, Phase} from "../../interfaces/ISPV.sol";
import {ISPVTranche} from "../../interfaces/ISPVDependencies.sol";
import {IAssetRegistry} from "../../interfaces/IAssetRegistry.sol";
import {DateLib} from "./DateLib.sol";

// The SPV's books, in one struct so that the SPV and its linked libraries (`SPVOffering`, `SPVSettlement`)
// share them: the SPV keeps one `DealStorage` state variable and hands it to the libraries as a storage
// pointer. Storage is packed so that a period close reads and writes as few slots as possible: amounts are
// uint128 (SafeCast on every write), per-class and per-fee books are one slot each.

/// @dev Read and written by every close.
struct Core {
    uint32 triggersBreached;
    uint8 shortfallClasses; // bit i set: class i carries an interest shortfall (`ClassExtra.interestShortfall` != 0)
    uint8 shortfallFees; // bit k set: fee k carries a shortfall (`DealStorage.feeShortfall[k]` != 0)
    Phase phase;
    bool cleanUpPending; // a clean-up call into the pending report; kept after its close: the pool is sold
    bool disputed; // the pending report was proven wrong (it cannot close)
    bool buyBackPending; // loans bought back before the pending report join its collections
    bool revolving; // a revolving deal (`SPVTerms.lastRevolvingPeriod` != 0): a static deal never reads `Revolving`
    uint40 closedAt; // when the deal closed (interest of a loan bought back before the first payment accrues from it)
    uint128 poolBalance;
}

struct ClassBook {
    uint128 balance;
    uint128 pdl;
}

/// @dev A close reads this slot only for the classes `Core.shortfallClasses` flags: it takes the class tokens from
/// the terms' code (`SPVBooks.readTerms`), which it reads anyway.
struct ClassExtra {
    uint96 interestShortfall;
    address token;
}

/// @dev `pendingCollections`: the pending report's collections (purchases paid from them deducted); with no
/// report pending, the originator's repurchase cash a cancelled report of the running period left for the next
/// one (zero otherwise).
struct Cash {
    uint128 reserveBalance;
    uint128 pendingCollections;
}

/// @dev The period count shares its slot with the loss totals, so that the first default of a deal writes a
/// slot that is already non-zero (a pool is at most 8 classes of 2**96 units: 112 bits suffice).
struct Progress {
    uint32 periodsClosed;
    uint112 cumulativeDefaults;
    uint112 cumulativeRecoveries;
}

struct Totals {
    uint128 subscriptions;
    uint128 reserveFunded;
    uint128 collections;
    uint128 cleanUpProceeds;
    uint128 paidToOriginator;
    uint128 refunded;
    /// @dev price of a clean-up call into the pending period: live principal + defaulted carrying value
    uint128 pendingCleanUpPrice;
    /// @dev the defaulted part of `pendingCleanUpPrice` (arrives as recoveries)
    uint128 pendingCleanUpRecoveries;
    uint128 depositsReturned;
    uint128 depositsReturnable;
    uint128 heldForClasses;
    /// @dev the originator's repurchase cash of period `courtCashGonePeriod` (another period's: none) that left
    /// the pending collections: spent by a cancelled report's purchases beyond its deposit, or owed back to its
    /// depositor (`DepositOverpaid`). The court's cash in the pending collections is the period's repurchases
    /// (`IServicingCourt.dilutionOf`: all taken while a report is pending) less this; a cancelled report keeps
    /// what its purchases did not spend of it in `Cash.pendingCollections` for the report submitted again.
    /// Written only by those rare events: a report writes nothing for the court's cash.
    uint96 courtCashGone;
    uint32 courtCashGonePeriod;
}

/// @dev Loans bought back since the last report: their principal and interest join the next report's
/// collections (prepayments and interest); the cash is held meanwhile.
struct BuyBacks {
    uint128 principal;
    uint128 interest;
}

/// @dev The revolving period: purchases of receivables at par from the pending report's principal
/// collections, netted out of the principal the close passes to the waterfall (scheduled first, then
/// prepayments), added to its ending pool balance.
struct Revolving {
    uint32 lastPeriod; // the last period whose collections may buy receivables (0: a static pool)
    uint112 available; // the pending report's principal collections (scheduled + prepayments)
    uint112 purchased; // spent on purchases in the pending period (kept across a cancelled report)
    uint128 paid; // spent on purchases over the deal's life (`Ledger.revolvingPurchases`)
    uint112 delinquent; // 60+ days delinquent principal of the last revolving period's report
    uint16 delinquencyLimitBps; // early amortization: 60+ delinquency over the pool, above it (0: none)
    // Early amortization on excess spread (kept only when `excessSpreadLimitBps` is set): at a revolving
    // report, the period's interest collections and beginning pool balance, and the fees and the non-equity
    // classes' interest paid so far (their deltas at the next report are what the period's close paid).
    uint128 interestIn;
    uint128 beginning;
    uint128 feesBefore;
    uint112 classInterestBefore;
    uint16 excessSpreadLimitBps; // annualised excess spread over the beginning pool, below it (0: none)
    // Receivables bought in period `purchasePeriod` (kept across a cancelled report): a report submitted again
    // for that period leaves them out of its tape (they join the next period's), so they are added to its count.
    uint32 purchasePeriod;
    uint64 purchasedCount;
}

/// @dev What a close owed a class whose token refused it.
struct Held {
    uint128 interest;
    uint128 principal;
}

struct DealStorage {
    Core core;
    Cash cash;
    Progress progress;
    Totals totals;
    bytes32 pendingHash;
    address pendingDepositor;
    ClassBook[8] books;
    ClassExtra[8] extra;
    /// @dev per fee: what it earned (paid by the waterfall) in total; two fees share a slot, so a close updates
    /// one slot for the first two fees
    uint128[8] feePaid;
    /// @dev per fee: the carried shortfall; a close reads it only for the fees `Core.shortfallFees` flags
    uint128[8] feeShortfall;
    uint256[8] subscribed;
    /// @dev per fee: what its recipients have been paid out of `feePaid` (earned)
    uint256[8] feeWithdrawn;
    address[8] feeRecipients;
    Held[8] held;
    mapping(address depositor => uint256) returnable;
    /// @dev per period: keccak256(abi.encode(root, sums)) of its servicing commitment
    mapping(uint256 period => bytes32) commitments;
    /// @dev the registry's pool flows at the last two accepted reports (period % 2): the next report's defaults,
    /// recoveries, prepayments in full and pay-offs are what moved since
    IAssetRegistry.PoolFlows[2] flowsAt;
    BuyBacks buyBacks; // since the last report (also while one is pending)
    BuyBacks pendingBuyBacks; // joined to the pending report
    Revolving revolving;
}

/// @title SPVBooks
/// @notice Internal helpers on `DealStorage` shared by the SPV and its libraries.
library SPVBooks {
    using SafeCast for uint256;

    /// @notice Revert unless the deal is in `expected`.
    function requirePhase(DealStorage storage s, Phase expected) internal view {
        Phase current = s.core.phase;
        if (current != expected) revert ISPV.WrongPhase(expected, current);
    }

    /// @notice The waterfall state of the books, for `n` classes and `f` fees.
    function loadState(DealStorage storage s, uint256 n, uint256 f) internal view returns (DealState memory st) {
        Core memory core = s.core;
        Progress memory progress = s.progress;
        uint256 carried = core.shortfallClasses;
        uint256 owing = core.shortfallFees;
        st.periodsClosed = progress.periodsClosed;
        st.poolBalance = core.poolBalance;
        st.triggersBreached = core.triggersBreached;
        st.reserveBalance = s.cash.reserveBalance;
        st.cumulativeDefaults = progress.cumulativeDefaults;
        st.cumulativeRecoveries = progress.cumulativeRecoveries;
        st.classBalances = new uint256[](n);
        st.pdl = new uint256[](n);
        st.interestShortfalls = new uint256[](n);
        st.feeShortfalls = new uint256[](f);
        for (uint256 i; i < n; ++i) {
            ClassBook memory book = s.books[i];
            st.classBalances[i] = book.balance;
            st.pdl[i] = book.pdl;
            // A class without a carried shortfall keeps its slot cold (the array is zeroed).
            if ((carried >> i) & 1 == 1) st.interestShortfalls[i] = s.extra[i].interestShortfall;
        }
        for (uint256 k; k < f; ++k) {
            if ((owing >> k) & 1 == 1) st.feeShortfalls[k] = s.feeShortfall[k];
        }
    }

    /// @notice Payment date of `period` (1-based): the first payment date moved (period - 1) * periodMonths
    /// calendar months later (day clamped to the month's end); period 0 answers the first payment date.
    function paymentDate(uint256 first, uint256 periodMonths, uint256 period) internal pure returns (uint256) {
        if (period == 0) return first;
        return DateLib.addMonths(first, (period - 1) * periodMonths);
    }

    /// @notice The class tokens and `abi.encode(params)`, from the code at `pointer` written by `writeTerms` for
    /// `n` classes. No copy: `tokens` is the blob itself (its length word set to `n`), `encoded` the bytes after
    /// the spare word (whose place takes their length word).
    function readTerms(address pointer, uint256 n) internal view returns (address[] memory tokens, bytes memory encoded) {
        bytes memory blob = SSTORE2.read(pointer);
        assembly ("memory-safe") {
            let total := mload(blob)
            tokens := blob
            mstore(tokens, n)
            encoded := add(blob, shl(5, add(n, 1)))
            mstore(encoded, sub(total, shl(5, add(n, 1))))
        }
    }

    /// @notice The waterfall terms and the class tokens (see `readTerms`).
    /// @dev One EXTCODECOPY: the close needs both, and the tokens never change (reading them here keeps each
    /// class's `ClassExtra` slot cold in a close without interest shortfalls).
    function readParams(address pointer, uint256 n) internal view returns (DealParams memory p, address[] memory tokens) {
        bytes memory encoded;
        (tokens, encoded) = readTerms(pointer, n);
        p = decodeParams(encoded);
    }

    /// @notice `abi.decode(encoded, (DealParams))` for the SPV's own terms, without copies or checks.
    /// @dev The bytes are the SPV's code written once by `writeTerms` from `abi.encode` of terms that passed
    /// `Waterfall.validateParams`: offsets, lengths, bools and enums are the encoder's own, so the checks of
    /// `abi.decode` cannot fail here (it cost about 7,000 gas a close). The three arrays are static structs,
    /// encoded inline exactly as they lie in memory: each array of pointers points into `encoded` itself.
    function decodeParams(bytes memory encoded) internal pure returns (DealParams memory p) {
        assembly ("memory-safe") {
            // A pointer array for the array field `field` of the tuple at `t` (elements of `words` words) at
            // `free`; stores it in `q`'s field and returns the next free address.
            function pointers(t, q, field, words, free) -> next {
                let src := add(t, mload(add(t, shl(5, field))))
                let len := mload(src)
                mstore(free, len)
                src := add(src, 0x20)
                for { let j := 0 } lt(j, len) { j := add(j, 1) } {
                    mstore(add(free, shl(5, add(j, 1))), add(src, mul(j, shl(5, words))))
                }
                mstore(add(q, shl(5, field)), free)
                next := add(free, shl(5, add(len, 1)))
            }
            let t := add(add(encoded, 0x20), mload(add(encoded, 0x20))) // the tuple (its offset is the first word)
            p := mload(0x40)
            for { let i := 0 } lt(i, 11) { i := add(i, 1) } {
                mstore(add(p, shl(5, i)), mload(add(t, shl(5, i))))
            }
            let free := add(p, 0x160) // DealParams: 11 words
            free := pointers(t, p, 2, 2, free) // classes: ClassParams (2 words)
            free := pointers(t, p, 3, 2, free) // fees: FeeParams (2 words)
            free := pointers(t, p, 9, 5, free) // triggers: TriggerParams (5 words)
            mstore(0x40, free)
        }
    }

    /// @notice Store the class tokens (one word each), a spare word and `abi.encode(params)` as code; returns the
    /// pointer.
    function writeTerms(DealParams memory p, address[] memory tokens) internal returns (address) {
        return SSTORE2.write(abi.encodePacked(tokens, bytes32(0), abi.encode(p)));
    }

    /// @notice Deliver `interest` and `principal` to class `i`'s token, with the period's write-down and
    /// reinstatement of the class in the same call (`distributePeriod`), or hold the payment for the class if the
    /// token refuses (a token the currency blocks, say): a close never stops on one class. Returns false when
    /// held; the write-down and reinstatement are then not applied (the whole call reverted) and the caller
    /// applies them without a payment.
    function payClass(
        DealStorage storage s,
        ISPVTranche token,
        uint256 period,
        uint256 i,
        uint256 interest,
        uint256 principal,
        uint256 writeDownAmount,
        uint256 reinstated
    ) internal returns (bool delivered) {
        if (interest + principal == 0) return true;
        try token.distributePeriod(interest, principal, writeDownAmount, reinstated) {
            return true;
        } catch {
            Held memory h = s.held[i];
            s.held[i] = Held((uint256(h.interest) + interest).toUint128(), (uint256(h.principal) + principal).toUint128());
            s.totals.heldForClasses = (uint256(s.totals.heldForClasses) + interest + principal).toUint128();
            emit ISPV.ClassPaymentHeld(period, i, interest, principal);
            return false;
        }
    }
}

/// @notice The SPV's fixed terms the libraries need (immutables of the SPV, passed along by value).
struct SPVRefs {
    address court;
    address currency;
    address registry;
    uint256 poolId;
    address originator;
    uint256 classCount;
    uint256 feeCount;
    bytes32 retainedPartition;
    uint256 reserveInitial;
    uint256 offeringDeadline;
    uint256 legalFinalDate;
    uint256 firstPaymentDate;
    uint256 periodMonths;
    address paramsPointer;
}
