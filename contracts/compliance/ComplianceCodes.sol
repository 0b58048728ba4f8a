// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ComplianceCodes
/// @notice ERC-1066 application status codes (transfer category 0x5*) and the application reasons that
///         ChainABS tranche tokens and the identity registry report from `canTransfer` and in
///         `TransferBlocked` errors.
library ComplianceCodes {
    bytes1 internal constant TRANSFER_FAILURE = 0x50; // rule breach (minimum holding, maximum holders)
    bytes1 internal constant TRANSFER_SUCCESS = 0x51;
    bytes1 internal constant INSUFFICIENT_BALANCE = 0x52;
    bytes1 internal constant INSUFFICIENT_ALLOWANCE = 0x53;
    bytes1 internal constant TRANSFERS_HALTED = 0x54; // paused, or books closed at a record date
    bytes1 internal constant FUNDS_LOCKED = 0x55; // lock-up active, or redemption of principal the deal owes
    bytes1 internal constant INVALID_SENDER = 0x56;
    bytes1 internal constant INVALID_RECEIVER = 0x57;
    bytes1 internal constant INVALID_OPERATOR = 0x58;

    bytes32 internal constant OK = "";
    bytes32 internal constant SENDER_NOT_VERIFIED = "SENDER_NOT_VERIFIED";
    bytes32 internal constant SENDER_EXPIRED = "SENDER_EXPIRED";
    bytes32 internal constant SENDER_FROZEN = "SENDER_FROZEN";
    bytes32 internal constant SENDER_JURISDICTION = "SENDER_JURISDICTION";
    bytes32 internal constant RECEIVER_NOT_VERIFIED = "RECEIVER_NOT_VERIFIED";
    bytes32 internal constant RECEIVER_EXPIRED = "RECEIVER_EXPIRED";
    bytes32 internal constant RECEIVER_FROZEN = "RECEIVER_FROZEN";
    bytes32 internal constant RECEIVER_JURISDICTION = "RECEIVER_JURISDICTION";
    bytes32 internal constant RECEIVER_ZERO_ADDRESS = "RECEIVER_ZERO_ADDRESS";
    bytes32 internal constant SENDER_ZERO_ADDRESS = "SENDER_ZERO_ADDRESS";
    bytes32 internal constant PAUSED = "PAUSED";
    bytes32 internal constant LOCKUP = "LOCKUP";
    bytes32 internal constant BALANCE = "INSUFFICIENT_BALANCE";
    bytes32 internal constant ALLOWANCE = "INSUFFICIENT_ALLOWANCE";
    bytes32 internal constant NOT_OPERATOR = "NOT_OPERATOR";
    bytes32 internal constant MIN_HOLDING_SENDER = "MIN_HOLDING_SENDER";
    bytes32 internal constant MIN_HOLDING_RECEIVER = "MIN_HOLDING_RECEIVER";
    bytes32 internal constant MAX_HOLDERS = "MAX_HOLDERS";
    bytes32 internal constant INVALID_PARTITION = "INVALID_PARTITION";
    bytes32 internal constant BOOKS_CLOSED = "BOOKS_CLOSED";
    bytes32 internal constant PRINCIPAL_OWED = "PRINCIPAL_OWED";
    bytes32 internal constant NOT_SAME_INVESTOR = "NOT_SAME_INVESTOR";
}
