"""The servicing tape's Merkle sum tree (``interfaces/IServicing.sol``, ``contracts/servicing/ServicingTree.sol``).

A period report commits its loan-level servicing tape as a sum tree: leaves are the pool's assets sorted by
asset id, each node hashes its children with the sums it claims, and the root's sums are the report's figures.
Anyone holding the tape rebuilds the tree, checks the commitment, and proves a false figure on chain with a
path (:meth:`SumTree.path`). Pure: no web3, no brownie (keccak from eth-utils, encoding from eth-abi).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

from eth_utils import keccak

#: ``IAssetRegistry.AssetStatus`` values a leaf can carry, and the ones whose ending principal is pool balance.
ACTIVE_STATUSES = frozenset({1, 2, 3, 4})  # Performing .. Delinquent90
SUMS_TYPE = "(uint256,uint256,uint256,uint256,uint256,uint256,uint256)"
LEAF_TYPE = "(uint256,uint256,uint8,uint256,uint256,uint256,uint256,uint256,uint256,uint256)"
EMPTY = b"\0" * 32


@dataclass(frozen=True)
class TapeSums:
    """Totals of a subtree (``TapeSums``): the pool balance (ending principal of performing and delinquent
    assets), the period's flows and the number of leaves."""

    ending: int = 0
    scheduled: int = 0
    prepaid: int = 0
    defaulted: int = 0
    interest: int = 0
    recoveries: int = 0
    count: int = 0

    def __add__(self, other: TapeSums) -> TapeSums:
        return TapeSums(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def as_abi(self) -> tuple[int, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True)
class LoanLeaf:
    """One asset's row of a period's tape (``LoanLeaf``)."""

    index: int
    asset_id: int
    status: int
    beginning: int
    scheduled: int
    prepaid: int
    defaulted: int
    ending: int
    interest: int
    recoveries: int

    def as_abi(self) -> tuple[int, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    def sums(self) -> TapeSums:
        """What the leaf contributes (its ending principal only while performing or delinquent)."""
        return TapeSums(self.ending if self.status in ACTIVE_STATUSES else 0, self.scheduled, self.prepaid,
                        self.defaulted, self.interest, self.recoveries, 1)


@dataclass(frozen=True)
class ProofStep:
    """One level of a path (``ProofStep``): the sibling's hash and claimed sums, and the parent's claimed sums."""

    sibling: bytes
    sibling_sums: TapeSums
    parent_sums: TapeSums

    def as_abi(self) -> tuple:
        return (self.sibling, self.sibling_sums.as_abi(), self.parent_sums.as_abi())


def _words(values: Sequence[int]) -> bytes:
    """``abi.encode`` of unsigned integers (static: one big-endian 32-byte word each)."""
    return b"".join(int(v).to_bytes(32, "big") for v in values)


def leaf_hash(period: int, leaf: LoanLeaf) -> bytes:
    """keccak256(abi.encode(period, leaf)) (a static tuple: its fields' words; equal to eth-abi's encoding of
    ``(uint256, LEAF_TYPE)``, see the parity test)."""
    return keccak(_words((period, *leaf.as_abi())))


def node_hash(left: bytes, right: bytes, sums: TapeSums) -> bytes:
    """keccak256(abi.encode(left, right, sums)) with the sums the node claims."""
    return keccak(bytes(left) + bytes(right) + _words(sums.as_abi()))


def commitment_hash(root: bytes, sums: TapeSums) -> bytes:
    """keccak256(abi.encode(root, sums)): what the SPV stores per period."""
    return keccak(bytes(root) + _words(sums.as_abi()))


def depth(count: int) -> int:
    """ceil(log2(count)), 0 for one leaf (``ServicingTree.depth``)."""
    d = 0
    while (1 << d) < count:
        d += 1
    return d


class SumTree:
    """The tree of one period's leaves (sorted by asset id, indices 0..n-1), honest or deliberately altered.

    ``overrides`` replaces the claimed sums of given nodes ((level, position) -> sums, level 0 = leaves' parents
    ... the root) to build a dishonest tree in tests; honest trees leave it empty.
    """

    def __init__(self, period: int, leaves: Sequence[LoanLeaf],
                 overrides: dict[tuple[int, int], TapeSums] | None = None) -> None:
        if [leaf.index for leaf in leaves] != list(range(len(leaves))):
            raise ValueError("leaves must carry indices 0..n-1 in order")
        self.period = period
        self.leaves = list(leaves)
        n = len(leaves)
        width = 1 << depth(max(n, 1))
        level: list[tuple[bytes, TapeSums]] = [(leaf_hash(period, lf), lf.sums()) for lf in leaves]
        level += [(EMPTY, TapeSums())] * (width - n)
        self.levels: list[list[tuple[bytes, TapeSums]]] = [level]
        overrides = overrides or {}
        k = 0
        while len(level) > 1:
            up = []
            for j in range(0, len(level), 2):
                (lh, ls), (rh, rs) = level[j], level[j + 1]
                sums = overrides.get((k, j // 2), ls + rs)
                up.append((node_hash(lh, rh, sums), sums))
            level = up
            self.levels.append(level)
            k += 1

    @property
    def root(self) -> bytes:
        return self.levels[-1][0][0]

    @property
    def sums(self) -> TapeSums:
        return self.levels[-1][0][1]

    @property
    def commitment(self) -> tuple[bytes, tuple[int, ...]]:
        """``ServicingCommitment`` (root, sums) as the SPV takes it."""
        return (self.root, self.sums.as_abi())

    def path(self, index: int) -> list[ProofStep]:
        """The path from position ``index`` to the root."""
        steps = []
        for k in range(len(self.levels) - 1):
            pos = index >> k
            sibling = self.levels[k][pos ^ 1]
            parent = self.levels[k + 1][pos >> 1]
            steps.append(ProofStep(sibling[0], sibling[1], parent[1]))
        return steps

    def path_abi(self, index: int) -> list[tuple]:
        return [s.as_abi() for s in self.path(index)]


def with_sums(sums: TapeSums, **changes: int) -> TapeSums:
    """``sums`` with some fields changed (for building dishonest trees in tests)."""
    return replace(sums, **changes)
