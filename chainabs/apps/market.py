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
from chainabs.chain.market import (
    INSUFFICIENT_ALLOWANCE,
    INVALID_OPERATOR,
    TRANSFER_OK,
    ZERO_ADDRESS,
    Market,
    OrderView,
    blocked_text,
    explain,
    format_time,
    show_amount,
)
from chainabs.chain.read.deal import deployment_block, web3_for
from chainabs.chain.sender import Sender, Signer, TxError
from chainabs.model.market import (
    MarketError,
    OrderId,
    SurveillanceConfig,
    TradeWatch,
    cash_for,
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


def open_market(rpc: str | Web3, address: str | None, *, deal: str | None = None, spv: str | None = None,
                manifest_dir: str | Path | None = None) -> Market:
    """The venue at ``address`` (default ``MARKET_ADDRESS``, else the one recorded in the deal's manifest by
    ``chainabs market open``: the deal found as the operation commands find it, ``deal`` / ``spv`` / the chain's
    only deal, :func:`chainabs.chain.operations.find_deal`) over ``rpc``; refuses an address without the venue's
    code."""
    address = (address or os.environ.get(MARKET_ENV, "")).strip()
    if address and not Web3.is_address(address):
        raise MarketCommandError(f"--market {address!r}: not an address")
    w3 = web3_for(rpc)
    if not address:
        address = venue_of_deal(w3, deal=deal, spv=spv, manifest_dir=manifest_dir)
    if not w3.eth.get_code(Web3.to_checksum_address(address)):
        raise MarketCommandError(f"--market {address}: no contract there on chain {w3.eth.chain_id}")
    return Market(w3, address, Sender(w3))


def venue_of_deal(w3: Web3, *, deal: str | None = None, spv: str | None = None,
                  manifest_dir: str | Path | None = None) -> str:
    """The venue ``chainabs market open`` recorded in the deal's manifest (``contracts.market``); one line naming
    what is missing otherwise."""
    from chainabs.chain import operations as ops

    ask = f"give --market ADDRESS or set {MARKET_ENV}"
    try:
        d = ops.find_deal(w3, deal=deal, spv=spv, root=Path(manifest_dir) if manifest_dir else None)
    except ops.OperationError as exc:
        raise MarketCommandError(f"no venue: {ask}, or name the deal whose manifest records one ({exc})") from None
    except OSError:  # requests' connection errors: no node to find the deal on
        raise MarketCommandError(f"no venue: {ask} (the node could not be reached to find the venue recorded in the "
                                 "deal's manifest)") from None
    address = d.addresses.get(ops.MARKET_KEY)
    if not address:
        name = d.name or d.spv.address
        where = f"its manifest {d.manifest}" if d.manifest else "no manifest (found by its SPV)"
        raise MarketCommandError(f"no venue: the deal {name} has none recorded ({where}); open one with "
                                 f"`chainabs market open --deal {name}`, or {ask}")
    return str(address)


def _token(text: str) -> str:
    if not Web3.is_address(str(text).strip()):
        raise MarketCommandError(f"token {text!r}: not an address")
    return Web3.to_checksum_address(str(text).strip())


# ------------------------------------------------------------------------------------------------ commands


def book(market: Market, token: str, *, levels: int = 10, maker: str | None = None,
         console: Console | None = None) -> pd.DataFrame:
    """Print both sides of ``token``'s book (best first, currency units), the open orders at those prices with
    their ids (as ``take`` and ``cancel`` accept them) and the best bid and ask, and with ``maker`` that account's
    open orders on the token; returns the book in base units."""
    console = console or Console()
    token = _token(token)
    decimals = market.decimals
    start = deployment_block(market.w3, market.address)
    if maker is not None:
        if not Web3.is_address(maker):
            raise MarketCommandError(f"maker {maker!r}: not an address")
        mine = market.open_orders(maker, start, token)
        console.print(f"open orders of {Web3.to_checksum_address(maker)}: {len(mine) or 'none'}", highlight=False)
        for o in mine:  # one line each: order ids are 66 characters, too wide for a table
            console.print(f"  {_order_line(o, decimals)}", highlight=False, soft_wrap=True)
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
    if not frame.empty:
        shown = {(row.side, int(row.price)) for row in frame.itertuples(index=False)}
        orders = [o for o in market.book_orders(token, start) if (o.side, o.price) in shown]
        console.print(f"orders (take or cancel by id): {len(orders)}", highlight=False)
        for o in orders:  # one line each: order ids are 66 characters, too wide for a table
            console.print(f"  {_order_line(o, decimals, maker=True)}", highlight=False, soft_wrap=True)
    (bid, bq), (ask, aq) = market.best(token)
    console.print(f"best bid {format_price(bid) if bq else '-'}  best ask {format_price(ask) if aq else '-'}",
                  highlight=False)
    return frame


def _order_line(o: OrderView, decimals: int, *, maker: bool = False) -> str:
    return (f"{o.side} {format_order_id(o.id)} {format_amount(o.remaining, decimals)} units at "
            f"{format_price(o.price)}, expires {format_time(o.expiry)}" + (f", by {o.maker}" if maker else "")
            + (f", for {o.counterparty} only" if o.counterparty else ""))


def _refused(words: str, error: str = "") -> MarketCommandError:
    """A refusal found by reading, before anything was sent (``error``: the venue's error it stands for)."""
    return MarketCommandError(words + (f" ({error})" if error else "") + "; nothing sent")


def _simulated(market: Market, who: str, fn: str, *args: Any, fixed_by_preparation: int | None = None) -> None:
    """Refuse what the venue would refuse ``fn(*args)`` from ``who`` with now, except the refusal the command's
    own preparation removes (``fixed_by_preparation``: the ERC-1066 code of a missing allowance or operator
    authorization)."""
    error = market.would_refuse(who, fn, *args)
    if error is None or not error.name:
        return
    if fixed_by_preparation is not None and error.name in ("CashUnavailable", "TransferBlocked"):
        code = int.from_bytes(bytes(error.args[1 if error.name == "CashUnavailable" else 2]), "big")
        if code == fixed_by_preparation:
            return
    raise MarketCommandError(explain(error, market.decimals) + "; nothing sent")


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
        raise MarketCommandError(f"expiry {format_time(until)} is not after the chain's time {format_time(now)}")
    if counterparty is not None and not Web3.is_address(counterparty):
        raise MarketCommandError(f"counterparty {counterparty!r}: not an address")
    cash = market.cash_for(token, venue_price, units)
    part = {"unrestricted": UNRESTRICTED, "locked": LOCKED}.get(partition) if side == "ask" else UNRESTRICTED
    if part is None:
        raise MarketCommandError(f"partition {partition!r}: expected unrestricted or locked")
    _check_post(market, signer, token, side, venue_price, units, until, counterparty, part, cash)
    try:
        if side == "ask":
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
        raise MarketCommandError(explain(exc, decimals)) from None
    console.print(f"posted {side} {format_order_id(posted.id)}: {format_amount(units, decimals)} units at "
                  f"{format_price(venue_price)} (cash now {format_amount(cash, decimals)}), expires "
                  f"{format_time(until)}; gas {posted.receipt.gas_used:,}", highlight=False, soft_wrap=True)
    return posted.id


def _check_post(market: Market, signer: Signer, token: str, side: str, price: int, units: int, until: int,
                counterparty: str | None, partition: bytes, cash: int) -> None:
    """What the venue would refuse the post with, read before anything (the operator authorization, the
    allowance) is sent."""
    me = signer.address
    counterparty = Web3.to_checksum_address(counterparty) if counterparty else None
    if not market.listing(token)[0]:
        raise _refused(f"token {token} is not listed on the venue {market.address}", "TokenNotListed")
    if counterparty == me:
        raise _refused(f"--counterparty {counterparty} is yourself", "SelfTrade")
    if cash == 0:
        raise _refused(f"{show_amount(units, market.decimals)} units at {format_price(price)} is no cash at factor "
                       f"{market.factor(token) / 10**18:.6f}", "ZeroCash")
    decimals = market.decimals
    if side == "ask":
        to = counterparty or me
        code, reason = market.transfer_status(token, me, to, partition, units)
        if code != TRANSFER_OK:
            raise _refused(blocked_text(me, to, code, reason), "TransferBlocked")
        fn = market.token(token).functions
        left = int(fn.balanceOf(me).call()) - units
        minimum = int(fn.minimumHolding().call()) if counterparty is None and left > 0 else 0
        if 0 < left < minimum:
            raise _refused(f"after selling {show_amount(units, decimals)} units you would keep "
                           f"{show_amount(left, decimals)}, below the minimum holding {show_amount(minimum, decimals)}",
                           "TransferBlocked")
        _simulated(market, me, "postAsk", token, partition, price, units, until, counterparty or ZERO_ADDRESS,
                   fixed_by_preparation=INVALID_OPERATOR)
    else:
        balance, _ = market.cash_of(me)
        if balance < cash:
            raise _refused(f"you hold {show_amount(balance, decimals)} of the currency, the bid's cash is "
                           f"{show_amount(cash, decimals)}", "CashUnavailable")
        _simulated(market, me, "postBid", token, price, units, until, counterparty or ZERO_ADDRESS,
                   fixed_by_preparation=INSUFFICIENT_ALLOWANCE)


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
    cash = _check_take(market, signer, view, units, limit)
    try:
        if view.ask:
            _ensure_allowance(market, signer, cash, console)
        else:
            fn = market.token(view.token).functions
            if not (fn.isOperator(market.address, signer.address).call()
                    or fn.isOperatorForPartition(UNRESTRICTED, market.address, signer.address).call()):
                market.authorize_seller(signer, view.token, UNRESTRICTED)
                console.print(f"made the venue {market.address} your operator for unrestricted units", highlight=False)
        trade = market.take(signer, oid, units, limit)
    except TxError as exc:
        raise MarketCommandError(explain(exc, decimals)) from None
    f = trade.fill
    console.print(f"{'bought' if view.ask else 'sold'} {format_amount(f.quantity, decimals)} units at "
                  f"{format_price(f.price)} for {format_amount(f.cash, decimals)} (factor {f.factor / 10**18:.6f}); "
                  f"{format_amount(f.remaining, decimals)} left on the order; gas {trade.receipt.gas_used:,}",
                  highlight=False)
    return {"buyer": f.buyer, "seller": f.seller, "price": f.price, "quantity": f.quantity, "cash": f.cash,
            "remaining": f.remaining, "tx": trade.receipt.tx_hash}


def _check_take(market: Market, signer: Signer, view: OrderView, units: int, limit: int | None) -> int:
    """What the venue, the token or the currency would refuse the take with, read before anything (the
    allowance, the operator authorization) is sent, in the venue's order; returns the fill's cash."""
    shown, me, decimals = format_order_id(view.id), signer.address, market.decimals

    def u(amount: int) -> str:
        return show_amount(amount, decimals)

    if view.remaining == 0:
        raise _refused(f"order {shown} is closed (filled or cancelled)", "OrderClosed")
    now = int(market.w3.eth.get_block("latest")["timestamp"])
    if now > view.expiry:
        raise _refused(f"order {shown} expired at {format_time(view.expiry)}", "OrderExpired")
    if units == 0:
        raise _refused("--quantity must be above 0", "ZeroQuantity")
    if units > view.remaining:
        raise _refused(f"order {shown} has {u(view.remaining)} units left, --quantity asks {u(units)}",
                       "QuantityExceedsRemaining")
    if view.maker == me:
        raise _refused(f"order {shown} is your own ({me}): cancel it instead", "SelfTrade")
    if view.counterparty is not None and view.counterparty != me:
        raise _refused(f"order {shown} is reserved for {view.counterparty}, not {me}", "NotCounterparty")
    if not market.listing(view.token)[0]:
        raise _refused(f"order {shown}: its token {view.token} is not listed on the venue any more",
                       "TokenNotListed")
    factor = market.factor(view.token)
    cash = cash_for(view.price, units, factor)
    if cash == 0:
        raise _refused(f"{u(units)} units of order {shown} at factor {factor / 10**18:.6f} is no cash", "ZeroCash")
    if limit is not None and view.ask and cash > limit:
        raise _refused(f"buying {u(units)} units of order {shown} costs {u(cash)}, above --cash-limit {u(limit)}",
                       "CashOutsideLimit")
    if limit is not None and not view.ask and cash < limit:
        raise _refused(f"selling {u(units)} units into order {shown} pays {u(cash)}, below --cash-limit {u(limit)}",
                       "CashOutsideLimit")
    partition = LOCKED if OrderId.decode(view.id).locked else UNRESTRICTED
    buyer, seller = (me, view.maker) if view.ask else (view.maker, me)
    if view.ask and not market.token(view.token).functions.isOperatorForPartition(
            partition, market.address, view.maker).call():
        raise _refused(f"the maker {view.maker} of order {shown} no longer lets the venue move its units",
                       "TransferBlocked")
    code, reason = market.transfer_status(view.token, seller, buyer, partition, units)
    if code != TRANSFER_OK:
        raise _refused(blocked_text(seller, buyer, code, reason), "TransferBlocked")
    balance, allowed = market.cash_of(buyer)
    if view.ask and balance < cash:
        raise _refused(f"you hold {u(balance)} of the currency, buying {u(units)} units of order {shown} costs "
                       f"{u(cash)}", "CashUnavailable")
    if not view.ask and min(balance, allowed) < cash:
        raise _refused(f"the bid's maker {view.maker} cannot pay {u(cash)} for {u(units)} units: holds "
                       f"{u(balance)}, allows the venue {u(allowed)}", "CashUnavailable")
    # anything else the venue would refuse (the preparation aside: the buyer's allowance, the seller's operator)
    _simulated(market, me, "take", view.id, units,
               limit if limit is not None else (2**256 - 1 if view.ask else 0),
               fixed_by_preparation=INSUFFICIENT_ALLOWANCE if view.ask else INVALID_OPERATOR)
    return cash


def cancel(market: Market, signer: Signer, order: str | int, *, console: Console | None = None) -> int:
    """Cancel what is left of an order; returns the units withdrawn."""
    console = console or Console()
    oid = parse_order_id(order)
    _simulated(market, signer.address, "cancel", oid)
    try:
        receipt = market.cancel(signer, oid)
    except TxError as exc:
        raise MarketCommandError(explain(exc, market.decimals)) from None
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
