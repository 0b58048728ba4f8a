"""`brownie run scripts/verify_tape.py main <spv-address> <period> <tape.csv> [mismatches.csv]`: check a copy of a
period's loan-level servicing tape against what the servicer committed on chain (Merkle root, report
aggregates, every loan against the asset registry); prints the mismatches, empty when the tape is genuine."""

from pathlib import Path


def main(spv: str, period: str, tape: str, out: str | None = None) -> None:
    from brownie import web3

    from chainabs.chain import connection as chain
    from chainabs.apps import verify

    chain.ensure_connected()
    args = ["--rpc", web3.provider.endpoint_uri, "--spv", spv, "--period", str(int(period)), "--tape", str(Path(tape))]
    if out:
        args += ["--out", str(Path(out))]
    verify.main(args)
