"""Proving a false servicing report on chain (``ServicingCourt``, ``interfaces/IServicing.sol``).

Anyone holding a period's servicing tape (published at the report's ``tapeUri``) rebuilds its commitment,
checks it against the SPV's, audits its leaves against the asset registry and the previous period's tape
(:func:`audit`), and proves each fault found (:func:`prove`): a proven challenge marks the pending report
disputed, so it can neither close nor price a clean-up call until the trustee cancels it. The originator buys
a loan back out of the pool through the court too (:func:`buy_back`), at its last proven balance.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from chainabs.chain import spv as spvlib
from chainabs.chain.contracts import contract_at
from chainabs.chain.events import contract_logs
from chainabs.chain.registry import asset_states, pool_registrations, web3_contract
from chainabs.chain.sender import Receipt, transact
from chainabs.chain.servicing import deal_pool
from chainabs.model.assets import LEAF_TYPES, TAPE_COLUMNS, asset_id
from chainabs.model.merkle import leaf_hash
from chainabs.model.numbers import format_amount
from chainabs.model.servicing import (
    CommittedTape, Fault, ServicingError, continuity_faults, dilution_faults, leaf_faults, opening_tape,
    purchase_faults,
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


def pool_state(spv: Any, committed: CommittedTape, *, batches: PoolRead | None = None) -> pd.DataFrame:
    """The registry's status and principal of the tape's loans now (``NotInPool`` for an asset never registered
    in the deal's pool, or since gone to another; such an asset may not be registered at all, so only the pool's
    registrations, from its events, are read)."""
    registry, _, pool_id, _, found = batches or _batches(spv)
    pooled = {aid for b in found for aid in b.asset_ids}
    ids = [committed.leaf(lid).asset_id for lid in committed.loan_ids]
    known = [aid for aid in ids if aid in pooled]
    states = dict(zip(known, asset_states(registry, known), strict=True))
    rows = [states.get(aid, ("NotInPool", 0, 0)) for aid in ids]
    return pd.DataFrame({
        "loan_id": list(committed.loan_ids),
        "status": [s if pool == pool_id else "NotInPool" for s, _, pool in rows],
        "principal": [p for _, p, _ in rows],
    })


@dataclass(frozen=True)
class Purchase:
    """One asset's registration into the deal's pool (bought, or onboarded before the seal), with what the court
    needs to prove it (a ``PurchaseProof``: ``challengePurchase``, ``challengeCutoff``, ``challengeMissing``):
    its batch's first registration index, the pool's leaf chain before the batch, the batch's leaves, its
    position among them and its full record (``AssetRecord``). It is checked against the registry's checkpoint
    of the batch, i.e. the leaf chain the registry computed itself, never the root the pool was sealed with."""

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
    """``keccak256(abi.encode(before, after, period))``: the registry's checkpoint of a registration batch
    (period 0 for an onboarding batch)."""
    from eth_abi import encode
    from eth_utils import keccak

    return keccak(encode(["bytes32", "bytes32", "uint256"], [before, after, period]))


@dataclass(frozen=True)
class _Batch:
    """One ``AssetsRegistered`` event of the pool: registration indices from ``first_index``, the pool's leaf
    chain before and after it, its leaves and asset ids, its transaction, and whether that transaction sold
    receivables into the pool (``ReceivablesSold``)."""

    first_index: int
    before: bytes
    after: bytes
    leaves: tuple[bytes, ...]
    asset_ids: tuple[int, ...]
    tx_hash: bytes
    sold: bool


#: What :func:`_batches` reads: the registry (brownie and web3 contracts), pool id, originator, batches.
PoolRead = tuple[Any, Any, int, str, list[_Batch]]


def _batches(spv: Any) -> PoolRead:
    """The deal's registry (brownie and web3 contracts), pool id, originator and the pool's registration batches
    in chain order."""
    registry, pool_id, originator = deal_pool(spv)
    c = web3_contract(registry)
    sold = {bytes(e["transactionHash"])
            for e in contract_logs(c.events.ReceivablesSold, argument_filters={"poolId": pool_id})}
    out, before = [], bytes(32)
    for log in pool_registrations(registry, pool_id):
        args = log["args"]
        after = bytes(args["leafChain"])
        out.append(_Batch(int(args["firstIndex"]), before, after, tuple(bytes(x) for x in args["leaves"]),
                          tuple(int(x) for x in args["assetIds"]), bytes(log["transactionHash"]),
                          bytes(log["transactionHash"]) in sold))
        before = after
    return registry, c, pool_id, originator, out


#: The registry calls whose calldata carries a batch's records.
_BATCH_CALLS = ("sellIntoPool", "registerAndPool")


#: Words of one ``PackedRecord`` in calldata (a static struct of six 32-byte members).
_RECORD_BYTES = 6 * 32


def _batch_calls(c: Any, data: bytes, count: int) -> Iterator[int]:
    """Where the records of each registry call with ``count`` records start in a transaction's input ``data``: the
    input itself (a bare ``registerAndPool`` / ``sellIntoPool``), then that call's calldata carried inside it
    verbatim, as a contract wallet's transaction carries it (a Safe's ``execTransaction``, a multisend, a relayer's
    forward). Each place the input holds one of the two selectors is read as the registry's own decoder reads its
    calldata: the records array's offset taken as it is (a non-canonical encoding the registry accepted, e.g. an
    offset into the head, is read too), then its length and six words per record. Every place is tried (a cap
    would let bytes placed ahead of the true call hide it), each array is yielded once, and the caller stops at
    a candidate's first record that is not the batch's: a crafted input costs time linear in its size, and a
    decoy proves nothing."""
    selectors = tuple(_selector(c, name) for name in _BATCH_CALLS)
    starts = {0}
    for sel in selectors:
        at = data.find(sel, 1)
        while at != -1:
            starts.add(at)
            at = data.find(sel, at + 1)
    seen: set[int] = set()
    for at in sorted(starts):
        args = at + 4
        if data[at:args] not in selectors or args + 64 > len(data):
            continue
        head = args + int.from_bytes(data[args + 32 : args + 64], "big")
        if head + 32 > len(data) or int.from_bytes(data[head : head + 32], "big") != count:
            continue
        body = head + 32
        if body + count * _RECORD_BYTES <= len(data) and body not in seen:
            seen.add(body)
            yield body


def _selector(c: Any, name: str) -> bytes:
    """The 4-byte selector of the registry's function ``name``."""
    from eth_utils import function_abi_to_4byte_selector

    return bytes(function_abi_to_4byte_selector(next(f for f in c.abi if f.get("name") == name and f["type"] == "function")))


def _packed_record(data: bytes, at: int) -> tuple[Any, ...]:
    """The ``PackedRecord`` whose six words start at ``at`` of ``data`` (loan id, terms, dates, obligor, hashes)."""
    w = [data[at + 32 * k : at + 32 * (k + 1)] for k in range(6)]
    return (w[0], int.from_bytes(w[1], "big"), int.from_bytes(w[2], "big"), w[3], w[4], w[5])


def _records(c: Any, b: _Batch, originator: str) -> list[tuple[Any, ...] | None]:
    """The ``AssetRecord`` of each asset of batch ``b`` from its transaction's calldata (a ``registerAndPool`` or
    ``sellIntoPool`` call, bare or inside a contract wallet's call: :func:`_batch_calls`): the first call whose
    records all hash to the batch's leaves and asset ids; else the records that do of the call whose leading
    records matched longest, None for the others (and for every record when no call is there)."""
    from brownie import web3
    from hexbytes import HexBytes

    from chainabs.model.assets import unpack_record

    def record(body: int, k: int) -> tuple[Any, ...] | None:
        r = unpack_record(_packed_record(data, body + k * _RECORD_BYTES))
        ok = leaf_hash((originator, *r), LEAF_TYPES) == b.leaves[k] and asset_id(originator, r[0]) == b.asset_ids[k]
        return r if ok else None

    data = bytes(HexBytes(web3.eth.get_transaction(b.tx_hash)["input"]))
    n = len(b.leaves)
    best, longest = None, -1
    for body in _batch_calls(c, data, n):
        out: list[tuple[Any, ...] | None] = []
        for k in range(n):  # stop at the first record that is not the batch's
            r = record(body, k)
            if r is None:
                break
            out.append(r)
        if len(out) == n:
            return out
        if len(out) > longest:
            best, longest = body, len(out)
    return [None] * n if best is None else [record(best, k) for k in range(n)]


def purchases(spv: Any, periods: Sequence[int], *,
              batches: PoolRead | None = None) -> dict[int, tuple[int, Purchase]]:
    """Every receivable bought into the deal's pool while the report of one of ``periods`` was pending (0: the
    pool's owner had no servicing period), by asset id: (that period, its proof), rebuilt from the registry's
    ``AssetsRegistered`` and ``ReceivablesSold`` events, the ``sellIntoPool`` calldata and the registry's
    purchase checkpoints. A receivable whose record is not in its transaction's calldata (or does not hash to its
    leaf) is left out. ``batches``: :func:`_batches` already read."""
    return _registered(batches or _batches(spv), periods, sold=True)


def _registered(read: PoolRead, periods: Sequence[int], *, sold: bool) -> dict[int, tuple[int, Purchase]]:
    """The assets of the pool's batches that sold receivables into it (``sold``) or onboarded them, whose
    checkpoint is the registry's for one of ``periods``, by asset id: (that period, its proof)."""
    registry, c, pool_id, originator, found = read
    out: dict[int, tuple[int, Purchase]] = {}
    for b in found:
        if b.sold != sold:
            continue
        checkpoint = bytes(registry.purchaseCheckpoint(pool_id, b.first_index))
        period = next((p for p in periods if _checkpoint(b.before, b.after, p) == checkpoint), None)
        if period is None:
            continue
        records = _records(c, b, originator)
        if not sold and any(r is None for r in records):
            raise ServicingError(
                f"the cut-off batch from registration {b.first_index} (transaction 0x{b.tx_hash.hex()}) has records "
                "that are not in its transaction's calldata, bare or inside a wallet's call: the cut-off "
                "tape cannot be read from the chain, so nothing is audited against it")
        for position, record in enumerate(records):
            if record is not None:
                aid = b.asset_ids[position]
                out[aid] = (period, Purchase(aid, int(record[_PRINCIPAL]), b.first_index, b.before, b.leaves,
                                             position, record))
    return out


def onboarded(spv: Any, *, batches: PoolRead | None = None) -> dict[int, Purchase]:
    """Every asset onboarded into the deal's pool before its seal (``registerAndPool`` batches, checkpoint period
    0: their first servicing tape is period 1), by asset id, each with the proof of its cut-off record
    (``challengeCutoff``, ``challengeMissing``), rebuilt from the registry's events, the calldata and its
    checkpoints. The pool's sealed root is not used: a root that is not the registered leaves' proves nothing."""
    return {aid: p for aid, (_, p) in _registered(batches or _batches(spv), [0], sold=False).items()}


def cutoff_principals(spv: Any, *, batches: PoolRead | None = None) -> pd.DataFrame:
    """The cut-off tape as the registry recorded it (loan id and principal of every onboarded asset, from
    :func:`onboarded`), as a period-0 tape's ``loan_id`` / ``ending_principal`` for :func:`continuity_faults`."""
    from chainabs.model.assets import loan_id_text

    found = onboarded(spv, batches=batches)
    return pd.DataFrame({"loan_id": [loan_id_text(p.record[0]) for p in found.values()],
                         "ending_principal": [p.principal for p in found.values()]})


def purchases_in(spv: Any, period: int, *, batches: PoolRead | None = None) -> dict[int, Purchase]:
    """Every receivable bought into the deal's pool while ``period``'s report was pending (their first servicing
    tape is ``period + 1``), by asset id, each with its proof (see :func:`purchases`)."""
    return {aid: bought for aid, (_, bought) in purchases(spv, [period], batches=batches).items()}


_NO_LEAF: tuple[int, ...] = (0,) * 10


@dataclass(frozen=True)
class Missing:
    """An asset of the pool, registered before the pending report, that its tape leaves out: its loan id, where
    it was registered (``"cut-off"`` or the period of the report pending at its purchase) and the
    ``Registration`` proving it (``IServicing.sol``: the period of its batch's checkpoint, 0 for the cut-off,
    and its batch)."""

    asset_id: int
    loan_id: str
    source: str
    registration: tuple


def missing(spv: Any, committed: CommittedTape, *, batches: PoolRead | None = None) -> list[Missing]:
    """The assets still in the deal's pool, registered there before ``committed``'s report (onboarded before
    the seal, or bought while an earlier report was pending), that have no leaf in it (``challengeMissing``);
    assets bought while this report is pending belong to the next tape. Each is proven by its registration
    batch against the registry's checkpoint (not the sealed root: a root that leaves a record out hides
    nothing)."""
    from chainabs.model.assets import loan_id_text

    read = batches or _batches(spv)
    registry, _, pool_id, _, found = read
    in_tape = {committed.leaf(lid).asset_id for lid in committed.loan_ids}
    absent = [aid for b in found for aid in b.asset_ids if aid not in in_tape]
    if not absent:
        return []
    pooled = {aid for aid, (_, _, pool) in zip(absent, asset_states(registry, absent), strict=True) if pool == pool_id}
    if not pooled:
        return []
    registered = {**_registered(read, [0], sold=False), **_registered(read, range(committed.period), sold=True)}
    out: list[Missing] = []
    for b in found:
        for aid in b.asset_ids:
            if aid in pooled and aid in registered:
                period, p = registered[aid]
                source = f"period {period}'s purchases" if b.sold else "cut-off"
                out.append(Missing(aid, loan_id_text(p.record[0]), source, (period, p.as_abi())))
    return out


def dilutions(spv: Any, period: int) -> dict[int, int]:
    """What the deal's court recorded as diluted in ``period``, by asset id (the sum of its ``ReceivableDiluted``
    events for this deal and period: the court's ``assetDilution`` of that period)."""
    c = web3_contract(court_of(spv))
    out: dict[int, int] = {}
    for log in contract_logs(c.events.ReceivableDiluted, argument_filters={"spv": spv.address, "period": period}):
        aid = int(log["args"]["assetId"])
        out[aid] = out.get(aid, 0) + int(log["args"]["amount"])
    return out


def unbooked_dilutions(spv: Any, committed: CommittedTape) -> list[Fault]:
    """The tape's receivables diluted in its period whose leaf books less than the dilution
    (:func:`chainabs.model.servicing.dilution_faults`; none for a deal without dilution terms)."""
    is_set, repurchase, _ = court_of(spv).dilutionTerms(spv)
    if not is_set:
        return []
    found = dilutions(spv, committed.period)
    if not found:
        return []
    by_loan = {lid: found[committed.leaf(lid).asset_id] for lid in committed.loan_ids
               if committed.leaf(lid).asset_id in found}
    decimals = int(spvlib.currency_of(spv).decimals())
    return dilution_faults(committed, by_loan, repurchase=bool(repurchase), decimals=decimals)


def missing_faults(found: Sequence[Missing]) -> list[Fault]:
    """A ``Gap`` fault per missing asset (proven with ``challengeMissing``)."""
    return [Fault("Gap", m.loan_id, f"in the pool since {m.source} but not in the tape", via="missing")
            for m in found]


def _neighbours(committed: CommittedTape, aid: int) -> tuple:
    """The ``Neighbours`` of asset id ``aid`` in ``committed`` (whose leaves are sorted by asset id)."""
    import bisect

    leaves = committed.tree.leaves
    pos = bisect.bisect_left([leaf.asset_id for leaf in leaves], aid)
    below = (True, leaves[pos - 1].as_abi(), committed.tree.path_abi(pos - 1)) if pos > 0 else (False, _NO_LEAF, [])
    above = (True, leaves[pos].as_abi(), committed.tree.path_abi(pos)) if pos < len(leaves) else (False, _NO_LEAF, [])
    return (*below, *above)


def audit(spv: Any, committed: CommittedTape, *, previous: CommittedTape | None = None,
          cutoff: pd.DataFrame | None = None, registrations: bool = True) -> list[Fault]:
    """Every provable fault of the pending report's tape: its leaves against the registry, and its beginning
    balances against ``previous`` (last period's committed tape) or, in period 1, the cut-off tape; with
    ``registrations`` (the registry's events, calldata and batch checkpoints), the cut-off tape is the one the
    registry recorded (:func:`onboarded`; ``cutoff`` is then not used), the beginning balances of receivables
    bought while the previous period's report was pending are checked against their purchase principal
    (:func:`purchases_in`), and the pool's assets registered before the report that the tape leaves out are
    found (:func:`missing`); without, period 1 is checked against the ``cutoff`` tape given. The receivables the
    court recorded as diluted in the period whose leaf does not book the dilution are found too
    (:func:`unbooked_dilutions`).

    Raises :class:`ServicingError` if ``committed`` is not what the SPV committed for its period (the tape
    published is not the one reported: nothing can be proven with it)."""
    if not is_committed(spv, committed):
        raise ServicingError(f"period {committed.period}: this tape is not the one the SPV's report committed")
    batches = _batches(spv)  # the pool's registrations, read once
    faults = leaf_faults(committed, pool_state(spv, committed, batches=batches))
    if previous is not None:
        faults += continuity_faults(committed, previous.tape)
    elif committed.period == 1 and registrations:
        faults += continuity_faults(committed, cutoff_principals(spv, batches=batches))
    elif committed.period == 1 and cutoff is not None:
        faults += continuity_faults(committed, opening_tape(cutoff))
    if registrations:
        if committed.period > 1:
            bought = purchases_in(spv, committed.period - 1, batches=batches)
            faults += purchase_faults(committed, {lid: bought[committed.leaf(lid).asset_id].principal
                                                  for lid in committed.loan_ids
                                                  if committed.leaf(lid).asset_id in bought})
        faults += missing_faults(missing(spv, committed, batches=batches))
    faults += unbooked_dilutions(spv, committed)
    return faults


def _leaf(committed: CommittedTape, loan_id: str) -> tuple[tuple[int, ...], list[tuple]]:
    i = committed.index[str(loan_id)]
    return committed.tree.leaves[i].as_abi(), committed.tree.path_abi(i)


def prove(spv: Any, committed: CommittedTape, fault: Fault, sender: Any, *,
          previous: CommittedTape | None = None) -> Receipt:
    """Send the proof of ``fault`` (from :func:`audit`) to the deal's court; ``previous`` as for :func:`audit` (a
    discontinuity is proven against it, against the receivable's purchase or, in period 1, against the asset's
    onboarding batch as the registry recorded it)."""
    court = court_of(spv)
    if fault.kind == "Gap" and fault.via == "missing":
        found = next((m for m in missing(spv, committed) if m.loan_id == str(fault.loan_id)), None)
        if found is None:
            raise ServicingError(f"loan {fault.loan_id} is not an asset of the pool missing from the tape")
        return transact(court.challengeMissing, spv, committed.commitment, found.registration,
                        _neighbours(committed, found.asset_id), sender=sender)
    leaf, path = _leaf(committed, fault.loan_id)
    if fault.kind in LEAF_KINDS:
        return transact(court.challengeLeaf, spv, committed.commitment, leaf, path, sender=sender)
    if fault.kind == "UnbookedDilution":
        return transact(court.challengeDilution, spv, committed.commitment, leaf, path, sender=sender)
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
    if committed.period != 1:
        raise ServicingError(f"period {committed.period}: a discontinuity is proven against the previous period's "
                             "tape (give it)")
    registered = onboarded(spv).get(committed.leaf(fault.loan_id).asset_id)
    if registered is None:
        raise ServicingError(f"loan {fault.loan_id} was not onboarded into the deal's pool before its seal")
    return transact(court.challengeCutoff, spv, committed.commitment, leaf, path, registered.as_abi(), sender=sender)


def buy_back(spv: Any, originator: Any, loan_id: str, last: CommittedTape | None = None) -> Receipt:
    """The originator buys loan ``loan_id`` back out of the deal's pool (breach of representations): at its
    ending principal in ``last`` (the last closed period's committed tape; None before any period closed: at
    its registry principal, which the court accepts only while no servicing update or purchase has moved the
    pool since its seal, ``BalanceNotProven``; a receivable bought while that period's report was pending, which has no leaf in it:
    at its purchase principal, ``buyBackBought``) plus interest accrued since the last payment date; not a
    receivable diluted in the current period (``DilutedThisPeriod``). The cash
    joins the next report's collections; the approval of the price is given first."""
    registry, pool_id, owner = deal_pool(spv)
    aid = asset_id(owner, str(loan_id))
    info = registry.assetInfo(aid)
    period = int(spv.periodsClosed()) + 1
    diluted_in, amount = (int(x) for x in court_of(spv).assetDilution(spv, aid))
    if diluted_in == period:
        decimals = int(spvlib.currency_of(spv).decimals())
        raise ServicingError(f"loan {loan_id} was diluted by {format_amount(amount, decimals)} in period {period}: it "
                             "can be bought back once that period's report has booked the dilution and the period "
                             "has closed")
    if last is None and not cutoff_balances_proven(registry, pool_id):
        raise ServicingError(f"loan {loan_id}: before the first close a buy-back is priced at the registry's principal "
                             "only while no loan of the pool has moved since the seal; it has: buy it back after period "
                             "1 closes, with that period's tape")
    if last is not None and str(loan_id) not in last.index:
        # bought while the last closed report was pending: at its purchase principal
        bought = purchases_in(spv, last.period).get(aid)
        if bought is None:
            raise ServicingError(f"loan {loan_id} is neither in period {last.period}'s tape nor bought while its "
                                 "report was pending")
        return _paid_buy_back(spv, originator, bought.principal, int(info["rateBps"]),
                              lambda: transact(court_of(spv).buyBackBought, spv, bought.as_abi(), sender=originator))
    if last is None:
        leaf, path, commitment = (0, aid, 0, 0, 0, 0, 0, 0, 0, 0), [], spvlib.EMPTY_COMMITMENT
        principal = int(info["principal"])
    else:
        (leaf, path), commitment = _leaf(last, loan_id), last.commitment
        principal = last.leaf(loan_id).ending
    return _paid_buy_back(spv, originator, principal, int(info["rateBps"]),
                          lambda: transact(court_of(spv).buyBack, spv, leaf, path, commitment, sender=originator))


def cutoff_balances_proven(registry: Any, pool_id: int) -> bool:
    """The court's test before the first close (``ServicingCourt.buyBack``): nothing bought into the pool and its
    principal plus its repurchases equal to its cut-off principal, i.e. every loan still in it at its sealed
    cut-off principal (the registry's principals only go down)."""
    pool = registry.poolInfo(pool_id)
    repurchased = int(registry.servicingFigures(pool_id)["flows"]["repurchased"])
    return int(pool["registered"]) == int(pool["cutoffCount"]) \
        and int(pool["principal"]) + repurchased == int(pool["cutoffPrincipal"])


def _paid_buy_back(spv: Any, originator: Any, principal: int, rate_bps: int, send: Any) -> Receipt:
    """``send`` the buy-back with the price approved: the interest accrues on chain up to the transaction's block,
    so up to a year of it is allowed, then the approval is revoked."""
    currency = spvlib.currency_of(spv)
    transact(currency.approve, spv, principal + principal * rate_bps // 10_000 + 1, sender=originator)
    receipt = send()
    transact(currency.approve, spv, 0, sender=originator)
    return receipt


def faults_text(faults: Sequence[Fault]) -> list[str]:
    """One line per fault, for people."""
    return [f"{f.kind}: loan {f.loan_id}: {f.detail}" for f in faults]
