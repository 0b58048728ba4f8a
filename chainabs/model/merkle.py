"""Merkle commitments compatible with OpenZeppelin's StandardMerkleTree (``@openzeppelin/merkle-tree``).

Leaf = ``keccak256(bytes.concat(keccak256(abi.encode(value...))))``, nodes hash their sorted pair, leaves are
sorted by hash and laid out like the JS library (complete binary tree in an array, leaves at the end in
reverse order), so roots, proofs and ``dump()`` output are interchangeable with
``StandardMerkleTree.of(values, leafEncoding)`` / ``StandardMerkleTree.load(dump)`` and OpenZeppelin's
``MerkleProof.verify`` on chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

Bytes32 = bytes


def _to_bytes32(node: bytes | str) -> bytes:
    if isinstance(node, str):
        node = bytes.fromhex(node[2:] if node.startswith("0x") else node)
    if len(node) != 32:
        raise ValueError(f"Merkle nodes must be 32 bytes, got {len(node)}")
    return bytes(node)


def to_hex(node: bytes) -> str:
    """``0x``-prefixed lowercase hex, the way the JS library prints nodes."""
    return "0x" + node.hex()


def hash_encoded_leaf(encoded: bytes) -> bytes:
    """Leaf hash of an already ``abi.encode``d value: keccak256(keccak256(encoded))."""
    return keccak(keccak(encoded))


def leaf_hash(value: Sequence[Any], leaf_types: Sequence[str]) -> bytes:
    """StandardMerkleTree leaf of ``value`` encoded with ``leaf_types``."""
    return hash_encoded_leaf(abi_encode(list(leaf_types), _abi_values(value, leaf_types)))


def node_hash(a: bytes, b: bytes) -> bytes:
    """Parent of two nodes: keccak256 of the pair in ascending byte order (commutative)."""
    return keccak(a + b) if a <= b else keccak(b + a)


def process_proof(leaf: bytes | str, proof: Iterable[bytes | str]) -> bytes:
    """Root reached from ``leaf`` by ``proof`` (OpenZeppelin ``MerkleProof.processProof``)."""
    node = _to_bytes32(leaf)
    for sibling in proof:
        node = node_hash(node, _to_bytes32(sibling))
    return node


def _abi_values(value: Sequence[Any], leaf_types: Sequence[str]) -> list[Any]:
    """Values in the form eth_abi expects (hex strings to bytes for bytesN, numeric strings to int)."""
    out: list[Any] = []
    for v, t in zip(value, leaf_types, strict=True):
        if t.startswith("bytes") and isinstance(v, str):
            raw = bytes.fromhex(v[2:] if v.startswith("0x") else v)
            out.append(raw)
        elif (t.startswith("uint") or t.startswith("int")) and isinstance(v, str):
            out.append(int(v, 0))
        else:
            out.append(v)
    return out


@dataclass(frozen=True)
class MerkleTree:
    """A StandardMerkleTree: ``tree`` is the node array (root first), ``tree_index[i]`` the array position of
    value ``i``'s leaf."""

    tree: tuple[bytes, ...]
    values: tuple[Any, ...]
    leaf_types: tuple[str, ...]
    tree_index: tuple[int, ...]

    @classmethod
    def of(cls, values: Sequence[Sequence[Any]], leaf_types: Sequence[str]) -> MerkleTree:
        """Build the tree of ``values`` (each a sequence matching ``leaf_types``), like the JS ``of``."""
        leaves = [leaf_hash(v, leaf_types) for v in values]
        return cls.from_leaf_hashes(leaves, values, leaf_types)

    @classmethod
    def from_leaf_hashes(
        cls, leaves: Sequence[bytes], values: Sequence[Any] | None = None, leaf_types: Sequence[str] = ()
    ) -> MerkleTree:
        """Build the tree from precomputed leaf hashes (``values`` optional, kept for ``dump``)."""
        n = len(leaves)
        if n == 0:
            raise ValueError("Expected non-zero number of leaves")
        order = sorted(range(n), key=lambda i: leaves[i])
        size = 2 * n - 1
        tree: list[bytes] = [b""] * size
        tree_index = [0] * n
        for rank, value_index in enumerate(order):
            pos = size - 1 - rank
            tree[pos] = _to_bytes32(leaves[value_index])
            tree_index[value_index] = pos
        for i in range(size - 1 - n, -1, -1):
            tree[i] = node_hash(tree[2 * i + 1], tree[2 * i + 2])
        return cls(
            tree=tuple(tree),
            values=tuple(values) if values is not None else tuple(to_hex(leaf) for leaf in leaves),
            leaf_types=tuple(leaf_types),
            tree_index=tuple(tree_index),
        )

    @property
    def root(self) -> str:
        """The root as ``0x`` hex (what ``StandardMerkleTree.root`` returns)."""
        return to_hex(self.tree[0])

    @property
    def root_bytes(self) -> bytes:
        return self.tree[0]

    def __len__(self) -> int:
        return len(self.tree_index)

    def leaf(self, i: int) -> str:
        """Leaf hash of value ``i``."""
        return to_hex(self.tree[self.tree_index[i]])

    def get_proof(self, i: int) -> list[str]:
        """Proof for value ``i`` (sibling hashes from leaf to root), as the JS ``getProof(i)``."""
        if not 0 <= i < len(self.tree_index):
            raise IndexError(f"value index {i} out of range 0..{len(self.tree_index) - 1}")
        pos = self.tree_index[i]
        proof: list[str] = []
        while pos > 0:
            sibling = pos - 1 if pos % 2 == 0 else pos + 1
            proof.append(to_hex(self.tree[sibling]))
            pos = (pos - 1) // 2
        return proof

    @staticmethod
    def verify(root: bytes | str, leaf_types: Sequence[str], value: Sequence[Any], proof: Sequence[str]) -> bool:
        """True when ``proof`` proves ``value`` under ``root`` (JS ``StandardMerkleTree.verify``)."""
        return process_proof(leaf_hash(value, leaf_types), proof) == _to_bytes32(root)

    @staticmethod
    def verify_leaf(root: bytes | str, leaf: bytes | str, proof: Sequence[str]) -> bool:
        """True when ``proof`` proves the leaf hash ``leaf`` under ``root``."""
        return process_proof(leaf, proof) == _to_bytes32(root)

    def dump(self) -> dict[str, Any]:
        """The JS library's ``standard-v1`` dump (loadable with ``StandardMerkleTree.load``)."""

        def jsonable(v: Any) -> Any:
            if isinstance(v, bytes):
                return to_hex(v)
            if isinstance(v, bool):
                return v
            if isinstance(v, int):
                return str(v)
            return v

        return {
            "format": "standard-v1",
            "leafEncoding": list(self.leaf_types),
            "tree": [to_hex(node) for node in self.tree],
            "values": [
                {"value": [jsonable(x) for x in value], "treeIndex": idx}
                for value, idx in zip(self.values, self.tree_index, strict=True)
            ],
        }
