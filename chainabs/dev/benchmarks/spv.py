"""SPV benchmarks: gas of a period close for the consumer deal (3 classes, 2 fees, reserve, 4 triggers),
and that it does not depend on the number of holders or of assets."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from chainabs.chain import connection as chain
from chainabs.chain import spv as spvlib
from chainabs.dev.benchmarks import benchmark
from chainabs.chain.orchestration import LocalDeal, close
from chainabs.chain.sender import deploy, transact
from chainabs.dev.sandbox import onboarded_pool, roll_rate_reports, sandbox_deal, subscribe_all
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


def _submit(d: LocalDeal, report: Any) -> int:
    """Submit ``report`` (the servicer's collections minted first), move to its payment date; returns the gas
    of ``submitReport`` (the record date: it closes every tranche's books)."""
    if report.cash_in:
        transact(d.currency.mint, d.roles["servicer"], report.cash_in, sender=d.roles["arranger"])
    gas = int(spvlib.submit_report(d.spv, d.roles["servicer"], report).gas_used)
    advance_to(int(d.spv.paymentDate(int(d.spv.dealState()[0]) + 1)))
    return gas


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
    for report in roll_rate_reports(d, wac=0.16, cpr=0.12)[:periods]:
        SUBMIT_GAS.append(_submit(d, report))
        gas.append(_close_gas(d, report, caller))
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
