"""`brownie run scripts/simulate.py main [options]`: scenario grid and Monte Carlo of a deal spec
(`chainabs simulate`, which needs no chain; options after `--` or as words, e.g. `mode=grid`, `cpr=0.05,0.1`)."""

from chainabs.apps.cli import script


def main(*flags: str) -> None:
    script("simulate", flags=flags)
