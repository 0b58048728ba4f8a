"""The servicer's period and anyone's audit of it, as ``chainabs service`` and ``chainabs challenge``.

``service``: the servicer's whole period from its loan-level tape, in one resumable step (registry updates in
batches, the recovery steps by the disposal agent, the commitment and the report with the collections). A run
killed half way is finished by running the same command again: what is on chain is not sent twice.

``challenge``: anyone holding a period's tape (as published at the report's tape URI) checks it against the
SPV's commitment, the asset registry and the previous period's tape (or, in period 1, the cut-off tape rebuilt
from chain data), lists every provable fault, and with ``--prove`` sends each proof to the deal's court.

Signers (:mod:`chainabs.chain.signers`, as every command): ``SERVICER_PRIVATE_KEY`` / ``SERVICER_ACCOUNT``,
``DISPOSAL_AGENT_PRIVATE_KEY`` / ``DISPOSAL_AGENT_ACCOUNT`` (default: the servicer), ``CHALLENGER_PRIVATE_KEY`` /
``CHALLENGER_ACCOUNT``; on a local chain without them, the local role accounts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from chainabs.chain import connection, signers
from chainabs.chain import court as courtlib
from chainabs.chain import spv as spvlib
from chainabs.chain.contracts import contract_at
from chainabs.chain.servicing import UPDATE_BATCH, deal_pool, refuse_missing_loans, service_period
from chainabs.model.deal import Phase
from chainabs.model.numbers import format_amount
from chainabs.model.servicing import ServicingError, commit_tape, period_report, read_servicing_tape


def service(spv_address: str, tape_path: Path, *, tape_uri: str = "", console: Console | None = None,
            servicer: Any | None = None, agent: Any | None = None, batch: int | None = None) -> dict:
    """The servicer's period from the tape at ``tape_path`` on the connected chain; prints what it did.
    ``servicer`` / ``agent`` sign (default: from the environment, or a local chain's role accounts);
    ``batch``: registry updates per transaction (default :data:`chainabs.chain.servicing.UPDATE_BATCH`)."""
    console = console or Console()
    spv = contract_at("SPV", spv_address)
    registry, pool_id, _ = deal_pool(spv)
    if servicer is None:
        servicer = signers.brownie_signer("servicer")
        agent = signers.brownie_signer("disposal_agent", required=False)
    if int(spv.phase()) == Phase.ACTIVE and spvlib.pool_sold(spv, servicer):
        raise ServicingError(f"pool {pool_id} was sold by the clean-up call (the SPV refuses its reports: PoolSold): "
                             "there is no period to service; anyone may end the deal now (chainabs end)")
    tape = read_servicing_tape(tape_path)
    if int(spv.pendingServicingPeriod()) != int(spv.periodsClosed()) + 1:  # a report pending: nothing is sent anyway
        refuse_missing_loans(spv, tape)
    figures = registry.servicingFigures(pool_id)
    if agent is not None and str(figures[-1]).lower() != str(getattr(agent, "address", agent)).lower():
        agent = None  # not the pool's disposal agent: the servicer takes the recovery steps itself
    period = int(spv.periodsClosed()) + 1
    report = period_report(tape)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"period {period}: registry updates", total=None)
        done = service_period(spv, tape, servicer, disposal_agent=agent, tape_uri=tape_uri or tape_path.name,
                              on_batch=lambda n: bar.advance(task, n), batch=batch or UPDATE_BATCH)
    token = spvlib.currency_of(spv)
    dec, sym = int(token.decimals()), str(token.symbol())
    what = "submitted" if done.submitted is not None else "already pending (nothing sent)"
    console.print(f"period {period}: {len(done.updates)} registry updates, report {what}; "
                  f"pool {format_amount(report.pool_ending_balance, dec)} {sym}, collections {format_amount(report.cash_in, dec)} "
                  f"{sym}, gas {done.gas_used:,}")
    return {"period": period, "updates": len(done.updates), "submitted": done.submitted is not None,
            "gas_used": done.gas_used}


def challenge(spv_address: str, tape_path: Path, *, previous_path: Path | None = None,
              prove: bool = False, console: Console | None = None, keystore: str | None = None,
              account: str | None = None) -> list:
    """Audit the pending report's tape; with ``prove`` send the proof of the first fault found, signed by the
    challenger (``keystore``, brownie ``account`` or the environment: :func:`chainabs.chain.signers.select`).
    Returns the faults."""
    console = console or Console()
    spv = contract_at("SPV", spv_address)
    _, _, originator = deal_pool(spv)
    period = int(spv.pendingServicingPeriod())
    if period == 0:
        raise ServicingError("no report is pending: nothing to challenge")
    committed = commit_tape(read_servicing_tape(tape_path), originator, period)
    previous = None
    if period > 1:
        if previous_path is None:
            raise ServicingError(f"period {period}: give the previous period's tape (--previous) to check continuity")
        previous = commit_tape(read_servicing_tape(previous_path), originator, period - 1)
        if not courtlib.is_committed(spv, previous):
            raise ServicingError(f"the --previous tape is not the one period {period - 1}'s report committed")
    # period 1 is checked against the cut-off tape as the registry recorded it (its onboarding batches)
    faults = courtlib.audit(spv, committed, previous=previous)
    if not faults:
        console.print(f"period {period}: the tape is the committed one and agrees with the registry and the "
                      f"{'previous tape and its purchases' if previous is not None else 'registered cut-off tape'}"
                      " and books the court's dilutions: nothing to prove")
        return []
    for line in courtlib.faults_text(faults):
        console.print(f"period {period}: {line}", highlight=False)
    if prove:
        challenger = signers.brownie_signer("regulator", keystore=keystore, account=account)
        tx = courtlib.prove(spv, committed, faults[0], challenger, previous=previous)
        console.print(f"proven: {faults[0].kind} of loan {faults[0].loan_id} in tx {tx.tx_hash} "
                      "(the report cannot close until the trustee cancels it)")
    return faults
