"""chainabs.model.merkle against @openzeppelin/merkle-tree (node) and the OpenZeppelin proof rules."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainabs.model import synthetic
from chainabs.model import tape as tp
from chainabs.model.merkle import MerkleTree, leaf_hash, process_proof
from chainabs.model import assets

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")

JS = """
const { StandardMerkleTree } = require(process.argv[1]);
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const tree = StandardMerkleTree.of(input.values, input.types);
const loaded = StandardMerkleTree.load(input.dump);
console.log(JSON.stringify({
  root: tree.root,
  loadedRoot: loaded.root,
  proofs: input.values.map((_, i) => tree.getProof(i)),
  verified: input.values.every((v, i) => StandardMerkleTree.verify(tree.root, input.types, v, input.proofs[i])),
}));
"""


def _js(values, types, tree: MerkleTree) -> dict:
    payload = {"values": values, "types": list(types), "dump": tree.dump(),
               "proofs": [tree.get_proof(i) for i in range(len(values))]}
    lib = str(ROOT / "node_modules" / "@openzeppelin" / "merkle-tree")
    out = subprocess.run([NODE, "-e", JS, lib], input=json.dumps(payload), capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout)


def _jsonable(values):
    return [[("0x" + v.hex()) if isinstance(v, bytes) else (str(v) if isinstance(v, int) else v) for v in row]
            for row in values]


@pytest.mark.skipif(NODE is None, reason="node is required for the cross-check")
def test_tape_tree_equals_openzeppelin_js():
    tape = synthetic.generate_tape(25, seed=5)
    originator = "0x" + "ab" * 20
    tree = tp.tape_tree(tape, originator)
    assert MerkleTree.of(tp.leaf_values(tape, originator), assets.LEAF_TYPES).root == tree.root
    values = _jsonable(tp.leaf_values(tape, originator))
    js = _js(values, assets.LEAF_TYPES, tree)
    assert js["root"] == tree.root == js["loadedRoot"]
    assert js["proofs"] == [tree.get_proof(i) for i in range(len(values))]
    assert js["verified"] is True


@pytest.mark.skipif(NODE is None, reason="node is required for the cross-check")
@settings(max_examples=6, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**256 - 1), st.binary(min_size=32, max_size=32)), min_size=1,
                max_size=9))
def test_random_trees_equal_openzeppelin_js(rows):
    types = ("uint256", "bytes32")
    tree = MerkleTree.of(rows, types)
    js = _js(_jsonable(rows), types, tree)
    assert js["root"] == tree.root
    assert js["proofs"] == [tree.get_proof(i) for i in range(len(rows))]


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40, unique=True))
def test_every_proof_verifies_and_tampering_fails(leaves):
    tree = MerkleTree.from_leaf_hashes(leaves)
    for i, leaf in enumerate(leaves):
        proof = tree.get_proof(i)
        assert MerkleTree.verify_leaf(tree.root, leaf, proof)
        assert process_proof(leaf, proof) == tree.root_bytes
        if proof:
            bad = list(proof)
            bad[0] = "0x" + bytes(32).hex()
            assert not MerkleTree.verify_leaf(tree.root, leaf, bad)


def test_value_verify_and_errors():
    rows = [(1, b"\x01" * 32), (2, b"\x02" * 32), (3, b"\x03" * 32)]
    tree = MerkleTree.of(rows, ("uint256", "bytes32"))
    assert MerkleTree.verify(tree.root, ("uint256", "bytes32"), rows[1], tree.get_proof(1))
    assert not MerkleTree.verify(tree.root, ("uint256", "bytes32"), (9, b"\x02" * 32), tree.get_proof(1))
    assert tree.leaf(0) == "0x" + leaf_hash(rows[0], ("uint256", "bytes32")).hex()
    single = MerkleTree.of(rows[:1], ("uint256", "bytes32"))
    assert single.root == single.leaf(0) and single.get_proof(0) == []
    with pytest.raises(ValueError):
        MerkleTree.from_leaf_hashes([])
    with pytest.raises(IndexError):
        tree.get_proof(3)
