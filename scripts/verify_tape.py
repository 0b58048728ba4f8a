"""`brownie run scripts/verify_tape.py main <spv-address> <period> <tape.csv> [out=mismatches.csv]`: check a
copy of a period's servicing tape against the connected network (`chainabs verify-tape`)."""

from chainabs.apps.cli import script
from chainabs.chain.connection import endpoint


def main(spv: str, period: str, tape: str, *flags: str) -> None:
    script("verify-tape", spv, period, tape, "--rpc", endpoint(), flags=flags)
