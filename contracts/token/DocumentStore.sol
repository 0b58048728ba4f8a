// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC1643} from "../../interfaces/IERC1643.sol";

/// @title DocumentStore
/// @notice ERC-1643 storage of named documents (URI, content hash, update time). Access control is left to
///         the inheriting contract through `_authorizeDocuments`.
abstract contract DocumentStore is IERC1643 {
    struct Document {
        string uri;
        bytes32 documentHash;
        uint64 updatedAt;
    }

    mapping(bytes32 name => Document) private _documents;
    mapping(bytes32 name => uint256 indexPlusOne) private _documentIndex;
    bytes32[] private _documentNames;

    /// @notice A document name must not be zero, and a document must exist to be removed.
    error InvalidDocumentName(bytes32 name);

    /// @dev Reverts unless the caller may manage documents.
    function _authorizeDocuments() internal view virtual;

    /// @inheritdoc IERC1643
    function getDocument(bytes32 name) external view returns (string memory, bytes32, uint256) {
        Document storage d = _documents[name];
        return (d.uri, d.documentHash, d.updatedAt);
    }

    /// @inheritdoc IERC1643
    function setDocument(bytes32 name, string calldata uri, bytes32 documentHash) external {
        _authorizeDocuments();
        if (name == bytes32(0)) revert InvalidDocumentName(name);
        if (_documentIndex[name] == 0) {
            _documentNames.push(name);
            _documentIndex[name] = _documentNames.length;
        }
        _documents[name] = Document(uri, documentHash, uint64(block.timestamp));
        emit DocumentUpdated(name, uri, documentHash);
    }

    /// @inheritdoc IERC1643
    function removeDocument(bytes32 name) external {
        _authorizeDocuments();
        uint256 index = _documentIndex[name];
        if (index == 0) revert InvalidDocumentName(name);
        Document memory d = _documents[name];
        uint256 last = _documentNames.length;
        if (index != last) {
            bytes32 moved = _documentNames[last - 1];
            _documentNames[index - 1] = moved;
            _documentIndex[moved] = index;
        }
        _documentNames.pop();
        delete _documentIndex[name];
        delete _documents[name];
        emit DocumentRemoved(name, d.uri, d.documentHash);
    }

    /// @inheritdoc IERC1643
    function getAllDocuments() external view returns (bytes32[] memory) {
        return _documentNames;
    }
}
