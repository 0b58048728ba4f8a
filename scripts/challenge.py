"""`brownie run scripts/challenge.py main <spv-address> <servicing-tape.csv> [previous=TAPE] [prove]`: audit the
pending report's tape and optionally prove its first fault at the deal's court (`chainabs challenge`)."""

from chainabs.apps.cli import script


def main(spv: str, tape: str, *flags: str) -> None:
    script("challenge", spv, tape, flags=flags)
