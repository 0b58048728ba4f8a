"""`brownie run scripts/monitor.py main <spv-address> [state-dir] [polls]`: follow a deal's contracts (discovered
from the SPV) and print / append to <state-dir>/events.jsonl every alert and privileged action, resuming
from a checkpoint after a restart."""

from pathlib import Path


def main(spv: str, state: str = "reports/monitor", polls: str | None = None) -> None:
    from brownie import web3

    from chainabs.chain import connection as chain
    from chainabs.apps import monitor

    chain.ensure_connected()
    args = ["--rpc", web3.provider.endpoint_uri, "--spv", spv, "--state", str(Path(state))]
    if polls:
        args += ["--max-polls", str(int(polls))]
    monitor.main(args)
