"""``chainabs demo --deal reit_rent``: the sample REIT end to end on a local chain (:mod:`chainabs.apps.reit`)."""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from chainabs.apps.reit import reit_onboarded, serve_rent
from chainabs.apps.reports import write_reports
from chainabs.chain import collateral, connection, orchestration
from chainabs.chain import spv as spvlib
from chainabs.chain.read.deal import read_deal
from chainabs.chain.sender import deploy, transact
from chainabs.chain.tokens import claim
from chainabs.model import numbers
from chainabs.model.collateral import identifier_hash
from chainabs.model.spec import load_deal
from chainabs.paths import REPORTS_DIR

#: Demo: quarters run, the quarter in which one tenant pays late (no rent from it), and the quarter after
#: which the servicer re-appraises the logistics park (+6%).
DEMO_QUARTERS = 8
LATE_QUARTER, LATE_LEASE = 3, "L-XH-02"
REAPPRAISAL_QUARTER, REAPPRAISAL_BPS = 4, 10_600


def run(out_dir: Path | None = None, *, console: Console | None = None, quarters: int = DEMO_QUARTERS,
        verbose: bool = False) -> dict[str, Any]:
    """The sample REIT end to end on the connected local chain: leases onboarded, properties recorded, units and
    the senior loan subscribed, closing, ``quarters`` quarters of rent (one tenant late once, one property
    re-appraised), chain == model every quarter, holders claim, reports (with NAV per unit) from chain data."""
    console = console or Console(width=max(Console().width, 110))
    steps = console if verbose else Console(file=io.StringIO())
    stage = orchestration.local_stage()
    web3, bchain, proj, wallets, roles, investors = (stage.web3, stage.chain, stage.project, stage.wallets,
                                                     stage.roles, stage.investors)
    arranger, originator, servicer = roles["arranger"], roles["originator"], roles["servicer"]
    base = load_deal("reit_rent")
    assert base.reit is not None
    dec, sym = base.currency.decimals, base.currency.symbol
    console.rule("[bold]ChainABS demo: REIT (leases on properties, rent to unit holders) on a local chain")
    currency, _ = deploy(proj.TestStablecoin, "Test CNH", sym, dec, sender=arranger)
    spec, registry, pool_id, tape, coll = reit_onboarded(base, arranger, originator, servicer)
    console.print(f"[bold]1. leases[/]: {len(tape)} leases on {len(spec.reit.properties)} properties in pool {pool_id}; "
                  f"properties recorded in {coll.address}, appraised "
                  f"{numbers.format_amount(collateral.pool_collateral(coll, pool_id)[1], dec)} {sym}")
    d = orchestration.stand_up(spec, roles, currency=currency, registry=registry, pool_id=pool_id,
                               kyc_agent=wallets[4], investors=[originator, *investors], project=proj,
                               manifest_root=Path(tempfile.mkdtemp(prefix="chainabs-reit-")),
                               closing_at=bchain.time(), out=steps, tape=tape)
    # The senior loan is shared by two lenders; the units by the originator (retained) and four investors.
    sizes = d.sizes()
    holders = {0: investors[:2]}
    orchestration.subscribe_classes(d, holders, arranger)
    units = sizes[-1]
    # subscribe_classes gave the originator every unit (retained); it sells 60% to four investors after closing.
    orchestration.close(d, arranger)
    sold = units * 6 // 10
    for k, inv in enumerate(investors[2:6]):
        transact(d.tokens[-1].transfer, inv, sold // 4, sender=originator)
    holders[1] = [originator, *investors[2:6]]
    console.print(f"[bold]2. closed[/]: senior loan {numbers.format_amount(sizes[0], dec)} {sym}, units "
                  f"{numbers.format_amount(units, dec)} (60% placed with four investors)")
    mismatches = 0
    claimed = 0
    for q in range(1, quarters + 1):
        unpaid = frozenset({LATE_LEASE}) if q == LATE_QUARTER else frozenset()
        served = serve_rent(d, unpaid, mint_from=arranger)
        d.model.submit(served.report)
        connection.advance_to(int(d.spv.paymentDate(q)))
        tx = spvlib.close_period(d.spv, investors[-1], served.report)
        closed = d.model.close_period()
        mismatches += int(spvlib.result_of(tx) != closed.result)
        for i, group in holders.items():
            for h in group:
                if d.tokens[i].withdrawableFundsOf(h) > 0:
                    claimed += sum(claim(d.tokens[i], h))
        if q == REAPPRAISAL_QUARTER:
            _reappraise(d, coll, servicer, int(web3.eth.get_block("latest")["timestamp"]))
        console.print(f"   quarter {q}: rent {numbers.format_amount(served.report.interest_collections, dec):>14} "
                      f"to units {numbers.format_amount(closed.result.residual, dec):>14} "
                      f"({numbers.format_amount(closed.result.residual * 10**dec // units, dec, places=6)} per unit)"
                      + ("  [yellow]one tenant late[/]" if unpaid else ""))
    table = spvlib.reconcile(d.spv, d.model)
    mismatches += int((~table["match"]).sum())
    data = read_deal(web3.provider.endpoint_uri, d.spv.address, start_block=0)
    out = out_dir or REPORTS_DIR / spec.name
    paths = write_reports(data, out, rules=spec.monitor, reit=str(coll.address),
                          extra_tables={"reconciliation_figures": table})
    nav = pd.read_csv(paths["reit_nav"]).iloc[0]
    console.print(f"[bold]3. reports[/] rebuilt from chain data in {out}: NAV "
                  f"{numbers.format_amount(int(nav['nav']), dec)} {sym}, "
                  f"{numbers.format_amount(int(nav['nav_per_unit']), dec, places=4)} per unit; "
                  f"{mismatches} mismatches between chain and model; {numbers.format_amount(claimed, dec)} claimed")
    return {"spv": str(d.spv.address), "collateral": str(coll.address), "mismatches": mismatches, "claimed": claimed,
            "reports": paths, "nav": nav.to_dict()}


def _reappraise(d: orchestration.LocalDeal, coll: Any, servicer: Any, now: int) -> None:
    """The servicer re-appraises the logistics park's leases at +6% (evidence: the valuer's report)."""
    from chainabs.model.assets import asset_id

    spec = d.spec
    assert spec.reit is not None
    first = spec.reit.properties[0]
    evidence = identifier_hash(f"valuation:{first.id}:{dt.datetime.fromtimestamp(now, dt.timezone.utc).date()}")
    for lease in spec.reit.leases:
        if lease.property != first.id:
            continue
        aid = asset_id(str(d.roles["originator"].address), lease.id)
        value = int(coll.collateralOf(aid)[2]) * REAPPRAISAL_BPS // 10_000
        collateral.reappraise(coll, servicer, aid, value, now, evidence)


