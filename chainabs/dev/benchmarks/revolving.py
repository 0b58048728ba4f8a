"""Revolving purchase benchmark: the gas of buying receivables into a revolving deal's pool on chain
(``AssetRegistry.sellIntoPool``: registration, live-pool concentration checks, the SPV paying the originator at
par from the pending report's principal collections), per receivable, for batches of 25, 50 and 100; and the
court's proofs against a bought receivable's purchase and against the cut-off tape (a loan's onboarding batch)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from chainabs.chain import connection as chain
from chainabs.chain.orchestration import close
from chainabs.chain.revolving import sell_into_pool
from chainabs.chain.sender import deploy
from chainabs.dev.benchmarks import benchmark
from chainabs.dev.sandbox import (
    books,
    onboarded_pool,
    revolving_offer,
    roll_rate_reports,
    sandbox_deal,
    serve,
    subscribe_all,
    with_revolving_period,
)

BATCHES = (25, 50, 100)
KNOWN = 25  # receivables of obligors already in the pool


def _revolving_deal(max_obligor_bps: int | None, track_obligors: bool) -> tuple[Any, Any, pd.DataFrame, Any]:
    """The consumer deal (1,000-loan book) with a revolving period, its period 1 collecting fast prepayments
    (report pending): (deal, originator, the offer of new receivables within the report's principal, tape)."""
    from brownie import project

    proj = project.get_loaded_projects()[0]
    wallets = chain.local_accounts(20)
    admin, originator, servicer = wallets[0], wallets[3], wallets[2]
    currency, _ = deploy(proj.TestStablecoin, "Test CNH", "CNHT", 6, sender=admin)
    spec, registry, pool_id, tape = onboarded_pool(originator, admin, servicer, track_obligors=track_obligors,
                                                   max_obligor_bps=max_obligor_bps)
    spec = with_revolving_period(spec)
    d = sandbox_deal(spec, wallets, currency, registry, pool_id, proj, Path(tempfile.mkdtemp(prefix="bench-")), tape)
    subscribe_all(d, wallets[10:20], admin)
    close(d, admin)
    report = serve(d, roll_rate_reports(d, cpr=0.95, months=1)[0]).report
    budget = report.scheduled_principal + report.prepayments
    offer = revolving_offer(d, 41, budget, prefix="BRV", book_loans=800)
    return d, originator, offer, tape


def _buy(d: Any, originator: Any, offer: pd.DataFrame, start: int, n: int) -> int:
    batch = offer.iloc[start : start + n]
    if len(batch) < n:
        raise RuntimeError(f"the offer holds {len(offer)} receivables within the budget, not {start + n}")
    return int(sell_into_pool(d.registry, d.pool_id, batch, originator).gas_used)


@benchmark("revolving_purchase", needs_chain=True)
def purchase_gas() -> dict[str, float]:
    """Batches of 25, 50 and 100 new receivables (each a transaction, the 21,000 base included), each of an
    obligor new to the pool, in the sample's pool (obligor limit 0.50%: the pool tracks its obligors, and every
    new obligor costs an index and a sum slot), then 25 receivables of obligors already in the pool; and the
    same batches in a pool without an obligor limit (no obligor tracking)."""
    out: dict[str, float] = {}
    for label, limit, track in (("", None, True), ("_no_obligor_limit", 10_000, False)):
        d, originator, offer, tape = _revolving_deal(limit, track)
        start = 0
        for n in BATCHES:
            gas = _buy(d, originator, offer, start, n)
            out[f"revolving_purchase{label}_gas_{n}"] = gas
            out[f"revolving_purchase{label}_gas_per_receivable_{n}"] = round(gas / n)
            start += n
        if track:
            # receivables of the pool's smallest obligors (each stays far within its limit)
            known = tape.sort_values("principal")["obligor"].iloc[:KNOWN]
            batch = offer.iloc[start : start + KNOWN].assign(obligor=known.to_numpy())
            gas = _buy(d, originator, batch, 0, KNOWN)
            out["revolving_purchase_known_obligors_gas_per_receivable_25"] = round(gas / KNOWN)
    return out


@benchmark("court_purchase_proof", needs_chain=True)
def purchase_proof_gas() -> dict[str, float]:
    """The gas of proving a false beginning of a bought receivable (``ServicingCourt.challengePurchase``, the
    21,000 base included): 100 receivables bought with period 1's principal; period 2's tape shows one of them
    beginning (and repaying) lower than its purchase principal and another higher by the same amount; the proof
    replays the batch of 100 leaves."""
    from brownie import project

    from chainabs.chain import court as courtlib
    from chainabs.chain.servicing import service_period
    from chainabs.model.servicing import period_report

    proj = project.get_loaded_projects()[0]
    wallets = chain.local_accounts(20)
    admin, originator, servicer = wallets[0], wallets[3], wallets[2]
    currency, _ = deploy(proj.TestStablecoin, "Test CNH", "CNHT", 6, sender=admin)
    spec, registry, pool_id, tape = onboarded_pool(originator, admin, servicer, track_obligors=False,
                                                   max_obligor_bps=10_000)
    d = sandbox_deal(with_revolving_period(spec), wallets, currency, registry, pool_id, proj,
                     Path(tempfile.mkdtemp(prefix="bench-")), tape)
    subscribe_all(d, wallets[10:20], admin)
    close(d, admin)
    report = serve(d, roll_rate_reports(d, cpr=0.95, months=1)[0]).report
    d.model.submit(report)
    batch = revolving_offer(d, 41, report.scheduled_principal + report.prepayments, prefix="BCP",
                            book_loans=800).head(100)
    if len(batch) < 100:
        raise RuntimeError(f"the offer holds {len(batch)} receivables within the budget, not 100")
    sell_into_pool(d.registry, d.pool_id, batch, originator)
    d.model.purchase(int(batch["principal"].sum()))
    books(d).add(batch)
    chain.advance_to(int(d.spv.paymentDate(1)))
    from chainabs.chain import spv as spvlib

    spvlib.close_period(d.spv, admin, d.model.pending)
    d.model.close_period()
    honest = books(d).next_period(roll_rate_reports(d, cpr=0.2, months=2)[1])
    ours = honest.loc[honest["loan_id"].astype(str).isin(batch["loan_id"].astype(str)), "scheduled_principal"]
    x, z = ours.astype("int64").nlargest(2).index
    delta = int(honest.at[z, "scheduled_principal"]) // 2
    false = honest.copy()
    false.loc[x, ["beginning_principal", "scheduled_principal"]] -= delta
    false.loc[z, ["beginning_principal", "ending_principal"]] += delta
    from chainabs.chain.sender import transact

    transact(d.currency.mint, servicer, period_report(false).cash_in, sender=d.roles["arranger"])
    committed = service_period(d.spv, false, servicer, state=books(d).registry).committed
    fault = next(f for f in courtlib.audit(d.spv, committed, registrations=True) if f.via == "purchase")
    tx = courtlib.prove(d.spv, committed, fault, wallets[19])
    return {"court_challenge_purchase_gas_100": int(tx.gas_used)}


@benchmark("court_cutoff_proof", needs_chain=True)
def cutoff_proof_gas() -> dict[str, float]:
    """The gas of proving a false period-1 beginning against the cut-off tape (``ServicingCourt.challengeCutoff``,
    the 21,000 base included) in the sample deal (1,000-loan book, onboarded in batches of the default size):
    period 1's tape moves 1,000 units of balance from one loan to another; the proof replays the loan's
    onboarding batch to the registry's checkpoint (the batch's leaf count is reported too)."""
    from brownie import project

    from chainabs.chain import court as courtlib
    from chainabs.chain import spv as spvlib
    from chainabs.chain.sender import transact
    from chainabs.model import servicing as sv

    proj = project.get_loaded_projects()[0]
    wallets = chain.local_accounts(20)
    admin, originator, servicer = wallets[0], wallets[3], wallets[2]
    currency, _ = deploy(proj.TestStablecoin, "Test CNH", "CNHT", 6, sender=admin)
    spec, registry, pool_id, tape = onboarded_pool(originator, admin, servicer, track_obligors=False)
    d = sandbox_deal(spec, wallets, currency, registry, pool_id, proj, Path(tempfile.mkdtemp(prefix="bench-")), tape)
    subscribe_all(d, wallets[10:20], admin)
    close(d, admin)
    false = sv.quiet_period(books(d).last, 1)
    a, b = false.index[false["status"] == "Performing"][:2]
    false.loc[a, ["beginning_principal", "ending_principal"]] += 1_000  # the pool total is unchanged
    false.loc[b, ["beginning_principal", "ending_principal"]] -= 1_000
    committed = sv.commit_tape(false, originator.address, 1)
    transact(d.currency.mint, servicer, committed.report.cash_in, sender=d.roles["arranger"])
    spvlib.submit_report(d.spv, servicer, committed.report, committed.commitment, "ipfs://bench-false-tape")
    lb = str(false.at[b, "loan_id"])
    fault = next(f for f in courtlib.audit(d.spv, committed) if f.kind == "Discontinuity" and f.loan_id == lb)
    tx = courtlib.prove(d.spv, committed, fault, wallets[19])
    batch = courtlib.onboarded(d.spv)[committed.leaf(lb).asset_id]
    return {"court_challenge_cutoff_gas": int(tx.gas_used), "court_challenge_cutoff_batch_leaves": len(batch.leaves)}
