// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAssetRegistry} from "./IAssetRegistry.sol";

/// @title ICollateralRegistry
/// @notice The collateral behind secured assets (auto loans, leases, mortgages, equipment), keyed by the asset id
/// of an `IAssetRegistry`: kind, a hash of its identifier (VIN, land-registry or serial number), appraised value
/// and date, and the hash of the lien or security document. Kept apart from the asset registry so that
/// onboarding costs the same for secured and unsecured pools. The originator that registered an asset records
/// its collateral once (the asset id is derived from the originator's address and loan id, so no one else can);
/// the pool's servicer records re-appraisals. The sale of repossessed collateral is recorded in the asset
/// registry (`Disposed`, with the proceeds as `RecoveryRecorded`).
interface ICollateralRegistry {
    /// @notice What secures an asset.
    enum CollateralKind {
        None,
        Vehicle,
        RealEstate,
        Equipment,
        Other
    }

    /// @notice A rule a collateral record breaks (`InvalidCollateral`).
    enum CollateralRule {
        Kind,
        Value,
        Date,
        Identifier
    }

    /// @notice One asset's collateral (`kind`, `appraisalDate` and `appraisedValue` share one storage word).
    /// @param kind what the collateral is
    /// @param appraisalDate unix time of the appraisal
    /// @param appraisedValue appraised value in the deal currency's base units
    /// @param identifierHash keccak256 of the collateral's identifier (e.g. the VIN)
    /// @param lienHash hash of the lien registration or security document
    struct Collateral {
        CollateralKind kind;
        uint40 appraisalDate;
        uint96 appraisedValue;
        bytes32 identifierHash;
        bytes32 lienHash;
    }

    /// @notice `originator` recorded the collateral of `assetId` (in pool `poolId`).
    event CollateralRecorded(uint256 indexed assetId, uint256 indexed poolId, address indexed originator, Collateral collateral);
    /// @notice The pool's servicer recorded a new appraisal of `assetId`'s collateral, with its evidence hash.
    event CollateralReappraised(
        uint256 indexed assetId, uint256 indexed poolId, address indexed servicer, uint96 value, uint40 date, bytes32 evidence
    );

    /// @notice `loanIds` and `records` have different lengths.
    error LengthMismatch(uint256 loanIds, uint256 records);
    /// @notice The caller registered no asset `assetId` (or it left its pool).
    error UnknownAsset(uint256 assetId);
    /// @notice `assetId`'s collateral is already recorded (records are final; values change by re-appraisal).
    error CollateralExists(uint256 assetId);
    /// @notice `assetId` has no collateral recorded.
    error NoCollateral(uint256 assetId);
    /// @notice The record of `assetId` breaks `rule` (a kind, a positive value, a past appraisal date, an identifier).
    error InvalidCollateral(uint256 assetId, CollateralRule rule);
    /// @notice Only the servicer of pool `poolId` may do this.
    error NotPoolServicer(uint256 poolId, address caller);

    /// @notice The asset registry whose asset ids this registry uses.
    function assetRegistry() external view returns (IAssetRegistry);

    /// @notice Record the collateral of the caller's assets `loanIds` (asset id = `assetIdOf(caller, loanId)`),
    /// all or none.
    function record(bytes32[] calldata loanIds, Collateral[] calldata records) external;

    /// @notice The pool's servicer records a new appraisal of `assetId`'s collateral.
    function reappraise(uint256 assetId, uint96 value, uint40 date, bytes32 evidence) external;

    /// @notice `assetId`'s collateral (kind None when none is recorded).
    function collateralOf(uint256 assetId) external view returns (Collateral memory);

    /// @notice Number of assets of `poolId` with collateral recorded, and their total appraised value.
    function poolCollateral(uint256 poolId) external view returns (uint64 count, uint128 appraisedValue);
}
