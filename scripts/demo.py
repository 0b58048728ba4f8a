"""`brownie run scripts/demo.py`: the consumer-loan deal end to end on the connected chain."""

from chainabs.apps import demo


def main() -> None:
    demo.run()
