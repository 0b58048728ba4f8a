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
