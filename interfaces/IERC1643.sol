// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IERC1643 (Document Management Standard)
/// @notice Named documents (offering circular, trust deed, rating letter, periodic reports) attached to the
///         token: a URI and the hash of the content, with the time of the last update.
interface IERC1643 {
    /// @notice Emitted when a document is added or changed.
    event DocumentUpdated(bytes32 indexed name, string uri, bytes32 documentHash);
    /// @notice Emitted when a document is removed.
    event DocumentRemoved(bytes32 indexed name, string uri, bytes32 documentHash);

    /// @notice The URI, content hash and last-update time of document `name` (all empty when unknown).
    function getDocument(bytes32 name) external view returns (string memory uri, bytes32 documentHash, uint256 updatedAt);

    /// @notice Add or replace document `name`.
    function setDocument(bytes32 name, string calldata uri, bytes32 documentHash) external;

    /// @notice Remove document `name`.
    function removeDocument(bytes32 name) external;

    /// @notice The names of all documents.
    function getAllDocuments() external view returns (bytes32[] memory);
}
