"""The servicing tape's Merkle sum tree: the Python builder (chainabs.servicing_tree) and the Solidity library
(contracts/servicing/ServicingTree.sol) agree on every hash and sum, honest paths reach the root consistently, and
a node that claims wrong sums is visible on the path through it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainabs.model.servicing_tree import EMPTY, LoanLeaf, SumTree, TapeSums, commitment_hash, depth, leaf_hash, with_sums


def _leaves(n: int, seed: int = 0) -> list[LoanLeaf]:
    out = []
    for i in range(n):
        begin = 1_000_000 + 7_919 * ((i * 31 + seed) % 97)
        sched = begin // 40
        status = (1, 1, 2, 3, 4, 5, 6)[(i + seed) % 7]
        if status == 5:  # defaulted this period: all of it, claim = what defaulted
            leaf = LoanLeaf(i, 10 + 3 * i, status, begin, 0, 0, begin, begin, 0, 0)
        elif status == 6:  # prepaid in full
            leaf = LoanLeaf(i, 10 + 3 * i, status, begin, 0, begin, 0, 0, begin // 90, 0)
        else:
            leaf = LoanLeaf(i, 10 + 3 * i, status, begin, sched, 0, 0, begin - sched, begin // 100, 0)
        out.append(leaf)
    return out


@pytest.fixture(scope="module")
def harness(ServicingTreeHarness, admin):
    return ServicingTreeHarness.deploy({"from": admin})


def test_python_tree_totals_are_the_leaves_sums():
    leaves = _leaves(11)
    tree = SumTree(3, leaves)
    total = TapeSums()
    for lf in leaves:
        total = total + lf.sums()
    assert tree.sums == total and tree.sums.count == 11
    assert tree.sums.ending == sum(lf.ending for lf in leaves if lf.status in (1, 2, 3, 4))
    assert len(tree.levels) == depth(11) + 1 == 5 and len(tree.levels[0]) == 16
    assert all(h == EMPTY for h, _ in tree.levels[0][11:])


@settings(max_examples=8, deadline=None)
@given(n=st.integers(1, 40), period=st.integers(1, 60), seed=st.integers(0, 50))
def test_solidity_walk_reaches_the_python_root(harness, n, period, seed):
    leaves = _leaves(n, seed)
    tree = SumTree(period, leaves)
    for i in {0, n // 2, n - 1}:
        assert bytes(harness.leafHash(period, leaves[i].as_abi())) == leaf_hash(period, leaves[i])
        root, sums, consistent = harness.walkLeaf(period, leaves[i].as_abi(), tree.path_abi(i))
        assert bytes(root) == tree.root and tuple(sums) == tree.sums.as_abi() and consistent
    assert bytes(harness.commitmentHash(tree.commitment)) == commitment_hash(tree.root, tree.sums)
    assert harness.depth(n) == depth(n)


def test_a_node_claiming_wrong_sums_shows_on_the_path(harness):
    leaves = _leaves(9)
    honest = SumTree(4, leaves)
    bad_sums = with_sums(honest.levels[2][0][1], ending=honest.levels[2][0][1].ending + 1)
    liar = SumTree(4, leaves, overrides={(1, 0): bad_sums})  # the parent of leaves 0..3 claims one unit more
    root, _, consistent = harness.walkLeaf(4, leaves[0].as_abi(), liar.path_abi(0))
    assert bytes(root) == liar.root and not consistent
    # Above the lie every node claims the sum of its children (wrong ones included), so a path that does not
    # pass below it looks consistent: a challenger picks a leaf under the lying node.
    root, _, consistent = harness.walkLeaf(4, leaves[8].as_abi(), liar.path_abi(8))
    assert bytes(root) == liar.root and consistent
    assert liar.sums.ending == honest.sums.ending + 1
