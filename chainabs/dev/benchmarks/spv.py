"""SPV benchmarks: gas of a period close for the consumer deal (3 classes, 2 fees, reserve, 4 triggers), that
it does not depend on the number of holders or of assets, and the whole on-chain cost of a servicer's period
(registry updates, report, close) on a 2,000-loan pool. Every period is serviced loan by loan
(:func:`chainabs.dev.sandbox.serve`)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from chainabs.chain import connection as chain
from chainabs.chain import spv as spvlib
from chainabs.dev.benchmarks import benchmark
from chainabs.chain.orchestration import LocalDeal, close
from chainabs.chain.sender import deploy, transact
from chainabs.chain.servicing import ServicedPeriod
from chainabs.dev.sandbox import books, onboarded_pool, roll_rate_reports, sandbox_deal, serve, subscribe_all
from chainabs.chain.connection import advance_to

#: Periods closed before the measured one. Steady state: every storage slot the close writes already holds
#: a non-zero value (the first close creates the deal's books; the first period with defaults creates the
#: loss totals and the junior class's write-down; on this path that is period 4).
WARM_PERIODS = 5
#: Periods closed in the run that reports the first and the largest close.
RUN_PERIODS = 16


def _deal(loans: int, seed: int, prefix: str | None = None) -> tuple[LocalDeal, list[Any]]:
    from brownie import project

    proj = project.get_loaded_projects()[0]
    wallets = chain.local_accounts(20)
    admin, originator, servicer = wallets[0], wallets[3], wallets[2]
    currency, _ = deploy(proj.TestStablecoin, "Test CNH", "CNHT", 6, sender=admin)
    spec, registry, pool_id, tape = onboarded_pool(originator, admin, servicer, loans=loans, seed=seed, prefix=prefix)
    d = sandbox_deal(spec, wallets, currency, registry, pool_id, proj, Path(tempfile.mkdtemp(prefix="bench-")), tape)
    subscribe_all(d, wallets[10:20], admin)
    close(d, admin)
    return d, wallets


def _submit(d: LocalDeal, projected: Any) -> ServicedPeriod:
    """The servicer's period for ``projected`` (loan-level tape, registry updates, committed report), then the
    chain moved to its payment date."""
    served = serve(d, projected)
    advance_to(int(d.spv.paymentDate(int(d.spv.dealState()[0]) + 1)))
    return served


def _close_gas(d: LocalDeal, report: Any, caller: Any) -> int:
    return int(spvlib.close_period(d.spv, caller, report).gas_used)


def _spread_holders(d: LocalDeal, holders: int, wallets: list[Any]) -> None:
    """Give ``holders`` new KYC'd addresses a slice of the senior class."""
    from brownie import accounts
    from brownie import chain as bchain

    fresh = [accounts.add() for _ in range(holders)]
    expiry = bchain.time() + 5 * 365 * 86_400
    for start in range(0, holders, 200):
        part = fresh[start : start + 200]
        transact(d.identity.registerInvestors, [a.address for a in part], [156] * len(part), [1] * len(part),
                 [expiry] * len(part), sender=wallets[4])
    source = wallets[10]
    unit = d.tokens[0].balanceOf(source) // (holders + 1)
    if unit == 0:
        raise ValueError(f"cannot spread {holders} holders: source balance too small")
    for a in fresh:
        transact(d.tokens[0].transfer, a.address, unit, sender=source)


#: Gas of each submitReport of the last :func:`_close_run` (the record date's cost, reported beside the close).
SUBMIT_GAS: list[int] = []


def _close_run(d: LocalDeal, caller: Any, periods: int) -> list[int]:
    """Gas of each of the first ``periods`` closes (the submissions' gas in :data:`SUBMIT_GAS`)."""
    gas = []
    SUBMIT_GAS.clear()
    for projected in roll_rate_reports(d, wac=0.16, cpr=0.12)[:periods]:
        served = _submit(d, projected)
        SUBMIT_GAS.append(int(served.submitted.gas_used))
        gas.append(_close_gas(d, served.report, caller))
    return gas


def _steady_close(d: LocalDeal, caller: Any) -> int:
    """Close WARM_PERIODS periods, then return the gas of the next close."""
    return _close_run(d, caller, WARM_PERIODS + 1)[-1]


@benchmark("spv_period_close", needs_chain=True)
def period_close() -> dict[str, float]:
    """Steady-state period close gas of two identical deals (same tape amounts, same reports): one whose
    senior class has 3 holders, one where it was spread over 1,000 holders before the periods. Also the
    first close and the largest of closes 2..RUN_PERIODS of the first deal (first defaults, first
    write-down)."""
    few, wallets = _deal(1_000, 11, prefix="A")
    many, _ = _deal(1_000, 11, prefix="B")
    _spread_holders(many, 997, wallets)
    holders = int(many.tokens[0].holderCount())
    run = _close_run(few, wallets[9], RUN_PERIODS)
    submit = list(SUBMIT_GAS)
    gas_many = _steady_close(many, wallets[9])
    return {"period_close_gas": run[WARM_PERIODS], "period_close_gas_1000_holders": gas_many,
            "submit_report_gas": submit[WARM_PERIODS], "submit_report_gas_first": submit[0],
            "period_close_holders_many": holders, "period_close_gas_first": run[0],
            "period_close_gas_max_after_first": max(run[1:])}


@benchmark("spv_period_close_assets", needs_chain=True)
def period_close_assets() -> dict[str, float]:
    """Steady-state period close gas on a 10,000-loan pool (compare with period_close_gas on ~1,000)."""
    d, wallets = _deal(10_000, 11)
    return {"period_close_gas_10k_assets": _steady_close(d, wallets[9])}


#: Loans in the originator's book of the servicing benchmark (about 2,000 of them are eligible).
SERVICING_BOOK = 2_070
#: Periods run by the servicing benchmark (the reported figures are those of the last one).
SERVICING_PERIODS = 6


@benchmark("spv_servicing_period", needs_chain=True)
def servicing_period() -> dict[str, float]:
    """All on-chain work of a servicer's month on a ~2,000-loan consumer pool: the registry updates (late loans,
    cures, defaults, prepayments in full, pay-offs, recovery steps), the report with its sum-tree commitment,
    and the close. The roll-rate month: 2 % of current loans go 30 days late, every performing loan amortises,
    CPR 12 %. Reported for period SERVICING_PERIODS, and the largest over periods 2..SERVICING_PERIODS."""
    d, wallets = _deal(SERVICING_BOOK, 11, prefix="S")
    rows = []
    for projected in roll_rate_reports(d, wac=0.16, cpr=0.12)[:SERVICING_PERIODS]:
        before = books(d).last["status"].astype(str).to_numpy()
        served = _submit(d, projected)
        close = _close_gas(d, served.report, wallets[9])
        registry = sum(r.gas_used for r in served.receipts)
        changed = int((served.committed.tape["status"].astype(str).to_numpy() != before).sum())
        rows.append({"registry": registry, "submit": int(served.submitted.gas_used), "close": close,
                     "updates": len(served.updates), "changed": changed})
    last = rows[-1]
    total = [r["registry"] + r["submit"] + r["close"] for r in rows]
    loans = len(d.tape)
    return {"servicing_period_gas_2k": total[-1], "servicing_period_gas_2k_max": max(total[1:]),
            "servicing_registry_gas_2k": last["registry"], "servicing_submit_gas_2k": last["submit"],
            "servicing_close_gas_2k": last["close"], "servicing_updates_2k": last["updates"],
            "servicing_status_changes_pct_2k": round(100 * last["changed"] / loans, 2), "servicing_loans": loans}

