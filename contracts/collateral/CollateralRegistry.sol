// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IAssetRegistry} from "../../interfaces/IAssetRegistry.sol";
import {ICollateralRegistry} from "../../interfaces/ICollateralRegistry.sol";
import {AssetLib} from "../registry/AssetLib.sol";

/// @title CollateralRegistry
/// @notice See `ICollateralRegistry`. One per asset registry (per network); no admin: the asset registry's own
/// facts (who registered an asset, who services its pool) decide who may write.
contract CollateralRegistry is ICollateralRegistry {
    using SafeCast for uint256;

    /// @dev Per pool: assets with collateral counted and their appraised value (one word).
    struct PoolTally {
        uint64 count;
        uint128 appraisedValue;
    }

    /// @dev One asset's record: the `Collateral` fields, with the pool it was recorded in and whether it was
    /// released from that pool's tally packed into the first word (kind 8 + date 40 + value 96 + pool 32 + 8 bits).
    struct Entry {
        CollateralKind kind;
        uint40 appraisalDate;
        uint96 appraisedValue;
        uint32 poolId;
        bool released;
        bytes32 identifierHash;
        bytes32 lienHash;
    }

    IAssetRegistry private immutable _registry;
    mapping(uint256 assetId => Entry) private _collateral;
    mapping(uint256 poolId => PoolTally) private _pools;

    constructor(IAssetRegistry registry_) {
        _registry = registry_;
    }

    /// @inheritdoc ICollateralRegistry
    function assetRegistry() external view returns (IAssetRegistry) {
        return _registry;
    }

    /// @inheritdoc ICollateralRegistry
    function record(bytes32[] calldata loanIds, Collateral[] calldata records) external {
        if (loanIds.length != records.length) revert LengthMismatch(loanIds.length, records.length);
        uint256 cachedPool = 0;
        PoolTally memory tally = PoolTally(0, 0);
        for (uint256 i = 0; i < loanIds.length; ++i) {
            uint256 id = _registry.assetIdOf(msg.sender, loanIds[i]);
            uint256 poolId = _livePool(id, 0);
            Collateral calldata c = records[i];
            _check(id, c);
            if (_collateral[id].kind != CollateralKind.None) revert CollateralExists(id);
            // Pool ids fit 32 bits (the asset registry refuses more pools).
            _collateral[id] = Entry(
                c.kind, c.appraisalDate, c.appraisedValue, uint32(poolId), false, c.identifierHash, c.lienHash
            );
            if (poolId != cachedPool) {
                if (cachedPool != 0) _pools[cachedPool] = tally;
                cachedPool = poolId;
                tally = _pools[poolId];
            }
            tally.count += 1;
            tally.appraisedValue = (uint256(tally.appraisedValue) + c.appraisedValue).toUint128();
            emit CollateralRecorded(id, poolId, msg.sender, c);
        }
        if (cachedPool != 0) _pools[cachedPool] = tally;
    }

    /// @inheritdoc ICollateralRegistry
    function reappraise(uint256 assetId, uint96 value, uint40 date, bytes32 evidence) external {
        Entry storage c = _collateral[assetId];
        if (c.kind == CollateralKind.None) revert NoCollateral(assetId);
        uint256 poolId = c.poolId;
        if (c.released) revert AssetNotInPool(assetId, poolId, _registry.assetInfo(assetId).status);
        _livePool(assetId, poolId);
        address servicer = _registry.servicingFigures(poolId).servicer;
        if (msg.sender != servicer) revert NotPoolServicer(poolId, msg.sender);
        if (value == 0) revert InvalidCollateral(assetId, CollateralRule.Value);
        if (date > block.timestamp || date < c.appraisalDate) revert InvalidCollateral(assetId, CollateralRule.Date);
        PoolTally storage t = _pools[poolId];
        t.appraisedValue = (uint256(t.appraisedValue) - c.appraisedValue + value).toUint128();
        c.appraisedValue = value;
        c.appraisalDate = date;
        emit CollateralReappraised(assetId, poolId, msg.sender, value, date, evidence);
    }

    /// @inheritdoc ICollateralRegistry
    function release(uint256[] calldata assetIds) external {
        for (uint256 i = 0; i < assetIds.length; ++i) {
            uint256 id = assetIds[i];
            Entry storage c = _collateral[id];
            if (c.kind == CollateralKind.None) revert NoCollateral(id);
            if (c.released) continue; // released already (an overlapping batch)
            uint256 poolId = c.poolId;
            (bool live, IAssetRegistry.AssetStatus status) = _isLive(id, poolId);
            if (live) revert AssetStillInPool(id, poolId, status);
            c.released = true;
            uint96 value = c.appraisedValue;
            PoolTally storage t = _pools[poolId];
            t.count -= 1;
            t.appraisedValue -= value;
            emit CollateralReleased(id, poolId, msg.sender, status, value);
        }
    }

    /// @inheritdoc ICollateralRegistry
    function releasable(uint256 assetId) external view returns (bool) {
        Entry storage c = _collateral[assetId];
        if (c.kind == CollateralKind.None || c.released) return false;
        (bool live,) = _isLive(assetId, c.poolId);
        return !live;
    }

    /// @inheritdoc ICollateralRegistry
    function recordedPool(uint256 assetId) external view returns (uint256 poolId, bool released) {
        Entry storage c = _collateral[assetId];
        return (c.poolId, c.released);
    }

    /// @inheritdoc ICollateralRegistry
    function collateralOf(uint256 assetId) external view returns (Collateral memory) {
        Entry storage c = _collateral[assetId];
        return Collateral(c.kind, c.appraisalDate, c.appraisedValue, c.identifierHash, c.lienHash);
    }

    /// @inheritdoc ICollateralRegistry
    function poolCollateral(uint256 poolId) external view returns (uint64 count, uint128 appraisedValue) {
        PoolTally memory t = _pools[poolId];
        return (t.count, t.appraisedValue);
    }

    /// @dev The pool `assetId` is a live asset of (registered, pooled, not closed), which must be `expected` unless
    /// that is zero; reverts otherwise.
    function _livePool(uint256 assetId, uint256 expected) private view returns (uint256 poolId) {
        IAssetRegistry.AssetInfo memory info = _info(assetId);
        poolId = info.poolId;
        if (poolId == 0 || (expected != 0 && poolId != expected) || AssetLib.isClosed(info.status)) {
            revert AssetNotInPool(assetId, expected == 0 ? poolId : expected, info.status);
        }
    }

    /// @dev Whether `assetId` is still a live asset of `poolId` (in it and not closed), and its status.
    function _isLive(uint256 assetId, uint256 poolId)
        private
        view
        returns (bool live, IAssetRegistry.AssetStatus status)
    {
        IAssetRegistry.AssetInfo memory info = _info(assetId);
        status = info.status;
        live = info.poolId == poolId && !AssetLib.isClosed(status);
    }

    function _info(uint256 assetId) private view returns (IAssetRegistry.AssetInfo memory info) {
        try _registry.assetInfo(assetId) returns (IAssetRegistry.AssetInfo memory got) {
            info = got;
        } catch {
            revert UnknownAsset(assetId);
        }
    }

    function _check(uint256 id, Collateral calldata c) private view {
        if (c.kind == CollateralKind.None) revert InvalidCollateral(id, CollateralRule.Kind);
        if (c.appraisedValue == 0) revert InvalidCollateral(id, CollateralRule.Value);
        if (c.appraisalDate == 0 || c.appraisalDate > block.timestamp) revert InvalidCollateral(id, CollateralRule.Date);
        if (c.identifierHash == bytes32(0)) revert InvalidCollateral(id, CollateralRule.Identifier);
    }
}
