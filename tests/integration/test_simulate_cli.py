"""`chainabs simulate` writes its tables and charts."""

from __future__ import annotations

import pandas as pd

from chainabs.apps import cli


def test_grid_and_monte_carlo_outputs(tmp_path):
    status = cli.main(["simulate", "--deal", "trade_receivables", "--cpr", "0.1,0.3", "--cdr", "0,0.1", "--severity",
                       "0.5", "--wac", "0.08", "--term", "6", "--loans", "200", "--paths", "20", "--out", str(tmp_path)])
    assert status == 0
    out = {p.name for p in tmp_path.iterdir()}
    assert {"grid.csv", "breakeven.csv", "tranche_balances.png", "mc_losses.csv", "loss_distribution.png"} <= out
    grid = pd.read_csv(tmp_path / "grid.csv")
    assert len(grid) == 2 * 2 * 1 * len(set(grid["class"]))
    mc = pd.read_csv(tmp_path / "mc_losses.csv")
    assert len(mc) == 20 and (mc["pool_loss_pct"] >= 0).all()
    assert (tmp_path / "tranche_balances.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_grid_argument_is_named(capsys):
    import pytest

    with pytest.raises(SystemExit):
        cli.main(["simulate", "--cpr", "ten"])
    assert "'ten': expected comma-separated decimals" in capsys.readouterr().err


def _mc(out, *extra):
    assert cli.main(["simulate", "--deal", "trade_receivables", "--mode", "mc", "--wac", "0.08", "--term", "6",
                     "--loans", "60", "--paths", "6", "--out", str(out), *extra]) == 0
    return (out / "mc_losses.csv").read_bytes()


def test_monte_carlo_follows_the_base_scenario(tmp_path):
    """--cpr/--cdr/--severity reach the Monte Carlo (their middle value): more defaults, more losses."""
    low = _mc(tmp_path / "low", "--cdr", "0.01", "--severity", "0.3")
    high = _mc(tmp_path / "high", "--cdr", "0.0,0.4,0.9", "--severity", "0.9")
    assert low != high
    assert _mc(tmp_path / "again", "--cdr", "0.01", "--severity", "0.3") == low  # seeded
    mean = {k: pd.read_csv(tmp_path / k / "mc_losses.csv")["pool_loss_pct"].mean() for k in ("low", "high")}
    assert mean["high"] > 5 * mean["low"] > 0


def test_breakeven_at_the_base_cpr_and_severity(tmp_path):
    from chainabs.apps import simulate
    from chainabs.model import analytics
    from chainabs.model.spec import load_deal

    out = simulate.run("trade_receivables", mode="grid", cprs=[0.3], cdrs=[0.1], severities=[0.9], wac=0.08, term=6,
                       out=tmp_path)
    be = pd.read_csv(out["breakeven.csv"])
    assert set(be["cpr_pct"]) == {30.0} and set(be["severity_pct"]) == {90.0}
    spec = load_deal("trade_receivables")
    pool = simulate.base_pool(spec, 0.08, 6)
    expected = analytics.breakeven_cdr(spec, pool, 0, cpr=0.3, severity=0.9, tol=1e-3)
    assert be["breakeven_cdr_pct"].iloc[0] == 100 * expected
    assert expected != analytics.breakeven_cdr(spec, pool, 0, tol=1e-3)  # the old fixed CPR 10 % / severity 60 %


def test_outputs_are_only_what_this_run_wrote(tmp_path, capsys):
    from chainabs.apps import simulate

    (tmp_path / "grid.csv").write_text("left by an earlier run\n")
    out = simulate.run("trade_receivables", mode="mc", wac=0.08, term=6, loans=40, paths=4, out=tmp_path)
    assert sorted(out) == ["loss_distribution.png", "mc_losses.csv"]
    assert "simulation outputs in" in (text := capsys.readouterr().out) and "grid.csv" not in text


def test_readme_brownie_forms_are_accepted_by_brownie_and_reach_the_command():
    """Every `brownie run scripts/<x>.py ...` in the README and docs passes brownie's own argument parser, and
    what the script hands to `chainabs` parses."""
    import re

    from brownie._cli import run as brownie_run
    from brownie.utils.docopt import docopt

    from chainabs.paths import PROJECT_ROOT

    texts = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
    forms = [m for p in texts for m in re.findall(r"`(brownie run scripts/[^`]*)`", p.read_text().replace("\n", " "))]
    simulate_forms = [f for f in forms if "scripts/simulate.py" in f]
    assert len(simulate_forms) == 2
    for form in simulate_forms:
        args = docopt(brownie_run.__doc__, form.split()[1:])
        assert args["<function>"] == "main"
        parsed = cli.parser().parse_args(["simulate", *cli.brownie_script_args(args["<arg>"])])
        assert parsed.mode == "mc" and parsed.cdr == [0.08]


def test_monte_carlo_shows_a_progress_bar_per_stage(tmp_path, monkeypatch):
    """A long run (a million loans takes minutes) shows how far the simulation and the waterfall are."""
    import io

    from rich.console import Console

    from chainabs.apps import simulate

    buffer = io.StringIO()
    monkeypatch.setattr(simulate, "console", Console(file=buffer, width=100, force_terminal=False))
    simulate.run("trade_receivables", mode="mc", wac=0.08, term=6, loans=40, paths=4, out=tmp_path)
    lines = buffer.getvalue().splitlines()
    assert any(line.startswith("simulating 40 loans x 4 paths") and "100.0 %" in line for line in lines), lines
    assert any(line.startswith("paths through the waterfall") and "100.0 %" in line for line in lines), lines
