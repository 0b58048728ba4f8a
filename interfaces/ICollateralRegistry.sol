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
///
/// Each record keeps the pool its asset was in when it was recorded; the pool's tally ({poolCollateral}) counts
/// the collateral of that pool's live assets. Once the asset registry shows an asset out of that pool (bought
/// back) or closed (prepaid, repaid, disposed of, charged off), anyone may {release} its collateral from the
/// tally (the record itself stays, for recovery rates against the appraisal); a live asset's collateral cannot
/// be released, and collateral that left its pool can no longer be re-appraised.
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
    /// @notice `caller` released `assetId`'s collateral (last appraised at `appraisedValue`) from pool `poolId`'s
    /// tally: the asset registry shows the asset with `status` (Repurchased: out of the pool; or closed).
    event CollateralReleased(
        uint256 indexed assetId,
        uint256 indexed poolId,
        address indexed caller,
        IAssetRegistry.AssetStatus status,
        uint96 appraisedValue
    );

    /// @notice `loanIds` and `records` have different lengths.
    error LengthMismatch(uint256 loanIds, uint256 records);
    /// @notice No asset `assetId` is registered (for {record}: the caller registered no such loan id).
    error UnknownAsset(uint256 assetId);
    /// @notice `assetId`'s collateral is already recorded (records are final; values change by re-appraisal).
    error CollateralExists(uint256 assetId);
    /// @notice `assetId` has no collateral recorded.
    error NoCollateral(uint256 assetId);
    /// @notice The record of `assetId` breaks `rule` (a kind, a positive value, a past appraisal date, an identifier).
    error InvalidCollateral(uint256 assetId, CollateralRule rule);
    /// @notice Only the servicer of pool `poolId` may do this.
    error NotPoolServicer(uint256 poolId, address caller);
    /// @notice `assetId` is still a live asset of pool `poolId` (status `status`): its collateral stays counted.
    error AssetStillInPool(uint256 assetId, uint256 poolId, IAssetRegistry.AssetStatus status);
    /// @notice `assetId` is no longer a live asset of pool `poolId` (it shows `status`; Repurchased: it left the
    /// pool), or its collateral was released: it can be neither recorded nor re-appraised.
    error AssetNotInPool(uint256 assetId, uint256 poolId, IAssetRegistry.AssetStatus status);

    /// @notice The asset registry whose asset ids this registry uses.
    function assetRegistry() external view returns (IAssetRegistry);

    /// @notice Record the collateral of the caller's assets `loanIds` (asset id = `assetIdOf(caller, loanId)`),
    /// all or none. Each asset must be pooled and live (not closed); its pool is kept with the record.
    function record(bytes32[] calldata loanIds, Collateral[] calldata records) external;

    /// @notice The pool's servicer records a new appraisal of `assetId`'s collateral (a live asset of the pool
    /// its collateral was recorded in).
    function reappraise(uint256 assetId, uint96 value, uint40 date, bytes32 evidence) external;

    /// @notice Anyone removes the collateral of `assetIds` from their recorded pools' tallies, each asset being
    /// out of its recorded pool or closed in the asset registry ({AssetStillInPool} otherwise, {NoCollateral}
    /// for an asset without collateral); all or none. Collateral released already is skipped (no event), so
    /// overlapping batches land.
    function release(uint256[] calldata assetIds) external;

    /// @notice Whether `assetId` has collateral still counted in its recorded pool's tally that {release} would
    /// remove now.
    function releasable(uint256 assetId) external view returns (bool);

    /// @notice The pool `assetId`'s collateral was recorded in (0: none recorded) and whether it was released
    /// from that pool's tally.
    function recordedPool(uint256 assetId) external view returns (uint256 poolId, bool released);

    /// @notice `assetId`'s collateral (kind None when none is recorded).
    function collateralOf(uint256 assetId) external view returns (Collateral memory);

    /// @notice Number of assets of `poolId` with collateral recorded and not released, and their total
    /// appraised value (latest appraisals).
    function poolCollateral(uint256 poolId) external view returns (uint64 count, uint128 appraisedValue);
}
