"""The main job behind ``make demo``: a deal run end to end on a local chain, printed as it goes."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from chainabs import chain

console = Console()


def run() -> dict[str, str]:
    """Deploy the deal currency on the connected chain and report what was done.

    Returns the deployed addresses by name.
    """
    proj = chain.ensure_connected()
    from brownie import web3

    admin = chain.deployer()
    console.rule("[bold]ChainABS demo")
    console.print(f"chain id {web3.eth.chain_id}, block {web3.eth.block_number}, deployer {admin.address}")
    currency = proj.TestStablecoin.deploy("Test USD", "tUSD", 6, chain.tx(admin))
    console.print(f"deployed TestStablecoin at {currency.address} (gas {currency.tx.gas_used:,})")
    table = Table(title="Deployed")
    table.add_column("contract")
    table.add_column("address")
    table.add_row("TestStablecoin", currency.address)
    console.print(table)
    return {"TestStablecoin": currency.address}
