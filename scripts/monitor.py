"""`brownie run scripts/monitor.py main <spv-address> [state-dir] [polls]`: follow a deal's contracts and
print / append to <state-dir>/events.jsonl every alert and privileged action, resuming from a checkpoint."""

from pathlib import Path


def main(spv: str, state: str = "reports/monitor", polls: str | None = None) -> None:
    from brownie import web3

    from chainabs import chain, monitor, reports

    chain.ensure_connected()
    url = web3.provider.endpoint_uri
    watch = reports.deal_contracts(url, spv)
    monitor.follow(url, watch, Path(state), max_polls=int(polls) if polls else None)
