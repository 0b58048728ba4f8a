"""One investor of a deal: positions per tranche and partition, claimable and claimed funds (token views,
through the one position reader :func:`chainabs.chain.read.tranches.positions`), and the investor's history
from the deal's events: subscriptions, claims, transfers in and out, forced transfers.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from web3 import Web3

from chainabs.chain.read.deal import DealReader
from chainabs.chain.read.tranches import positions

#: Columns of an investor's history.
HISTORY_COLUMNS = ("block", "time", "tx", "action", "symbol", "amount", "interest", "principal", "counterparty")
_ZERO = "0x0000000000000000000000000000000000000000"


def investor_positions(d: DealReader, address: str) -> pd.DataFrame:
    """The investor's position in every tranche of the deal (rows with nothing held or owed included: the
    page shows every class)."""
    return positions(d.w3, d.tokens, [address])


def investor_history(d: DealReader, address: str) -> pd.DataFrame:
    """What the investor did or was done to, from the deal's events, in chain order: ``subscribed`` (class,
    amount paid), ``claimed`` (interest, principal), ``received`` / ``sent`` tranche units (counterparty),
    ``forced transfer in`` / ``forced transfer out`` (a controller's), ``refunded``."""
    who = Web3.to_checksum_address(address)
    symbol_of = dict(zip(d.tokens, d.token_symbols, strict=True))
    rows: list[dict[str, Any]] = []

    def add(e: Any, action: str, symbol: str = "", amount: int | None = None, interest: int | None = None,
            principal: int | None = None, counterparty: str = "") -> None:
        rows.append({"block": e.block_number, "tx": e.tx_hash, "log_index": e.log_index, "action": action,
                     "symbol": symbol, "amount": amount, "interest": interest, "principal": principal,
                     "counterparty": counterparty})

    for e in d.of("Subscribed"):
        if e.args["investor"] == who:
            add(e, "subscribed", d.token_symbols[int(e.args["classIndex"])], amount=int(e.args["amount"]))
    for e in d.of("Refunded"):
        if e.args["holder"] == who:
            add(e, "refunded", amount=int(e.args["amount"]))
    for e in d.of("FundsWithdrawn"):
        if e.address in symbol_of and e.args["holder"] == who:
            add(e, "claimed", symbol_of[e.address], interest=int(e.args["interest"]), principal=int(e.args["principal"]))
    forced = {(e.tx_hash, e.address) for e in d.of("ControllerTransfer")}
    for e in d.of("Transfer"):
        if e.address not in symbol_of:
            continue
        src, dst, value = e.args["from"], e.args["to"], int(e.args["value"])
        kind = "forced transfer" if (e.tx_hash, e.address) in forced else None
        if dst == who and src != _ZERO:
            add(e, f"{kind} in" if kind else "received", symbol_of[e.address], amount=value, counterparty=src)
        elif src == who and dst != _ZERO:
            add(e, f"{kind} out" if kind else "sent", symbol_of[e.address], amount=value, counterparty=dst)
    frame = pd.DataFrame(rows, columns=["block", "tx", "log_index", "action", "symbol", "amount", "interest",
                                        "principal", "counterparty"])
    frame = frame.sort_values(["block", "log_index"], kind="stable").drop(columns="log_index").reset_index(drop=True)
    times = d.block_times(frame["block"].astype(int).tolist())
    frame.insert(1, "time", [times[int(b)] for b in frame["block"]])
    return frame[list(HISTORY_COLUMNS)]


def known_investor(d: DealReader, address: str) -> bool:
    """True when ``address`` ever subscribed, held or received anything in the deal (by its events)."""
    who = Web3.to_checksum_address(address)
    for e in d.of("Subscribed"):
        if e.args["investor"] == who:
            return True
    for e in d.of("Transfer"):
        if e.address in d.tokens and who in (e.args["from"], e.args["to"]):
            return True
    return False
