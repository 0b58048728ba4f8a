"""``chainabs investor``: an investor's positions across tranche tokens, and claiming what they owe.

The investor signs as every command does (:mod:`chainabs.chain.signers`): ``--keystore FILE``, a brownie account
(``--account`` or ``INVESTOR_ACCOUNT``) or ``INVESTOR_PRIVATE_KEY`` (hex); never with an account the node holds
unlocked. Positions are read by :func:`chainabs.chain.read.tranches.positions`.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from rich.console import Console

from chainabs.chain import connection, signers
from chainabs.chain.contracts import contract_at
from chainabs.chain.read.tranches import positions, render_positions
from chainabs.chain.tokens import claim
from chainabs.model.numbers import format_amount


def investor_account(name: str | None = None, keystore: str | None = None) -> object:
    """Brownie's account of the investor's signer (:func:`chainabs.chain.signers.select`: ``keystore``, the
    brownie account ``name`` / ``INVESTOR_ACCOUNT``, ``INVESTOR_PRIVATE_KEY``; never an unlocked account)."""
    return signers.brownie_account(signers.select("investor", keystore=keystore, account=name))


def run(tokens: Sequence[str], *, claim_funds: bool = False, account: str | None = None,
        keystore: str | None = None, console: Console | None = None) -> pd.DataFrame:
    """Show (and with ``claim_funds`` first claim) the investor's positions in ``tokens`` on the connected
    network; returns the positions table."""
    console = console or Console()
    if not tokens:
        raise connection.ChainConfigError("no tranche tokens: give their addresses (or set TRANCHE_TOKENS)")
    investor = investor_account(account, keystore)
    contracts = [contract_at("TrancheToken", a) for a in tokens]
    if claim_funds:
        for token in contracts:
            interest, principal = claim(token, investor)
            dec = int(token.decimals())
            console.print(f"claimed {token.symbol()}: interest {format_amount(interest, dec)}, principal "
                          f"{format_amount(principal, dec)}", highlight=False)
    frame = positions(connection.connected_web3(), [str(t.address) for t in contracts], [str(investor.address)])
    console.print(f"investor {investor.address}")
    console.print(render_positions(frame, int(contracts[0].decimals())), highlight=False)
    return frame
