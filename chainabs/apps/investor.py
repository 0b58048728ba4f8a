"""``chainabs investor``: an investor's positions across tranche tokens, and claiming what they owe.

The investor signs with a key from ``INVESTOR_PRIVATE_KEY`` (hex) or a brownie account (``--account`` or
``INVESTOR_ACCOUNT``, asks for its password); never with an account the node holds unlocked. Positions are
read by :func:`chainabs.chain.read.tranches.positions`.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from rich.console import Console

from chainabs.chain import connection
from chainabs.chain.contracts import contract_at
from chainabs.chain.read.tranches import positions, render_positions
from chainabs.chain.tokens import claim


def investor_account(name: str | None = None) -> object:
    """The investor's signing account: ``INVESTOR_PRIVATE_KEY`` or the brownie account ``name`` /
    ``INVESTOR_ACCOUNT``."""
    account = connection.env_account("INVESTOR_PRIVATE_KEY", "INVESTOR_ACCOUNT", name)
    if account is None:
        raise connection.ChainConfigError(
            "no investor key: set INVESTOR_PRIVATE_KEY (hex) or INVESTOR_ACCOUNT (a brownie account name)"
        )
    return account


def run(tokens: Sequence[str], *, claim_funds: bool = False, account: str | None = None,
        console: Console | None = None) -> pd.DataFrame:
    """Show (and with ``claim_funds`` first claim) the investor's positions in ``tokens`` on the connected
    network; returns the positions table."""
    console = console or Console()
    if not tokens:
        raise connection.ChainConfigError("no tranche tokens: give their addresses (or set TRANCHE_TOKENS)")
    investor = investor_account(account)
    contracts = [contract_at("TrancheToken", a) for a in tokens]
    if claim_funds:
        for token in contracts:
            interest, principal = claim(token, investor)
            console.print(f"claimed {token.symbol()}: interest {interest} principal {principal} (base units)")
    frame = positions(connection.connected_web3(), [str(t.address) for t in contracts], [str(investor.address)])
    console.print(f"investor {investor.address}")
    console.print(render_positions(frame, int(contracts[0].decimals())), highlight=False)
    return frame
