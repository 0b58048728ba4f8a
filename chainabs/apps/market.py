"""``chainabs market``: the secondary market from the command line, its reports and its trade surveillance.

* Commands (:func:`book`, :func:`post`, :func:`take`, :func:`cancel`, :func:`trades`): amounts in currency
  units (``1,000.5``), prices per 100 of current principal (``99.5``; see :mod:`chainabs.model.market` for the
  quote convention), on any network reached by an RPC URL. Transactions are signed by a key from the
  environment (``INVESTOR_PRIVATE_KEY``), a brownie account or an encrypted keystore file, through the one
  sender (:class:`chainabs.chain.sender.Sender`); never by an account the node holds unlocked unless named.
* Reports (:func:`market_tables`, :func:`price_chart`, :func:`write_market_reports`, :func:`html_section`):
  trade tape, VWAP / last price / volume per tranche per period and a price chart, from chain data only.
* Surveillance (:class:`TradeSurveillance`): the regulator monitor's check of every fill, flagging a trade far
  from the tranche's last price (``config/market.yaml``) or between wallets of the same investor.
"""

from __future__ import annotations

import html
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table
from web3 import Web3

from chainabs.chain import signers
from chainabs.chain.contracts import LOCKED, UNRESTRICTED
from chainabs.chain.events import DecodedEvent
from chainabs.chain.market import Market, explain
from chainabs.chain.read.deal import deployment_block, web3_for
from chainabs.chain.sender import Sender, Signer, TxError
from chainabs.model.market import (
    MarketError,
    OrderId,
    SurveillanceConfig,
    TradeWatch,
    flag_trades,
    format_amount,
    format_order_id,
    format_price,
    parse_amount,
    parse_order_id,
    parse_price,
    period_stats,
)

#: Environment variables: the venue's address, the signer's hex key, a keystore's password.
MARKET_ENV = "MARKET_ADDRESS"
KEY_ENV = "INVESTOR_PRIVATE_KEY"
KEYSTORE_PASSWORD_ENV = signers.KEYSTORE_PASSWORD_ENV
DAY = 86_400


class MarketCommandError(ValueError):
    """A market command cannot run as asked (one line, naming what is wrong)."""


# ------------------------------------------------------------------------------------------------ signer


def signer_from(*, key_env: str = KEY_ENV, account: str | None = None, keystore: str | Path | None = None) -> Signer:
    """Who signs: an encrypted ``keystore`` file (password from ``CHAINABS_KEYSTORE_PASSWORD`` or asked), else
    the brownie account named ``account`` (asks for its password), else the hex key in ``key_env``
    (:func:`chainabs.chain.signers.select`, the one signer selection of every command)."""
    try:
        return signers.select("investor", keystore=keystore, account=account, key_env=key_env)
    except signers.SignerError as exc:
        text = str(exc).replace("no investor signer: set", "no signer: set")
        raise MarketCommandError(text) from None


def open_market(rpc: str | Web3, address: str | None) -> Market:
    """The venue at ``address`` (default ``MARKET_ADDRESS``) over ``rpc``; refuses an address without the venue's
    code."""
    address = (address or os.environ.get(MARKET_ENV, "")).strip()
    if not address:
        raise MarketCommandError(f"no venue: give --market ADDRESS or set {MARKET_ENV}")
    if not Web3.is_address(address):
        raise MarketCommandError(f"--market {address!r}: not an address")
    w3 = web3_for(rpc)
    if not w3.eth.get_code(Web3.to_checksum_address(address)):
        raise MarketCommandError(f"--market {address}: no contract there on chain {w3.eth.chain_id}")
    return Market(w3, address, Sender(w3))


def _token(text: str) -> str:
    if not Web3.is_address(str(text).strip()):
        raise MarketCommandError(f"token {text!r}: not an address")
    return Web3.to_checksum_address(str(text).strip())


# ------------------------------------------------------------------------------------------------ commands


def book(market: Market, token: str, *, levels: int = 10, maker: str | None = None,
         console: Console | None = None) -> pd.DataFrame:
    """Print both sides of ``token``'s book (best first, currency units) and the best bid and ask, and with
    ``maker`` that account's open orders on the token; returns the book in base units."""
    console = console or Console()
    token = _token(token)
    decimals = market.decimals
    if maker is not None:
        if not Web3.is_address(maker):
            raise MarketCommandError(f"maker {maker!r}: not an address")
        mine = market.open_orders(maker, deployment_block(market.w3, market.address), token)
        console.print(f"open orders of {Web3.to_checksum_address(maker)}: {len(mine) or 'none'}", highlight=False)
        for o in mine:  # one line each: order ids are 66 characters, too wide for a table
            console.print(f"  {format_order_id(o.id)} {o.side} {format_amount(o.remaining, decimals)} units left at "
                          f"{format_price(o.price)}, expires {o.expiry}"
                          + (f", for {o.counterparty} only" if o.counterparty else ""), highlight=False, soft_wrap=True)
    frame = market.book(token, levels)
    symbol = market.token(token).functions.symbol().call()
    factor = market.factor(token)
    table = Table(title=f"{symbol} order book (price per 100 of current principal; factor {factor / 10**18:.6f})")
    for name in ("side", "price", "units", "cash at price"):
        table.add_column(name, justify="right")
    for row in frame.itertuples(index=False):
        table.add_row(row.side, format_price(row.price), format_amount(row.quantity, decimals),
                      format_amount(market.cash_for(token, row.price, row.quantity), decimals))
    console.print(table if not frame.empty else f"{symbol}: the book is empty")
    (bid, bq), (ask, aq) = market.best(token)
    console.print(f"best bid {format_price(bid) if bq else '-'}  best ask {format_price(ask) if aq else '-'}",
                  highlight=False)
    return frame


def post(market: Market, signer: Signer, token: str, side: str, *, price: str, quantity: str, days: float = 30.0,
         expiry: int | None = None, counterparty: str | None = None, partition: str = "unrestricted",
         console: Console | None = None) -> int:
    """Post a bid or an ask (``side``) of ``quantity`` units at ``price``; first, when needed, makes the venue the
    signer's operator (asks) or raises its currency allowance by the order's cash (bids). Returns the order id."""
    console = console or Console()
    token = _token(token)
    if side not in ("bid", "ask"):
        raise MarketCommandError(f"side {side!r}: expected bid or ask")
    decimals = market.decimals
    venue_price = parse_price(price)
    units = parse_amount(quantity, decimals, "quantity")
    if units == 0:
        raise MarketCommandError("quantity must be above 0")
    now = int(market.w3.eth.get_block("latest")["timestamp"])
    until = int(expiry) if expiry is not None else now + int(days * DAY)
    if until <= now:
        raise MarketCommandError(f"expiry {until} is not after the chain's time {now}")
    if counterparty is not None and not Web3.is_address(counterparty):
        raise MarketCommandError(f"counterparty {counterparty!r}: not an address")
    cash = market.cash_for(token, venue_price, units)
    try:
        if side == "ask":
            part = {"unrestricted": UNRESTRICTED, "locked": LOCKED}.get(partition)
            if part is None:
                raise MarketCommandError(f"partition {partition!r}: expected unrestricted or locked")
            fn = market.token(token).functions
            if not (fn.isOperator(market.address, signer.address).call()
                    or fn.isOperatorForPartition(part, market.address, signer.address).call()):
                market.authorize_seller(signer, token, part)
                console.print(f"made the venue {market.address} your operator for {partition} units", highlight=False)
            posted = market.post_ask(signer, token, venue_price, units, until, partition=part, counterparty=counterparty)
        else:
            _ensure_allowance(market, signer, cash, console)
            posted = market.post_bid(signer, token, venue_price, units, until, counterparty=counterparty)
    except TxError as exc:
        raise MarketCommandError(explain(exc)) from None
    console.print(f"posted {side} {format_order_id(posted.id)}: {format_amount(units, decimals)} units at "
                  f"{format_price(venue_price)} (cash now {format_amount(cash, decimals)}), expires {until}; "
                  f"gas {posted.receipt.gas_used:,}", highlight=False, soft_wrap=True)
    return posted.id


def _ensure_allowance(market: Market, signer: Signer, cash: int, console: Console) -> None:
    from chainabs.chain.abis import load_abi

    erc20 = market.w3.eth.contract(address=market.currency, abi=load_abi("IERC20"))
    allowed = int(erc20.functions.allowance(signer.address, market.address).call())
    if allowed < cash:
        market.approve_cash(signer, allowed + cash)
        console.print(f"allowed the venue {format_amount(allowed + cash, market.decimals)} of your currency",
                      highlight=False)


def take(market: Market, signer: Signer, order: str | int, *, quantity: str | None = None,
         cash_limit: str | None = None, console: Console | None = None) -> dict[str, Any]:
    """Take ``quantity`` units (default: all that is left) of an order; ``cash_limit`` in currency units: the most
    paid when buying from an ask, the least received when selling into a bid. Returns the fill."""
    console = console or Console()
    oid = parse_order_id(order)
    view = market.order(oid)
    if view.maker == "0x" + "00" * 20 or int(view.maker, 16) == 0:
        raise MarketCommandError(f"order {format_order_id(oid)}: no such order on this venue")
    decimals = market.decimals
    units = view.remaining if quantity is None else parse_amount(quantity, decimals, "quantity")
    limit = None if cash_limit is None else parse_amount(cash_limit, decimals, "cash limit")
    try:
        if view.ask:
            cash = market.cash_for(view.token, view.price, units)
            _ensure_allowance(market, signer, cash, console)
        else:
            fn = market.token(view.token).functions
            if not (fn.isOperator(market.address, signer.address).call()
                    or fn.isOperatorForPartition(UNRESTRICTED, market.address, signer.address).call()):
                market.authorize_seller(signer, view.token, UNRESTRICTED)
                console.print(f"made the venue {market.address} your operator for unrestricted units", highlight=False)
        trade = market.take(signer, oid, units, limit)
    except TxError as exc:
        raise MarketCommandError(explain(exc)) from None
    f = trade.fill
    console.print(f"{'bought' if view.ask else 'sold'} {format_amount(f.quantity, decimals)} units at "
                  f"{format_price(f.price)} for {format_amount(f.cash, decimals)} (factor {f.factor / 10**18:.6f}); "
                  f"{format_amount(f.remaining, decimals)} left on the order; gas {trade.receipt.gas_used:,}",
                  highlight=False)
    return {"buyer": f.buyer, "seller": f.seller, "price": f.price, "quantity": f.quantity, "cash": f.cash,
            "remaining": f.remaining, "tx": trade.receipt.tx_hash}


def cancel(market: Market, signer: Signer, order: str | int, *, console: Console | None = None) -> int:
    """Cancel what is left of an order; returns the units withdrawn."""
    console = console or Console()
    oid = parse_order_id(order)
    try:
        receipt = market.cancel(signer, oid)
    except TxError as exc:
        raise MarketCommandError(explain(exc)) from None
    left = int(receipt.event("OrderCancelled")["quantity"])
    console.print(f"cancelled {format_order_id(oid)}: {format_amount(left, market.decimals)} units withdrawn",
                  highlight=False, soft_wrap=True)
    return left


def trades(market: Market, *, token: str | None = None, start_block: int | None = None, out: Path | None = None,
           console: Console | None = None) -> pd.DataFrame:
    """Print the trade tape (optionally of one tranche) and the per-period statistics; ``out``: write the tape
    as CSV. Returns the tape (base units)."""
    console = console or Console()
    start = deployment_block(market.w3, market.address) if start_block is None else int(start_block)
    tape = market.trades(start)
    if token:
        tape = tape[tape["token"] == _token(token)].reset_index(drop=True)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        tape.to_csv(out, index=False)
    if tape.empty:
        console.print("no trades")
        return tape
    decimals = market.decimals
    table = Table(title="Trades (price per 100 of current principal)")
    for name in ("block", "tranche", "taker", "buyer", "seller", "price", "units", "cash"):
        table.add_column(name, justify="right")
    for row in tape.itertuples(index=False):
        table.add_row(str(row.block), row.symbol, row.taker_side, row.buyer[:10], row.seller[:10], format_price(row.price),
                      format_amount(row.quantity, decimals), format_amount(row.cash, decimals))
    console.print(table)
    console.print(render_stats(period_stats(tape), decimals), highlight=False)
    return tape


# ------------------------------------------------------------------------------------------------ reports


def shown_stats(stats: pd.DataFrame, decimals: int) -> pd.DataFrame:
    """Per-period statistics for people: prices per 100, amounts in currency units with separators."""
    out = stats.drop(columns=["token"]).copy()
    for col in ("vwap", "last_price", "high", "low"):
        out[col] = [format_price(v) for v in out[col]]
    for col in ("quantity", "principal", "cash"):
        out[col] = [format_amount(v, decimals, 2) for v in out[col]]
    return out


def render_stats(stats: pd.DataFrame, decimals: int) -> str:
    if stats.empty:
        return "no trades"
    return shown_stats(stats, decimals).to_string(index=False)


def market_tables(market: Market, start_block: int = 0, *, tokens: Iterable[str] | None = None,
                  config: SurveillanceConfig | None = None) -> dict[str, pd.DataFrame]:
    """The market's report tables (base units, venue prices): ``market_trades`` (the tape with the
    surveillance's flags), ``market_periods`` (per tranche and period: trades, volume, VWAP, last, high,
    low); ``tokens`` keeps those tranches only."""
    tape = market.trades(start_block)
    if tokens is not None:
        keep = {Web3.to_checksum_address(str(t)) for t in tokens}
        tape = tape[tape["token"].isin(keep)].reset_index(drop=True)
    flagged = flag_trades(tape, market.related(tape), config)
    return {"market_trades": flagged, "market_periods": period_stats(tape)}


def price_chart(tape: pd.DataFrame) -> bytes | None:
    """PNG: each tranche's trade prices (per 100 of current principal) by block; None without trades."""
    if tape.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for symbol, grp in tape.groupby("symbol", sort=True):
        ax.plot(grp["block"], grp["price"] / 10_000, marker="o", label=str(symbol))
    ax.set_xlabel("block")
    ax.set_ylabel("price per 100 of current principal")
    ax.set_title("Secondary market trades")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def write_market_reports(tables: dict[str, pd.DataFrame], out_dir: Path) -> dict[str, Path]:
    """Write the market tables as CSV (``market_trades.csv`` is the trade tape) and ``market_prices.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, frame in tables.items():
        paths[name] = out_dir / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    png = price_chart(tables["market_trades"])
    if png is not None:
        paths["market_prices.png"] = out_dir / "market_prices.png"
        paths["market_prices.png"].write_bytes(png)
    return paths


def html_section(tables: dict[str, pd.DataFrame], decimals: int) -> str:
    """The "Secondary market" section of report.html: per-period statistics, the price chart, the trades with
    their flags (amounts in currency units)."""
    import base64

    tape, stats = tables["market_trades"], tables["market_periods"]
    parts = ["<h2>Secondary market</h2>",
             "<p>Prices per 100 of current principal; cash = price &times; units &times; factor / 100, rounded down "
             "(the remainder stays with the buyer). VWAP weighted by the current principal traded.</p>"]
    if tape.empty:
        return "\n".join(parts + ["<p>no trades</p>"])
    parts.append(shown_stats(stats, decimals).to_html(index=False))
    png = price_chart(tape)
    if png is not None:
        parts.append(f"<img alt='market prices' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    shown = pd.DataFrame({
        "block": tape["block"], "tranche": tape["symbol"], "period": tape["period"], "taker": tape["taker_side"],
        "buyer": tape["buyer"], "seller": tape["seller"], "price": [format_price(p) for p in tape["price"]],
        "units": [format_amount(q, decimals, 2) for q in tape["quantity"]],
        "cash": [format_amount(c, decimals, 2) for c in tape["cash"]], "flags": tape["flags"],
    })
    parts.append(shown.to_html(index=False, escape=True))
    return "\n".join(parts)


def deal_market_section(w3: Web3, tokens: Iterable[str], decimals: int, out_dir: Path,
                        address: str | None = None) -> str:
    """The reports' hook: when a venue is known (``address`` or ``MARKET_ADDRESS``) and has code, write its tables
    for the deal's ``tokens`` under ``out_dir`` and return the HTML section; else ""."""
    address = (address or os.environ.get(MARKET_ENV, "")).strip()
    if not address or not Web3.is_address(address) or not w3.eth.get_code(Web3.to_checksum_address(address)):
        return ""
    market = Market(w3, address)
    tables = market_tables(market, deployment_block(w3, market.address), tokens=list(tokens))
    write_market_reports(tables, out_dir)
    return html_section(tables, decimals)


# ------------------------------------------------------------------------------------------------ surveillance


@dataclass
class TradeSurveillance:
    """The monitor's trade surveillance: every ``OrderFilled`` of the venue in chain order against the tranche's
    last price and the identity registry's ``isSameInvestor``; flags raise the event to an alert."""

    market: Market
    config: SurveillanceConfig = field(default_factory=SurveillanceConfig)
    watch: TradeWatch = field(init=False)

    def __post_init__(self) -> None:
        self.watch = TradeWatch(self.config)

    def prime(self, up_to_block: int) -> None:
        """Learn the last prices from the fills up to ``up_to_block`` (a monitor resuming after a restart)."""
        if up_to_block < 0:
            return
        start = deployment_block(self.market.w3, self.market.address)
        for event in self.market.events(start, up_to_block):
            if event.event == "OrderFilled":
                self.watch.last[Web3.to_checksum_address(event["token"])] = int(event["price"])

    def flags(self, event: DecodedEvent) -> list[str]:
        """The flags of a fill (and it becomes its tranche's last price); [] for any other event."""
        if event.event != "OrderFilled" or Web3.to_checksum_address(event.address) != self.market.address:
            return []
        token = Web3.to_checksum_address(event["token"])
        related = False
        if self.config.flag_related_parties:
            frame = pd.DataFrame([{"token": token, "buyer": Web3.to_checksum_address(event["buyer"]),
                                   "seller": Web3.to_checksum_address(event["seller"])}])
            related = self.market.related(frame)[0]
        return self.watch.check(token, int(event["price"]), related)


__all__ = [
    "MarketCommandError", "MarketError", "OrderId", "TradeSurveillance", "book", "cancel", "deal_market_section",
    "html_section", "market_tables", "open_market", "post", "price_chart", "signer_from", "take", "trades",
    "write_market_reports",
]


def surveillance_for(rpc: str | Web3, market: str, config: str | Path | None = None) -> TradeSurveillance:
    """The trade surveillance of the venue at ``market`` with the settings of ``config`` (default
    ``config/market.yaml``)."""
    w3 = web3_for(rpc)
    return TradeSurveillance(Market(w3, market), SurveillanceConfig.load(config))


# ------------------------------------------------------------------------------------------------ demo


#: The demo's trade: a quarter of the seller's units at 99.75 per 100 of current principal.
DEMO_PRICE = "99.75"
DEMO_SHARE = 4


def demo_trade(admin: Any, currency: Any, token: Any, seller: Any, buyer: Any, *,
               console: Console | None = None) -> dict[str, Any]:
    """The demo's secondary-market step on the connected local chain: deploy a venue for ``currency``, list
    ``token``, ``seller`` offers a quarter of its units at 99.75 and ``buyer`` (given the test currency it
    needs) takes the whole order. Returns the venue's address and the fill."""
    from chainabs.chain.market import MAX_UINT256, deploy_market
    from chainabs.chain.sender import transact

    console = console or Console()
    market = deploy_market(admin, currency, [admin])
    market.list(admin, token.address)
    quantity = int(token.balanceOf(seller)) // DEMO_SHARE
    price = parse_price(DEMO_PRICE)
    now = int(market.w3.eth.get_block("latest")["timestamp"])
    market.authorize_seller(seller, token.address)
    posted = market.post_ask(seller, token.address, price, quantity, now + 7 * DAY)
    cash = market.cash_for(token.address, price, quantity)
    transact(currency.mint, buyer, cash, sender=admin)
    market.approve_cash(buyer, cash)
    trade = market.take(buyer, posted.id, quantity, MAX_UINT256)
    f, decimals = trade.fill, market.decimals
    console.print(f"   secondary market {market.address}: {buyer} bought {format_amount(f.quantity, decimals, 2)} "
                  f"{token.symbol()} units from {seller} at {format_price(f.price)} per 100 of current principal "
                  f"(factor {f.factor / 10**18:.6f}) for {format_amount(f.cash, decimals, 2)}, delivery versus payment "
                  f"in one transaction ({trade.receipt.gas_used:,} gas)", highlight=False)
    return {"market": market.address, "token": token.address, "symbol": token.symbol(), "buyer": f.buyer,
            "seller": f.seller, "price": f.price, "quantity": f.quantity, "cash": f.cash, "factor": f.factor,
            "gas": trade.receipt.gas_used}
