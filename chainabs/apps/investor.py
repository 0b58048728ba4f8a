"""``chainabs investor``: an investor's positions across tranche tokens, and claiming what they owe.

The investor signs as every command does (:mod:`chainabs.chain.signers`): ``--keystore FILE``, a brownie account
(``--account`` or ``INVESTOR_ACCOUNT``) or ``INVESTOR_PRIVATE_KEY`` (hex); never with an account the node holds
unlocked. Positions are read by :func:`chainabs.chain.read.tranches.positions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from chainabs.apps.display import print_table

from chainabs.chain import connection, signers
from chainabs.chain.contracts import contract_at
from chainabs.chain.read.tranches import positions
from chainabs.chain.tokens import claim
from chainabs.model.numbers import format_amount, format_units


def investor_account(name: str | None = None, keystore: str | None = None) -> object:
    """Brownie's account of the investor's signer (:func:`chainabs.chain.signers.select`: ``keystore``, the
    brownie account ``name`` / ``INVESTOR_ACCOUNT``, ``INVESTOR_PRIVATE_KEY``; never an unlocked account)."""
    return signers.brownie_account(signers.select("investor", keystore=keystore, account=name))


#: The positions table's columns: (heading, column of :func:`chainabs.chain.read.tranches.positions`).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("units", "balance"), ("unrestricted", "unrestricted"), ("locked", "locked"),
    ("principal outstanding", "principal_outstanding"), ("interest to claim", "interest_withdrawable"),
    ("principal to claim", "principal_withdrawable"), ("interest claimed", "interest_withdrawn"),
    ("principal claimed", "principal_withdrawn"),
)


def positions_table(frame: pd.DataFrame, decimals: int, symbol: str, holder: str) -> Table:
    """The investor's positions, one row per tranche, amounts in currency units with separators, exact (the data
    stays in base units)."""
    table = Table(title=f"positions of {holder} (amounts in {symbol})")
    table.add_column("class")
    for heading, _ in COLUMNS:
        table.add_column(heading, justify="right")
    for _, row in frame.iterrows():
        table.add_row(str(row["symbol"]), *(format_units(int(row[col]), decimals) for _, col in COLUMNS))
    return table


def deal_tokens(*, deal: str | None = None, spv: str | None = None, manifest_dir: Path | None = None) -> list[str]:
    """The tranche tokens of the deal found, on the connected network, as the operation commands find it
    (``deal`` / ``spv`` / the chain's only deployed deal, :func:`chainabs.chain.operations.find_deal`)."""
    from chainabs.chain import operations as ops

    found = ops.find_deal(connection.connected_web3(), deal=deal, spv=spv, root=manifest_dir)
    return [str(t.address) for t in found.tokens]


def run(tokens: Sequence[str], *, claim_funds: bool = False, account: str | None = None,
        keystore: str | None = None, console: Console | None = None) -> pd.DataFrame:
    """Show (and with ``claim_funds`` first claim, from the tokens that owe something) the investor's positions in
    ``tokens`` on the connected network; returns the positions table."""
    console = console or Console()
    if not tokens:
        raise connection.ChainConfigError("no tranche tokens: give their addresses, set TRANCHE_TOKENS, or name the "
                                          "deal (--deal NAME / --spv ADDRESS)")
    investor = investor_account(account, keystore)
    contracts = [contract_at("TrancheToken", a) for a in tokens]
    dec = int(contracts[0].decimals())
    if claim_funds:
        owing = [t for t in contracts if int(t.withdrawableFundsOf(investor.address))]
        if not owing:
            console.print("nothing to claim (nothing sent)", highlight=False)
        for token in owing:  # a token owing nothing is not called: no gas spent on nothing
            interest, principal = claim(token, investor)
            console.print(f"claimed {token.symbol()}: interest {format_amount(interest, dec)}, principal "
                          f"{format_amount(principal, dec)}", highlight=False)
    frame = positions(connection.connected_web3(), [str(t.address) for t in contracts], [str(investor.address)])
    currency = contract_at("TestStablecoin", str(contracts[0].currency()))  # any ERC-20: its symbol()
    console.print(f"investor {investor.address}", highlight=False)
    print_table(console, positions_table(frame, dec, str(currency.symbol()), str(investor.address)))
    return frame
