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
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from chainabs import chain, delinquency
from chainabs import registry as registrylib
from chainabs import reports as reportslib
from chainabs import servicing
from chainabs import spv as spvlib
from chainabs.chain import PROJECT_ROOT
from chainabs.collections import period_reports
from chainabs.deploy import Deployer
from chainabs.spec import load_deal
from chainabs.synthetic import generate_tape
from chainabs.tape import select_eligible

console = Console()

#: Demo assumptions (annual rates): a consumer pool with some stress in the middle of its life.
DEMO_ASSUMPTIONS = {"cpr": 0.12, "severity": 0.65, "recovery_lag": 3}
DEMO_ROLL_RATES = {"current_to_30": 0.025, "roll_30_60": 0.45, "roll_60_90": 0.55, "roll_90_default": 0.7,
                   "cure_30": 0.35, "cure_60": 0.15, "cure_90": 0.05}
JURISDICTION = spvlib.DEFAULT_JURISDICTION


def run(loans: int = 2_000, seed: int = 7, out_dir: Path | None = None, *, verbose: bool = False) -> dict[str, Any]:
    """Run the whole deal on the connected local chain; returns addresses and summary tables.

    brownie prints every transaction; unless ``verbose``, that output is dropped and the demo prints its
    own account of each step.
    """
    global console
    console = Console(file=sys.stdout, width=max(Console().width, 110))
    warnings.filterwarnings("ignore", category=FutureWarning)  # brownie's own deprecation notices
    if verbose:
        return _run(loans, seed, out_dir)
    with contextlib.redirect_stdout(io.StringIO()):
        return _run(loans, seed, out_dir)


def _run(loans: int, seed: int, out_dir: Path | None) -> dict[str, Any]:
    proj = chain.ensure_connected()
    from brownie import web3
    from brownie import chain as bchain

    if not chain.is_local():
        raise chain.ChainConfigError("the demo mints test currency and moves chain time: run it on a local chain")
    wallets = chain.local_accounts(16)
    roles = spvlib.role_accounts(wallets)
    arranger, originator, servicer = roles["arranger"], roles["originator"], roles["servicer"]
    investors = wallets[10:16]
    kyc_agent = wallets[4]
    console.rule("[bold]ChainABS demo: consumer-loan ABS on a local chain")
    console.print(f"chain id {web3.eth.chain_id} at {web3.provider.endpoint_uri}, block {web3.eth.block_number}")

    # 1. Tape -> registry.
    base = load_deal("consumer_loan")
    book = generate_tape(loans, kind="consumer_loan", seed=seed, cutoff=base.dates.cut_off, decimals=base.currency.decimals)
    currency = proj.TestStablecoin.deploy("Test CNH", base.currency.symbol, base.currency.decimals, chain.tx(arranger))
    registry = registrylib.deploy_registry(arranger, originators=(originator,), servicers=(servicer,))
    criteria = spvlib.criteria_from_spec(base)
    tape = select_eligible(book, criteria, today=base.dates.cut_off)
    console.print(f"   originator's book: {len(book)} loans, {len(tape)} eligible for the pool")
    pool_id = registrylib.create_pool(registry, originator, criteria)
    console.print(f"[bold]1. onboarding[/] {len(tape)} loans into pool {pool_id} of registry {registry.address}")
    onboarded = registrylib.onboard(registry, pool_id, tape, originator, today=base.dates.cut_off, console=console)
    info = registrylib.pool_info(registry, pool_id)
    pool_units = int(info["principal"])
    console.print(f"   {onboarded.registered} certificates, {onboarded.batches} batches, "
                  f"{onboarded.gas_used / max(onboarded.registered, 1):,.0f} gas/asset, root {onboarded.root}")

    # 2. Deal sized to the pool, deployed through the resumable plan.
    spec = base.sized_to(Decimal(pool_units).scaleb(-base.currency.decimals))
    times = spvlib.DealTimes.from_spec(spec, closing_at=bchain.time())
    plan = spvlib.deploy_plan(spec, {k: v.address for k, v in roles.items()}, currency=currency.address,
                              registry=registry.address, pool_id=pool_id, times=times, kyc_agent=kyc_agent.address)
    # A local chain starts empty every run: its manifest from an earlier run must not be resumed.
    manifest_root = Path(tempfile.mkdtemp(prefix="chainabs-demo-"))
    manifest = Deployer(spec.name, arranger, project=proj, manifest_root=manifest_root).run(plan, assume_yes=True)
    spv = proj.SPV.at(manifest.address("spv"))
    tokens = [proj.TrancheToken.at(a) for a in spv.classTokens()]
    identity = proj.IdentityRegistry.at(manifest.address("identity"))
    console.print(f"[bold]2. deployed[/] SPV {spv.address} with classes "
                  + ", ".join(f"{t.symbol()} {t.address}" for t in tokens))

    # 3. KYC, offering, closing.
    identity.setJurisdictionAllowed(JURISDICTION, True, chain.tx(arranger))
    people = [originator, *investors]
    expiry = bchain.time() + 5 * 365 * 86_400
    identity.registerInvestors([p.address for p in people], [JURISDICTION] * len(people), [1] * len(people),
                               [expiry] * len(people), chain.tx(kyc_agent))
    model = spvlib.model_for(spec)
    sizes = spvlib.class_sizes(spec)
    holders: dict[int, list[Any]] = {}
    for i, size in enumerate(sizes[:-1]):
        group = investors[i * 2 : i * 2 + 3] if i == 0 else investors[3 + i : 5 + i]
        holders[i] = group
        share = size // len(group)
        for k, inv in enumerate(group):
            amount = share if k < len(group) - 1 else size - share * (len(group) - 1)
            currency.mint(inv, amount, chain.tx(arranger))
            spvlib.subscribe(spv, inv, i, amount)
            model.subscribe(i, amount)
    currency.mint(originator, sizes[-1], chain.tx(arranger))
    spvlib.subscribe(spv, originator, len(sizes) - 1, sizes[-1], retained=True)
    model.subscribe(len(sizes) - 1, sizes[-1])
    holders[len(sizes) - 1] = [originator]
    registry.approvePool(pool_id, spv, chain.tx(originator))
    reserve = spec.units(spec.reserve.initial)
    currency.mint(arranger, reserve, chain.tx(arranger))
    spvlib.close_deal(spv, arranger)
    model.close_deal()
    console.print(f"[bold]3. closed[/]: originator paid {pool_units / 1e6:,.2f} {spec.currency.symbol} for pool {pool_id} "
                  f"(now owned by the SPV: {registry.poolOwner(pool_id) == spv.address}), reserve {reserve / 1e6:,.2f}")

    # 4. Periods from the simulator.
    wac = float((tape["rate_bps"] * tape["principal"]).sum() / tape["principal"].sum()) / 10_000
    term = int(round((tape["term_months"] * tape["principal"]).sum() / tape["principal"].sum()))
    matrix = delinquency.roll_rate_matrix(**DEMO_ROLL_RATES)
    projection = delinquency.project_delinquency(pool_units / 10**spec.currency.decimals, wac, term, matrix,
                                                 **DEMO_ASSUMPTIONS)
    reports = period_reports(projection, spec.currency.decimals, beginning_balance=pool_units)
    console.print(f"[bold]4. periods[/]: {len(reports)} monthly reports simulated (WAC {wac:.2%}, WA term {term} months)")
    level = model.clean_up_level()
    claimed = 0
    payments: list[dict[str, Any]] = []
    out = out_dir or PROJECT_ROOT / "reports" / spec.name
    book = servicing.ServicingBook.open(tape, seed=seed)
    for projected in reports:
        period = model.state.periods_closed + 1
        # The servicer's loan-level tape for the projected flows; its aggregates are the report, its root the
        # commitment, and the registry is brought in line with it (evidence: each loan's leaf) first.
        previous = book.last
        loan_tape = book.next_period(projected)
        report = servicing.period_report(loan_tape)
        tape_path = servicing.write_servicing_tape(loan_tape, out / "servicing" / f"period-{period:03d}.csv")
        if report.cash_in:
            currency.mint(servicer, report.cash_in, chain.tx(arranger))
        servicing.sync_registry(registry, servicer, previous, loan_tape, originator.address)
        spvlib.submit_report(spv, servicer, report, bytes.fromhex(servicing.servicing_root(loan_tape)[2:]),
                             tape_path.relative_to(out).as_posix())
        model.submit(report)
        call = 0 < report.pool_ending_balance <= level
        if call:
            # Priced from the registry (live loans at par, defaulted ones at their carrying value), not the report.
            live, defaulted = spvlib.clean_up_price(spv)
            currency.mint(originator, live + defaulted, chain.tx(arranger))
            spvlib.exercise_clean_up_call(spv, originator, report)
            model.exercise_clean_up_call(live, defaulted)
        due = spv.paymentDate(period)
        if bchain.time() < due:
            bchain.sleep(due - bchain.time() + 1)
        tx = spvlib.close_period(spv, investors[-1], report)
        closed = model.close_period()
        if spvlib.result_of(tx) != closed.result:
            raise AssertionError(f"period {period}: the chain and the model disagree")
        payments.extend(spvlib.payment_rows(tx, closed))
        for i, group in holders.items():
            for h in group:
                if tokens[i].withdrawableFundsOf(h) > 0:
                    interest, principal = _claim(tokens[i], h)
                    claimed += interest + principal
        alerts = [name for name in ("TriggerBreached", "TriggerCured", "DelinquencyAlert", "ReserveDrawn") if name in tx.events]
        console.print(f"   period {period:2d}: pool {closed.state.pool_balance / 1e6:14,.2f}  paid "
                      f"{sum(closed.class_interest) / 1e6:12,.2f} interest {sum(closed.result.principal_paid) / 1e6:14,.2f} principal"
                      + (f"  [red]{', '.join(alerts)}[/]" if alerts else "")
                      + ("  [yellow]clean-up call[/]" if call else ""))
        if call or model.state.pool_balance == 0:
            break
    payment_table = pd.DataFrame(payments)
    mismatches = int((~payment_table["match"]).sum())

    # 5. End of the deal and reports.
    spvlib.end_deal(spv, investors[-1])
    released, final = model.end_deal()
    # Fees were booked at every close; their recipients withdraw them (anyone may trigger it).
    fees_paid = spvlib.withdraw_all_fees(spv, investors[-1])
    mismatches_fees = int(fees_paid != [model.withdraw_fees(k) for k in range(len(fees_paid))])
    for i, group in holders.items():
        for h in group:
            if tokens[i].withdrawableFundsOf(h) > 0:
                interest, principal = _claim(tokens[i], h)
                claimed += interest + principal
    table = spvlib.reconcile(spv, model)
    mismatches += int((~table["match"]).sum()) + mismatches_fees
    left = int(currency.balanceOf(spv))
    console.print(f"[bold]5. ended[/]: {released / 1e6:,.2f} released to equity, {final / 1e6:,.2f} written off, "
                  f"{sum(fees_paid) / 1e6:,.2f} fees withdrawn by their recipients, {left} left in the SPV; "
                  f"{mismatches} mismatches between chain and model")
    summary = _summary(spec, tokens, model)
    console.print(_table(summary, "Tranches at the end of the deal"))

    data = reportslib.load_deal(web3.provider.endpoint_uri, spv.address, start_block=0)
    paths = reportslib.write_reports(data, out, extra_tables={
        "reconciliation_payments": payment_table,  # every tranche payment on chain vs the simulation
        "reconciliation_figures": table,  # every figure of the SPV and the tokens vs the model at the end
    })
    last = model.state.periods_closed
    mismatches_last = servicing.verify_servicing_tape(data, spv.address, last, loan_tape)
    console.print(f"   servicing tape of period {last} verified against the chain: "
                  + ("root, aggregates and every loan match" if mismatches_last.empty else f"{len(mismatches_last)} mismatches"))
    pool = reportslib.pool_report(data).tail(6)
    view = pd.DataFrame({
        "period": pool["period"].astype(str),
        "pool balance": (pool["ending_balance"] / 10**spec.currency.decimals).map("{:,.2f}".format),
        "60+ delinquent %": pool["delinquent_60_plus_pct"].map("{:.2f}".format),
        "cum. net loss %": pool["cumulative_net_loss_pct"].map("{:.2f}".format),
        "loans": pool["loans_outstanding"].astype(str), "WA rate bps": pool["wa_rate_bps"].astype(str),
    })
    console.print(_table(view, "Pool, last periods (rebuilt from chain data)"))
    console.print(f"[bold]reports[/] rebuilt from chain data in {out}: "
                  + ", ".join(sorted(p.name for p in paths.values())))
    return {"spv": spv.address, "registry": registry.address, "currency": currency.address, "summary": summary,
            "mismatches": mismatches, "left_in_spv": left, "reports": paths, "claimed": claimed,
            "servicing_mismatches": len(mismatches_last)}


def _claim(token: Any, holder: Any) -> tuple[int, int]:
    receipt = token.claim(chain.tx(holder))
    ev = receipt.events["FundsWithdrawn"] if "FundsWithdrawn" in receipt.events else None
    return (int(ev["interest"]), int(ev["principal"])) if ev else (0, 0)


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
