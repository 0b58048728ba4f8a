"""The REIT in the applications: standing up a REIT on a local chain (its leases onboarded as rent assets, each
lease's property recorded as real estate in the collateral registry), a servicer's quarter of rent, and the REIT
section of the deal report (distributions per unit,
the properties' latest appraisals, NAV per unit), rebuilt from chain data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from chainabs.apps import display
from chainabs.apps.display import Money
from chainabs.chain import collateral, orchestration
from chainabs.chain.reit import reit_tables
from chainabs.chain.sender import transact
from chainabs.chain.servicing import ServicedPeriod, service_period
from chainabs.model import reit, terms
from chainabs.model.collateral import check_collateral
from chainabs.model.servicing import period_report
from chainabs.model.spec import DealSpec
from chainabs.model.tape import select_eligible

KINDS = {"rent_collected": display.AMOUNT, "fees_paid": display.AMOUNT, "senior_interest": display.AMOUNT,
         "net_rental_income": display.AMOUNT, "per_unit": display.AMOUNT, "appraised_value": display.AMOUNT,
         "appraisal_date": display.TIME, "identifier_hash": display.HEX, "title_hash": display.HEX,
         "leases": display.COUNT, "reserve": display.AMOUNT, "senior_debt": display.AMOUNT, "nav": display.AMOUNT,
         "units": display.AMOUNT, "nav_per_unit": display.AMOUNT}


def reit_onboarded(spec: DealSpec, arranger: Any, originator: Any, servicer: Any) -> tuple[DealSpec, Any, int,
                                                                                        pd.DataFrame, Any]:
    """The REIT's leases onboarded into a new registry pool (sealed) and each lease's property recorded in a
    collateral registry: (spec sized to the pool, registry, pool id, lease tape, collateral registry)."""
    assert spec.reit is not None
    criteria = terms.criteria_from_spec(spec)
    tape = select_eligible(reit.lease_tape(spec.reit, spec.units), criteria, today=spec.dates.cut_off)
    if len(tape) != len(spec.reit.leases):
        raise ValueError(f"{spec.name}: {len(spec.reit.leases) - len(tape)} lease(s) fail the pool's criteria")
    registry, pool_id = orchestration.open_pool(arranger, originator, servicer, criteria)
    sized, _ = orchestration.fill_pool(registry, pool_id, tape, originator, spec, progress=False)
    coll = collateral.deploy_collateral_registry(registry, originator)
    records = check_collateral(reit.property_records(spec.reit, spec.units), list(tape["loan_id"]),
                               cutoff=spec.dates.cut_off)
    collateral.record_collateral(coll, originator, records)
    return sized, registry, pool_id, tape, coll


def serve_rent(d: orchestration.LocalDeal, unpaid: frozenset[str] = frozenset(), *,
               mint_from: Any | None = None, defaulted: frozenset[str] = frozenset(),
               sold: frozenset[str] = frozenset(), resolved: dict[str, int] | None = None) -> ServicedPeriod:
    """The servicer's quarter: every lease's rent for the period (but ``unpaid``'s) reported as collected, with
    the tape's commitment; ``defaulted``, ``sold``, ``resolved`` as :func:`chainabs.model.reit.rent_tape` says;
    ``mint_from``: the test currency's minter gives the servicer the cash first. The books (``d.book``) advance;
    the model is not touched."""
    spec = d.spec
    assert spec.reit is not None
    if d.book is None:
        d.book = d.servicing_book()
    book = d.book
    tape = reit.rent_tape(book.last, spec.reit, spec.units, book.period + 1, spec.dates.frequency_months, unpaid,
                          defaulted=defaulted, sold=sold, resolved=resolved)
    book.adopt(tape)
    if mint_from is not None:
        cash = period_report(tape).cash_in
        if cash:
            transact(d.currency.mint, d.roles["servicer"], cash, sender=mint_from)
    result = service_period(d.spv, tape, d.roles["servicer"], tape_uri=f"ipfs://reit/rent/{book.period}",
                            state=book.registry)
    book.registry = result.registry
    return result


def html_section(tables: dict[str, pd.DataFrame], money: Money) -> str:
    """The REIT section of the deal report."""
    n = tables["reit_nav"].iloc[0]
    parts = ["<h2>REIT: net asset value</h2>",
             "<p class='meta'>From the latest appraisals of the properties in the collateral registry, the reserve "
             "and the senior debt outstanding; per unit of one currency unit of face.</p>",
             display.key_value_table([
                 ("properties (latest appraisals)", money.amount(int(n["appraised_value"]))),
                 ("reserve", money.amount(int(n["reserve"]))), ("senior debt", money.amount(int(n["senior_debt"]))),
                 ("net asset value", money.amount(int(n["nav"]))), ("units", money.amount(int(n["units"]))),
                 ("NAV per unit", money.amount(int(n["nav_per_unit"]), 4))]),
             "<h2>REIT: distributions of net rental income</h2>",
             display.html_table(tables["reit_distributions"], money, kinds=KINDS),
             "<h2>REIT: properties</h2>", display.html_table(tables["reit_properties"], money, kinds=KINDS)]
    return "\n".join(parts)


def reit_report_section(d: Any, collateral_address: str | None, money: Money, out_dir: Path) -> tuple[str, dict[str, Path]]:
    """The deal report's hook: with the REIT's collateral registry, its tables (CSV) and section; else nothing."""
    if not collateral_address:
        return "", {}
    tables = reit_tables(d, collateral_address)
    paths = {}
    for name, df in tables.items():
        paths[name] = out_dir / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    return html_section(tables, money), paths
