// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAssetRegistry} from "../../interfaces/IAssetRegistry.sol";
import {LoanLeaf, ProofStep, ServicingCommitment, TapeSums} from "../../interfaces/IServicing.sol";

/// @title ServicingTree
/// @notice Pure arithmetic of the servicing tape's Merkle sum tree (see `interfaces/IServicing.sol`): leaf and
/// node hashes, a leaf's sums, and the walk from a leaf to the root. Mirrored by `chainabs` (the tape's tree
/// builder), held equal by a test.
library ServicingTree {
    /// @notice Result of a walk from a leaf to the root.
    /// @param root the root hash the path leads to
    /// @param rootSums the sums the root claims
    /// @param consistent every node on the path claims the sum of its children
    struct Walk {
        bytes32 root;
        TapeSums rootSums;
        bool consistent;
    }

    /// @notice keccak256 of a commitment (what the SPV stores per period).
    function commitmentHash(ServicingCommitment calldata c) internal pure returns (bytes32) {
        return keccak256(abi.encode(c.root, c.sums));
    }

    /// @notice The hash of `leaf` in `period`'s tape.
    function leafHash(uint256 period, LoanLeaf calldata leaf) internal pure returns (bytes32) {
        return keccak256(abi.encode(period, leaf));
    }

    /// @notice The sums a leaf contributes (its ending principal only while performing or delinquent).
    function leafSums(LoanLeaf calldata leaf) internal pure returns (TapeSums memory s) {
        s.ending = isActive(leaf.status) ? leaf.ending : 0;
        s.scheduled = leaf.scheduled;
        s.prepaid = leaf.prepaid;
        s.defaulted = leaf.defaulted;
        s.interest = leaf.interest;
        s.recoveries = leaf.recoveries;
        s.count = 1;
    }

    /// @notice Performing or delinquent (`IAssetRegistry.AssetStatus` Performing .. Delinquent90).
    function isActive(uint8 status) internal pure returns (bool) {
        return status >= uint8(IAssetRegistry.AssetStatus.Performing)
            && status <= uint8(IAssetRegistry.AssetStatus.Delinquent90);
    }

    /// @notice Walk from the node `hash` (claiming `sums`) at position `index` up `path` to the root.
    function walk(bytes32 hash, TapeSums memory sums, uint256 index, ProofStep[] calldata path)
        internal
        pure
        returns (Walk memory w)
    {
        w.consistent = true;
        for (uint256 k = 0; k < path.length; ++k) {
            ProofStep calldata step = path[k];
            TapeSums memory parent = step.parentSums;
            if (w.consistent && !_isSum(parent, sums, step.siblingSums)) w.consistent = false;
            hash = (index >> k) & 1 == 0
                ? keccak256(abi.encode(hash, step.sibling, parent))
                : keccak256(abi.encode(step.sibling, hash, parent));
            sums = parent;
        }
        w.root = hash;
        w.rootSums = sums;
    }

    /// @notice True when `w` reached commitment `c`'s root and the root claims `c`'s sums.
    function reaches(Walk memory w, ServicingCommitment calldata c) internal pure returns (bool) {
        return w.root == c.root && keccak256(abi.encode(w.rootSums)) == keccak256(abi.encode(c.sums));
    }

    /// @notice Depth of the tree of `count` leaves: ceil(log2(count)), 0 for one leaf.
    function depth(uint256 count) internal pure returns (uint256 d) {
        while ((uint256(1) << d) < count) ++d;
    }

    /// @dev `parent` is `a + b` field by field; a sum that would overflow is never equal (so a tape with absurd
    /// figures can still be proven wrong rather than make the proof revert).
    function _isSum(TapeSums memory parent, TapeSums memory a, TapeSums calldata b) private pure returns (bool) {
        return _eq(parent.ending, a.ending, b.ending) && _eq(parent.scheduled, a.scheduled, b.scheduled)
            && _eq(parent.prepaid, a.prepaid, b.prepaid) && _eq(parent.defaulted, a.defaulted, b.defaulted)
            && _eq(parent.interest, a.interest, b.interest) && _eq(parent.recoveries, a.recoveries, b.recoveries)
            && _eq(parent.count, a.count, b.count);
    }

    function _eq(uint256 total, uint256 a, uint256 b) private pure returns (bool) {
        unchecked {
            uint256 sum = a + b;
            return sum >= a && sum == total;
        }
    }
}
