// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAssetRegistry} from "../../interfaces/IAssetRegistry.sol";

/// @title AssetLib
/// @notice Pure rules of the asset registry: the one-slot asset layout, per-asset eligibility and the
/// servicing transition table. Unit-tested through the registry (tests/unit/test_registry_*.py).
library AssetLib {
    // One storage slot per asset:
    //   bits   0.. 95 outstanding principal (uint96)
    //   bits  96..127 pool id (uint32; 0 once released)
    //   bits 128..135 status (AssetStatus; 0 = not registered)
    //   bits 136..151 rate in bps (uint16)
    //   bits 152..191 maturity date (uint40 unix seconds)
    //   bits 192..207 days delinquent at the cut-off date (uint16; copied with maturity, region and industry)
    //   bits 208..215 region bucket code, bits 216..223 industry bucket code
    //   bits 224..231 / 232..239 dense index of the region / industry bucket in its pool (see AssetRegistry)
    //   bits 240..255 dense index of the obligor in its pool, in pools that track obligors (0 otherwise)
    uint256 private constant _U96 = (1 << 96) - 1;
    uint256 private constant _SECONDS_PER_DAY = 86_400;

    function principalOf(uint256 s) internal pure returns (uint256) {
        return s & _U96;
    }

    function poolOf(uint256 s) internal pure returns (uint256) {
        return uint32(s >> 96);
    }

    function statusOf(uint256 s) internal pure returns (IAssetRegistry.AssetStatus) {
        return IAssetRegistry.AssetStatus(uint8(s >> 128));
    }

    function rateOf(uint256 s) internal pure returns (uint256) {
        return uint16(s >> 136);
    }

    function maturityOf(uint256 s) internal pure returns (uint256) {
        return uint40(s >> 152);
    }

    function regionOf(uint256 s) internal pure returns (uint8) {
        return uint8(s >> 208);
    }

    function industryOf(uint256 s) internal pure returns (uint8) {
        return uint8(s >> 216);
    }

    function regionIndexOf(uint256 s) internal pure returns (uint256) {
        return uint8(s >> 224);
    }

    function industryIndexOf(uint256 s) internal pure returns (uint256) {
        return uint8(s >> 232);
    }

    function obligorIndexOf(uint256 s) internal pure returns (uint256) {
        return s >> 240;
    }

    /// @notice `s` with a new status and principal (other fields unchanged).
    function withState(uint256 s, IAssetRegistry.AssetStatus status, uint256 principal)
        internal
        pure
        returns (uint256)
    {
        uint256 cleared = s & ~(_U96 | (uint256(0xff) << 128));
        return cleared | principal | (uint256(status) << 128);
    }

    /// @notice `s` released from its pool: pool id 0, status Repurchased.
    function released(uint256 s) internal pure returns (uint256) {
        uint256 cleared = s & ~((uint256(type(uint32).max) << 96) | (uint256(0xff) << 128));
        return cleared | (uint256(IAssetRegistry.AssetStatus.Repurchased) << 128);
    }

    // ---------------------------------------------------------------- batch registration (hot path)
    // A registration batch keeps its running sums at FIXED memory addresses (below), reserved by {begin} as
    // the first allocation of the transaction, so the per-asset loop addresses them with constants: about 390
    // opcodes (~1.2k gas) per asset besides the storage write and the hashes. Sums are
    // bounded by uint96 x 2^40 per asset and cannot overflow; a batch's principal is below 2^106.
    uint256 internal constant M_CHAIN = 0x080; // running leaf chain ...
    uint256 internal constant M_LEAF = 0x0a0; // ... hashed together with the current leaf
    // abi.encode(originator, record...) of the current asset: 15 words
    uint256 internal constant M_BUF = 0x0c0;
    uint256 private constant _B_LOAN = 0x0e0;
    uint256 private constant _B_TYPE = 0x100;
    uint256 private constant _B_ORIGINAL = 0x120;
    uint256 private constant _B_PRINCIPAL = 0x140;
    uint256 private constant _B_RATE = 0x160;
    uint256 private constant _B_TERM = 0x180;
    uint256 private constant _B_ORIGINATION = 0x1a0;
    uint256 private constant _B_MATURITY = 0x1c0;
    uint256 private constant _B_LATE = 0x1e0;
    uint256 private constant _B_REGION = 0x200;
    uint256 private constant _B_INDUSTRY = 0x220;
    uint256 private constant _B_OBLIGOR = 0x240; // obligor, contract hash, schedule hash
    uint256 internal constant M_LAST_OBLIGOR = 0x2a0;
    uint256 internal constant M_EXPOSURE = 0x2c0; // running exposure of the last obligor
    uint256 internal constant M_MAX_OBLIGOR = 0x2e0;
    uint256 internal constant M_MAX_EXPOSURE = 0x300;
    uint256 internal constant M_RATE_WEIGHTED = 0x320;
    uint256 internal constant M_MATURITY_WEIGHTED = 0x340;
    // Word M_TALLY + 32 * status for statuses Performing (1) .. Delinquent90 (4): count << 128 | principal.
    uint256 internal constant M_TALLY = 0x360;
    // Per-asset limits, see {loadLimits}: the criteria as they are (for the error path) ...
    uint256 private constant _L_CUTOFF = 0x400;
    uint256 private constant _L_LEGAL_FINAL = 0x420;
    uint256 private constant _L_ALLOWED_TYPES = 0x440;
    uint256 private constant _L_MIN_RATE = 0x460;
    uint256 private constant _L_MAX_RATE = 0x480;
    uint256 private constant _L_REMAINING = 0x4a0; // seconds
    uint256 private constant _L_MAX_LATE = 0x4c0;
    uint256 private constant _L_CAP = 0x4e0;
    // ... and precomputed once per batch as unsigned range checks for the fast path.
    uint256 private constant _L_RATE_SPAN = 0x500; // maxRate - minRate
    uint256 private constant _L_CUTOFF_BEFORE = 0x520; // cutoff - 1: origination must not exceed it
    uint256 private constant _L_CUTOFF_AFTER = 0x540; // cutoff + 1: first eligible maturity
    uint256 private constant _L_MATURITY_SPAN = 0x560; // min(legalFinal, cutoff + remaining) - cutoff
    uint256 private constant _M_POOL_BITS = 0x580; // poolId << 96
    uint256 private constant _M_ASSETS_SLOT = 0x5a0; // storage slot of the asset mapping
    uint256 private constant _M_DETAIL = 0x5c0; // failure detail (rule or asset id)
    // Concentration buckets, per kind (region, industry): the number of buckets the pool has (its dense
    // indices 0 .. count-1), their codes in order of first appearance (one byte each, 256 bytes), and a table
    // by bucket code: 0 if the pool has no such bucket yet, else SEEN | index << shift | the batch's sum.
    // (The count is the word just before the order bytes.)
    uint256 internal constant M_REGION_COUNT = 0x5e0;
    uint256 internal constant M_REGION_ORDER = 0x600;
    uint256 internal constant M_INDUSTRY_COUNT = 0x700;
    uint256 internal constant M_INDUSTRY_ORDER = 0x720;
    uint256 internal constant M_REGION_TABLE = 0x820;
    uint256 internal constant M_INDUSTRY_TABLE = 0x2820;
    // Obligor sums of a pool that tracks obligors (see {loadObligors}): the storage slot of its sums by dense
    // index (two per slot; 0: the pool does not track obligors), the slot of its index mapping, its number of
    // obligors, and the dense index + 1 of the obligor whose run is open (0: none yet in this batch).
    uint256 internal constant M_OB_SUMS = 0x4820;
    uint256 internal constant M_OB_INDEX = 0x4840;
    uint256 internal constant M_OB_COUNT = 0x4860;
    uint256 internal constant M_OB_CUR = 0x4880;
    // The batch's AssetsRegistered event data, in place: firstIndex, principal, leafChain, offsets 0xa0 and
    // 0xc0 + 32 n, then the leaves array and the asset ids array (length, words) that the loop fills.
    uint256 internal constant M_EVENT = 0x48a0;
    uint256 internal constant M_END = 0x4940; // the batch's leaves array, then its ids array
    uint256 internal constant MAX_OBLIGORS = 1 << 16; // dense obligor indices fit bits 240..255
    uint256 internal constant SEEN = 1 << 255;
    uint256 internal constant REGION_INDEX_SHIFT = 224; // same bits as in the asset word
    uint256 internal constant INDUSTRY_INDEX_SHIFT = 232;

    /// @notice {registerBatch} outcome: every record registered.
    uint256 internal constant DONE = 0;
    /// @notice {registerBatch} outcome: record `index` breaks rule `detail` ({IAssetRegistry.Rule}).
    uint256 internal constant INELIGIBLE = 1;
    /// @notice {registerBatch} outcome: record `index` is asset `detail`, already registered.
    uint256 internal constant DUPLICATE = 2;
    /// @notice {registerBatch} outcome: record `index` brings the pool's obligors above {MAX_OBLIGORS}.
    uint256 internal constant TOO_MANY_OBLIGORS = 3;
    uint256 private constant _U128 = (1 << 128) - 1;

    /// @notice Reserve the fixed batch memory (zeroed), a leaves array and an ids array of `n` words after it,
    /// for a batch of pool `poolId` of `originator` whose assets live in the mapping at storage slot
    /// `assetsSlot`. Must be the transaction's first memory allocation (reverts otherwise: the layout would
    /// overlap live memory).
    function begin(uint256 poolId, address originator, uint256 assetsSlot, uint256 n)
        internal
        pure
        returns (bytes32[] memory leaves)
    {
        assembly ("memory-safe") {
            // Internal invariant (no input can break it, only a code change allocating memory before {begin}).
            if gt(mload(0x40), M_CHAIN) { revert(0, 0) }
            calldatacopy(M_CHAIN, calldatasize(), sub(M_END, M_CHAIN))
            leaves := M_END
            mstore(leaves, n)
            mstore(add(M_END, shl(5, add(n, 1))), n) // the ids array
            mstore(0x40, add(M_END, shl(6, add(n, 1))))
            mstore(M_BUF, originator)
            mstore(_M_POOL_BITS, shl(96, poolId))
            mstore(_M_ASSETS_SLOT, assetsSlot)
        }
    }

    /// @notice Copy the per-asset limits of `c` into batch memory, with the fast path's range bounds.
    function loadLimits(IAssetRegistry.PoolCriteria memory c) internal pure {
        uint256 cutoff = c.cutoffDate;
        uint256 remaining = uint256(c.maxRemainingTermDays) * _SECONDS_PER_DAY;
        uint256 last = c.legalFinalDate; // > cutoff ({AssetRegistry-createPool} checks the criteria)
        if (cutoff + remaining < last) last = cutoff + remaining;
        uint256 rateSpan = uint256(c.maxRateBps) - c.minRateBps; // min <= max, checked likewise
        assembly ("memory-safe") {
            mstore(_L_CUTOFF, cutoff)
            mstore(_L_LEGAL_FINAL, mload(add(c, 0x20)))
            mstore(_L_ALLOWED_TYPES, mload(add(c, 0x40)))
            mstore(_L_MIN_RATE, mload(add(c, 0x60)))
            mstore(_L_MAX_RATE, mload(add(c, 0x80)))
            mstore(_L_REMAINING, remaining)
            mstore(_L_MAX_LATE, mload(add(c, 0xc0)))
            mstore(_L_CAP, mload(add(c, 0xe0))) // > 0, checked likewise
            mstore(_L_RATE_SPAN, rateSpan)
            mstore(_L_CUTOFF_BEFORE, sub(cutoff, 1)) // cutoff > 0
            mstore(_L_CUTOFF_AFTER, add(cutoff, 1))
            mstore(_L_MATURITY_SPAN, sub(last, cutoff))
        }
    }

    /// @notice Load the pool's `count` buckets of one kind (order slots from storage slot `orderSlot`) into the
    /// batch's order bytes at `order` and code table at `table` (indices at bit `shift`).
    function loadBuckets(uint256 count, uint256 orderSlot, uint256 order, uint256 table, uint256 shift)
        internal
        view
    {
        assembly ("memory-safe") {
            mstore(sub(order, 0x20), count)
            for { let s := 0 } lt(shl(5, s), count) { s := add(s, 1) } {
                mstore(add(order, shl(5, s)), sload(add(orderSlot, s)))
            }
            for { let j := 0 } lt(j, count) { j := add(j, 1) } {
                mstore(add(table, shl(5, byte(0, mload(add(order, j))))), or(SEEN, shl(shift, j)))
            }
        }
    }

    /// @notice Add a batch's bucket sums of one kind to storage: sums of dense indices 2k and 2k + 1 share the
    /// slot `sumsSlot + k` (low and high 128 bits; a bucket's sum never exceeds the uint128 pool principal),
    /// one storage update per pair touched; new buckets' codes appended to the order slots. Returns the
    /// kind's new bucket count.
    function flushBuckets(uint256 oldCount, uint256 orderSlot, uint256 sumsSlot, uint256 order, uint256 table)
        internal
        returns (uint256 count)
    {
        assembly ("memory-safe") {
            count := mload(sub(order, 0x20))
            for { let j := 0 } lt(j, count) { j := add(j, 2) } {
                let lo := and(mload(add(table, shl(5, byte(0, mload(add(order, j)))))), 0xffffffffffffffffffffffffffffffff)
                let hi := 0
                if lt(add(j, 1), count) {
                    hi := and(mload(add(table, shl(5, byte(0, mload(add(order, add(j, 1))))))), 0xffffffffffffffffffffffffffffffff)
                }
                if or(lo, hi) {
                    let s := add(sumsSlot, shr(1, j))
                    sstore(s, add(sload(s), or(lo, shl(128, hi))))
                }
            }
            if gt(count, oldCount) {
                for { let s := shr(5, oldCount) } lt(shl(5, s), count) { s := add(s, 1) } {
                    sstore(add(orderSlot, s), mload(add(order, shl(5, s))))
                }
            }
        }
    }

    /// @notice Track the obligors of this batch's pool: its sums by dense index from storage slot `sumsSlot`
    /// (two 128-bit sums per slot), its index mapping (obligor => dense index + 1) at slot `indexSlot`, and
    /// its `count` obligors so far.
    function loadObligors(uint256 sumsSlot, uint256 indexSlot, uint256 count) internal pure {
        assembly ("memory-safe") {
            mstore(M_OB_SUMS, sumsSlot)
            mstore(M_OB_INDEX, indexSlot)
            mstore(M_OB_COUNT, count)
        }
    }

    /// @notice Write the open obligor run's exposure (the batch's last obligor) to its sum; returns the pool's
    /// number of obligors after the batch. Only for a pool that tracks obligors.
    function flushObligors() internal returns (uint256 count) {
        assembly ("memory-safe") {
            let cur := mload(M_OB_CUR)
            if cur {
                let idx := sub(cur, 1)
                let s := add(mload(M_OB_SUMS), shr(1, idx))
                let sh := shl(7, and(idx, 1))
                sstore(s, or(and(sload(s), not(shl(sh, _U128))), shl(sh, mload(M_EXPOSURE))))
            }
            count := mload(M_OB_COUNT)
        }
    }

    /// @notice Register `records` (see {IAssetRegistry.PackedRecord}): per record, check the eligibility
    /// rules (in the order of {IAssetRegistry.Rule}) and the obligor order, derive the asset id
    /// `keccak256(abi.encode(originator, loanId))` and the StandardMerkleTree leaf of
    /// `abi.encode(originator, record...)`, refuse an id already registered, write the asset's one storage
    /// word, store the leaf and the id in the batch's leaves and ids arrays (emitted in one {AssetsRegistered}
    /// event by the caller: no per-asset event) and fold the asset into the batch sums; in a pool that tracks
    /// obligors, keep each obligor's live sum (read at the start of its run, written at its end) and its dense
    /// index in the asset's word. Stops at the first failure and reports it (the caller reverts the batch).
    function registerBatch(IAssetRegistry.PackedRecord[] calldata records)
        internal
        returns (uint256 outcome, uint256 index, uint256 detail)
    {
        assembly ("memory-safe") {
            // First rule broken by packed words t (terms) and d (dates), the obligor order last (error path).
            function eligibility(t, d) -> code {
                code := 12 // Encoding
                if or(shr(232, t), shr(112, d)) { leave }
                code := 0 // AssetType
                if iszero(and(shr(shr(224, t), mload(_L_ALLOWED_TYPES)), 1)) { leave }
                let principal := and(shr(96, t), 0xffffffffffffffffffffffff)
                code := 1 // ZeroPrincipal
                if iszero(principal) { leave }
                code := 2 // PrincipalAboveOriginal
                if gt(principal, and(t, 0xffffffffffffffffffffffff)) { leave }
                code := 3 // PrincipalCap
                if gt(principal, mload(_L_CAP)) { leave }
                let rate := and(shr(192, t), 0xffff)
                code := 4 // RateRange
                if or(lt(rate, mload(_L_MIN_RATE)), gt(rate, mload(_L_MAX_RATE))) { leave }
                code := 5 // Term
                if iszero(and(shr(208, t), 0xffff)) { leave }
                let cutoff := mload(_L_CUTOFF)
                code := 6 // OriginationAfterCutoff
                if iszero(lt(and(d, 0xffffffffff), cutoff)) { leave }
                let maturity := and(shr(40, d), 0xffffffffff)
                code := 7 // MaturedAtCutoff
                if iszero(gt(maturity, cutoff)) { leave }
                code := 8 // MaturityAfterLegalFinal
                if gt(maturity, mload(_L_LEGAL_FINAL)) { leave }
                code := 9 // RemainingTerm
                if gt(sub(maturity, cutoff), mload(_L_REMAINING)) { leave }
                code := 10 // Delinquency
                if gt(and(shr(80, d), 0xffff), mload(_L_MAX_LATE)) { leave }
                code := 11 // ObligorOrder: what the fast check fails on besides the rules above
            }
            // A tracked pool's obligor starts a run: close the open run (its sum := its running exposure),
            // find or assign the obligor's dense index (0 when the pool is full), return its sum so far.
            function enterObligor(obligor) -> held, full {
                let cur := mload(M_OB_CUR)
                if cur {
                    let i := sub(cur, 1)
                    let s := add(mload(M_OB_SUMS), shr(1, i))
                    let sh := shl(7, and(i, 1))
                    sstore(s, or(and(sload(s), not(shl(sh, _U128))), shl(sh, mload(M_EXPOSURE))))
                }
                mstore(0x00, obligor)
                mstore(0x20, mload(M_OB_INDEX))
                let slot := keccak256(0x00, 0x40)
                mstore(0x20, mload(_M_ASSETS_SLOT))
                let v := sload(slot)
                if iszero(v) {
                    v := add(mload(M_OB_COUNT), 1)
                    if gt(v, MAX_OBLIGORS) {
                        full := 1
                        leave
                    }
                    mstore(M_OB_COUNT, v)
                    sstore(slot, v)
                }
                mstore(M_OB_CUR, v)
                let idx := sub(v, 1)
                held := and(shr(shl(7, and(idx, 1)), sload(add(mload(M_OB_SUMS), shr(1, idx)))), _U128)
            }
            mstore(0x20, mload(_M_ASSETS_SLOT)) // the asset mapping's slot stays in scratch word 0x20
            let wp := add(M_END, 0x20)
            let io := shl(5, add(records.length, 1)) // from a leaf's word to its id's
            let r := records.offset
            for { let end := add(r, mul(records.length, 0xc0)) } lt(r, end) {
                r := add(r, 0xc0)
                wp := add(wp, 0x20)
            } {
                let principal
                let w // the asset's storage word
                {
                    let t := calldataload(add(r, 0x20))
                    let d := calldataload(add(r, 0x40))
                    // abi.encode(originator, record...) into the buffer (originator already in its word 0)
                    mstore(_B_LOAN, calldataload(r))
                    mstore(_B_TYPE, shr(224, t))
                    mstore(_B_ORIGINAL, shr(160, shl(160, t)))
                    principal := shr(160, shl(64, t))
                    mstore(_B_PRINCIPAL, principal)
                    mstore(_B_RATE, and(shr(192, t), 0xffff))
                    mstore(_B_TERM, and(shr(208, t), 0xffff))
                    mstore(_B_ORIGINATION, and(d, 0xffffffffff))
                    mstore(_B_MATURITY, and(shr(40, d), 0xffffffffff))
                    mstore(_B_LATE, and(shr(80, d), 0xffff))
                    mstore(_B_REGION, and(shr(96, d), 0xff))
                    mstore(_B_INDUSTRY, shr(104, d)) // < 256 unless the encoding check below fails
                    calldatacopy(_B_OBLIGOR, add(r, 0x60), 0x60)
                    // Eligibility, exactly the union of {eligibility}'s rules (as unsigned range checks) and the
                    // obligor order (records sorted by obligor).
                    if or(
                        or(
                            or(
                                or(or(shr(232, t), shr(112, d)), lt(mload(_B_OBLIGOR), mload(M_LAST_OBLIGOR))),
                                iszero(and(shr(mload(_B_TYPE), mload(_L_ALLOWED_TYPES)), 1))
                            ),
                            or(iszero(lt(sub(principal, 1), mload(_L_CAP))), gt(principal, mload(_B_ORIGINAL)))
                        ),
                        or(
                            or(gt(sub(mload(_B_RATE), mload(_L_MIN_RATE)), mload(_L_RATE_SPAN)), iszero(mload(_B_TERM))),
                            or(
                                or(
                                    gt(mload(_B_ORIGINATION), mload(_L_CUTOFF_BEFORE)),
                                    iszero(lt(sub(mload(_B_MATURITY), mload(_L_CUTOFF_AFTER)), mload(_L_MATURITY_SPAN)))
                                ),
                                gt(mload(_B_LATE), mload(_L_MAX_LATE))
                            )
                        )
                    ) {
                        mstore(_M_DETAIL, eligibility(t, d))
                        outcome := 1
                        break
                    }
                    // principal | pool | status << 128 | rate << 136 | (maturity, late, region, industry) << 152
                    let late := mload(_B_LATE)
                    let status := add(add(1, gt(late, 29)), add(gt(late, 59), gt(late, 89)))
                    w := or(
                        or(or(principal, mload(_M_POOL_BITS)), shl(128, status)),
                        or(and(shr(56, t), 0xffff0000000000000000000000000000000000), shl(112, and(d, 0xffffffffffffffffff0000000000)))
                    )
                    let tp := add(M_TALLY, shl(5, status))
                    mstore(tp, add(mload(tp), add(0x100000000000000000000000000000000, principal)))
                }
                {
                    // Running exposure of the current obligor (order checked above).
                    let obligor := mload(_B_OBLIGOR)
                    let last := mload(M_LAST_OBLIGOR)
                    let exposure := add(principal, mul(eq(obligor, last), mload(M_EXPOSURE)))
                    if mload(M_OB_SUMS) {
                        if or(iszero(eq(obligor, last)), iszero(mload(M_OB_CUR))) {
                            let held, full := enterObligor(obligor)
                            if full {
                                mstore(_M_DETAIL, obligor)
                                outcome := 3
                                break
                            }
                            exposure := add(principal, held)
                        }
                        w := or(w, shl(240, sub(mload(M_OB_CUR), 1)))
                    }
                    mstore(M_LAST_OBLIGOR, obligor)
                    mstore(M_EXPOSURE, exposure)
                    if gt(exposure, mload(M_MAX_EXPOSURE)) {
                        mstore(M_MAX_EXPOSURE, exposure)
                        mstore(M_MAX_OBLIGOR, obligor)
                    }
                }
                {
                    // Bucket sums by code; a bucket new to the pool gets the next dense index.
                    let code := mload(_B_REGION)
                    let p := add(M_REGION_TABLE, shl(5, code))
                    let v := mload(p)
                    if iszero(v) {
                        let k := mload(M_REGION_COUNT)
                        mstore8(add(M_REGION_ORDER, k), code)
                        mstore(M_REGION_COUNT, add(k, 1))
                        v := or(SEEN, shl(REGION_INDEX_SHIFT, k))
                    }
                    mstore(p, add(v, principal))
                    code := mload(_B_INDUSTRY)
                    p := add(M_INDUSTRY_TABLE, shl(5, code))
                    let u := mload(p)
                    if iszero(u) {
                        let k := mload(M_INDUSTRY_COUNT)
                        mstore8(add(M_INDUSTRY_ORDER, k), code)
                        mstore(M_INDUSTRY_COUNT, add(k, 1))
                        u := or(SEEN, shl(INDUSTRY_INDEX_SHIFT, k))
                    }
                    mstore(p, add(u, principal))
                    // dense indices at bits 224 (region) and 232 (industry)
                    w := or(w, and(or(v, u), 0xffff00000000000000000000000000000000000000000000000000000000))
                }
                mstore(M_RATE_WEIGHTED, add(mload(M_RATE_WEIGHTED), mul(principal, mload(_B_RATE))))
                mstore(M_MATURITY_WEIGHTED, add(mload(M_MATURITY_WEIGHTED), mul(principal, mload(_B_MATURITY))))
                // Id, leaf (into the leaves array and the leaf chain), the asset's slot.
                let id := keccak256(M_BUF, 0x40)
                mstore(add(wp, io), id)
                mstore(0x00, keccak256(M_BUF, 0x1e0))
                let leaf := keccak256(0x00, 0x20)
                mstore(wp, leaf)
                mstore(M_LEAF, leaf)
                mstore(M_CHAIN, keccak256(M_CHAIN, 0x40))
                mstore(0x00, id)
                let slot := keccak256(0x00, 0x40)
                if sload(slot) {
                    mstore(_M_DETAIL, id)
                    outcome := 2
                    break
                }
                sstore(slot, w)
            }
            if outcome {
                index := div(sub(r, records.offset), 0xc0)
                detail := mload(_M_DETAIL)
            }
        }
    }

    /// @notice Set the word at a fixed batch-memory address.
    function put(uint256 addr, uint256 v) internal pure {
        assembly ("memory-safe") {
            mstore(addr, v)
        }
    }

    /// @notice Word at a fixed batch-memory address.
    function get(uint256 addr) internal pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := mload(addr)
        }
    }

    /// @notice Unpack a {IAssetRegistry.PackedRecord} into an {IAssetRegistry.AssetRecord} (views).
    function unpack(IAssetRegistry.PackedRecord calldata r) internal pure returns (IAssetRegistry.AssetRecord memory a) {
        uint256 t = r.terms;
        uint256 d = r.dates;
        a.loanId = r.loanId;
        a.assetType = uint8(t >> 224);
        a.originalPrincipal = uint96(t);
        a.principal = uint96(t >> 96);
        a.rateBps = uint16(t >> 192);
        a.termMonths = uint16(t >> 208);
        a.originationDate = uint40(d);
        a.maturityDate = uint40(d >> 40);
        a.daysDelinquent = uint16(d >> 80);
        a.region = uint8(d >> 96);
        a.industry = uint8(d >> 104);
        a.obligor = r.obligor;
        a.contractHash = r.contractHash;
        a.scheduleHash = r.scheduleHash;
    }

    /// @notice Status of a newly pooled asset from its days past due at the cut-off date.
    function initialStatus(uint256 daysDelinquent) internal pure returns (IAssetRegistry.AssetStatus) {
        if (daysDelinquent >= 90) return IAssetRegistry.AssetStatus.Delinquent90;
        if (daysDelinquent >= 60) return IAssetRegistry.AssetStatus.Delinquent60;
        if (daysDelinquent >= 30) return IAssetRegistry.AssetStatus.Delinquent30;
        return IAssetRegistry.AssetStatus.Performing;
    }

    /// @notice True for Performing and the three delinquency buckets.
    function isActive(IAssetRegistry.AssetStatus s) internal pure returns (bool) {
        return s >= IAssetRegistry.AssetStatus.Performing && s <= IAssetRegistry.AssetStatus.Delinquent90;
    }

    /// @notice A defaulted asset whose recovery is under way: Defaulted, InRecovery or Repossessed.
    function isRecovering(IAssetRegistry.AssetStatus s) internal pure returns (bool) {
        return s == IAssetRegistry.AssetStatus.Defaulted || s == IAssetRegistry.AssetStatus.InRecovery
            || s == IAssetRegistry.AssetStatus.Repossessed;
    }

    /// @notice A final status whose principal is zero: Prepaid, Repaid, Disposed, ChargedOff.
    function isClosed(IAssetRegistry.AssetStatus s) internal pure returns (bool) {
        return s == IAssetRegistry.AssetStatus.Prepaid || s == IAssetRegistry.AssetStatus.Repaid
            || s == IAssetRegistry.AssetStatus.Disposed || s == IAssetRegistry.AssetStatus.ChargedOff;
    }

    /// @notice Servicing transition table. Delinquency worsens at most one bucket per update and cures to
    /// any better bucket; an active asset may default, prepay or repay; a defaulted asset goes through its
    /// recovery (Defaulted -> InRecovery -> Repossessed -> Disposed, each step optional, or ChargedOff at any
    /// point), its claim only ever written down; prepaid, repaid, disposed, charged-off and repurchased assets
    /// are final for the servicer.
    function isLegalTransition(IAssetRegistry.AssetStatus from, IAssetRegistry.AssetStatus to)
        internal
        pure
        returns (bool)
    {
        if (isRecovering(from)) {
            if (to == IAssetRegistry.AssetStatus.Disposed || to == IAssetRegistry.AssetStatus.ChargedOff) return true;
            return isRecovering(to) && recoveryStep(to) >= recoveryStep(from);
        }
        if (!isActive(from)) return false;
        if (to == IAssetRegistry.AssetStatus.None || to >= IAssetRegistry.AssetStatus.Repurchased) return false;
        if (isActive(to) && to > from) return uint8(to) - uint8(from) == 1;
        return true;
    }

    /// @dev Order of the recovery statuses: Defaulted 0, InRecovery 1, Repossessed 2.
    function recoveryStep(IAssetRegistry.AssetStatus s) private pure returns (uint256) {
        return s == IAssetRegistry.AssetStatus.Defaulted ? 0 : s == IAssetRegistry.AssetStatus.InRecovery ? 1 : 2;
    }
}
