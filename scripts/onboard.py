"""`brownie run scripts/onboard.py main <tape> [options]`: onboard a loan tape (`chainabs onboard`; options
after `--` or as words, e.g. `registry=0x...`, `pool=3`, `kind=lease`, `today=2024-07-01`)."""

from chainabs.apps.cli import script


def main(tape: str, *flags: str) -> None:
    script("onboard", tape, flags=flags)
