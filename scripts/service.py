"""`brownie run scripts/service.py main <spv-address> <servicing-tape.csv> [tape-uri=URI]`: the servicer's period
from its loan-level tape on the connected network (`chainabs service`); safe to run again after a kill."""

from chainabs.apps.cli import script


def main(spv: str, tape: str, *flags: str) -> None:
    script("service", spv, tape, flags=flags)
