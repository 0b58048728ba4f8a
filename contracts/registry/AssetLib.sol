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
    //   bits 192..199 region bucket, bits 200..207 industry bucket
    uint256 private constant _U96 = (1 << 96) - 1;
    uint256 private constant _SECONDS_PER_DAY = 86_400;

    /// @notice Pack an asset's on-chain state into one word.
    function pack(
        uint256 principal,
        uint256 poolId,
        IAssetRegistry.AssetStatus status,
        uint256 rateBps,
        uint256 maturityDate,
        uint256 region,
        uint256 industry
    ) internal pure returns (uint256) {
        return principal | (poolId << 96) | (uint256(status) << 128) | (rateBps << 136) | (maturityDate << 152)
            | (region << 192) | (industry << 200);
    }

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
        return uint8(s >> 192);
    }

    function industryOf(uint256 s) internal pure returns (uint8) {
        return uint8(s >> 200);
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
    // One registration batch keeps its running sums in one memory block (words at the offsets below), so
    // that a batch of any size runs in constant memory and with ~550 opcodes (~1.8k gas) per asset besides
    // the storage write and the ERC-721 log. Sums are bounded by uint96 x 2^40 per asset and cannot overflow.
    uint256 internal constant ACC_LEAF_CHAIN = 0x000;
    uint256 internal constant ACC_LEAF = 0x020; // the current leaf, hashed together with the leaf chain
    uint256 internal constant ACC_LAST_OBLIGOR = 0x040;
    uint256 internal constant ACC_OBLIGOR_PRINCIPAL = 0x060;
    uint256 internal constant ACC_MAX_OBLIGOR = 0x080;
    uint256 internal constant ACC_MAX_OBLIGOR_PRINCIPAL = 0x0a0;
    uint256 internal constant ACC_PRINCIPAL = 0x0c0;
    uint256 internal constant ACC_RATE_WEIGHTED = 0x0e0;
    uint256 internal constant ACC_MATURITY_WEIGHTED = 0x100;
    uint256 internal constant ACC_REGION_MASK = 0x120;
    uint256 internal constant ACC_INDUSTRY_MASK = 0x140;
    // 4 words, Performing .. Delinquent90: count << 128 | principal (a batch's principal is below 2^106).
    uint256 internal constant ACC_TALLY = 0x160;
    uint256 internal constant ACC_LIMITS = 0x1e0; // 8 words, see {loadLimits}
    uint256 internal constant ACC_BUF = 0x2e0; // 15 words: abi.encode(originator, record) of the current asset
    uint256 internal constant ACC_REGION_SUMS = 0x4c0; // 256 words
    uint256 internal constant ACC_INDUSTRY_SUMS = 0x24c0; // 256 words
    uint256 internal constant ACC_POOL_BITS = 0x44c0; // poolId << 96
    uint256 internal constant ACC_ASSETS_SLOT = 0x44e0; // storage slot of the asset mapping
    uint256 internal constant ACC_LEAVES = 0x4500; // memory pointer of the batch's leaves array
    uint256 internal constant ACC_SIZE = 0x4520;

    /// @notice {registerBatch} outcome: every record registered.
    uint256 internal constant DONE = 0;
    /// @notice {registerBatch} outcome: record `index` breaks rule `detail` ({IAssetRegistry.Rule}).
    uint256 internal constant INELIGIBLE = 1;
    /// @notice {registerBatch} outcome: record `index` is asset `detail`, already registered.
    uint256 internal constant DUPLICATE = 2;

    /// @notice A zeroed accumulator for a batch of pool `poolId` of `originator`, whose assets live in the
    /// mapping at storage slot `assetsSlot`, with `leaves` to receive the leaves.
    function allocate(uint256 poolId, address originator, uint256 assetsSlot, bytes32[] memory leaves)
        internal
        pure
        returns (uint256 acc)
    {
        assembly ("memory-safe") {
            acc := mload(0x40)
            mstore(0x40, add(acc, ACC_SIZE))
            calldatacopy(acc, calldatasize(), ACC_SIZE)
            mstore(add(acc, ACC_BUF), originator)
            mstore(add(acc, ACC_POOL_BITS), shl(96, poolId))
            mstore(add(acc, ACC_ASSETS_SLOT), assetsSlot)
            mstore(add(acc, ACC_LEAVES), leaves)
        }
    }

    /// @notice Copy the per-asset limits of `c` into the accumulator (cut-off, legal final, allowed types,
    /// min rate, max rate, max remaining term in seconds, max days delinquent, max principal).
    function loadLimits(uint256 acc, IAssetRegistry.PoolCriteria memory c) internal pure {
        uint256 lim = acc + ACC_LIMITS;
        uint256 remaining = uint256(c.maxRemainingTermDays) * _SECONDS_PER_DAY;
        assembly ("memory-safe") {
            mstore(lim, mload(c))
            mstore(add(lim, 0x20), mload(add(c, 0x20)))
            mstore(add(lim, 0x40), mload(add(c, 0x40)))
            mstore(add(lim, 0x60), mload(add(c, 0x60)))
            mstore(add(lim, 0x80), mload(add(c, 0x80)))
            mstore(add(lim, 0xa0), remaining)
            mstore(add(lim, 0xc0), mload(add(c, 0xc0)))
            mstore(add(lim, 0xe0), mload(add(c, 0xe0)))
        }
    }

    /// @notice Register `records` (see {IAssetRegistry.PackedRecord}): per record, check the eligibility
    /// rules (in the order of {IAssetRegistry.Rule}) and the obligor order, derive the asset id
    /// `keccak256(abi.encode(originator, loanId))` and the StandardMerkleTree leaf of
    /// `abi.encode(originator, record...)`, refuse an id already registered, write the asset's one storage
    /// word, emit `Transfer(0, originator, id)`, store the leaf and fold the asset into the batch sums.
    /// Stops at the first failure and reports it (the caller reverts the whole batch).
    function registerBatch(uint256 acc, IAssetRegistry.PackedRecord[] calldata records)
        internal
        returns (uint256 outcome, uint256 index, uint256 detail)
    {
        assembly ("memory-safe") {
            // First rule broken by packed words t (terms) and d (dates), or 0xff.
            function eligibility(a, t, d) -> code {
                let lim := add(a, ACC_LIMITS)
                code := 12 // Encoding
                if or(shr(232, t), shr(112, d)) { leave }
                code := 0 // AssetType
                if iszero(and(shr(shr(224, t), mload(add(lim, 0x40))), 1)) { leave }
                let principal := and(shr(96, t), 0xffffffffffffffffffffffff)
                code := 1 // ZeroPrincipal
                if iszero(principal) { leave }
                code := 2 // PrincipalAboveOriginal
                if gt(principal, and(t, 0xffffffffffffffffffffffff)) { leave }
                code := 3 // PrincipalCap
                if gt(principal, mload(add(lim, 0xe0))) { leave }
                let rate := and(shr(192, t), 0xffff)
                code := 4 // RateRange
                if or(lt(rate, mload(add(lim, 0x60))), gt(rate, mload(add(lim, 0x80)))) { leave }
                code := 5 // Term
                if iszero(and(shr(208, t), 0xffff)) { leave }
                let cutoff := mload(lim)
                code := 6 // OriginationAfterCutoff
                if iszero(lt(and(d, 0xffffffffff), cutoff)) { leave }
                let maturity := and(shr(40, d), 0xffffffffff)
                code := 7 // MaturedAtCutoff
                if iszero(gt(maturity, cutoff)) { leave }
                code := 8 // MaturityAfterLegalFinal
                if gt(maturity, mload(add(lim, 0x20))) { leave }
                code := 9 // RemainingTerm
                if gt(sub(maturity, cutoff), mload(add(lim, 0xa0))) { leave }
                code := 10 // Delinquency
                if gt(and(shr(80, d), 0xffff), mload(add(lim, 0xc0))) { leave }
                code := 0xff
            }
            // One record, straight-line (the hot path): 0 on success, else (outcome, detail). `wp` is where
            // its leaf goes in the leaves array.
            function one(a, r, wp) -> out, det {
                let t := calldataload(add(r, 0x20))
                let d := calldataload(add(r, 0x40))
                let principal := and(shr(96, t), 0xffffffffffffffffffffffff)
                {
                    // Fast check: does any eligibility rule fail? (exactly the union of {eligibility}'s rules)
                    let lim := add(a, ACC_LIMITS)
                    let cutoff := mload(lim)
                    let maturity := and(shr(40, d), 0xffffffffff)
                    let rate := and(shr(192, t), 0xffff)
                    if or(
                        or(
                            or(or(shr(232, t), shr(112, d)), iszero(and(shr(shr(224, t), mload(add(lim, 0x40))), 1))),
                            or(
                                or(iszero(principal), gt(principal, and(t, 0xffffffffffffffffffffffff))),
                                or(gt(principal, mload(add(lim, 0xe0))), lt(rate, mload(add(lim, 0x60))))
                            )
                        ),
                        or(
                            or(
                                or(gt(rate, mload(add(lim, 0x80))), iszero(and(shr(208, t), 0xffff))),
                                or(iszero(lt(and(d, 0xffffffffff), cutoff)), iszero(gt(maturity, cutoff)))
                            ),
                            or(
                                or(gt(maturity, mload(add(lim, 0x20))), gt(sub(maturity, cutoff), mload(add(lim, 0xa0)))),
                                gt(and(shr(80, d), 0xffff), mload(add(lim, 0xc0)))
                            )
                        )
                    ) {
                        det := eligibility(a, t, d)
                        out := 1
                        leave
                    }
                }
                {
                    // Running exposure of the current obligor (records sorted by obligor).
                    let obligor := calldataload(add(r, 0x60))
                    let last := mload(add(a, ACC_LAST_OBLIGOR))
                    if lt(obligor, last) {
                        out := 1
                        det := 11 // ObligorOrder
                        leave
                    }
                    let exposure := principal
                    if eq(obligor, last) { exposure := add(mload(add(a, ACC_OBLIGOR_PRINCIPAL)), principal) }
                    mstore(add(a, ACC_LAST_OBLIGOR), obligor)
                    mstore(add(a, ACC_OBLIGOR_PRINCIPAL), exposure)
                    if gt(exposure, mload(add(a, ACC_MAX_OBLIGOR_PRINCIPAL))) {
                        mstore(add(a, ACC_MAX_OBLIGOR_PRINCIPAL), exposure)
                        mstore(add(a, ACC_MAX_OBLIGOR), obligor)
                    }
                }
                // abi.encode(originator, record...) into the buffer (originator already in word 0); id, leaf.
                let buf := add(a, ACC_BUF)
                mstore(add(buf, 0x20), calldataload(r))
                mstore(add(buf, 0x40), shr(224, t))
                mstore(add(buf, 0x60), and(t, 0xffffffffffffffffffffffff))
                mstore(add(buf, 0x80), principal)
                mstore(add(buf, 0xa0), and(shr(192, t), 0xffff))
                mstore(add(buf, 0xc0), and(shr(208, t), 0xffff))
                mstore(add(buf, 0xe0), and(d, 0xffffffffff))
                mstore(add(buf, 0x100), and(shr(40, d), 0xffffffffff))
                mstore(add(buf, 0x120), and(shr(80, d), 0xffff))
                mstore(add(buf, 0x140), and(shr(96, d), 0xff))
                mstore(add(buf, 0x160), and(shr(104, d), 0xff))
                calldatacopy(add(buf, 0x180), add(r, 0x60), 0x60)
                let id := keccak256(buf, 0x40)
                mstore(0x00, keccak256(buf, 0x1e0))
                let leaf := keccak256(0x00, 0x20)
                mstore(wp, leaf)
                mstore(0x00, id) // the asset mapping's slot stays in scratch word 0x20 during the loop
                let slot := keccak256(0x00, 0x40)
                if sload(slot) {
                    out := 2
                    det := id
                    leave
                }
                // Status from days past due; the storage word: principal | pool | status | rate | maturity |
                // region | industry.
                let late := and(shr(80, d), 0xffff)
                let status := add(add(1, gt(late, 29)), add(gt(late, 59), gt(late, 89)))
                sstore(
                    slot,
                    or(
                        or(or(principal, mload(add(a, ACC_POOL_BITS))), shl(128, status)),
                        or(
                            and(shr(56, t), 0xffff0000000000000000000000000000000000), // rate << 136
                            or(shl(112, and(d, 0xffffffffff0000000000)), shl(96, and(d, 0xffff000000000000000000000000)))
                        )
                    )
                )
                // Transfer(address(0), originator, id)
                log4(0, 0, 0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef, 0, mload(buf), id)
                // Fold into the batch sums.
                mstore(add(a, ACC_LEAF), leaf)
                mstore(a, keccak256(a, 0x40)) // ACC_LEAF_CHAIN

                mstore(add(a, ACC_PRINCIPAL), add(mload(add(a, ACC_PRINCIPAL)), principal))
                mstore(
                    add(a, ACC_RATE_WEIGHTED),
                    add(mload(add(a, ACC_RATE_WEIGHTED)), mul(principal, and(shr(192, t), 0xffff)))
                )
                mstore(
                    add(a, ACC_MATURITY_WEIGHTED),
                    add(mload(add(a, ACC_MATURITY_WEIGHTED)), mul(principal, and(shr(40, d), 0xffffffffff)))
                )
                // Bucket sums; a bucket's first asset of the batch (every principal is > 0) sets its mask bit.
                let code := and(shr(96, d), 0xff)
                let p := add(add(a, ACC_REGION_SUMS), shl(5, code))
                let sum := mload(p)
                mstore(p, add(sum, principal))
                if iszero(sum) { mstore(add(a, ACC_REGION_MASK), or(mload(add(a, ACC_REGION_MASK)), shl(code, 1))) }
                code := and(shr(104, d), 0xff)
                p := add(add(a, ACC_INDUSTRY_SUMS), shl(5, code))
                sum := mload(p)
                mstore(p, add(sum, principal))
                if iszero(sum) {
                    mstore(add(a, ACC_INDUSTRY_MASK), or(mload(add(a, ACC_INDUSTRY_MASK)), shl(code, 1)))
                }
                p := add(add(a, ACC_TALLY), shl(5, sub(status, 1)))
                mstore(p, add(mload(p), or(shl(128, 1), principal)))
            }
            mstore(0x20, mload(add(acc, ACC_ASSETS_SLOT)))
            let wp := add(mload(add(acc, ACC_LEAVES)), 0x20)
            let r := records.offset
            for { let i := 0 } lt(i, records.length) { i := add(i, 1) } {
                let out, det := one(acc, r, wp)
                if out {
                    outcome := out
                    index := i
                    detail := det
                    break
                }
                r := add(r, 0xc0)
                wp := add(wp, 0x20)
            }
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

    /// @notice Set word `offset` of an accumulator.
    function put(uint256 acc, uint256 offset, uint256 v) internal pure {
        assembly ("memory-safe") {
            mstore(add(acc, offset), v)
        }
    }

    /// @notice Word `offset` of an accumulator.
    function get(uint256 acc, uint256 offset) internal pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := mload(add(acc, offset))
        }
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

    /// @notice Servicing transition table. Delinquency worsens at most one bucket per update and cures to
    /// any better bucket; an active asset may default, prepay or repay; a defaulted asset only has its
    /// principal written down; prepaid, repaid and repurchased assets are final for the servicer.
    function isLegalTransition(IAssetRegistry.AssetStatus from, IAssetRegistry.AssetStatus to)
        internal
        pure
        returns (bool)
    {
        if (from == IAssetRegistry.AssetStatus.Defaulted) return to == IAssetRegistry.AssetStatus.Defaulted;
        if (!isActive(from)) return false;
        if (to == IAssetRegistry.AssetStatus.None || to == IAssetRegistry.AssetStatus.Repurchased) return false;
        if (isActive(to) && to > from) return uint8(to) - uint8(from) == 1;
        return true;
    }
}
