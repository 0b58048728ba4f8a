"""`brownie run scripts/demo.py`: the consumer-loan deal end to end on the connected chain (`chainabs demo`)."""

from chainabs.apps.cli import script


def main(*args: str) -> None:
    script("demo", flags=args)
