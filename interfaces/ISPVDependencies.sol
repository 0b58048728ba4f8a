// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ISPVTranche
/// @notice The part of a tranche token (`ITrancheToken`) the SPV drives: issuance at subscription and the
/// per-period distribution and tranche-state updates. The SPV holds ISSUER_ROLE and DISTRIBUTOR_ROLE.
interface ISPVTranche {
    /// @notice Issue `value` units to `to` in the unrestricted partition.
    function issue(address to, uint256 value, bytes calldata data) external;
    /// @notice Issue `value` units to `to` in `partition` (the lock-up partition for retained slices).
    function issueByPartition(bytes32 partition, address to, uint256 value, bytes calldata data) external;
    /// @notice Pull `interest + principal` of the currency from the caller for the holders to claim.
    function distribute(uint256 interest, uint256 principal) external;
    /// @notice Record a write-down (principal deficiency) of `amount`.
    function writeDown(uint256 amount) external;
    /// @notice Undo `amount` of earlier write-downs (principal deficiency cured).
    function reinstate(uint256 amount) external;
    /// @notice Record the tranche's unpaid interest carried forward.
    function setInterestShortfall(uint256 amount) external;
    /// @notice Interest distributed to the tranche so far.
    function totalInterestDistributed() external view returns (uint256);
    /// @notice Principal distributed to the tranche so far.
    function totalPrincipalDistributed() external view returns (uint256);
}
