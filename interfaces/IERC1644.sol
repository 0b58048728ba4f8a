// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IERC1644 (Controller Token Operation Standard)
/// @notice Forced transfers and redemptions for court orders and lost keys, each with its mandatory event,
///         and a one-way renounce of control.
interface IERC1644 {
    /// @notice Emitted on every forced transfer.
    event ControllerTransfer(
        address controller, address indexed from, address indexed to, uint256 value, bytes data, bytes operatorData
    );
    /// @notice Emitted on every forced redemption.
    event ControllerRedemption(
        address controller, address indexed tokenHolder, uint256 value, bytes data, bytes operatorData
    );

    /// @notice True while controllers may force transfers and redemptions; false for good after renounce.
    function isControllable() external view returns (bool);

    /// @notice Force a transfer of `value` from `from` to `to`.
    function controllerTransfer(address from, address to, uint256 value, bytes calldata data, bytes calldata operatorData)
        external;

    /// @notice Force the redemption of `value` of `tokenHolder`'s tokens.
    function controllerRedeem(address tokenHolder, uint256 value, bytes calldata data, bytes calldata operatorData)
        external;
}
