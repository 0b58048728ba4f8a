"""`brownie run scripts/report.py main <spv-address> [options]`: reports rebuilt from chain data of the
connected network (`chainabs report`; options after `--` or as words, e.g. `out=reports/x`)."""

from chainabs.apps.cli import script
from chainabs.chain.connection import endpoint


def main(spv: str, *flags: str) -> None:
    script("report", spv, "--rpc", endpoint(), flags=flags)
