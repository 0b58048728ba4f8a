// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IGreenLedger} from "../../interfaces/IGreenLedger.sol";
import {ISPV, Ledger, Phase} from "../../interfaces/ISPV.sol";

/// @title GreenLedger
/// @notice See `IGreenLedger`. One per green deal, deployed with it. The admin (the arranger) manages roles;
/// the allocating party holds ALLOCATOR_ROLE.
contract GreenLedger is IGreenLedger, AccessControl {
    using SafeCast for uint256;

    bytes32 public constant ALLOCATOR_ROLE = keccak256("ALLOCATOR_ROLE");
    /// @notice Number of Green Bond Principles category codes (0..CATEGORY_COUNT-1, `chainabs.model.green`).
    uint8 public constant CATEGORY_COUNT = 10;
    /// @notice Number of impact metric codes (0..METRIC_COUNT-1, `chainabs.model.green`).
    uint8 public constant METRIC_COUNT = 6;

    address private immutable _spv;
    uint16 private immutable _eligible;
    uint64 private immutable _deadline;

    uint128 private _netProceeds;
    uint128 private _allocated;
    bool private _recorded;
    bytes32[] private _projectIds;
    mapping(bytes32 projectId => Project) private _projects;

    constructor(address admin, address allocator, address spv_, uint16 eligibleMask, uint64 deadline) {
        if (eligibleMask == 0 || eligibleMask >> CATEGORY_COUNT != 0) revert InvalidEligibleCategories(eligibleMask);
        _spv = spv_;
        _eligible = eligibleMask;
        _deadline = deadline;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ALLOCATOR_ROLE, allocator);
    }

    /// @inheritdoc IGreenLedger
    function spv() external view returns (address) {
        return _spv;
    }

    /// @inheritdoc IGreenLedger
    function eligibleCategories() external view returns (uint16) {
        return _eligible;
    }

    /// @inheritdoc IGreenLedger
    function allocationDeadline() external view returns (uint64) {
        return _deadline;
    }

    /// @inheritdoc IGreenLedger
    function netProceeds() external view returns (uint256) {
        return _netProceeds;
    }

    /// @inheritdoc IGreenLedger
    function allocated() external view returns (uint256) {
        return _allocated;
    }

    /// @inheritdoc IGreenLedger
    function unallocated() public view returns (uint256) {
        return uint256(_netProceeds) - _allocated;
    }

    /// @inheritdoc IGreenLedger
    function deadlineMissed() external view returns (bool) {
        return block.timestamp > _deadline && (!_recorded || unallocated() != 0);
    }

    /// @inheritdoc IGreenLedger
    function projectCount() external view returns (uint256) {
        return _projectIds.length;
    }

    /// @inheritdoc IGreenLedger
    function projectIdAt(uint256 index) external view returns (bytes32) {
        return _projectIds[index];
    }

    /// @inheritdoc IGreenLedger
    function project(bytes32 projectId) external view returns (Project memory) {
        return _project(projectId);
    }

    /// @inheritdoc IGreenLedger
    function recordNetProceeds() external returns (uint256 amount) {
        if (_recorded) revert ProceedsAlreadyRecorded(_netProceeds);
        Phase phase = ISPV(_spv).phase();
        if (phase != Phase.Active && phase != Phase.Ended) revert DealNotClosed(uint8(phase));
        Ledger memory l = ISPV(_spv).ledger();
        amount = l.paidToOriginator;
        _netProceeds = amount.toUint128();
        _recorded = true;
        emit NetProceedsRecorded(_spv, amount, msg.sender);
    }

    /// @inheritdoc IGreenLedger
    function registerProject(
        bytes32 projectId,
        string calldata name,
        uint8 category,
        uint256 planned,
        bytes32 evidenceHash
    ) external onlyRole(ALLOCATOR_ROLE)
    {
        if (category >= CATEGORY_COUNT) revert UnknownCategory(category);
        if (planned == 0) revert ZeroAmount();
        if (evidenceHash == bytes32(0)) revert MissingEvidence();
        if (_projects[projectId].registeredAt != 0) revert ProjectExists(projectId);
        _projects[projectId] = Project(category, uint64(block.timestamp), planned.toUint128(), 0, evidenceHash);
        _projectIds.push(projectId);
        emit ProjectRegistered(projectId, name, category, planned, evidenceHash, msg.sender);
    }

    /// @inheritdoc IGreenLedger
    function allocate(bytes32 projectId, uint256 amount, bytes32 evidenceHash) external onlyRole(ALLOCATOR_ROLE) {
        if (!_recorded) revert ProceedsNotRecorded();
        if (amount == 0) revert ZeroAmount();
        if (evidenceHash == bytes32(0)) revert MissingEvidence();
        Project storage p = _project(projectId);
        if ((_eligible >> p.category) & 1 == 0) revert IneligibleCategory(projectId, p.category);
        uint256 left = unallocated();
        if (amount > left) revert AllocationExceedsProceeds(amount, left);
        // amount <= left < 2**128: no cast can fail below
        _allocated += uint128(amount);
        p.allocated += uint128(amount);
        emit ProceedsAllocated(projectId, amount, evidenceHash, left - amount, msg.sender);
    }

    /// @inheritdoc IGreenLedger
    function reportImpact(bytes32 projectId, uint32 period, uint8 metric, uint256 value, bytes32 evidenceHash)
        external
        onlyRole(ALLOCATOR_ROLE)
    {
        _project(projectId);
        if (metric >= METRIC_COUNT) revert UnknownMetric(metric);
        if (value == 0) revert ZeroAmount();
        if (evidenceHash == bytes32(0)) revert MissingEvidence();
        emit ImpactReported(projectId, period, metric, value, evidenceHash, msg.sender);
    }

    function _project(bytes32 projectId) private view returns (Project storage p) {
        p = _projects[projectId];
        if (p.registeredAt == 0) revert UnknownProject(projectId);
    }
}
