"""Revolving purchase benchmark: the gas of buying receivables into a revolving deal's pool on chain
(``AssetRegistry.sellIntoPool``: registration, live-pool concentration checks, the SPV paying the originator at
par from the pending report's principal collections), per receivable, for batches of 25, 50 and 100."""

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
