// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ServicingTree} from "../servicing/ServicingTree.sol";
import {LoanLeaf, ProofStep, ServicingCommitment, TapeSums} from "../../interfaces/IServicing.sol";

/// @title ServicingTreeHarness
/// @notice Tests only: exposes the internal `ServicingTree` library so the Python tree can be held equal to it.
contract ServicingTreeHarness {
    function leafHash(uint256 period, LoanLeaf calldata leaf) external pure returns (bytes32) {
        return ServicingTree.leafHash(period, leaf);
    }

    function commitmentHash(ServicingCommitment calldata c) external pure returns (bytes32) {
        return ServicingTree.commitmentHash(c);
    }

    /// @notice Walk from `leaf` up `path`: the root reached, its claimed sums, and whether every node on the way
    /// claims the sum of its children.
    function walkLeaf(uint256 period, LoanLeaf calldata leaf, ProofStep[] calldata path)
        external
        pure
        returns (bytes32 root, TapeSums memory sums, bool consistent)
    {
        ServicingTree.Walk memory w =
            ServicingTree.walk(ServicingTree.leafHash(period, leaf), ServicingTree.leafSums(leaf), leaf.index, path);
        return (w.root, w.rootSums, w.consistent);
    }

    function depth(uint256 count) external pure returns (uint256) {
        return ServicingTree.depth(count);
    }
}
