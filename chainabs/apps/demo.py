"""The main job behind ``make demo``: the consumer-loan deal end to end on a local chain.

1. A seeded synthetic tape of consumer loans is validated and onboarded into the asset registry (one
   certificate per loan, eligibility enforced on chain, pool sealed with its Merkle root).
2. The deal (identity registry, one tranche token per class, the SPV) is deployed from
   ``deals/consumer_loan.yaml`` sized to the pool, through the resumable deployment plan.
3. Investors pass KYC and subscribe (payment and delivery in one transaction); the originator retains the
   equity class in the lock-up partition; the deal closes (true sale of the pool, reserve funded).
4. Every month the servicer deposits the collections the cash-flow simulator projects (roll-rate
   delinquency, prepayments, defaults, recoveries) and anyone closes the period once its payment date has
   come; investors claim. The on-chain figures are reconciled with the Python model every period.
5. At the clean-up call level the originator buys the rest of the pool back; the deal ends with nothing
   left in the SPV; reports for investors and the regulator are rebuilt from chain data alone.

``deal="green_auto_loans"`` runs the green sample (the auto-loan deal with a use-of-proceeds ledger: the net
proceeds allocated to the spec's projects, impact reported, allocation and impact reports rebuilt from chain
data); ``deal="auto_loan"`` runs the secured sample instead (``chainabs demo --deal auto_loan``): every car is recorded
in the collateral registry before the sale, defaulted loans go through recovery, repossession and sale by the
disposal agent, and the demo ends with each disposal's timeline and the pool's recovery rates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from chainabs.apps import demo_revolving
from chainabs.apps import green as green_app
from chainabs.apps import market as market_app
from chainabs.apps.display import print_table
from chainabs.apps.reports import write_reports
from chainabs.apps.verify import verify_servicing_tape
from chainabs.chain import connection, orchestration
from chainabs.chain import servicing as servicer_side
from chainabs.chain import spv as spvlib
from chainabs.chain.deploy import Manifest, deployments_root, move_aside
from chainabs.chain.read.deal import read_deal
from chainabs.chain import collateral
from chainabs.chain import documents as documentlib
from chainabs.chain import invoices
from chainabs.chain import registry as registrylib
from chainabs.chain.read.pool import pool_report, recovery_timeline
from chainabs.chain.sender import deploy, transact
from chainabs.chain.tokens import claim
from chainabs.model import delinquency, revolving_path, servicing, terms
from chainabs.model.assumptions import Assumptions
from chainabs.model.collections import period_reports
from chainabs.model.spec import DEALS_DIR, load_deal
from chainabs.model.assets import is_secured
from chainabs.model.collateral import check_collateral, recovery_rates
from chainabs.model.numbers import format_amount
from chainabs.model.synthetic import generate_collateral, generate_tape
from chainabs.model.tape import TapeValidationError, select_eligible
from chainabs.paths import REPORTS_DIR

#: Demo assumptions (annual rates): a consumer pool with some stress in the middle of its life.
DEMO_ASSUMPTIONS = Assumptions(cpr=0.12, severity=0.65, recovery_lag=3)
#: The secured sample: fewer borrowers fall behind, and the car's sale recovers more of a default.
SECURED_ASSUMPTIONS = Assumptions(cpr=0.10, severity=0.45, recovery_lag=3)
SECURED_ROLL_RATES = {"current_to_30": 0.012, "roll_30_60": 0.4, "roll_60_90": 0.5, "roll_90_default": 0.6,
                      "cure_30": 0.4, "cure_60": 0.2, "cure_90": 0.05}
#: The period after which two senior holders trade on the secondary market.
MARKET_PERIOD = 3
DEMO_ROLL_RATES = {"current_to_30": 0.025, "roll_30_60": 0.45, "roll_60_90": 0.55, "roll_90_default": 0.7,
                   "cure_30": 0.35, "cure_60": 0.15, "cure_90": 0.05}


def run(loans: int = 2_000, seed: int = 7, out_dir: Path | None = None, *, verbose: bool = False,
        console: Console | None = None, deal: str = "consumer_loan", periods: int | None = None) -> dict[str, Any]:
    """Run the whole deal on the connected local chain (connecting to the default one if none is); returns
    addresses and summary tables. ``verbose`` also prints every deployment step; ``deal``: the sample deal
    (``consumer_loan`` or the secured ``auto_loan``). With ``periods``, stop after that many periods and leave
    the deal live (:func:`leave_live`: not ended, the last period's payments left for the investors to claim,
    every address in ``deployments/<chainid>/<deal>.json``)."""
    if periods is not None and periods < 0:
        raise ValueError(f"--periods must be 0 or more, not {periods}")
    if deal == "reit_rent":  # leases on properties, rent distributed to unit holders: its own run
        from chainabs.apps import reit_demo

        return reit_demo.run(out_dir, console=console, verbose=verbose,
                             **({"quarters": periods} if periods else {}))
    console = console or Console(width=max(Console().width, 110))
    steps = console if verbose else Console(file=io.StringIO())
    stage = orchestration.local_stage()
    web3, bchain, proj, wallets, roles, investors = (stage.web3, stage.chain, stage.project, stage.wallets,
                                                     stage.roles, stage.investors)
    arranger, originator, servicer = roles["arranger"], roles["originator"], roles["servicer"]
    kyc_agent = wallets[4]
    console.rule(f"[bold]ChainABS demo: {deal.replace('_', '-')} ABS on a local chain")
    console.print(f"chain id {web3.eth.chain_id} at {web3.provider.endpoint_uri}, block {web3.eth.block_number}")

    # 1. Tape -> registry.
    base = load_deal(deal)
    book = generate_tape(loans, kind=base.eligibility.asset_types[0], seed=seed, cutoff=base.dates.cut_off, decimals=base.currency.decimals)
    currency, _ = deploy(proj.TestStablecoin, "Test CNH", base.currency.symbol, base.currency.decimals, sender=arranger)
    criteria = terms.criteria_from_spec(base)
    if base.revolving is not None:
        # The deal's calendar runs from the chain's date (its SPV's dates are the spec's shifted there): so does the
        # pool's legal final, or invoices bought in later revolving periods would mature after the spec's date.
        shift = pd.Timestamp(bchain.time(), unit="s").date() - base.dates.closing
        criteria = dataclasses.replace(criteria, legal_final_date=base.dates.legal_final + max(shift, dt.timedelta(0)))
    try:
        tape = select_eligible(book, criteria, today=base.dates.cut_off)
    except TapeValidationError as exc:
        if any(i.rule == "empty_tape" for i in exc.issues):  # the book's loans all fail the rules or the limits
            raise ValueError(f"no pool can be drawn from a book of {len(book):,} loans under {base.name}'s eligibility "
                             "rules and concentration limits: give more loans (--loans 1000)") from None
        raise
    console.print(f"   originator's book: {len(book)} loans, {len(tape)} eligible for the pool")
    registry, pool_id = orchestration.open_pool(arranger, originator, servicer, criteria,
                                                track_obligors=base.revolving is not None)
    receivables = "trade_receivable" in base.eligibility.asset_types
    invoice_ledger = None
    if receivables:
        invoice_ledger = _confirm_invoices(registry, arranger, kyc_agent, originator, tape, console)
    console.print(f"[bold]1. onboarding[/] {len(tape)} loans into pool {pool_id} of registry {registry.address}")
    spec, onboarded = orchestration.fill_pool(registry, pool_id, tape, originator, base, console=console)
    if receivables:
        _refuse_double_financing(registry, arranger, wallets[8], tape, criteria, base.dates.cut_off, console)
    pool_units = spec.units(spec.pool.original_balance)
    console.print(f"   {onboarded.registered} certificates, {onboarded.batches} batches, "
                  f"{onboarded.gas_used / max(onboarded.registered, 1):,.0f} gas/asset, root {onboarded.root}")
    coll = _record_collateral(registry, pool_id, originator, tape, base, seed, console) if is_secured(base) else None

    # 2. Deal sized to the pool, deployed through the resumable plan (a local chain starts empty every run:
    # its manifest from an earlier run must not be resumed, hence a fresh folder).
    manifest_root = Path(tempfile.mkdtemp(prefix="chainabs-demo-"))
    d = orchestration.stand_up(spec, roles, currency=currency, registry=registry, pool_id=pool_id, kyc_agent=kyc_agent,
                               investors=[originator, *investors], project=proj, manifest_root=manifest_root,
                               closing_at=bchain.time(), out=steps, tape=tape,
                               documents=documentlib.spec_documents(base, DEALS_DIR))
    spv, tokens, model = d.spv, d.tokens, d.model
    console.print(f"[bold]2. deployed[/] SPV {spv.address} with classes "
                  + ", ".join(f"{t.symbol()} {t.address}" for t in tokens))

    # 3. Offering (investors were KYC'd by the plan) and closing.
    equity = len(d.sizes()) - 1
    holders: dict[int, list[Any]] = {
        i: investors[i * 2 : i * 2 + 3] if i == 0 else investors[3 + i : 5 + i] for i in range(equity)
    }
    orchestration.subscribe_classes(d, holders, arranger)
    holders[equity] = [originator]
    reserve = spec.units(spec.reserve.initial)
    orchestration.close(d, arranger)
    if d.green is not None:  # a green deal: the net proceeds allocated to its projects, on chain
        green_app.demo_allocate(d.green, spec, roles, investors[-1], console)
    console.print(f"[bold]3. closed[/]: originator paid {pool_units / 1e6:,.2f} {spec.currency.symbol} for pool {pool_id} "
                  f"(now owned by the SPV: {registry.poolOwner(pool_id) == spv.address}), reserve {reserve / 1e6:,.2f}")

    revolving = None if spec.revolving is None else _revolving(spec, tape, seed, out_dir or REPORTS_DIR / spec.name,
                                                               console)

    # 4. Periods from the simulator.
    wac = float((tape["rate_bps"] * tape["principal"]).sum() / tape["principal"].sum()) / 10_000
    term = int(round((tape["term_months"] * tape["principal"]).sum() / tape["principal"].sum()))
    secured = is_secured(spec)
    matrix = delinquency.roll_rate_matrix(**(SECURED_ROLL_RATES if secured else DEMO_ROLL_RATES))
    projection = delinquency.project_delinquency(pool_units / 10**spec.currency.decimals, wac, term, matrix,
                                                 SECURED_ASSUMPTIONS if secured else DEMO_ASSUMPTIONS)
    reports = period_reports(projection, spec.currency.decimals, beginning_balance=pool_units)
    console.print(f"[bold]4. periods[/]: {len(reports)} monthly reports simulated (WAC {wac:.2%}, WA term {term} months)")
    level = model.clean_up_level()
    claimed = 0
    trade: dict[str, Any] | None = None
    payments: list[dict[str, Any]] = []
    out = out_dir or REPORTS_DIR / spec.name
    books = d.servicing_book(seed=seed)
    ledger = None
    # A revolving deal on chain: each period's projected flows sized to the live pool (the shape of a static
    # projection's period, among those while the static pool still had 5% of its balance), a credit note per
    # revolving period, and the originator's new invoices bought with the principal collected.
    rv_on_chain = spec.revolving is not None and model.last_revolving_period > 0
    shapes, begin = [], pool_units
    for r in reports:
        if begin * 20 >= pool_units:
            shapes.append((r, begin))
        begin = r.pool_ending_balance
    rv_steps: list[demo_revolving.RevolvingStep] = []
    for k in range(len(reports) if not rv_on_chain else 240):
        projected = reports[k] if not rv_on_chain else None
        period = model.state.periods_closed + 1
        if periods is not None and period > periods:
            break
        # The servicer's loan-level tape for the projected flows: the registry is brought in line with it
        # (late loans, defaults, recoveries by the disposal agent; each update's evidence the loan's leaf), then
        # its aggregates are the report and its sum tree the commitment the SPV checks them against.
        if rv_on_chain:
            # while it revolves the pool is refreshed every period (a young pool's shape: period 2's); after, it
            # ages as the static projection does
            last = model.last_revolving_period
            age = min(k, 1) if period <= last else k - last + 1
            shape, begin = shapes[min(age, len(shapes) - 1)]
            projected = demo_revolving.scaled(shape, books, begin)
            step = demo_revolving.RevolvingStep(period)
            if period <= model.last_revolving_period:
                loan_tape = books.adopt(demo_revolving.tape_with_dilution(d, books, projected, model, arranger, step))
            else:
                loan_tape = books.next_period(projected)
        else:
            loan_tape = books.next_period(projected)
        report = servicing.period_report(loan_tape)
        tape_path = servicing.write_servicing_tape(loan_tape, out / "servicing" / f"period-{period:03d}.csv")
        if report.cash_in:
            transact(currency.mint, servicer, report.cash_in, sender=arranger)
        served = servicer_side.service_period(spv, loan_tape, servicer, disposal_agent=d.roles["disposal_agent"],
                                              tape_uri=tape_path.relative_to(out).as_posix(), state=books.registry)
        books.registry = served.registry
        if served.submitted.event("ReportSubmitted")["collections"] != model.submit(report):
            raise AssertionError(f"period {period}: the chain and the model disagree on the deposit")
        if rv_on_chain and period <= model.last_revolving_period:
            today = pd.Timestamp(bchain.time(), unit="s").date()
            demo_revolving.buy(d, invoice_ledger, kyc_agent, books, model, model.principal_available - model.purchased,
                               seed, today, step)
            rv_steps.append(step)
        call = 0 < report.pool_ending_balance <= level
        if call:
            # The report's proven pool balance at par, the registry's claims on defaulted loans in recovery.
            live, defaulted = spvlib.clean_up_price(spv, report)
            transact(currency.mint, originator, live + defaulted, sender=arranger)
            spvlib.exercise_clean_up_call(spv, originator, report)
            model.exercise_clean_up_call(live, defaulted)
        connection.advance_to(int(spv.paymentDate(period)))
        tx = spvlib.close_period(spv, investors[-1], report)
        closed = model.close_period()
        if spvlib.result_of(tx) != closed.result:
            raise AssertionError(f"period {period}: the chain and the model disagree")
        payments.extend(spvlib.payment_rows(tx, closed))
        # The period's investor report, rebuilt from chain data, is published by its hash on every tranche.
        ledger = ledger or read_deal(web3.provider.endpoint_uri, spv.address)
        ledger.refresh()
        documentlib.attach_period_report(ledger, period, tokens, sender=arranger, out_dir=out / "documents")
        if d.green is not None:
            green_app.demo_impact(d.green, spec, roles, period)
        if periods is None or period < periods:  # a live deal's last payments are left to claim
            claimed += _claim_all(tokens, holders)
        if period == MARKET_PERIOD:  # secondary market: two senior holders trade through the venue
            trade = market_app.demo_trade(arranger, currency, tokens[0], holders[0][0], holders[0][1], console=console)
        alerts = [name for name in ("TriggerBreached", "TriggerCured", "DelinquencyAlert", "ReserveDrawn") if name in tx.events]
        if rv_on_chain and "EarlyAmortization" in served.submitted.events:
            alerts.append(f"EarlyAmortization (revolving ended with period {model.early_amortization})")
        console.print(f"   period {period:2d}: pool {closed.state.pool_balance / 1e6:14,.2f}  paid "
                      f"{sum(closed.class_interest) / 1e6:12,.2f} interest {sum(closed.result.principal_paid) / 1e6:14,.2f} principal"
                      + (f"  bought {step.receivables} invoices ({step.bought / 1e6:,.2f}), credit note "
                         f"{step.diluted / 1e6:,.2f}" if rv_on_chain and rv_steps and rv_steps[-1] is step else "")
                      + (f"  [red]{', '.join(alerts)}[/]" if alerts else "")
                      + ("  [yellow]clean-up call[/]" if call else ""))
        if call or model.state.pool_balance == 0:
            break
    payment_table = pd.DataFrame(payments)
    mismatches = int((~payment_table["match"]).sum()) if payments else 0
    if periods is not None:
        return leave_live(d, manifest_root, web3.provider.endpoint_uri, holders, mismatches, claimed, console,
                          kyc_agent=kyc_agent)

    # 5. End of the deal and reports.
    spvlib.end_deal(spv, investors[-1])
    released, final = model.end_deal()
    # Fees were booked at every close; their recipients withdraw them (anyone may trigger it).
    fees_paid = spvlib.withdraw_all_fees(spv, investors[-1])
    mismatches_fees = int(fees_paid != [model.withdraw_fees(k) for k in range(len(fees_paid))])
    claimed += _claim_all(tokens, holders)
    table = spvlib.reconcile(spv, model)
    mismatches += int((~table["match"]).sum()) + mismatches_fees
    left = int(currency.balanceOf(spv))
    console.print(f"[bold]5. ended[/]: {released / 1e6:,.2f} released to equity, {final / 1e6:,.2f} written off, "
                  f"{sum(fees_paid) / 1e6:,.2f} fees withdrawn by their recipients, {left} left in the SPV; "
                  f"{mismatches} mismatches between chain and model")
    summary = _summary(spec, tokens, model)
    print_table(console, _table(summary, "Tranches at the end of the deal"))
    if trade:
        console.print(f"   secondary market trade: {trade['quantity'] / 1e6:,.2f} {trade['symbol']} units at "
                      f"{trade['price'] / 10_000:,.4f} per 100 for {trade['cash'] / 1e6:,.2f} (seller {trade['seller']}, "
                      f"buyer {trade['buyer']})")

    data = read_deal(web3.provider.endpoint_uri, spv.address, start_block=0)
    paths = write_reports(data, out, rules=spec.monitor, extra_tables={
        "reconciliation_payments": payment_table,  # every tranche payment on chain vs the simulation
        "reconciliation_figures": table,  # every figure of the SPV and the tokens vs the model at the end
        # the revolving period run by the model (purchases, dilution), a section of the HTML report
        **({"revolving_period_model": revolving} if revolving is not None else {}),
    }, market=trade["market"] if trade else None, green=str(d.green.address) if d.green is not None else None)
    last = model.state.periods_closed
    mismatches_last = verify_servicing_tape(data, spv.address, last, loan_tape)
    console.print(f"   servicing tape of period {last} verified against the chain: "
                  + ("commitment, aggregates and every loan match" if mismatches_last.empty
                     else f"{len(mismatches_last)} mismatches"))
    pool = pool_report(data).tail(6)
    view = pd.DataFrame({
        "period": pool["period"].astype(str),
        "pool balance": (pool["ending_balance"] / 10**spec.currency.decimals).map("{:,.2f}".format),
        "60+ delinquent %": pool["delinquent_60_plus_pct"].map("{:.2f}".format),
        "cum. net loss %": pool["cumulative_net_loss_pct"].map("{:.2f}".format),
        "loans": pool["loans_outstanding"].astype(str), "WA rate bps": pool["wa_rate_bps"].astype(str),
    })
    print_table(console, _table(view, "Pool, last periods (rebuilt from chain data)"))
    by_rule = pd.read_csv(paths["regulator_alerts_by_rule"])
    fired = ", ".join(f"{r.rule} {r.alerts}" for r in by_rule.itertuples() if r.alerts)
    console.print(f"   regulator rules (alerts over the deal, see regulator_alerts.csv): {fired or 'none fired'}")
    console.print(f"[bold]reports[/] rebuilt from chain data in {out}: "
                  + ", ".join(sorted(p.name for p in paths.values())))
    recoveries = _recoveries(data, coll, originator, spec, console) if coll is not None else None
    if coll is not None:
        assert recoveries is not None
        recoveries["collateral_released"] = _release_collateral(coll, pool_id, originator, tape, spec, console)
    return {"spv": spv.address, "registry": registry.address, "currency": currency.address, "summary": summary,
            "mismatches": mismatches, "left_in_spv": left, "reports": paths, "claimed": claimed,
            "servicing_mismatches": len(mismatches_last), "trade": trade, "recoveries": recoveries,
            "green": str(d.green.address) if d.green is not None else None}


def _confirm_invoices(registry: Any, arranger: Any, registrar: Any, originator: Any, tape: pd.DataFrame,
                      console: Console) -> Any:
    """Receivables: the network's invoice ledger attached to the registry, each debtor's key registered, every
    invoice confirmed by its debtor (EIP-712, submitted in batches) before it can be pooled."""
    ledger = invoices.deploy_ledger(arranger, registrars=(registrar,))
    invoices.attach_registry(ledger, arranger, registry, arranger)
    done = invoices.confirm_tape_locally(ledger, registrar, tape, originator)
    console.print(f"   invoice ledger {ledger.address}: {done['debtors']} debtors' keys registered, "
                  f"{done['invoices']} invoices confirmed by their debtors "
                  f"({done['confirmations'] / max(done['invoices'], 1):,.0f} gas per confirmation)")
    return ledger


def _revolving(spec: Any, tape: pd.DataFrame, seed: int, out: Path, console: Console) -> pd.DataFrame:
    """The revolving period run by the model on the onboarded tape (purchases at par, dilution, early
    amortization); written to ``revolving_period_model.csv``: the model's own full-size projection, shown beside the
    run on chain (``chainabs.apps.demo_revolving``: purchases capped at 500 invoices a period, so its pool is smaller)."""
    path, refused = revolving_path.project(spec, tape, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    path.to_csv(out / "revolving_period_model.csv", index=False)
    dec, sym = spec.currency.decimals, spec.currency.symbol
    revolving = path[path["revolving"]]
    console.print(f"[bold]revolving period (model)[/]: {len(revolving)} periods revolve, "
                  f"{format_amount(int(revolving['purchased'].sum()), dec, sym)} of new invoices bought at par "
                  f"({int(revolving['receivables_bought'].sum()):,} invoices), "
                  f"{format_amount(int(path['dilution'].sum()), dec, sym)} diluted by credit notes "
                  f"({spec.revolving.dilution}), refused by a concentration limit: "
                  + (", ".join(f"{k} {v:,}" for k, v in sorted(refused.items())) or "none"))
    table = Table(title="Revolving period projected by the model (the chain's own run follows, period by period)")
    cols = ("period", "collected", "purchased", "bought", "dilution", "defaults", "to notes", "pool")
    for col in cols:
        table.add_column(col, justify="right")
    for r in path.itertuples(index=False):
        table.add_row(str(r.period), *(format_amount(int(v), dec) for v in (r.principal_collected, r.purchased)),
                      f"{r.receivables_bought:,}",
                      *(format_amount(int(v), dec) for v in (r.dilution, r.defaults, r.principal_to_notes,
                                                               r.pool_balance)))
    console.print(table)
    return path


def _refuse_double_financing(registry: Any, arranger: Any, other: Any, tape: pd.DataFrame, criteria: Any, today: Any,
                             console: Console) -> None:
    """Another originator, in another registry sharing the ledger, tries to pool an invoice already financed."""
    ledger = invoices.ledger_of(registry)
    # one invoice alone is 100 % of its pool: the second pool waives the concentration limits
    alone = dataclasses.replace(criteria, max_region_bps=10_000, max_industry_bps=10_000, max_obligor_bps=10_000)
    second, pool = orchestration.open_pool(arranger, other, other, alone)
    invoices.attach_registry(ledger, arranger, second, arranger)
    again = tape.iloc[[0]].assign(loan_id="PLEDGED-AGAIN")
    try:
        registrylib.onboard(second, pool, again, other, today=today, progress=False)
    except registrylib.OnboardingError as refused:
        console.print(f"   a second pledge of invoice {tape['loan_id'].iloc[0]} by {other.address} in registry "
                      f"{second.address} is refused: {str(refused).splitlines()[-1].split(': ', 2)[-1]}")
    else:
        raise RuntimeError("the invoice ledger accepted an invoice financed twice")


def _record_collateral(registry: Any, pool_id: int, originator: Any, tape: pd.DataFrame, spec: Any, seed: int,
                       console: Console) -> Any:
    """A secured pool: every loan's collateral recorded in a collateral registry next to the asset registry."""
    vehicles = check_collateral(generate_collateral(tape, seed=seed), list(tape["loan_id"]), cutoff=spec.dates.cut_off)
    coll = collateral.deploy_collateral_registry(registry, originator)
    receipts = collateral.record_collateral(coll, originator, vehicles)
    count, value = collateral.pool_collateral(coll, pool_id)
    console.print(f"   collateral: {count} vehicles recorded in {coll.address}, appraised "
                  f"{format_amount(value, spec.currency.decimals)} {spec.currency.symbol} "
                  f"({sum(r.gas_used for r in receipts) / max(count, 1):,.0f} gas/vehicle)")
    return coll


def _recoveries(data: Any, coll: Any, originator: Any, spec: Any, console: Console) -> dict[str, Any]:
    """The disposal timeline of every defaulted loan and the pool's recovery rates, from chain data."""
    timeline = recovery_timeline(data)
    values = collateral.appraised_values(coll, originator.address, list(timeline["loan_id"]))
    per_loan, totals = recovery_rates(timeline, values)
    per_loan = per_loan.sort_values(["disposed_at", "defaulted_at"], kind="stable", na_position="last")
    dec, sym = spec.currency.decimals, spec.currency.symbol
    view = pd.DataFrame({
        "loan": per_loan["loan_id"].astype(str),
        "defaulted": per_loan["defaulted_at"].dt.strftime("%Y-%m-%d"),
        "repossessed": per_loan["repossessed_at"].dt.strftime("%Y-%m-%d").fillna("-"),
        "sold": per_loan["disposed_at"].dt.strftime("%Y-%m-%d").fillna("-"),
        f"claim ({sym})": [format_amount(int(v), dec) for v in per_loan["claim_at_default"]],
        f"recovered ({sym})": [format_amount(int(v), dec) for v in per_loan["recovered"]],
        "recovery": per_loan["recovery_rate"].map(lambda r: f"{r:.1%}" if r == r else "-"),
        "of appraisal": per_loan["proceeds_to_appraisal"].map(lambda r: f"{r:.1%}" if r == r else "-"),
    }).head(12)
    print_table(console, _table(view, f"Disposals: the first {len(view)} of {len(per_loan)} defaulted loans (from chain data)"))
    rate = totals["recovery_rate"]
    console.print(f"   recoveries: {totals['resolved_loans']} of {totals['defaulted_loans']} defaulted loans resolved, "
                  f"recovery rate {rate:.1%} (loss given default {1 - rate:.1%}), "
                  f"{totals['average_days_to_resolution']:.0f} days from default to sale on average"
                  if rate is not None else "   recoveries: no defaulted loan resolved yet")
    return {"timeline": per_loan, **totals}


def _release_collateral(coll: Any, pool_id: int, originator: Any, tape: pd.DataFrame, spec: Any,
                        console: Console) -> int:
    """Anyone (here the originator) releases from the pool's collateral tally the vehicles of loans that left the
    pool or closed (sold, repaid, prepaid, bought back at the clean-up call): the tally is then the live loans'."""
    before = collateral.pool_collateral(coll, pool_id)
    receipts = collateral.release_closed(coll, originator, originator.address, list(tape["loan_id"]))
    count, value = collateral.pool_collateral(coll, pool_id)
    dec, sym = spec.currency.decimals, spec.currency.symbol
    console.print(f"   collateral: {before[0] - count:,} vehicles released from pool {pool_id}'s tally (their loans "
                  f"left the pool or closed; {sum(r.gas_used for r in receipts):,} gas); it now counts {count:,} "
                  f"vehicles appraised {format_amount(value, dec)} {sym}")
    return before[0] - count


def leave_live(d: orchestration.LocalDeal, manifest_root: Path, rpc: str, holders: dict[int, list[Any]],
               mismatches: int, claimed: int, console: Console, *, kyc_agent: Any) -> dict[str, Any]:
    """The deal left live: the deployment manifest copied to ``deployments/<chainid>/<deal>.json`` with every
    address (contracts, roles, investors) under ``meta.live`` and the role holders under ``meta.roles`` (the
    operation commands sign with them on this local chain), an earlier manifest of that name moved aside, and the
    explorer command printed."""
    chain_id = int(connection.connected_web3().eth.chain_id)
    manifest = Manifest.load(d.spec.name, chain_id, manifest_root)
    manifest.path = deployments_root() / str(chain_id) / f"{d.spec.name}.json"
    if manifest.path.exists():  # another deal of that name on this chain id (a deploy, an earlier demo): kept aside
        aside = move_aside(manifest.path, "replaced")
        console.print(f"an earlier manifest of {d.spec.name} on chain {chain_id} moved to {aside}", highlight=False)
    manifest.meta["roles"] = {**{k: str(a.address) for k, a in d.roles.items()}, "kyc_agent": str(kyc_agent.address)}
    manifest.meta["live"] = {
        "rpc": rpc, "spv": str(d.spv.address), "registry": str(d.registry.address), "pool_id": int(d.pool_id),
        "currency": str(d.currency.address), "identity": str(d.identity.address),
        "tokens": {str(t.symbol()): str(t.address) for t in d.tokens},
        "roles": {k: str(a.address) for k, a in d.roles.items()},
        "holders": {str(d.tokens[i].symbol()): [str(h.address) for h in hs] for i, hs in holders.items()},
        "periods_closed": int(d.model.state.periods_closed),
    }
    manifest.save()
    command = f"chainabs explorer --rpc {rpc} --spv {d.spv.address}"
    console.print(f"[bold]live[/]: {d.model.state.periods_closed} periods closed, the deal left running (not ended); "
                  f"every address in {manifest.path}")
    console.print(f"explore it: [bold]{command}[/]")
    return {"spv": str(d.spv.address), "registry": str(d.registry.address), "currency": str(d.currency.address),
            "manifest": manifest.path, "explorer_command": command, "mismatches": mismatches, "claimed": claimed,
            "periods": int(d.model.state.periods_closed), "holders": manifest.meta["live"]["holders"]}


def _claim_all(tokens: list[Any], holders: dict[int, list[Any]]) -> int:
    """Every holder claims what its class owes it; returns the total paid."""
    paid = 0
    for i, group in holders.items():
        for h in group:
            if tokens[i].withdrawableFundsOf(h) > 0:
                paid += sum(claim(tokens[i], h))
    return paid


def _summary(spec: Any, tokens: list[Any], model: Any) -> pd.DataFrame:
    rows = []
    for i, t in enumerate(spec.tranches_by_seniority()):
        view = model.tranches[i]
        rows.append({
            "class": t.class_name, "symbol": t.symbol, "coupon_bps": t.coupon_bps,
            "face": view.original_face, "interest": view.interest_distributed,
            "principal": view.principal_distributed, "written_off": view.cumulative_write_down,
            "outstanding": int(tokens[i].currentPrincipal()),
        })
    return pd.DataFrame(rows)


def _table(df: pd.DataFrame, title: str, decimals: int = 6) -> Table:
    """Amount columns shown in currency units (the data stays in integer base units)."""
    table = Table(title=title)
    for col in df.columns:
        table.add_column(col, justify="right" if col not in ("class", "symbol") else "left")
    for _, row in df.iterrows():
        cells = []
        for col, v in row.items():
            if col == "coupon_bps" or not isinstance(v, int):
                cells.append(str(v))
            else:
                cells.append(f"{v / 10**decimals:,.2f}")
        table.add_row(*cells)
    return table
