// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ISPVTranche
/// @notice The part of a tranche token (`ITrancheToken`) the SPV drives: issuance at subscription, refunds of a
/// cancelled offering, the record date, the per-period distribution and tranche-state updates, settlement at the
/// end. Each token is bound to its SPV once (`bindDeal`); only that SPV may call the state-changing functions.
interface ISPVTranche {
    /// @notice Issue `value` units to `to` in the unrestricted partition.
    function issue(address to, uint256 value, bytes calldata data) external;
    /// @notice Issue `value` units to `to` in `partition` (the lock-up partition for retained slices).
    function issueByPartition(bytes32 partition, address to, uint256 value, bytes calldata data) external;
    /// @notice Close issuance for good.
    function closeIssuance() external;
    /// @notice Cancel every unit of `holder` (before the first distribution); returns the units cancelled.
    function cancel(address holder) external returns (uint256 units);
    /// @notice Record date: holder transfers are refused until the next distribution or `openBooks`.
    function closeBooks() external;
    /// @notice Reopen the books without a distribution.
    function openBooks() external;
    /// @notice Pull `interest + principal` of the currency from the caller for the holders to claim.
    function distribute(uint256 interest, uint256 principal) external;
    /// @notice Record a write-down (principal deficiency) of `amount`.
    function writeDown(uint256 amount) external;
    /// @notice Undo `amount` of earlier write-downs (principal deficiency cured).
    function reinstate(uint256 amount) external;
    /// @notice A period's payment in one call: write-down, reinstatement, then the distribution (or the books
    ///         reopened when nothing is paid).
    function distributePeriod(uint256 interest, uint256 principal, uint256 writeDownAmount, uint256 reinstated)
        external;
    /// @notice Record the tranche's unpaid interest carried forward.
    function setInterestShortfall(uint256 amount) external;
    /// @notice The deal is over: redemptions become possible.
    function settle() external;
    /// @notice Interest distributed to the tranche so far.
    function totalInterestDistributed() external view returns (uint256);
    /// @notice Principal distributed to the tranche so far.
    function totalPrincipalDistributed() external view returns (uint256);
    /// @notice The deal currency of the token.
    function currency() external view returns (address);
    /// @notice Units outstanding.
    function totalSupply() external view returns (uint256);
    /// @notice True while issuance is open.
    function isIssuable() external view returns (bool);
    /// @notice The deal the token is bound to (zero before binding).
    function deal() external view returns (address);
}
