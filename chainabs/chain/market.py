"""The trading venue (``contracts/market/TrancheMarket.sol``) from Python: deploy and list, post, take and
cancel orders, read the book, a maker's open orders and the trade tape.

:class:`Market` needs only a Web3 connection and the venue's address (the ABIs ship in the package); every
transaction goes through :class:`chainabs.chain.sender.Sender`, so a raw key, a keystore, a brownie account
or an account the node holds unlocked all sign the same way, on any network. Amounts are integers in base
units and prices in venue units (see :mod:`chainabs.model.market` for the quote convention); the command line
converts from and to currency units.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from web3 import Web3

from chainabs.chain.abis import DecodedError, load_abi
from chainabs.chain.contracts import LOCKED, UNRESTRICTED, bytes32_text, role_id
from chainabs.chain.events import DEFAULT_CHUNK, DecodedEvent, EventDecoder, read_events
from chainabs.chain.read.deal import deployment_block
from chainabs.chain.sender import Receipt, Sender, TxError
from chainabs.model.market import (
    TAPE_COLUMNS,
    Fill,
    OrderId,
    assign_periods,
    format_amount,
    format_order_id,
    principal_of,
)

#: ABI names of the venue and of what it trades.
MARKET_ABI = "TrancheMarket"
TOKEN_ABI = "TrancheToken"
ERC20_ABI = "IERC20Metadata"
REGISTRY_ABI = "IdentityRegistry"
ZERO_ADDRESS = "0x" + "00" * 20
MAX_UINT256 = 2**256 - 1
#: Events of the venue.
MARKET_EVENTS = ("TokenListed", "TokenDelisted", "OrderPosted", "OrderCancelled", "OrderFilled")

#: ERC-1066 codes the venue and the token refuse with.
STATUS_TEXT: dict[int, str] = {
    0x50: "transfer failure (rule breach)", 0x52: "insufficient balance", 0x53: "insufficient allowance",
    0x54: "transfers halted", 0x55: "funds locked", 0x56: "invalid sender", 0x57: "invalid receiver",
    0x58: "invalid operator (authorize the venue on the token first)",
}
#: ERC-1066 code of an accepted transfer, of missing funds and of a missing allowance.
TRANSFER_OK, INSUFFICIENT_BALANCE, INSUFFICIENT_ALLOWANCE, INVALID_OPERATOR = 0x51, 0x52, 0x53, 0x58


@dataclass(frozen=True)
class OrderView:
    """An order as the venue reports it (amounts in base units, price in venue units)."""

    id: int
    maker: str
    token: str
    ask: bool
    partition: str
    price: int
    remaining: int
    expiry: int
    counterparty: str | None
    open: bool

    @property
    def side(self) -> str:
        return "ask" if self.ask else "bid"


@dataclass(frozen=True)
class Posted:
    """A posted order: its id and the transaction."""

    id: int
    receipt: Receipt


@dataclass(frozen=True)
class Trade:
    """A fill: what moved (:class:`chainabs.model.market.Fill`) and the transaction."""

    fill: Fill
    receipt: Receipt


def format_time(timestamp: int) -> str:
    """Unix seconds as the date and time in UTC, ISO form (``2027-05-15T12:34:23Z``)."""
    return dt.datetime.fromtimestamp(int(timestamp), tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def show_amount(amount: int, decimals: int | None) -> str:
    """Base units as currency units with thousands separators, two decimals unless more are needed to be exact
    (``10,000.00``, ``1,000.50``, ``0.000001``); without ``decimals``, the base units themselves."""
    if decimals is None:
        return f"{int(amount):,} base units"
    exact = decimals <= 2 or int(amount) % 10 ** (decimals - 2) == 0
    return format_amount(int(amount), decimals, 2 if exact and decimals >= 2 else None)


def blocked_text(frm: str, to: str, code: int, reason: bytes | str) -> str:
    """A units-leg refusal in words: the token's ERC-1066 code, its meaning and reason, who to whom."""
    why = bytes32_text(reason) if isinstance(reason, (bytes, bytearray)) else str(reason)
    return (f"refused by the token's rules: 0x{code:02x} {STATUS_TEXT.get(code, 'refused')} ({why}; from {frm} "
            f"to {to})")


def _oid(value: Any) -> str:
    return format_order_id(int(value)) if int(value) else "(new order)"


#: The venue's refusals in words (arguments as the error carries them; ``u`` shows an amount).
VENUE_ERRORS: dict[str, Callable[[tuple[Any, ...], Callable[[int], str]], str]] = {
    "OrderNotFound": lambda a, u: f"no order {_oid(a[0])} on this venue",
    "OrderClosed": lambda a, u: f"order {_oid(a[0])} is closed (filled or cancelled)",
    "OrderExpired": lambda a, u: f"order {_oid(a[0])} expired at {format_time(a[1])}",
    "QuantityExceedsRemaining": lambda a, u: f"order {_oid(a[0])} has {u(a[2])} units left, {u(a[1])} asked",
    "SelfTrade": lambda a, u: f"{a[1]} would trade with itself" + (f" (order {_oid(a[0])})" if int(a[0]) else ""),
    "NotCounterparty": lambda a, u: f"order {_oid(a[0])} is reserved for {a[2]}, not {a[1]}",
    "NotMaker": lambda a, u: f"only its maker {a[2]} may cancel order {_oid(a[0])} before it expires, not {a[1]}",
    "CashOutsideLimit": lambda a, u: f"the fill's cash {u(a[0])} is outside the cash limit {u(a[1])}",
    "ZeroCash": lambda a, u: f"{u(a[0])} units at factor {int(a[1]) / 10**18:.6f} is no cash",
    "ZeroQuantity": lambda a, u: "the quantity must be above 0",
    "TokenNotListed": lambda a, u: f"token {a[0]} is not listed on this venue",
    "ExpiryNotInFuture": lambda a, u: f"expiry {format_time(a[0])} is not after the chain's time {format_time(a[1])}",
}


def explain(error: TxError | DecodedError, decimals: int | None = None) -> str:
    """A refused market transaction in words: the ERC-1066 code and reason of a ``TransferBlocked``, the cash
    leg of ``CashUnavailable``, the venue's other errors with order ids in hex and (given the currency's
    ``decimals``) amounts in currency units; else the decoded error."""
    if isinstance(error, DecodedError):
        name, args, text = error.name, tuple(error.args), str(error)
    else:
        name, args, text = error.name, tuple(error.error_args), str(error.error) if error.error else str(error)
    if name == "TransferBlocked":
        return blocked_text(args[0], args[1], int.from_bytes(bytes(args[2]), "big"), args[3])
    if name == "CashUnavailable":
        code = int.from_bytes(bytes(args[1]), "big")
        if decimals is None:
            return (f"the buyer {args[0]} cannot pay: 0x{code:02x} {STATUS_TEXT.get(code, '')}, needs {args[2]} base "
                    f"units, has {args[3]}")
        return (f"the buyer {args[0]} cannot pay: 0x{code:02x} {STATUS_TEXT.get(code, '')}, needs "
                f"{show_amount(args[2], decimals)}, has {show_amount(args[3], decimals)}")
    if name in VENUE_ERRORS:
        return f"refused by the venue: {name}: {VENUE_ERRORS[name](args, lambda v: show_amount(v, decimals))}"
    if name:
        return f"refused by the venue: {text}"
    return text


class Market:
    """One venue at ``address`` over ``w3``; transactions through ``sender`` (default: a :class:`Sender` of
    ``w3``)."""

    def __init__(self, w3: Web3, address: str, sender: Sender | None = None) -> None:
        self.w3 = w3
        self.address = Web3.to_checksum_address(str(getattr(address, "address", address)))
        self.contract = w3.eth.contract(address=self.address, abi=load_abi(MARKET_ABI))
        self._sender = sender

    # ------------------------------------------------------------------------------------------ plumbing
    @property
    def sender(self) -> Sender:
        if self._sender is None:
            self._sender = Sender(self.w3)
        return self._sender

    def _send(self, signer: Any, to: str, abi_name: str, fn: str, *args: Any) -> Receipt:
        contract = self.w3.eth.contract(address=Web3.to_checksum_address(to), abi=load_abi(abi_name))
        data = contract.encode_abi(fn, args=list(args))
        return self.sender.send(signer, contract.address, data, description=f"{abi_name}.{fn}")

    def token(self, address: str) -> Any:
        """A tranche token as a web3 contract."""
        return self.w3.eth.contract(address=Web3.to_checksum_address(str(address)), abi=load_abi(TOKEN_ABI))

    @property
    def currency(self) -> str:
        return Web3.to_checksum_address(self.contract.functions.currency().call())

    @property
    def decimals(self) -> int:
        """Decimals of the venue's currency (and of every listed token)."""
        return int(self.w3.eth.contract(address=self.currency, abi=load_abi(ERC20_ABI)).functions.decimals().call())

    # ------------------------------------------------------------------------------------------ listing
    def grant_lister(self, admin: Any, lister: str) -> Receipt:
        return self._send(admin, self.address, MARKET_ABI, "grantRole", role_id("LISTER_ROLE"), lister)

    def list(self, lister: Any, token: str) -> Receipt:
        return self._send(lister, self.address, MARKET_ABI, "list", Web3.to_checksum_address(str(token)))

    def delist(self, lister: Any, token: str) -> Receipt:
        return self._send(lister, self.address, MARKET_ABI, "delist", Web3.to_checksum_address(str(token)))

    def listing(self, token: str) -> tuple[bool, str]:
        listed, registry = self.contract.functions.listing(Web3.to_checksum_address(str(token))).call()
        return bool(listed), Web3.to_checksum_address(registry)

    # ------------------------------------------------------------------------------------------ preparation
    def authorize_seller(self, holder: Any, token: str, partition: bytes | None = None) -> Receipt:
        """Make the venue ``holder``'s ERC-1410 operator on ``token`` (all partitions, or ``partition`` only):
        what a seller does once before its units can be sold through the venue."""
        if partition is None:
            return self._send(holder, str(token), TOKEN_ABI, "authorizeOperator", self.address)
        return self._send(holder, str(token), TOKEN_ABI, "authorizeOperatorByPartition", partition, self.address)

    def approve_cash(self, buyer: Any, amount: int) -> Receipt:
        """Allow the venue to take up to ``amount`` of ``buyer``'s currency for fills (ERC-20 approve)."""
        return self._send(buyer, self.currency, ERC20_ABI, "approve", self.address, int(amount))

    # ------------------------------------------------------------------------------------------ orders
    def post_ask(self, maker: Any, token: str, price: int, quantity: int, expiry: int, *,
                 partition: bytes = UNRESTRICTED, counterparty: str | None = None) -> Posted:
        receipt = self._send(maker, self.address, MARKET_ABI, "postAsk", Web3.to_checksum_address(str(token)),
                             partition, int(price), int(quantity), int(expiry), counterparty or ZERO_ADDRESS)
        return Posted(int(receipt.event("OrderPosted")["id"]), receipt)

    def post_bid(self, maker: Any, token: str, price: int, quantity: int, expiry: int, *,
                 counterparty: str | None = None) -> Posted:
        receipt = self._send(maker, self.address, MARKET_ABI, "postBid", Web3.to_checksum_address(str(token)),
                             int(price), int(quantity), int(expiry), counterparty or ZERO_ADDRESS)
        return Posted(int(receipt.event("OrderPosted")["id"]), receipt)

    def take(self, taker: Any, order_id: int, quantity: int, cash_limit: int | None = None) -> Trade:
        """Take ``quantity`` of an order; ``cash_limit``: the most cash paid (buying from an ask) or the least
        received (selling into a bid); None for no limit."""
        if cash_limit is None:
            cash_limit = MAX_UINT256 if OrderId.decode(order_id).ask else 0
        receipt = self._send(taker, self.address, MARKET_ABI, "take", int(order_id), int(quantity), int(cash_limit))
        event = receipt.event("OrderFilled")
        fill = Fill(int(order_id), Web3.to_checksum_address(event["buyer"]), Web3.to_checksum_address(event["seller"]),
                    int(event["price"]), int(event["quantity"]), int(event["cash"]), int(event["factor"]),
                    int(event["remaining"]))
        return Trade(fill, receipt)

    def cancel(self, who: Any, order_id: int) -> Receipt:
        return self._send(who, self.address, MARKET_ABI, "cancel", int(order_id))

    def prune(self, who: Any, token: str, ask: bool, prices: Sequence[int]) -> Receipt:
        return self._send(who, self.address, MARKET_ABI, "prune", Web3.to_checksum_address(str(token)), bool(ask),
                          [int(p) for p in prices])

    # ------------------------------------------------------------------------------------------ views
    def order(self, order_id: int) -> OrderView:
        o = self.contract.functions.orderOf(int(order_id)).call()
        counterparty = Web3.to_checksum_address(o[7])
        return OrderView(int(order_id), Web3.to_checksum_address(o[0]), Web3.to_checksum_address(o[1]), bool(o[2]),
                         bytes32_text(o[3]), int(o[4]), int(o[5]), int(o[6]),
                         None if int(counterparty, 16) == 0 else counterparty, bool(o[8]))

    def would_refuse(self, who: str, fn: str, *args: Any) -> DecodedError | None:
        """The error the venue would refuse ``fn(*args)`` from ``who`` with if it were sent now (an ``eth_call`` on
        the latest block: nothing is sent); None when it would go through or the refusal carries no data."""
        data = self.contract.encode_abi(fn, args=list(args))
        try:
            self.w3.eth.call({"from": Web3.to_checksum_address(str(who)), "to": self.address, "data": data})
        except Exception as exc:  # noqa: BLE001 - nodes report reverts in many ways; decode_error reads them all
            error = self.sender.decode_error(exc)
            if error is None and isinstance(exc, OSError):
                raise
            return error
        return None

    def transfer_status(self, token: str, frm: str, to: str, partition: bytes, quantity: int) -> tuple[int, bytes]:
        """The token's rules for ``quantity`` units of ``partition`` moving ``frm`` -> ``to`` now, as ``frm`` itself
        asks them (``canTransferByPartition``, no operator check): (ERC-1066 code, reason)."""
        code, reason, _ = self.token(token).functions.canTransferByPartition(
            Web3.to_checksum_address(str(frm)), Web3.to_checksum_address(str(to)), partition, int(quantity), b""
        ).call({"from": Web3.to_checksum_address(str(frm))})
        return int.from_bytes(bytes(code), "big"), bytes(reason)

    def cash_of(self, account: str) -> tuple[int, int]:
        """``account``'s currency: (balance, allowance to the venue), base units."""
        erc20 = self.w3.eth.contract(address=self.currency, abi=load_abi(ERC20_ABI))
        account = Web3.to_checksum_address(str(account))
        return (int(erc20.functions.balanceOf(account).call()),
                int(erc20.functions.allowance(account, self.address).call()))

    def cash_for(self, token: str, price: int, quantity: int) -> int:
        return int(self.contract.functions.cashFor(Web3.to_checksum_address(str(token)), int(price), int(quantity)).call())

    def factor(self, token: str) -> int:
        return int(self.token(token).functions.factor().call())

    def best(self, token: str) -> tuple[tuple[int, int], tuple[int, int]]:
        """((bid price, quantity), (ask price, quantity)); (0, 0) for an empty side."""
        fn = self.contract.functions
        token = Web3.to_checksum_address(str(token))
        bid = fn.bestBid(token).call()
        ask = fn.bestAsk(token).call()
        return (int(bid[0]), int(bid[1])), (int(ask[0]), int(ask[1]))

    def depth(self, token: str, ask: bool, levels: int = 10) -> list[tuple[int, int]]:
        prices, quantities = self.contract.functions.depth(Web3.to_checksum_address(str(token)), bool(ask), int(levels)).call()
        return [(int(p), int(q)) for p, q in zip(prices, quantities, strict=True)]

    def book(self, token: str, levels: int = 10) -> pd.DataFrame:
        """Both sides of ``token``'s book, best first: side, price, quantity (open, not all expired)."""
        rows = [{"side": "bid", "price": p, "quantity": q} for p, q in self.depth(token, False, levels)]
        rows += [{"side": "ask", "price": p, "quantity": q} for p, q in self.depth(token, True, levels)]
        return pd.DataFrame(rows, columns=["side", "price", "quantity"])

    # ------------------------------------------------------------------------------------------ events
    def events(self, start_block: int = 0, end_block: int | None = None, chunk: int = DEFAULT_CHUNK) -> list[DecodedEvent]:
        """Every event of the venue in blocks start..end, in chain order."""
        decoder = EventDecoder(self.w3, {self.address: (MARKET_ABI, load_abi(MARKET_ABI))})
        return read_events(self.w3, decoder, start_block, end_block, chunk=chunk)

    def open_orders(self, maker: str | None, start_block: int = 0, token: str | None = None) -> list[OrderView]:
        """Orders still open (posted, not filled, cancelled or expired) of ``maker`` (None: anyone's), on ``token``
        if given, from the ``OrderPosted`` events and the venue's state, in posting order."""
        maker = Web3.to_checksum_address(str(maker)) if maker is not None else None
        token = Web3.to_checksum_address(str(token)) if token is not None else None
        ids = [int(e["id"]) for e in self.events(start_block) if e.event == "OrderPosted"
               and (maker is None or Web3.to_checksum_address(e["maker"]) == maker)
               and (token is None or Web3.to_checksum_address(e["token"]) == token)]
        return [o for o in (self.order(i) for i in ids) if o.open]

    def book_orders(self, token: str, start_block: int = 0) -> list[OrderView]:
        """Every open order on ``token`` (:meth:`open_orders`), best first: bids from the highest price, asks from
        the lowest, in posting order at a price."""
        found = self.open_orders(None, start_block, token)
        return sorted(found, key=lambda o: (o.ask, o.price if o.ask else -o.price, OrderId.decode(o.id).sequence))

    def trades(self, start_block: int = 0, end_block: int | None = None,
               events: Iterable[DecodedEvent] | None = None) -> pd.DataFrame:
        """The trade tape (:data:`chainabs.model.market.TAPE_COLUMNS`): one row per fill, chain order, with the
        block time, the tranche's symbol, the taker's side, the current principal traded and the period (1 +
        the token's distributions before the trade)."""
        fills = [e for e in (events if events is not None else self.events(start_block, end_block))
                 if e.event == "OrderFilled"]
        if not fills:
            return pd.DataFrame(columns=list(TAPE_COLUMNS))
        times = {b: int(self.w3.eth.get_block(b)["timestamp"]) for b in sorted({e.block_number for e in fills})}
        tokens = sorted({Web3.to_checksum_address(e["token"]) for e in fills})
        symbols = {t: str(self.token(t).functions.symbol().call()) for t in tokens}
        # Periods count every distribution of the token since its deployment (not only since start_block).
        marks = {t: distribution_positions(self.w3, t, deployment_block(self.w3, t), fills[-1].block_number)
                 for t in tokens}
        rows = []
        for e in fills:
            token = Web3.to_checksum_address(e["token"])
            rows.append({
                "block": e.block_number, "time": times[e.block_number], "tx": e.tx_hash, "log_index": e.log_index,
                "token": token, "symbol": symbols[token], "order_id": format_order_id(int(e["id"])),
                "taker_side": "buy" if OrderId.decode(int(e["id"])).ask else "sell",
                "buyer": Web3.to_checksum_address(e["buyer"]), "seller": Web3.to_checksum_address(e["seller"]),
                "price": int(e["price"]), "quantity": int(e["quantity"]), "cash": int(e["cash"]),
                "factor": int(e["factor"]), "principal": principal_of(int(e["quantity"]), int(e["factor"])),
                "period": assign_periods([(e.block_number, e.log_index)], marks[token])[0],
            })
        return pd.DataFrame(rows, columns=list(TAPE_COLUMNS))

    def related(self, tape: pd.DataFrame) -> list[bool]:
        """For each trade of ``tape``: buyer and seller are wallets of the same investor (the token's identity
        registry, ``isSameInvestor``), read now."""
        out = []
        registries: dict[str, Any] = {}
        for row in tape.itertuples(index=False):
            token = str(row.token)
            if token not in registries:
                registry = self.listing(token)[1]
                registries[token] = self.w3.eth.contract(address=registry, abi=load_abi(REGISTRY_ABI))
            out.append(bool(registries[token].functions.isSameInvestor(row.buyer, row.seller).call()))
        return out


def distribution_positions(w3: Web3, token: str, start_block: int, end_block: int) -> list[tuple[int, int]]:
    """(block, log index) of each ``FundsDistributed`` of ``token`` in blocks start..end."""
    token = Web3.to_checksum_address(str(token))
    decoder = EventDecoder(w3, {token: (TOKEN_ABI, [i for i in load_abi(TOKEN_ABI)
                                                   if i.get("type") == "event" and i.get("name") == "FundsDistributed"])})
    return [(e.block_number, e.log_index) for e in read_events(w3, decoder, start_block, end_block)]


def deploy_market(admin: Any, currency: Any, listers: Iterable[Any] = ()) -> Market:
    """Deploy a venue for ``currency`` administered by ``admin`` and give LISTER_ROLE to ``listers``; returns
    its :class:`Market` on the connected brownie network."""
    from chainabs.chain.connection import connected_web3, load_project
    from chainabs.chain.sender import default_sender, deploy

    contract, _ = deploy(load_project().TrancheMarket, str(getattr(currency, "address", currency)),
                         str(getattr(admin, "address", admin)), sender=admin)
    market = Market(connected_web3(), contract.address, default_sender())
    for lister in listers:
        market.grant_lister(admin, str(getattr(lister, "address", lister)))
    return market


__all__ = ["LOCKED", "UNRESTRICTED", "Market", "OrderView", "Posted", "Trade", "blocked_text", "deploy_market",
           "explain", "format_time", "show_amount"]
