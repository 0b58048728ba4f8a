"""``chainabs simulate``: scenario grids and Monte Carlo runs of a deal spec through the deal model, written as
CSV tables and PNG charts under ``reports/simulation/<deal>/``. No chain needed.

The base scenario is the middle value of each of ``--cpr``, ``--cdr`` and ``--severity``: it gives the
base run's tables and chart, the breakeven CDRs (at the base CPR and severity) and the Monte Carlo's rates.
With ``--scheduler tcp://HOST:8786`` the Monte Carlo paths run on that Dask cluster (identical results).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from chainabs.model import analytics
from chainabs.model.montecarlo import ProgressFn
from chainabs.model.spec import DealSpec, load_deal
from chainabs.paths import REPORTS_DIR

console = Console()


def base_pool(spec: DealSpec, wac: float, term: int) -> analytics.PoolProfile:
    """The spec's pool at the given WAC and term."""
    return analytics.PoolProfile(spec.units(spec.pool.original_balance), wac, term)


def base_scenario(cprs: Sequence[float], cdrs: Sequence[float], sevs: Sequence[float]) -> analytics.Scenario:
    """The middle value of each list (the only value when one is given)."""
    return analytics.Scenario(cprs[len(cprs) // 2], cdrs[len(cdrs) // 2], sevs[len(sevs) // 2])


def write_grid(spec: DealSpec, pool: analytics.PoolProfile, cprs: Sequence[float], cdrs: Sequence[float],
               sevs: Sequence[float], out: Path) -> pd.DataFrame:
    """Run the grid with a progress bar; write grid.csv and a chart of the base scenario's balances."""
    grid = analytics.scenario_grid(spec, pool, cprs, cdrs, sevs, progress=True)
    grid.to_csv(out / "grid.csv", index=False)
    base = analytics.run_deal(spec, pool, base_scenario(cprs, cdrs, sevs))
    base.classes.to_csv(out / "base_tranche_flows.csv", index=False)
    base.periods.to_csv(out / "base_periods.csv", index=False)
    _balances_chart(spec, base, out / "tranche_balances.png")
    return grid


def _balances_chart(spec: DealSpec, run: analytics.DealRun, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = [t.class_name for t in spec.tranches_by_seniority()]
    for i, name in enumerate(names):
        cf = run.classes[run.classes["class"] == i]
        ax.plot(cf["period"], cf["balance"] / 10**spec.currency.decimals, label=name)
    ax.set_title(f"Tranche balances, {run.scenario.label()}")
    ax.set_xlabel("period")
    ax.set_ylabel("balance")
    ax.legend()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def write_monte_carlo(spec: DealSpec, loans: int, paths: int, seed: int, scenario: analytics.Scenario, out: Path,
                      executor: Executor | None = None) -> pd.DataFrame:
    """Loan-level Monte Carlo through the deal: mc_losses.csv and the loss distribution chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from chainabs.model.montecarlo import synthetic_tape

    tape = synthetic_tape(loans, seed=seed)
    scale = float(spec.pool.original_balance) / float(tape["balance"].sum())
    tape = tape.assign(balance=(tape["balance"] * scale).round(spec.currency.decimals))
    with monte_carlo_progress(f"{loans:,} loans x {paths:,} paths") as progress:
        losses = analytics.monte_carlo_losses(spec, tape, paths=paths, seed=seed, scenario=scenario, executor=executor,
                                              progress=progress)
    losses.to_csv(out / "mc_losses.csv")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for col in losses.columns:
        ax.hist(losses[col], bins=30, alpha=0.5, label=col)
    ax.set_title(f"Loss distribution over {paths} paths (% of face), {scenario.label()}")
    ax.set_xlabel("loss %")
    ax.set_ylabel("paths")
    ax.legend()
    fig.savefig(out / "loss_distribution.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return losses


@contextlib.contextmanager
def monte_carlo_progress(title: str) -> Iterator[ProgressFn]:
    """A progress bar per stage of a Monte Carlo run (loan-paths simulated, then paths through the waterfall),
    with the time left; yields the ``progress`` callback :func:`chainabs.model.montecarlo.simulate` takes."""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

    labels = {"simulate": f"simulating {title}", "tranches": "paths through the waterfall"}
    columns = (TextColumn("{task.description}"), BarColumn(bar_width=20), TextColumn("{task.percentage:>5.1f} %"),
               TimeRemainingColumn(), TextColumn("left"))
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done)

        yield progress


@contextlib.contextmanager
def cluster_executor(scheduler: str | None) -> Iterator[Executor | None]:
    """A ``concurrent.futures`` executor on the Dask scheduler at ``scheduler`` (``tcp://HOST:8786``), or None."""
    if not scheduler:
        yield None
        return
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - pinned in requirements.txt
        raise ValueError(f"--scheduler needs the 'distributed' package ({exc})") from exc
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(f"--scheduler {scheduler}: no Dask scheduler answers there ({exc})") from exc
    with client:
        workers = len(client.scheduler_info().get("workers", {}))
        if workers == 0:
            raise ConnectionError(f"--scheduler {scheduler}: the scheduler has no workers; start some with "
                                  f"`dask worker {scheduler}` (docs/cashflows.md)")
        console.print(f"Monte Carlo on the Dask cluster at {scheduler} ({workers} workers)")
        yield client.get_executor()


def run(
    deal: str = "consumer_loan",
    *,
    mode: str = "both",
    cprs: Sequence[float] = (0.05, 0.10, 0.15, 0.20, 0.30),
    cdrs: Sequence[float] = (0.0, 0.02, 0.05, 0.10, 0.20),
    severities: Sequence[float] = (0.4, 0.6, 0.8),
    wac: float = 0.16,
    term: int = 24,
    loans: int = 2_000,
    paths: int = 500,
    seed: int = 1,
    out: Path | None = None,
    scheduler: str | None = None,
) -> dict[str, Path]:
    """Scenario grid (``mode`` grid or both) and / or Monte Carlo (mc or both) of the deal spec ``deal``;
    writes under ``out`` (default ``reports/simulation/<deal>``) and returns the files this run wrote, by name.

    The base scenario (:func:`base_scenario`: the middle CPR, CDR and severity) sets the breakeven CDRs'
    CPR and severity and the Monte Carlo's rates. ``scheduler``: run the Monte Carlo on that Dask cluster."""
    spec = load_deal(deal)
    out = out or REPORTS_DIR / "simulation" / spec.name
    out.mkdir(parents=True, exist_ok=True)
    pool = base_pool(spec, wac, term)
    base = base_scenario(list(cprs), list(cdrs), list(severities))
    written: list[str] = []
    if mode in ("grid", "both"):
        grid = write_grid(spec, pool, list(cprs), list(cdrs), list(severities), out)
        be = {t.class_name: analytics.breakeven_cdr(spec, pool, i, cpr=base.cpr, severity=base.severity, tol=1e-3)
              for i, t in enumerate(spec.tranches_by_seniority()[:-1])}
        pd.DataFrame([{"class": k, "cpr_pct": 100 * base.cpr, "severity_pct": 100 * base.severity,
                       "breakeven_cdr_pct": 100 * v} for k, v in be.items()]).to_csv(out / "breakeven.csv", index=False)
        table = Table(title=f"{spec.title}: breakeven CDR (CPR {100 * base.cpr:g}%, severity {100 * base.severity:g}%)")
        table.add_column("class")
        table.add_column("breakeven CDR", justify="right")
        for k, v in be.items():
            table.add_row(k, f"{100 * v:.2f}%")
        console.print(table)
        console.print(f"grid: {len(grid)} rows")
        written += ["grid.csv", "base_tranche_flows.csv", "base_periods.csv", "tranche_balances.png", "breakeven.csv"]
    if mode in ("mc", "both"):
        with cluster_executor(scheduler) as executor:
            losses = write_monte_carlo(spec, loans, paths, seed, base, out, executor)
        console.print(f"Monte Carlo: {loans:,} loans x {paths:,} paths, {base.label()} (seed {seed})")
        console.print(losses.describe().T[["mean", "50%", "max"]].to_string())
        written += ["mc_losses.csv", "loss_distribution.png"]
    console.print(f"simulation outputs in {out}: " + ", ".join(sorted(written)))
    return {name: out / name for name in sorted(written)}
