"""`brownie run scripts/monitor.py main <spv-address> [options]`: follow a deal's alerts and privileged
actions on the connected network (`chainabs monitor`; options after `--` or as words, e.g.
`state=reports/monitor/mydeal` (default `reports/monitor/<chainid>/<spv>`), `max-polls=10`)."""

from chainabs.apps.cli import script
from chainabs.chain.connection import endpoint


def main(spv: str, *flags: str) -> None:
    script("monitor", spv, "--rpc", endpoint(), flags=flags)
