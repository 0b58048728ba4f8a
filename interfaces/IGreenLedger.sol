// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IGreenLedger
/// @notice The use-of-proceeds ledger of a green deal (Green Bond Principles): the deal's net proceeds, read
/// once from its SPV after closing (what the originator was paid for the pool), are allocated by the allocating
/// party to registered green projects, each allocation with its evidence; the unallocated balance is always
/// readable; impact figures (MWh generated, tCO2e avoided, ...) are reported per project and period with their
/// evidence. An allocation to a project whose category the deal did not declare eligible is refused, and the
/// allocations never sum above the net proceeds. Categories and impact metrics are small integer codes (their
/// names: `chainabs.model.green`).
interface IGreenLedger {
    /// @notice A registered project: `category` (a Green Bond Principles category code), the hash of its
    /// description / eligibility evidence, the amount planned for it and what has been allocated to it so far.
    struct Project {
        uint8 category;
        uint64 registeredAt;
        uint128 planned;
        uint128 allocated;
        bytes32 evidenceHash;
    }

    /// @notice The deal's net proceeds were read from its SPV (`paidToOriginator` after closing).
    event NetProceedsRecorded(address indexed spv, uint256 netProceeds, address caller);
    /// @notice The allocating party registered project `projectId`.
    event ProjectRegistered(
        bytes32 indexed projectId, string name, uint8 category, uint256 planned, bytes32 evidenceHash, address allocator
    );
    /// @notice `amount` of the net proceeds was allocated to `projectId` (`unallocated` is what remains after it).
    event ProceedsAllocated(
        bytes32 indexed projectId, uint256 amount, bytes32 evidenceHash, uint256 unallocated, address allocator
    );
    /// @notice An impact figure of `projectId` for `period` (`metric` code; `value` in thousandths of the
    /// metric's unit, e.g. 1,500 = 1.5 MWh).
    event ImpactReported(
        bytes32 indexed projectId, uint32 indexed period, uint8 metric, uint256 value, bytes32 evidenceHash, address reporter
    );

    /// @notice `category` is not a known Green Bond Principles category code.
    error UnknownCategory(uint8 category);
    /// @notice The deal declares no eligible category, or one outside the known codes (`mask`).
    error InvalidEligibleCategories(uint16 mask);
    /// @notice `projectId` is already registered.
    error ProjectExists(bytes32 projectId);
    /// @notice No project `projectId` is registered.
    error UnknownProject(bytes32 projectId);
    /// @notice Project `projectId` is in `category`, which the deal did not declare eligible.
    error IneligibleCategory(bytes32 projectId, uint8 category);
    /// @notice Allocating `requested` would take the allocations above the net proceeds (`unallocated` left).
    error AllocationExceedsProceeds(uint256 requested, uint256 unallocated);
    /// @notice An allocation or planned amount of zero, or an impact figure of zero.
    error ZeroAmount();
    /// @notice The net proceeds are not read yet (the SPV has not closed, or `recordNetProceeds` was not called).
    error ProceedsNotRecorded();
    /// @notice The net proceeds were already read.
    error ProceedsAlreadyRecorded(uint256 netProceeds);
    /// @notice The SPV has not closed yet (its phase is `phase`).
    error DealNotClosed(uint8 phase);
    /// @notice `metric` is not a known impact metric code.
    error UnknownMetric(uint8 metric);
    /// @notice The evidence hash is zero (every project, allocation and figure names its evidence).
    error MissingEvidence();

    /// @notice The deal's SPV.
    function spv() external view returns (address);
    /// @notice Bit i set: category code i is eligible.
    function eligibleCategories() external view returns (uint16);
    /// @notice Unix time by which the net proceeds should be fully allocated.
    function allocationDeadline() external view returns (uint64);
    /// @notice The net proceeds to allocate (0 until recorded).
    function netProceeds() external view returns (uint256);
    /// @notice Sum of all allocations.
    function allocated() external view returns (uint256);
    /// @notice Net proceeds not yet allocated.
    function unallocated() external view returns (uint256);
    /// @notice Whether the allocation deadline has passed with proceeds unallocated (or never recorded).
    function deadlineMissed() external view returns (bool);
    /// @notice Number of registered projects.
    function projectCount() external view returns (uint256);
    /// @notice The id of the `index`-th registered project.
    function projectIdAt(uint256 index) external view returns (bytes32);
    /// @notice Project `projectId` (reverts `UnknownProject`).
    function project(bytes32 projectId) external view returns (Project memory);

    /// @notice Anyone, once the SPV has closed: read the net proceeds (what the SPV paid the originator).
    function recordNetProceeds() external returns (uint256);
    /// @notice ALLOCATOR_ROLE: register project `projectId` (`name` for people, in the event only) of a known
    /// category with its evidence and planned amount.
    function registerProject(bytes32 projectId, string calldata name, uint8 category, uint256 planned, bytes32 evidenceHash)
        external;
    /// @notice ALLOCATOR_ROLE: allocate `amount` of the net proceeds to an eligible project, with evidence.
    function allocate(bytes32 projectId, uint256 amount, bytes32 evidenceHash) external;
    /// @notice ALLOCATOR_ROLE: report an impact figure of a project for a period, with evidence.
    function reportImpact(bytes32 projectId, uint32 period, uint8 metric, uint256 value, bytes32 evidenceHash) external;
}
