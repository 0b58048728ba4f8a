"""Revolving purchase benchmark: the gas of buying receivables into a revolving deal's pool on chain
(``AssetRegistry.sellIntoPool``: registration, live-pool concentration checks, the SPV paying the originator at
par from the pending report's principal collections), per receivable, for batches of 25, 50 and 100."""

from __future__ import annotations

import tempfile
from pathlib import Path

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


@benchmark("revolving_purchase", needs_chain=True)
def purchase_gas() -> dict[str, float]:
    """The consumer deal (1,000-loan book) with a revolving period; period 1 collects fast prepayments, then the
    originator sells batches of new receivables into the pool (each batch a transaction, the 21,000 base cost
    included)."""
    from brownie import project

    proj = project.get_loaded_projects()[0]
    wallets = chain.local_accounts(20)
    admin, originator, servicer = wallets[0], wallets[3], wallets[2]
    currency, _ = deploy(proj.TestStablecoin, "Test CNH", "CNHT", 6, sender=admin)
    spec, registry, pool_id, tape = onboarded_pool(originator, admin, servicer, track_obligors=True)
    spec = with_revolving_period(spec)
    d = sandbox_deal(spec, wallets, currency, registry, pool_id, proj, Path(tempfile.mkdtemp(prefix="bench-")), tape)
    subscribe_all(d, wallets[10:20], admin)
    close(d, admin)
    report = serve(d, roll_rate_reports(d, cpr=0.95, months=1)[0]).report
    budget = report.scheduled_principal + report.prepayments
    offer = revolving_offer(d, 41, budget, prefix="BRV", book_loans=800)
    out: dict[str, float] = {}
    start = 0
    for n in BATCHES:
        batch = offer.iloc[start : start + n]
        if len(batch) < n:
            raise RuntimeError(f"the offer holds {len(offer)} receivables within the budget, not {sum(BATCHES)}")
        gas = int(sell_into_pool(d.registry, d.pool_id, batch, originator).gas_used)
        out[f"revolving_purchase_gas_{n}"] = gas
        out[f"revolving_purchase_gas_per_receivable_{n}"] = round(gas / n)
        start += n
    return out
