"""Tranche tokens read from their views alone (an RPC URL or Web3, and addresses): the state of each token
and the one reader of investors' positions (what the ``chainabs investor`` command shows, what the reports'
holder statements list, what the SPV's reconciliation compares with the model).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from web3 import Web3

from chainabs.chain.calls import Views
from chainabs.chain.contracts import LOCKED, UNRESTRICTED
from chainabs.chain.read.deal import TOKEN_ABI, batch_call, web3_for

#: The views of a tranche's state: column -> view function (all without arguments).
TRANCHE_VIEWS: dict[str, str] = {
    "name": "name", "symbol": "symbol", "decimals": "decimals", "currency": "currency", "coupon_bps": "couponBps",
    "original_face": "originalFace", "current_principal": "currentPrincipal", "factor": "factor",
    "cumulative_write_down": "cumulativeWriteDown", "interest_shortfall": "interestShortfall",
    "interest_distributed": "totalInterestDistributed", "principal_distributed": "totalPrincipalDistributed",
    "distributions": "distributionCount", "holders": "holderCount", "sweepable_dust": "sweepableDust",
    "paused": "paused",
}


def tranche_state(rpc: str | Web3, token: str) -> dict[str, Any]:
    """Everything an investor reads about a tranche (amounts in base units, factor in 1e18)."""
    w3 = web3_for(rpc)
    address = Web3.to_checksum_address(token)
    fn = Views(TOKEN_ABI, address)
    values = batch_call(w3, [getattr(fn, view)() for view in TRANCHE_VIEWS.values()])
    return {"address": address, **dict(zip(TRANCHE_VIEWS, values, strict=True))}


def tranche_states(rpc: str | Web3, tokens: Iterable[str]) -> pd.DataFrame:
    """:func:`tranche_state` of each token, one row per token (``class`` is its position in ``tokens``)."""
    w3 = web3_for(rpc)
    frame = pd.DataFrame([tranche_state(w3, t) for t in tokens])
    frame.insert(0, "class", range(len(frame)))
    return frame


#: Holders read per JSON-RPC batch (five calls each).
BATCH_HOLDERS = 100
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
    who = [Web3.to_checksum_address(h) for h in holders]
    rows = []
    for address in tokens:
        address = Web3.to_checksum_address(address)
        fn = Views(TOKEN_ABI, address)
        symbol, supply, principal = batch_call(w3, [fn.symbol(), fn.totalSupply(), fn.currentPrincipal()])
        answers: list[Any] = []
        for start in range(0, len(who), BATCH_HOLDERS):  # a few hundred calls per round trip
            answers += batch_call(w3, [call for holder in who[start : start + BATCH_HOLDERS] for call in (
                fn.balanceOf(holder), fn.balanceOfByPartition(UNRESTRICTED, holder),
                fn.balanceOfByPartition(LOCKED, holder), fn.withdrawableOf(holder), fn.withdrawnOf(holder))])
        for k, holder in enumerate(who):
            balance, unrestricted, locked, withdrawable, withdrawn = answers[5 * k : 5 * k + 5]
            if skip_empty and balance == 0 and not any((*withdrawable, *withdrawn)):
                continue
            rows.append({
                "token": address, "symbol": symbol, "holder": holder, "balance": int(balance),
                "unrestricted": int(unrestricted), "locked": int(locked),
                "principal_outstanding": int(balance) * int(principal) // int(supply) if supply else 0,
                "interest_withdrawable": int(withdrawable[0]), "principal_withdrawable": int(withdrawable[1]),
                "interest_withdrawn": int(withdrawn[0]), "principal_withdrawn": int(withdrawn[1]),
            })
    return pd.DataFrame(rows, columns=list(POSITION_COLUMNS))
