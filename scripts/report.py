"""`brownie run scripts/report.py main <spv-address> [out-dir]`: investor, pool and regulator reports
rebuilt from chain data (views and event logs) of the connected network."""

from pathlib import Path


def main(spv: str, out: str | None = None) -> None:
    from brownie import web3

    from chainabs.chain import connection as chain
    from chainabs.apps import reports

    chain.ensure_connected()
    args = ["--rpc", web3.provider.endpoint_uri, "--spv", spv]
    if out:
        args += ["--out", str(Path(out))]
    reports.main(args)
