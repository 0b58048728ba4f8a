"""One loan of the deal's pool: found by loan id or asset id, its cut-off record (rebuilt from onboarding
calldata), its registry state now, its status history with evidence hashes and transactions, and its
Merkle proof against the pool's sealed root, checked by the registry itself (``verifyRecord``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from chainabs.chain.read.deal import DealReader, batch_call
from chainabs.chain.read.pool import TAPE_EVENTS, pool_tape, registry_contract, status_events
from chainabs.model.assets import ASSET_TYPES, LEAF_TYPES, STATUSES, TAPE_COLUMNS, loan_id_bytes
from chainabs.model.merkle import MerkleTree, leaf_hash


class LoanNotFound(LookupError):
    """No loan of the deal's pool has this loan id or asset id."""


@dataclass(frozen=True)
class LoanProof:
    """A loan's Merkle proof against the pool's sealed root and the registry's answer to ``verifyRecord``."""

    leaf: str
    proof: list[str]
    root: str
    sealed_root: str
    verified_on_chain: bool


def pool_tree(d: DealReader) -> MerkleTree:
    """The StandardMerkleTree of the pool's cut-off tape (leaves as the registry emitted them)."""
    def build() -> MerkleTree:
        leaves = [bytes.fromhex(x[2:]) for x in pool_tape(d)["leaf"]]
        return MerkleTree.from_leaf_hashes(leaves)

    return d.cached("pool_tree", build, depends=TAPE_EVENTS)


def _index(d: DealReader) -> dict[str, int]:
    """Loan id, asset id (decimal and 0x hex) -> row of the cut-off tape."""
    def build() -> dict[str, int]:
        tape = pool_tape(d)
        out: dict[str, int] = {}
        for row, (loan, asset) in enumerate(zip(tape["loan_id"], tape["asset_id"], strict=True)):
            out[str(loan).lower()] = row
            out[str(int(asset))] = row
            out[hex(int(asset))] = row
        return out

    return d.cached("loan_index", build, depends=TAPE_EVENTS)


def find_loan(d: DealReader, query: str) -> int:
    """Row of the cut-off tape of the loan whose loan id (case-insensitive) or asset id (decimal or 0x hex)
    is ``query``; :class:`LoanNotFound` otherwise."""
    key = query.strip().lower()
    if key.startswith("0x"):
        try:
            key = hex(int(key, 16))
        except ValueError:
            pass
    row = _index(d).get(key)
    if row is None:
        raise LoanNotFound(f"no loan with loan id or asset id {query.strip()!r} in pool {d.pool_id} of registry {d.registry}")
    return row


def record_of(row: pd.Series) -> tuple[Any, ...]:
    """The ``AssetRecord`` tuple (ABI values) of a cut-off tape row."""
    values: dict[str, Any] = {}
    for name in TAPE_COLUMNS:
        v = row[name]
        if name == "loan_id":
            values[name] = loan_id_bytes(str(v))
        elif name == "asset_type":
            values[name] = ASSET_TYPES[str(v)] if str(v) in ASSET_TYPES else int(v)
        elif name in ("obligor", "contract_hash", "schedule_hash"):
            values[name] = bytes.fromhex(str(v)[2:])
        elif name in ("origination_date", "maturity_date"):
            values[name] = int(pd.Timestamp(v).timestamp())
        else:
            values[name] = int(v)
    return tuple(values[c] for c in TAPE_COLUMNS)


def loan_record(d: DealReader, row: int) -> dict[str, Any]:
    """The loan's cut-off record (tape columns; dates as unix seconds) with its asset id and leaf."""
    tape = pool_tape(d)
    r = tape.iloc[row]
    record = dict(zip(TAPE_COLUMNS, record_of(r), strict=True))
    record["loan_id"] = str(r["loan_id"])
    record["asset_type"] = str(r["asset_type"])
    for h in ("obligor", "contract_hash", "schedule_hash"):
        record[h] = str(r[h])
    record["asset_id"] = int(r["asset_id"])
    record["leaf"] = str(r["leaf"])
    return record


def loan_state(d: DealReader, asset_id: int) -> dict[str, Any]:
    """The registry's ``assetInfo`` of the loan now: status, pool, outstanding principal, owner."""
    info = registry_contract(d).functions.assetInfo(int(asset_id)).call()
    return {"status": STATUSES[int(info[0])], "pool_id": int(info[1]), "principal": int(info[2]),
            "rate_bps": int(info[3]), "maturity_date": int(info[4]), "region": int(info[5]),
            "industry": int(info[6]), "owner": info[7]}


def loan_history(d: DealReader, asset_id: int) -> pd.DataFrame:
    """The loan's status changes and repurchase (block, time, tx, from, to, principal, evidence), in order."""
    events = status_events(d)
    mine = events[events["asset_id"] == int(asset_id)].drop(columns=["asset_id", "loan_id"]).reset_index(drop=True)
    times = d.block_times(mine["block"].astype(int).tolist())
    mine.insert(1, "time", [times[int(b)] for b in mine["block"]])
    return mine


def loan_proof(d: DealReader, row: int) -> LoanProof:
    """The loan's Merkle proof in the pool's tree, checked by the registry: ``verifyRecord(pool, record,
    proof)`` against the root sealed on chain (the record rebuilt from calldata must hash to its leaf)."""
    tape = pool_tape(d)
    record = record_of(tape.iloc[row])
    leaf = "0x" + leaf_hash((d.originator, *record), LEAF_TYPES).hex()
    if leaf != tape.iloc[row]["leaf"]:
        raise ValueError(f"loan {tape.iloc[row]['loan_id']}: its record does not hash to its registered leaf")
    tree = pool_tree(d)
    proof = tree.get_proof(row)
    reg = registry_contract(d).functions
    info, verified = batch_call(d.w3, [reg.poolInfo(d.pool_id),
                                       reg.verifyRecord(d.pool_id, record, [bytes.fromhex(p[2:]) for p in proof])])
    return LoanProof(leaf=leaf, proof=proof, root=tree.root, sealed_root="0x" + bytes(info[12]).hex(),
                     verified_on_chain=bool(verified))
