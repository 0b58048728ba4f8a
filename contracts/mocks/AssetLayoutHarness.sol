// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAssetRegistry} from "../../interfaces/IAssetRegistry.sol";
import {AssetLib} from "../registry/AssetLib.sol";

/// @title AssetLayoutHarness
/// @notice Tests only: the asset record's leaf and id as the registry derives them (its Solidity structs and
/// `AssetLib`'s packing), for tests/unit/test_asset_layout.py to hold the Python layout equal to them. The two
/// leaf helpers left the registry to make room for revolving purchases (EIP-170).
contract AssetLayoutHarness {
    /// @notice Token id of the asset `loanId` of `originator` (as `AssetLib.registerBatch` derives it).
    function assetIdOf(address originator, bytes32 loanId) external pure returns (uint256) {
        return uint256(keccak256(abi.encode(originator, loanId)));
    }

    /// @notice StandardMerkleTree leaf of `record` originated by `originator`.
    function leafOf(address originator, IAssetRegistry.AssetRecord calldata record) external pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(originator, record))));
    }

    /// @notice StandardMerkleTree leaf of a packed record originated by `originator` (same leaf as unpacked).
    function packedLeafOf(address originator, IAssetRegistry.PackedRecord calldata record)
        external
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(originator, AssetLib.unpack(record)))));
    }
}
