"""The one reader of investors' positions in tranche tokens, from their views alone (RPC URL or Web3 and
addresses): what the ``chainabs investor`` command shows and what the reports' holder statements list.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from web3 import Web3

from chainabs.chain.abis import load_abi
from chainabs.chain.read.deal import TOKEN_ABI, web3_for

#: ERC-1410 partitions of a tranche token (bytes32, right-padded ASCII).
UNRESTRICTED = b"unrestricted".ljust(32, b"\0")
LOCKED = b"locked".ljust(32, b"\0")

#: One row per (token, holder); amounts in the currency's base units (token units for balances).
POSITION_COLUMNS: tuple[str, ...] = (
    "token", "symbol", "holder", "balance", "unrestricted", "locked", "principal_outstanding",
    "interest_withdrawable", "principal_withdrawable", "interest_withdrawn", "principal_withdrawn",
)


def positions(rpc: str | Web3, tokens: Iterable[str], holders: Iterable[str], *,
              skip_empty: bool = False) -> pd.DataFrame:
    """Each holder's position in each tranche token (:data:`POSITION_COLUMNS`): balance by partition, share
    of the outstanding principal (rounded down), interest and principal claimable and already claimed.

    ``skip_empty`` leaves out holders with no balance who never had anything to claim in that token.
    """
    w3 = web3_for(rpc)
    abi = load_abi(TOKEN_ABI)
    who = [Web3.to_checksum_address(h) for h in holders]
    rows = []
    for address in tokens:
        token = w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi).functions
        symbol = token.symbol().call()
        supply = int(token.totalSupply().call())
        principal = int(token.currentPrincipal().call())
        for holder in who:
            balance = int(token.balanceOf(holder).call())
            withdrawable_interest, withdrawable_principal = (int(v) for v in token.withdrawableOf(holder).call())
            withdrawn_interest, withdrawn_principal = (int(v) for v in token.withdrawnOf(holder).call())
            if skip_empty and balance == 0 and not (withdrawable_interest or withdrawable_principal
                                                    or withdrawn_interest or withdrawn_principal):
                continue
            rows.append({
                "token": token.address if hasattr(token, "address") else Web3.to_checksum_address(address),
                "symbol": symbol, "holder": holder, "balance": balance,
                "unrestricted": int(token.balanceOfByPartition(UNRESTRICTED, holder).call()),
                "locked": int(token.balanceOfByPartition(LOCKED, holder).call()),
                "principal_outstanding": balance * principal // supply if supply else 0,
                "interest_withdrawable": withdrawable_interest, "principal_withdrawable": withdrawable_principal,
                "interest_withdrawn": withdrawn_interest, "principal_withdrawn": withdrawn_principal,
            })
    return pd.DataFrame(rows, columns=list(POSITION_COLUMNS))


def render_positions(frame: pd.DataFrame, decimals: int = 6) -> str:
    """Human-readable positions table (amounts converted from base units with ``decimals``)."""
    if frame.empty:
        return "no positions"
    shown = frame.drop(columns=["token", "holder"]).set_index("symbol")
    shown = shown.astype("float64") / 10**decimals
    return shown.to_string(float_format=lambda v: f"{v:,.{decimals}f}")
