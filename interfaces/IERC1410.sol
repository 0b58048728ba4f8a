// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IERC1410 (Partially Fungible Token Standard), as used by ChainABS tranche tokens
/// @notice Balances split in partitions (here: "unrestricted" and "locked"), operators per holder and per
///         partition, transfers and redemptions by partition.
interface IERC1410 {
    /// @notice Emitted on every transfer by partition (holder or operator).
    event TransferByPartition(
        bytes32 indexed fromPartition,
        address operator,
        address indexed from,
        address indexed to,
        uint256 value,
        bytes data,
        bytes operatorData
    );
    /// @notice Emitted when a holder authorizes an operator for all partitions.
    event AuthorizedOperator(address indexed operator, address indexed tokenHolder);
    /// @notice Emitted when a holder revokes an operator for all partitions.
    event RevokedOperator(address indexed operator, address indexed tokenHolder);
    /// @notice Emitted when a holder authorizes an operator for one partition.
    event AuthorizedOperatorByPartition(bytes32 indexed partition, address indexed operator, address indexed tokenHolder);
    /// @notice Emitted when a holder revokes an operator for one partition.
    event RevokedOperatorByPartition(bytes32 indexed partition, address indexed operator, address indexed tokenHolder);
    /// @notice Emitted on issuance into a partition.
    event IssuedByPartition(
        bytes32 indexed partition, address indexed operator, address indexed to, uint256 value, bytes data, bytes operatorData
    );
    /// @notice Emitted on redemption from a partition.
    event RedeemedByPartition(
        bytes32 indexed partition, address indexed operator, address indexed from, uint256 value, bytes operatorData
    );

    /// @notice `holder`'s balance in `partition`.
    function balanceOfByPartition(bytes32 partition, address holder) external view returns (uint256);

    /// @notice The partitions in which `holder` has a non-zero balance.
    function partitionsOf(address holder) external view returns (bytes32[] memory);

    /// @notice Transfer from the caller's `partition`; returns the receiver's partition.
    function transferByPartition(bytes32 partition, address to, uint256 value, bytes calldata data)
        external
        returns (bytes32);

    /// @notice Operator transfer from `from`'s `partition`; returns the receiver's partition.
    function operatorTransferByPartition(
        bytes32 partition,
        address from,
        address to,
        uint256 value,
        bytes calldata data,
        bytes calldata operatorData
    ) external returns (bytes32);

    /// @notice Pre-check of a transfer by partition by the caller (as operator when `from` != caller).
    function canTransferByPartition(address from, address to, bytes32 partition, uint256 value, bytes calldata data)
        external
        view
        returns (bytes1 code, bytes32 reason, bytes32 partition_);

    /// @notice Is `operator` allowed to move all of `holder`'s partitions?
    function isOperator(address operator, address holder) external view returns (bool);

    /// @notice Is `operator` allowed to move `holder`'s `partition`?
    function isOperatorForPartition(bytes32 partition, address operator, address holder) external view returns (bool);

    /// @notice Authorize `operator` for all of the caller's partitions.
    function authorizeOperator(address operator) external;

    /// @notice Revoke `operator` for all of the caller's partitions.
    function revokeOperator(address operator) external;

    /// @notice Authorize `operator` for the caller's `partition`.
    function authorizeOperatorByPartition(bytes32 partition, address operator) external;

    /// @notice Revoke `operator` for the caller's `partition`.
    function revokeOperatorByPartition(bytes32 partition, address operator) external;

    /// @notice Issue `value` to `to` into `partition`.
    function issueByPartition(bytes32 partition, address to, uint256 value, bytes calldata data) external;

    /// @notice Redeem `value` of the caller's `partition`.
    function redeemByPartition(bytes32 partition, uint256 value, bytes calldata data) external;

    /// @notice Operator redemption of `value` of `from`'s `partition`.
    function operatorRedeemByPartition(bytes32 partition, address from, uint256 value, bytes calldata operatorData)
        external;
}
