"""Proving a false servicing report on chain (``ServicingCourt``, ``interfaces/IServicing.sol``).

Anyone holding a period's servicing tape (published at the report's ``tapeUri``) rebuilds its commitment,
checks it against the SPV's, audits its leaves against the asset registry and the previous period's tape
(:func:`audit`), and proves each fault found (:func:`prove`): a proven challenge marks the pending report
disputed, so it can neither close nor price a clean-up call until the trustee cancels it. The originator buys
a loan back out of the pool through the court too (:func:`buy_back`), at its last proven balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from chainabs.chain import spv as spvlib
from chainabs.chain.contracts import contract_at
from chainabs.chain.registry import asset_states
from chainabs.chain.sender import Receipt, transact
from chainabs.chain.servicing import deal_pool
from chainabs.model import tape as tp
from chainabs.model.assets import LEAF_TYPES, TAPE_COLUMNS, asset_id
from chainabs.model.merkle import leaf_hash
from chainabs.model.servicing import (
    CommittedTape, Fault, ServicingError, continuity_faults, leaf_faults, opening_tape, purchase_faults,
)
from chainabs.model.servicing_tree import TapeSums, commitment_hash

#: ``SPVTerms`` field holding the deal's court.
_COURT_FIELD = 9
#: Position of ``principal`` in an ``AssetRecord`` tuple.
_PRINCIPAL = TAPE_COLUMNS.index("principal")
#: Fault kinds proven with ``challengeLeaf``.
LEAF_KINDS = frozenset({"NotInPool", "StatusMismatch", "PrincipalMismatch", "BrokenIdentity"})


def court_of(spv: Any) -> Any:
    """The deal's ``ServicingCourt``."""
    return contract_at("ServicingCourt", spv.terms()[_COURT_FIELD])


def is_committed(spv: Any, committed: CommittedTape) -> bool:
    """Whether ``committed`` is the SPV's commitment of its period (the tape is the one the report committed)."""
    root, sums = committed.commitment
    return bytes(spv.servicingCommitment(committed.period)) == commitment_hash(root, TapeSums(*sums))


def pool_state(spv: Any, committed: CommittedTape) -> pd.DataFrame:
    """The registry's status and principal of the tape's loans now (``NotInPool`` for an asset of another pool)."""
    registry, pool_id, _ = deal_pool(spv)
    states = asset_states(registry, [committed.leaf(lid).asset_id for lid in committed.loan_ids])
    return pd.DataFrame({
        "loan_id": list(committed.loan_ids),
        "status": [s if pool == pool_id else "NotInPool" for s, _, pool in states],
        "principal": [p for _, p, _ in states],
    })


@dataclass(frozen=True)
class Purchase:
    """One receivable bought into the deal's pool, with what ``challengePurchase`` needs to prove it (a
    ``PurchaseProof``): its batch's first registration index, the pool's leaf chain before the batch, the
    batch's leaves, its position among them and its full record (``AssetRecord``)."""

    asset_id: int
    principal: int
    first_index: int
    before: bytes
    leaves: tuple[bytes, ...]
    position: int
    record: tuple[Any, ...]

    def as_abi(self) -> tuple:
        return (self.first_index, self.before, list(self.leaves), self.position, self.record)


def _checkpoint(before: bytes, after: bytes, period: int) -> bytes:
    """``keccak256(abi.encode(before, after, period))``: the registry's checkpoint of a purchase batch."""
    from eth_abi import encode
    from eth_utils import keccak

    return keccak(encode(["bytes32", "bytes32", "uint256"], [before, after, period]))


def purchases_in(spv: Any, period: int) -> dict[int, Purchase]:
    """Every receivable bought into the deal's pool while ``period``'s report was pending (their first servicing
    tape is ``period + 1``), by asset id, each with its proof: rebuilt from the registry's ``AssetsRegistered``
    events, the ``sellIntoPool`` calldata and the registry's purchase checkpoints (a batch of another period
    does not match its checkpoint and is left out; so is a receivable whose record is not in its transaction's
    calldata, or does not hash to its leaf)."""
    from brownie import web3

    registry, pool_id, originator = deal_pool(spv)
    c = web3.eth.contract(address=str(registry.address), abi=registry.abi)
    logs = sorted(c.events.AssetsRegistered.get_logs(from_block=0, argument_filters={"poolId": pool_id}),
                  key=lambda log: (log["blockNumber"], log["logIndex"]))
    sold = {bytes(e["transactionHash"])
            for e in c.events.ReceivablesSold.get_logs(from_block=0, argument_filters={"poolId": pool_id})}
    out: dict[int, Purchase] = {}
    before = bytes(32)
    for log in logs:
        args = log["args"]
        after, first = bytes(args["leafChain"]), int(args["firstIndex"])
        if bytes(log["transactionHash"]) in sold and bytes(registry.purchaseCheckpoint(pool_id, first)) == \
                _checkpoint(before, after, period):
            leaves = tuple(bytes(x) for x in args["leaves"])
            for position, record in enumerate(_sold_records(c, log["transactionHash"], len(leaves))):
                aid = int(args["assetIds"][position])
                if (leaf_hash((originator, *record), LEAF_TYPES) == leaves[position]
                        and asset_id(originator, record[0]) == aid):
                    out[aid] = Purchase(aid, int(record[_PRINCIPAL]), first, before, leaves, position, record)
        before = after
    return out


def _sold_records(c: Any, tx_hash: Any, n: int) -> list[tuple[Any, ...]]:
    """The ``AssetRecord`` tuples a ``sellIntoPool`` transaction sent, or none when its input is not that call
    (e.g. a contract wallet's transaction: the records are then not in its calldata)."""
    from brownie import web3

    from chainabs.model.assets import unpack_record

    try:
        fn, params = c.decode_function_input(web3.eth.get_transaction(tx_hash)["input"])
    except ValueError:
        return []
    if getattr(fn, "fn_name", "") != "sellIntoPool" or len(params["records"]) != n:
        return []
    return [unpack_record(packed) for packed in params["records"]]


def audit(spv: Any, committed: CommittedTape, *, previous: CommittedTape | None = None,
          cutoff: pd.DataFrame | None = None, purchases: bool = True) -> list[Fault]:
    """Every provable fault of the pending report's tape: its leaves against the registry, and its beginning
    balances against ``previous`` (last period's committed tape) or, in period 1, the ``cutoff`` tape, and, for
    receivables bought while the previous period's report was pending, against their purchase principal
    (``purchases``: read from the registry's events and checkpoints, :func:`purchases_in`).

    Raises :class:`ServicingError` if ``committed`` is not what the SPV committed for its period (the tape
    published is not the one reported: nothing can be proven with it)."""
    if not is_committed(spv, committed):
        raise ServicingError(f"period {committed.period}: this tape is not the one the SPV's report committed")
    faults = leaf_faults(committed, pool_state(spv, committed))
    if previous is not None:
        faults += continuity_faults(committed, previous.tape)
    elif committed.period == 1 and cutoff is not None:
        faults += continuity_faults(committed, opening_tape(cutoff))
    if purchases and committed.period > 1:
        bought = purchases_in(spv, committed.period - 1)
        faults += purchase_faults(committed, {lid: bought[committed.leaf(lid).asset_id].principal
                                              for lid in committed.loan_ids if committed.leaf(lid).asset_id in bought})
    return faults


def _leaf(committed: CommittedTape, loan_id: str) -> tuple[tuple[int, ...], list[tuple]]:
    i = committed.index[str(loan_id)]
    return committed.tree.leaves[i].as_abi(), committed.tree.path_abi(i)


def prove(spv: Any, committed: CommittedTape, fault: Fault, sender: Any, *, previous: CommittedTape | None = None,
          cutoff: pd.DataFrame | None = None) -> Receipt:
    """Send the proof of ``fault`` (from :func:`audit`) to the deal's court; ``previous`` / ``cutoff`` as for
    :func:`audit` (a discontinuity is proven against one of them)."""
    court = court_of(spv)
    leaf, path = _leaf(committed, fault.loan_id)
    if fault.kind in LEAF_KINDS:
        return transact(court.challengeLeaf, spv, committed.commitment, leaf, path, sender=sender)
    if fault.kind != "Discontinuity":
        raise ServicingError(f"{fault.kind}: not a fault of an honestly built tree (prove it with the court directly)")
    if fault.via == "purchase":
        bought = purchases_in(spv, committed.period - 1).get(committed.leaf(fault.loan_id).asset_id)
        if bought is None:
            raise ServicingError(f"loan {fault.loan_id} was not bought while period {committed.period - 1}'s "
                                 "report was pending")
        return transact(court.challengePurchase, spv, committed.commitment, leaf, path, bought.as_abi(), sender=sender)
    if previous is not None:
        before, before_path = _leaf(previous, fault.loan_id)
        return transact(court.challengeContinuity, spv, committed.commitment, leaf, path, previous.commitment,
                        before, before_path, sender=sender)
    if cutoff is None:
        raise ServicingError("a discontinuity is proven against the previous period's tape or the cut-off tape")
    _, _, originator = deal_pool(spv)
    row = [str(x) for x in cutoff["loan_id"]].index(str(fault.loan_id))
    proof = tp.tape_tree(cutoff, originator).get_proof(row)
    return transact(court.challengeCutoff, spv, committed.commitment, leaf, path, tp.to_records(cutoff.iloc[[row]])[0],
                    proof, sender=sender)


def buy_back(spv: Any, originator: Any, loan_id: str, last: CommittedTape | None = None) -> Receipt:
    """The originator buys loan ``loan_id`` back out of the deal's pool (breach of representations): at its
    ending principal in ``last`` (the last closed period's committed tape; None before any period closed: at
    its registry principal) plus interest accrued since the last payment date. The cash joins the next report's
    collections; the approval of the price is given first."""
    registry, _, owner = deal_pool(spv)
    aid = asset_id(owner, str(loan_id))
    info = registry.assetInfo(aid)
    if last is None:
        leaf, path, commitment = (0, aid, 0, 0, 0, 0, 0, 0, 0, 0), [], spvlib.EMPTY_COMMITMENT
        principal = int(info["principal"])
    else:
        (leaf, path), commitment = _leaf(last, loan_id), last.commitment
        principal = last.leaf(loan_id).ending
    # The interest accrues on chain up to the transaction's block: allow up to a year of it, then revoke.
    currency = spvlib.currency_of(spv)
    transact(currency.approve, spv, principal + principal * int(info["rateBps"]) // 10_000 + 1, sender=originator)
    receipt = transact(court_of(spv).buyBack, spv, leaf, path, commitment, sender=originator)
    transact(currency.approve, spv, 0, sender=originator)
    return receipt


def faults_text(faults: Sequence[Fault]) -> list[str]:
    """One line per fault, for people."""
    return [f"{f.kind}: loan {f.loan_id}: {f.detail}" for f in faults]
