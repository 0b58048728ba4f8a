// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IERC1594 (Core Security Token Standard), as used by ChainABS tranche tokens
/// @notice Transfers with data, issuance and redemption, and `canTransfer` pre-checks that return an
///         ERC-1066 status byte, an application-specific reason and (ChainABS extension, appended after the
///         standard's two return values) the partition the transfer would draw from. Never reverts.
interface IERC1594 {
    /// @notice Emitted on issuance.
    event Issued(address indexed operator, address indexed to, uint256 value, bytes data);
    /// @notice Emitted on redemption.
    event Redeemed(address indexed operator, address indexed from, uint256 value, bytes data);

    /// @notice ERC-20 transfer with attached data.
    function transferWithData(address to, uint256 value, bytes calldata data) external;

    /// @notice ERC-20 transferFrom with attached data.
    function transferFromWithData(address from, address to, uint256 value, bytes calldata data) external;

    /// @notice False once issuance is closed for good.
    function isIssuable() external view returns (bool);

    /// @notice Issue `value` tokens to `to` in the unrestricted partition.
    function issue(address to, uint256 value, bytes calldata data) external;

    /// @notice Redeem (burn) `value` of the caller's tokens.
    function redeem(uint256 value, bytes calldata data) external;

    /// @notice Redeem `value` of `from`'s tokens using the caller's allowance.
    function redeemFrom(address from, uint256 value, bytes calldata data) external;

    /// @notice Would `transfer(to, value)` from the caller succeed? (status, reason, partition)
    function canTransfer(address to, uint256 value, bytes calldata data)
        external
        view
        returns (bytes1 code, bytes32 reason, bytes32 partition);

    /// @notice Would `transferFrom(from, to, value)` by the caller succeed? (status, reason, partition)
    function canTransferFrom(address from, address to, uint256 value, bytes calldata data)
        external
        view
        returns (bytes1 code, bytes32 reason, bytes32 partition);
}
