"""Gas of one period (the servicer's report + the close) of each of the seed's other deal types (issue 18): a
revolving receivables deal (period 1 reinvesting its principal, with a dilution recorded and repurchased), a green
ABS (the EV-loan sample with its use-of-proceeds ledger) and the REIT (a quarter of rent). Receipts include the
21,000 base cost; the report figures are the ``submitReport`` transaction only (not the servicer's registry
updates before it)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from chainabs.chain import connection as chain
from chainabs.chain import spv as spvlib
from chainabs.chain.orchestration import close, subscribe_classes
from chainabs.chain.revolving import dilute, sell_into_pool
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
from chainabs.model.assets import asset_id
from chainabs.model.spec import load_deal


def _setup() -> tuple[Any, list[Any], Any]:
    from brownie import project

    proj = project.get_loaded_projects()[0]
    wallets = chain.local_accounts(20)
    currency, _ = deploy(proj.TestStablecoin, "Test CNH", "CNHT", 6, sender=wallets[0])
    return proj, wallets, currency


def _close(d: Any, caller: Any) -> int:
    period = d.model.state.periods_closed + 1
    chain.advance_to(int(d.spv.paymentDate(period)))
    tx = spvlib.close_period(d.spv, caller, d.model.pending)
    d.model.close_period()
    return int(tx.gas_used)


@benchmark("deal_type_periods", needs_chain=True)
def period_gas() -> dict[str, float]:
    """One period of each new deal type, on a fresh local deal each (periods 1 and 2 of each: the first creates
    the period books)."""
    proj, wallets, currency = _setup()
    admin, servicer, originator = wallets[0], wallets[2], wallets[3]
    out: dict[str, float] = {}

    # Revolving receivables (consumer sandbox book, dilutions repurchased): a dilution, the report, a purchase
    # of 50 receivables with the period's principal, the close; then period 2 without purchases.
    spec, registry, pool_id, tape = onboarded_pool(originator, admin, servicer, track_obligors=True)
    spec = with_revolving_period(spec, days=70, dilution="repurchase", dilution_limit_bps=500)
    d = sandbox_deal(spec, wallets, currency, registry, pool_id, proj, Path(tempfile.mkdtemp(prefix="bench-")), tape)
    subscribe_all(d, wallets[10:20], admin)
    close(d, admin)
    served, out["dilution_repurchase_gas"] = _serve_diluted(d, originator, 10**6)
    out["revolving_report_gas"] = int(served.submitted.gas_used)
    report = served.report
    batch = revolving_offer(d, 43, report.scheduled_principal + report.prepayments, prefix="BDT").head(50)
    out["revolving_purchase_gas_50"] = int(sell_into_pool(d.registry, d.pool_id, batch, originator).gas_used)
    d.model.purchase(int(batch["principal"].sum()))
    books(d).add(batch)
    out["revolving_close_gas"] = _close(d, admin)
    served = serve(d, roll_rate_reports(d, cpr=0.2, months=2)[1])
    d.model.submit(served.report)
    out["revolving_report_gas_2"] = int(served.submitted.gas_used)
    out["revolving_close_gas_2"] = _close(d, admin)

    # Green ABS (the EV-loan sample, 300 loans): periods 1 and 2.
    spec, registry, pool_id, tape = onboarded_pool(originator, admin, servicer, "green_auto_loans", loans=300,
                                                   seed=13, prefix="BGR")
    d = sandbox_deal(spec, wallets, currency, registry, pool_id, proj, Path(tempfile.mkdtemp(prefix="bench-")), tape)
    subscribe_all(d, wallets[10:20], admin)
    close(d, admin)
    for period in (1, 2):
        served = serve(d, roll_rate_reports(d, cpr=0.1, months=period)[period - 1])
        d.model.submit(served.report)
        out[f"green_report_gas_{period}"] = int(served.submitted.gas_used)
        out[f"green_close_gas_{period}"] = _close(d, admin)

    # REIT (the sample: eight leases): quarters 1 and 2, then an all-vacant quarter.
    from chainabs.apps.reit import reit_onboarded, serve_rent

    spec, registry, pool_id, tape, _ = reit_onboarded(load_deal("reit_rent"), admin, originator, servicer)
    d = sandbox_deal(spec, wallets, currency, registry, pool_id, proj, Path(tempfile.mkdtemp(prefix="bench-")), tape)
    subscribe_classes(d, {0: wallets[10:12]}, admin)
    close(d, admin)
    vacant = frozenset(x.id for x in spec.reit.leases)
    for period, unpaid in ((1, frozenset()), (2, frozenset()), (3, vacant)):
        served = serve_rent(d, unpaid, mint_from=admin)
        d.model.submit(served.report)
        name = "vacant" if unpaid else str(period)
        out[f"reit_report_gas_{name}"] = int(served.submitted.gas_used)
        out[f"reit_close_gas_{name}"] = _close(d, admin)
    return out


def _serve_diluted(d: Any, originator: Any, amount: int) -> tuple[Any, int]:
    """Period 1 of the revolving deal with ``amount`` of a performing receivable diluted and repurchased by the
    originator (before the report; its prepaid principal in the tape): (what was served, the dilution's gas)."""
    from chainabs.dev.sandbox import serve_tape
    from chainabs.model.servicing import allocate_period

    book = books(d)
    projected = roll_rate_reports(d, cpr=0.3, months=1)[0]
    t = allocate_period(book.last, book.rates, projected, 1, default_period=book.default_period, seed=book.seed)
    i = int(t.index[(t["status"] == "Performing") & (t["ending_principal"] > 2 * amount)][0])
    aid = asset_id(originator.address, str(t.loc[i, "loan_id"]))
    principal = int(d.registry.assetInfo(aid)["principal"])
    gas = int(dilute(d.spv, aid, amount, b"\x01" * 32, originator, currency=d.currency).gas_used)
    d.model.dilute(amount, principal)
    t.loc[i, ["prepaid_principal", "ending_principal"]] += [amount, -amount]
    served = serve_tape(d, t)
    d.model.submit(served.report)
    return served, gas
