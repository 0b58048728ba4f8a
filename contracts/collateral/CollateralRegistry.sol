// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IAssetRegistry} from "../../interfaces/IAssetRegistry.sol";
import {ICollateralRegistry} from "../../interfaces/ICollateralRegistry.sol";

/// @title CollateralRegistry
/// @notice See `ICollateralRegistry`. One per asset registry (per network); no admin: the asset registry's own
/// facts (who registered an asset, who services its pool) decide who may write.
contract CollateralRegistry is ICollateralRegistry {
    using SafeCast for uint256;

    /// @dev Per pool: assets with collateral and their appraised value (one word).
    struct PoolTally {
        uint64 count;
        uint128 appraisedValue;
    }

    IAssetRegistry private immutable _registry;
    mapping(uint256 assetId => Collateral) private _collateral;
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
            uint256 poolId = _poolOf(id);
            Collateral calldata c = records[i];
            _check(id, c);
            if (_collateral[id].kind != CollateralKind.None) revert CollateralExists(id);
            _collateral[id] = c;
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
        Collateral storage c = _collateral[assetId];
        if (c.kind == CollateralKind.None) revert NoCollateral(assetId);
        uint256 poolId = _poolOf(assetId);
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
    function collateralOf(uint256 assetId) external view returns (Collateral memory) {
        return _collateral[assetId];
    }

    /// @inheritdoc ICollateralRegistry
    function poolCollateral(uint256 poolId) external view returns (uint64 count, uint128 appraisedValue) {
        PoolTally memory t = _pools[poolId];
        return (t.count, t.appraisedValue);
    }

    /// @dev The pool `assetId` is in (it must be registered and pooled).
    function _poolOf(uint256 assetId) private view returns (uint256 poolId) {
        try _registry.assetInfo(assetId) returns (IAssetRegistry.AssetInfo memory info) {
            poolId = info.poolId;
        } catch {
            revert UnknownAsset(assetId);
        }
        if (poolId == 0) revert UnknownAsset(assetId);
    }

    function _check(uint256 id, Collateral calldata c) private view {
        if (c.kind == CollateralKind.None) revert InvalidCollateral(id, CollateralRule.Kind);
        if (c.appraisedValue == 0) revert InvalidCollateral(id, CollateralRule.Value);
        if (c.appraisalDate == 0 || c.appraisalDate > block.timestamp) revert InvalidCollateral(id, CollateralRule.Date);
        if (c.identifierHash == bytes32(0)) revert InvalidCollateral(id, CollateralRule.Identifier);
    }
}
