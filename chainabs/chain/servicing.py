"""The servicer's period on chain, from its loan-level servicing tape: the asset registry brought in line with
the tape (:func:`chainabs.model.servicing.registry_updates`, in batches, recovery steps optionally by the pool's
disposal agent), then the report submitted with the collections and the tape's sum-tree commitment, which the
SPV checks against the registry. Resumable: a re-run after a failure or a kill reads the registry, sends only
what is missing and does not submit twice. The tape itself (format, commitment, aggregation) is
:mod:`chainabs.model.servicing`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from chainabs.chain import spv as spvlib
from chainabs.chain.contracts import contract_at
from chainabs.chain.events import contract_logs
from chainabs.chain.registry import asset_states, pool_registrations
from chainabs.chain.sender import Receipt, transact
from chainabs.model.assets import asset_id
from chainabs.model.servicing import (
    CommittedTape, RegistryUpdate, ServicingError, apply_updates, commit_tape, registry_updates,
)
from chainabs.model.servicing_tree import commitment_hash, TapeSums
from chainabs.model.waterfall import PeriodReport

#: Registry updates per ``updateAssets`` transaction (about 30,000 gas each at most: well under a block).
UPDATE_BATCH = 150


@dataclass
class ServicedPeriod:
    """What :func:`service_period` did: the committed tape and its report, the registry updates this run sent,
    the report's receipt (None when it was already submitted) and the registry's state after."""

    committed: CommittedTape
    updates: list[RegistryUpdate]
    submitted: Receipt | None
    registry: pd.DataFrame
    receipts: list[Receipt] = field(default_factory=list)

    @property
    def report(self) -> PeriodReport:
        return self.committed.report

    @property
    def gas_used(self) -> int:
        """Gas of every transaction this run sent (registry batches, approval excluded, the report)."""
        return sum(r.gas_used for r in self.receipts) + (self.submitted.gas_used if self.submitted else 0)


def deal_pool(spv: Any) -> tuple[Any, int, str]:
    """The SPV's asset registry, pool id and originator."""
    terms = spv.terms()
    return contract_at("AssetRegistry", terms[1]), int(terms[2]), str(terms[3])


def registry_state(registry: Any, originator: str, loan_ids: Sequence[str]) -> pd.DataFrame:
    """The registry's status and principal of each loan (:data:`chainabs.model.servicing.REGISTRY_COLUMNS`)."""
    states = asset_states(registry, [asset_id(originator, str(lid)) for lid in loan_ids])
    return pd.DataFrame({"loan_id": [str(x) for x in loan_ids], "status": [s for s, _, _ in states],
                         "principal": [p for _, p, _ in states]})


def _spv_logs(spv: Any, event: str, **filters: Any) -> list[Any]:
    """The SPV's ``event`` logs (``filters``: indexed arguments) from the connected node, in chain order."""
    from chainabs.chain.connection import connected_web3

    s = connected_web3().eth.contract(address=str(spv.address), abi=spv.abi)
    return contract_logs(getattr(s.events, event), argument_filters=filters or None)


def period_recoveries(spv: Any, registry: Any, pool_id: int, period: int) -> dict[int, int]:
    """The recovered cash recorded on chain for ``period`` so far, per asset id: the pool's ``RecoveryRecorded``
    events after the close of the period before (every one of the pool for period 1: its servicing opens with the
    sale to the SPV). Whatever tape recorded them (a run killed half way, a run whose report was refused or
    cancelled, with the same tape or a corrected one), a run for the period sends only the rest."""
    from chainabs.chain.connection import connected_web3

    w3 = connected_web3()
    after = (-1, -1)
    if period > 1:
        closes = _spv_logs(spv, "PeriodClosed", period=period - 1)
        if not closes:  # it closed (the SPV's period is ``period``): a node that does not serve its log
            raise ServicingError(f"period {period}: the node returned no PeriodClosed event of period {period - 1}, "
                                 "so the period's recoveries already on chain cannot be told from earlier ones; "
                                 "use a node that serves the deal's whole log history")
        after = (int(closes[-1]["blockNumber"]), int(closes[-1]["logIndex"]))
    c = w3.eth.contract(address=str(registry.address), abi=registry.abi)
    out: dict[int, int] = {}
    for e in contract_logs(c.events.RecoveryRecorded, after[0] if after[0] >= 0 else None,
                           argument_filters={"poolId": pool_id}):
        if (int(e["blockNumber"]), int(e["logIndex"])) > after:
            aid = int(e["args"]["assetId"])
            out[aid] = out.get(aid, 0) + int(e["args"]["amount"])
    return out


#: Registry statuses of a loan whose principal is part of the pool balance (a bought-back loan left the pool; a
#: defaulted one is a claim, not pool balance).
LIVE_STATUSES = frozenset({"Performing", "Delinquent30", "Delinquent60", "Delinquent90"})


def live_loans_missing(spv: Any, registry: Any, pool_id: int, originator: str, period: int,
                       loan_ids: Sequence[str]) -> list[int]:
    """Asset ids of the pool's loans with principal outstanding in the registry that ``loan_ids`` (the tape of
    ``period``) leaves out: every live loan the pool held when the period began (the deal's closing for period 1,
    else the close of the period before) must be on the tape, or the report cannot agree with the pool.
    Receivables bought in since (revolving purchases, while a report is pending) join the next period's tape."""
    began = _spv_logs(spv, "PeriodClosed", period=period - 1) if period > 1 else _spv_logs(spv, "DealClosed")
    if not began:  # a node that does not serve the deal's log: no check rather than a false refusal
        return []
    start = int(began[-1]["blockNumber"])
    on_tape = {asset_id(originator, str(lid)) for lid in loan_ids}
    held = [int(a) for log in pool_registrations(registry, pool_id) if int(log["blockNumber"]) <= start
            for a in log["args"]["assetIds"]]
    others = [a for a in dict.fromkeys(held) if a not in on_tape]
    return [a for a, (status, principal, _) in zip(others, asset_states(registry, others), strict=True)
            if principal > 0 and status in LIVE_STATUSES]


def refuse_missing_loans(spv: Any, tape: pd.DataFrame) -> None:
    """Refuse (:class:`ServicingError`, one line) the tape of the SPV's next period when it leaves out a live loan
    of the pool (:func:`live_loans_missing`): checked before anything is sent, since the report would be refused
    only after the registry updates went through."""
    registry, pool_id, originator = deal_pool(spv)
    period = int(spv.periodsClosed()) + 1
    missing = live_loans_missing(spv, registry, pool_id, originator, period, [str(x) for x in tape["loan_id"]])
    if missing:
        shown = ", ".join(f"0x{a:064x}" for a in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ServicingError(f"period {period}: {len(missing)} loan(s) of pool {pool_id} with principal outstanding "
                             f"in the registry are not on the tape (asset ids {shown}): every live loan of the pool "
                             "must be on the period's tape; nothing was sent")


def send_updates(registry: Any, updates: Sequence[RegistryUpdate], sender: Any, *, batch: int = UPDATE_BATCH,
                 on_batch: Callable[[int], None] | None = None) -> list[Receipt]:
    """``updateAssets`` in batches (each reverts whole); ``on_batch(n)`` after each batch of ``n``."""
    receipts = []
    for start in range(0, len(updates), batch):
        chunk = updates[start : start + batch]
        receipts.append(transact(registry.updateAssets, [u.as_abi() for u in chunk], sender=sender))
        if on_batch is not None:
            on_batch(len(chunk))
    return receipts


def service_period(
    spv: Any,
    tape: pd.DataFrame,
    servicer: Any,
    *,
    disposal_agent: Any | None = None,
    tape_uri: str = "",
    state: pd.DataFrame | None = None,
    batch: int = UPDATE_BATCH,
    on_batch: Callable[[int], None] | None = None,
) -> ServicedPeriod:
    """The servicer's whole period from its tape (the SPV's next period): registry updates, then the report
    with the collections and the commitment. ``disposal_agent`` sends the recovery steps (else the servicer).
    ``state``: the registry's state of the pool if the caller tracks it (else read from chain); the period's
    recoveries already recorded are always read from chain. Safe to re-run, with the same tape or a corrected
    one, after a kill, a refused or a cancelled report: what is on chain is not sent again."""
    registry, pool_id, originator = deal_pool(spv)
    period = int(spv.periodsClosed()) + 1
    committed = commit_tape(tape, originator, period)
    root, sums = committed.commitment
    pending = int(spv.pendingServicingPeriod())
    if pending == period:
        if bytes(spv.servicingCommitment(period)) != commitment_hash(root, TapeSums(*sums)):
            raise ServicingError(f"period {period}: another report is pending; the trustee must cancel it first")
        now = state if state is not None else registry_state(registry, originator, committed.loan_ids)
        return ServicedPeriod(committed, [], None, now)
    if state is None:
        state = registry_state(registry, originator, committed.loan_ids)
    recorded = period_recoveries(spv, registry, pool_id, period)
    updates = registry_updates(state, committed, recorded)
    by_agent = [u for u in updates if disposal_agent is not None and u.recovery]
    by_servicer = [u for u in updates if not (disposal_agent is not None and u.recovery)]
    receipts = send_updates(registry, by_servicer, servicer, batch=batch, on_batch=on_batch)
    if by_agent:
        receipts += send_updates(registry, by_agent, disposal_agent, batch=batch, on_batch=on_batch)
    after = apply_updates(state, updates)
    submitted = spvlib.submit_report(spv, servicer, committed.report, committed.commitment, tape_uri)
    return ServicedPeriod(committed, updates, submitted, after, receipts)
