"""`brownie run scripts/simulate.py main [--deal consumer_loan] [--mode grid|mc|both] ...`: scenario grid
and Monte Carlo of a deal spec -> reports/simulation/<deal>/ (no chain needed: `python -m chainabs.apps.simulate`
takes the same arguments without starting one)."""


def main(*args: str) -> None:
    from chainabs.apps import simulate

    simulate.main(list(args))
