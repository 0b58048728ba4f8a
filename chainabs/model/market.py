"""The secondary market's arithmetic and book, in the venue's integer arithmetic: the executable
specification of ``contracts/market/TrancheMarket.sol``, and the pure computations of the market reports and
of the regulator's trade surveillance.

Quote convention (the venue's, used by the contract, this model, the command line and the reports):

* a **price** is the price per 100 of current principal, as bond markets quote, in units of
  1/:data:`PRICE_SCALE` (10,000ths) of the currency: ``99.5`` is ``995_000``; at most :data:`MAX_PRICE`
  (1,677.7215). Bond prices are quoted per 100 of face; a tranche amortises, so the face that matters is the
  current principal, which the token's ``factor()`` gives per unit of original face (1e18 fixed point);
* a **quantity** is a number of token units; one unit is one base unit of original face (the token has the
  currency's decimals), so 1,000 units of a 6-decimal currency are written ``1,000.000000``;
* the **cash** of a fill is ``price * quantity * factor // (100 * PRICE_SCALE * 10**18)``: rounded down, the
  remainder (below one base unit of currency per fill) stays with the buyer. The price is all-in (no
  separate accrued interest): interest goes to the holders of record at each distribution.

Why: a price per 100 of current principal stays comparable across tranches and across time (a senior class
at factor 0.4 and a mezzanine at factor 1 both trade near 100 when they pay their coupon), it is what a bond
trader reads, and multiplying by the token's own factor keeps the cash exact to the unit without any
off-chain input.

Order ids carry their terms (:class:`OrderId`): token, side, partition, price, expiry, named counterparty
flag and the sequence number at the price level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

#: Prices are in 1/PRICE_SCALE of the currency per 100 of current principal.
PRICE_SCALE = 10_000
#: Highest price the venue takes (24 bits: 1,677.7215 per 100).
MAX_PRICE = 2**24 - 1
#: The token's factor is current principal per unit of original face in this fixed point.
FACTOR_SCALE = 10**18
#: cash = price * quantity * factor // CASH_DIVISOR
CASH_DIVISOR = 100 * PRICE_SCALE * FACTOR_SCALE
#: Largest order quantity (the token's largest amount).
MAX_QUANTITY = 2**96 - 1
#: Largest expiry (40-bit unix time).
MAX_EXPIRY = 2**40 - 1
#: Orders one price level can number (29-bit sequence).
MAX_SEQUENCE = 2**29 - 1

_PRICE_SHIFT, _EXPIRY_SHIFT, _TOKEN_SHIFT = 29, 53, 96
_NAMED, _LOCKED, _ASK = 1 << 93, 1 << 94, 1 << 95


class MarketError(ValueError):
    """A market rule refuses an input: the message names the field and the rule (``name`` is the contract's
    custom error when there is one)."""

    def __init__(self, message: str, name: str = "") -> None:
        super().__init__(message)
        self.name = name


# ------------------------------------------------------------------------------------------- settlement


def cash_for(price: int, quantity: int, factor: int) -> int:
    """Cash of ``quantity`` units at ``price`` (per 100 of current principal, 1/PRICE_SCALE) when the token's
    factor is ``factor`` (1e18): rounded down, as the venue computes it."""
    return int(price) * int(quantity) * int(factor) // CASH_DIVISOR


def cash_remainder(price: int, quantity: int, factor: int) -> tuple[int, int]:
    """``(cash, remainder)`` of a fill: the remainder (in units of 1/CASH_DIVISOR of a base unit, below one base
    unit) is what rounding leaves with the buyer."""
    return divmod(int(price) * int(quantity) * int(factor), CASH_DIVISOR)


def factor_of(current_principal: int, supply: int) -> int:
    """The token's ``factor()``: current principal per unit of original face, 1e18, rounded down (0 with no
    supply)."""
    return int(current_principal) * FACTOR_SCALE // int(supply) if supply else 0


def principal_of(quantity: int, factor: int) -> int:
    """Current principal of ``quantity`` units at ``factor`` (rounded down)."""
    return int(quantity) * int(factor) // FACTOR_SCALE


# ------------------------------------------------------------------------------------------- prices, amounts


def parse_price(text: str | int | float | Decimal) -> int:
    """A price per 100 of current principal as the user writes it (``"99.5"``, ``"100"``, ``"99.1250"``) ->
    venue price units. More than four decimals, zero, negative or above 1,677.7215 is refused."""
    try:
        value = Decimal(str(text).replace(",", "").strip())
    except InvalidOperation:
        raise MarketError(f"price {text!r}: expected a number per 100 of current principal, like 99.5") from None
    scaled = value * PRICE_SCALE
    if scaled != scaled.to_integral_value():
        raise MarketError(f"price {text!r}: at most 4 decimals (the venue's tick is 0.0001 per 100)")
    price = int(scaled)
    if price <= 0:
        raise MarketError(f"price {text!r}: must be above 0", "ZeroPrice")
    if price > MAX_PRICE:
        raise MarketError(f"price {text!r}: above the venue's maximum {format_price(MAX_PRICE)}", "ValueOutOfRange")
    return price


def format_price(price: int) -> str:
    """Venue price units -> ``"99.5000"`` (per 100 of current principal)."""
    whole, frac = divmod(int(price), PRICE_SCALE)
    return f"{whole:,}.{frac:04d}"


def parse_amount(text: str | int | Decimal, decimals: int, what: str = "amount") -> int:
    """Currency units as written (``"1,000.5"``) -> base units; refuses more decimals than the currency has,
    negative and non-numeric values (``what`` names the field in the message)."""
    try:
        value = Decimal(str(text).replace(",", "").strip())
    except InvalidOperation:
        raise MarketError(f"{what} {text!r}: expected a number of currency units, like 1,000.5") from None
    scaled = value * 10**decimals
    if scaled != scaled.to_integral_value():
        raise MarketError(f"{what} {text!r}: at most {decimals} decimals")
    if scaled < 0:
        raise MarketError(f"{what} {text!r}: must not be negative")
    return int(scaled)


def format_amount(amount: int, decimals: int, places: int | None = None) -> str:
    """Base units -> currency units with thousands separators (``1234500000, 6`` -> ``"1,234.500000"``);
    ``places`` rounds down to fewer decimals for display."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(int(amount)), 10**decimals)
    if places is None:
        places = decimals
    digits = f"{frac:0{decimals}d}"[:places] if decimals else ""
    return f"{sign}{whole:,}" + (f".{digits}" if places else "")


# ------------------------------------------------------------------------------------------- order ids


@dataclass(frozen=True)
class OrderId:
    """The terms an order id holds (see the contract's storage notes)."""

    token: str
    ask: bool
    locked: bool
    price: int
    expiry: int
    named: bool
    sequence: int

    @classmethod
    def decode(cls, order_id: int | str) -> OrderId:
        """The terms of an id (an int, or its decimal or 0x-hex text)."""
        value = parse_order_id(order_id)
        token = f"0x{value >> _TOKEN_SHIFT:040x}"
        return cls(token=_checksum(token), ask=bool(value & _ASK), locked=bool(value & _LOCKED),
                   price=(value >> _PRICE_SHIFT) & MAX_PRICE, expiry=(value >> _EXPIRY_SHIFT) & MAX_EXPIRY,
                   named=bool(value & _NAMED), sequence=value & MAX_SEQUENCE)

    def encode(self) -> int:
        """The id as the venue builds it."""
        return (self.sequence | (self.price << _PRICE_SHIFT) | (self.expiry << _EXPIRY_SHIFT)
                | (_NAMED if self.named else 0) | (_LOCKED if self.locked else 0) | (_ASK if self.ask else 0)
                | (int(self.token, 16) << _TOKEN_SHIFT))

    @property
    def side(self) -> str:
        return "ask" if self.ask else "bid"


def parse_order_id(text: int | str) -> int:
    """An order id from an int or its decimal / 0x-hex text (one-line error otherwise)."""
    if isinstance(text, int):
        value = text
    else:
        raw = str(text).strip()
        try:
            value = int(raw, 16) if raw.lower().startswith("0x") else int(raw)
        except ValueError:
            raise MarketError(f"order id {text!r}: expected a number (decimal or 0x-hex)") from None
    if not 0 < value < 2**256:
        raise MarketError(f"order id {text!r}: out of range")
    return value


def format_order_id(order_id: int) -> str:
    """An order id as the command line shows it (0x-hex, 64 digits)."""
    return f"0x{int(order_id):064x}"


def _checksum(address: str) -> str:
    from eth_utils import to_checksum_address  # pure (no network): keccak of the text

    return to_checksum_address(address)


# ------------------------------------------------------------------------------------------- the book


@dataclass
class ModelOrder:
    maker: str
    remaining: int
    quantity: int
    counterparty: str | None = None


@dataclass
class Level:
    """A price level: open quantity, orders posted there, latest expiry of those orders."""

    quantity: int = 0
    posted: int = 0
    max_expiry: int = 0


@dataclass
class Fill:
    """What a fill moves: ``quantity`` units from ``seller`` to ``buyer`` against ``cash``."""

    order_id: int
    buyer: str
    seller: str
    price: int
    quantity: int
    cash: int
    factor: int
    remaining: int


@dataclass
class MarketModel:
    """The venue's order book and the venue-level rules of every operation, in its arithmetic. The units leg's
    compliance (the token's rules) and the wallets' balances are not modelled here: the token and the currency
    decide those; a refused fill changes nothing."""

    listed: set[str] = field(default_factory=set)
    orders: dict[int, ModelOrder] = field(default_factory=dict)
    levels: dict[tuple[str, bool, int], Level] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)

    def list(self, token: str) -> None:
        self.listed.add(_checksum(token))

    def delist(self, token: str) -> None:
        token = _checksum(token)
        if token not in self.listed:
            raise MarketError(f"token {token} is not listed", "TokenNotListed")
        self.listed.discard(token)

    def check_terms(self, maker: str, token: str, price: int, quantity: int, expiry: int, now: int,
                    counterparty: str | None = None) -> None:
        """The rules every order obeys, in the contract's order (raises :class:`MarketError`)."""
        if _checksum(token) not in self.listed:
            raise MarketError(f"token {token} is not listed", "TokenNotListed")
        if price == 0:
            raise MarketError("price must be above 0", "ZeroPrice")
        if price > MAX_PRICE:
            raise MarketError(f"price {price} above {MAX_PRICE}", "ValueOutOfRange")
        if quantity == 0:
            raise MarketError("quantity must be above 0", "ZeroQuantity")
        if quantity > MAX_QUANTITY:
            raise MarketError(f"quantity {quantity} above {MAX_QUANTITY}", "ValueOutOfRange")
        if expiry <= now:
            raise MarketError(f"expiry {expiry} is not after now ({now})", "ExpiryNotInFuture")
        if expiry > MAX_EXPIRY:
            raise MarketError(f"expiry {expiry} above {MAX_EXPIRY}", "ValueOutOfRange")
        if counterparty is not None and _same(counterparty, maker):
            raise MarketError(f"{maker} cannot name itself as counterparty", "SelfTrade")

    def post(self, maker: str, token: str, ask: bool, price: int, quantity: int, expiry: int, now: int, *,
             factor: int, locked: bool = False, counterparty: str | None = None) -> int:
        """Record an order as the venue does (after the token's rules passed); returns its id."""
        self.check_terms(maker, token, price, quantity, expiry, now, counterparty)
        if cash_for(price, quantity, factor) == 0:
            raise MarketError(f"{quantity} units at {format_price(price)} and factor {factor} is no cash", "ZeroCash")
        key = (_checksum(token), ask, price)
        lvl = self.levels.setdefault(key, Level())
        if lvl.posted + 1 > MAX_SEQUENCE:
            raise MarketError(f"price level {price} is exhausted", "LevelExhausted")
        lvl.posted += 1
        lvl.quantity += quantity
        lvl.max_expiry = max(lvl.max_expiry, expiry)
        oid = OrderId(_checksum(token), ask, locked and ask, price, expiry, counterparty is not None, lvl.posted).encode()
        self.orders[oid] = ModelOrder(_checksum(maker), quantity, quantity,
                                      _checksum(counterparty) if counterparty else None)
        return oid

    def check_take(self, taker: str, order_id: int, quantity: int, now: int) -> ModelOrder:
        """The venue's rules of a take, in the contract's order (raises :class:`MarketError`)."""
        order = self.orders.get(order_id)
        terms = OrderId.decode(order_id)
        if order is None:
            raise MarketError(f"no order {format_order_id(order_id)}", "OrderNotFound")
        if order.remaining == 0:
            raise MarketError(f"order {format_order_id(order_id)} is filled or cancelled", "OrderClosed")
        if now > terms.expiry:
            raise MarketError(f"order {format_order_id(order_id)} expired at {terms.expiry}", "OrderExpired")
        if quantity == 0:
            raise MarketError("quantity must be above 0", "ZeroQuantity")
        if quantity > order.remaining:
            raise MarketError(f"{quantity} is more than the {order.remaining} left", "QuantityExceedsRemaining")
        if _same(order.maker, taker):
            raise MarketError(f"{taker} would trade with itself", "SelfTrade")
        if terms.named and not _same(order.counterparty or "", taker):
            raise MarketError(f"order reserved for {order.counterparty}", "NotCounterparty")
        if terms.token not in self.listed:
            raise MarketError(f"token {terms.token} is not listed", "TokenNotListed")
        return order

    def take(self, taker: str, order_id: int, quantity: int, now: int, *, factor: int,
             cash_limit: int | None = None) -> Fill:
        """A fill as the venue settles it (the token and the currency having accepted both legs)."""
        order = self.check_take(taker, order_id, quantity, now)
        terms = OrderId.decode(order_id)
        cash = cash_for(terms.price, quantity, factor)
        if cash == 0:
            raise MarketError(f"{quantity} units at factor {factor} is no cash", "ZeroCash")
        if cash_limit is not None and (cash > cash_limit if terms.ask else cash < cash_limit):
            raise MarketError(f"cash {cash} outside the limit {cash_limit}", "CashOutsideLimit")
        order.remaining -= quantity
        self.levels[(terms.token, terms.ask, terms.price)].quantity -= quantity
        buyer, seller = (_checksum(taker), order.maker) if terms.ask else (order.maker, _checksum(taker))
        fill = Fill(order_id, buyer, seller, terms.price, quantity, cash, factor, order.remaining)
        self.fills.append(fill)
        return fill

    def cancel(self, who: str, order_id: int, now: int) -> int:
        """Cancel what is left (the maker, anyone once expired); returns the quantity withdrawn."""
        order = self.orders.get(order_id)
        terms = OrderId.decode(order_id)
        if order is None:
            raise MarketError(f"no order {format_order_id(order_id)}", "OrderNotFound")
        if order.remaining == 0:
            raise MarketError(f"order {format_order_id(order_id)} is filled or cancelled", "OrderClosed")
        if not _same(who, order.maker) and now <= terms.expiry:
            raise MarketError(f"only the maker {order.maker} may cancel before expiry", "NotMaker")
        left, order.remaining = order.remaining, 0
        self.levels[(terms.token, terms.ask, terms.price)].quantity -= left
        return left

    def depth(self, token: str, ask: bool, now: int, max_levels: int = 10) -> list[tuple[int, int]]:
        """(price, quantity) of the levels the venue's ``depth`` view shows, best first: open quantity, and
        not every order there expired."""
        token = _checksum(token)
        rows = [(p, lvl.quantity) for (t, a, p), lvl in self.levels.items()
                if t == token and a == ask and lvl.quantity and now <= lvl.max_expiry]
        rows.sort(key=lambda r: r[0], reverse=not ask)
        return rows[:max_levels]

    def filled(self, order_id: int) -> int:
        """Units filled of an order so far."""
        return sum(f.quantity for f in self.fills if f.order_id == order_id)


def _same(a: str, b: str) -> bool:
    return str(a).lower() == str(b).lower()


# ------------------------------------------------------------------------------------------- reports


#: Columns of the trade tape (one row per fill, chain order).
TAPE_COLUMNS: tuple[str, ...] = (
    "block", "time", "tx", "log_index", "token", "symbol", "order_id", "taker_side", "buyer", "seller", "price",
    "quantity", "cash", "factor", "principal", "period",
)


def assign_periods(trades: Iterable[tuple[int, int]], distributions: Iterable[tuple[int, int]]) -> list[int]:
    """The period of each trade: 1 + the number of the token's distributions before it. ``trades`` and
    ``distributions`` are chain positions (block, log index); period ``p`` runs from distribution ``p - 1`` to
    distribution ``p``."""
    marks = sorted(distributions)
    out = []
    for position in trades:
        out.append(1 + sum(1 for m in marks if m < position))
    return out


def vwap(prices: Iterable[int], principals: Iterable[int]) -> int:
    """Volume-weighted average price (venue price units, rounded down), weighted by the current principal
    traded; 0 with no volume."""
    p = [int(x) for x in prices]
    w = [int(x) for x in principals]
    total = sum(w)
    return sum(a * b for a, b in zip(p, w, strict=True)) // total if total else 0


def period_stats(tape: pd.DataFrame) -> pd.DataFrame:
    """Per tranche and period: trades, units traded, current principal traded, cash, VWAP (weighted by current
    principal), last / high / low price. Prices in venue units, amounts in base units (integers)."""
    columns = ["token", "symbol", "period", "trades", "quantity", "principal", "cash", "vwap", "last_price",
               "high", "low"]
    if tape.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (token, period), grp in tape.groupby(["token", "period"], sort=True):
        grp = grp.sort_values(["block", "log_index"])
        rows.append({
            "token": token, "symbol": grp["symbol"].iloc[-1], "period": int(period), "trades": len(grp),
            "quantity": sum(int(q) for q in grp["quantity"]), "principal": sum(int(p) for p in grp["principal"]),
            "cash": sum(int(c) for c in grp["cash"]), "vwap": vwap(grp["price"], grp["principal"]),
            "last_price": int(grp["price"].iloc[-1]), "high": int(grp["price"].max()), "low": int(grp["price"].min()),
        })
    return pd.DataFrame(rows, columns=columns)


def last_prices(tape: pd.DataFrame) -> dict[str, int]:
    """Token -> price of its last trade."""
    if tape.empty:
        return {}
    ordered = tape.sort_values(["block", "log_index"])
    return {str(t): int(g["price"].iloc[-1]) for t, g in ordered.groupby("token", sort=False)}


def deviation_bps(price: int, reference: int) -> int:
    """|price - reference| in basis points of ``reference`` (rounded down)."""
    return abs(int(price) - int(reference)) * 10_000 // int(reference)


@dataclass(frozen=True)
class SurveillanceConfig:
    """The regulator's trade surveillance settings (``config/market.yaml``): a trade whose price is more than
    ``price_deviation_bps`` away from the tranche's last price is flagged, and so is a trade between two
    wallets of the same investor when ``flag_related_parties``."""

    price_deviation_bps: int = 500
    flag_related_parties: bool = True

    @classmethod
    def load(cls, path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> SurveillanceConfig:
        """The settings of the ``surveillance`` section of a YAML file (default: the checkout's
        ``config/market.yaml`` when it exists), then ``overrides`` (None values ignored)."""
        values: dict[str, Any] = {}
        if path is None:
            from chainabs.paths import PROJECT_ROOT

            default = PROJECT_ROOT / "config" / "market.yaml"
            path = default if default.exists() else None
        if path is not None:
            data = yaml.safe_load(Path(path).read_text()) or {}
            section = data.get("surveillance", {}) if isinstance(data, dict) else {}
            if not isinstance(section, dict):
                raise MarketError(f"{path}: 'surveillance' must be a mapping")
            values.update(section)
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        unknown = set(values) - {"price_deviation_bps", "flag_related_parties"}
        if unknown:
            raise MarketError(f"market config: unknown setting(s) {sorted(unknown)}")
        config = replace(cls(), **values)
        if not isinstance(config.price_deviation_bps, int) or config.price_deviation_bps < 0:
            raise MarketError(f"market config: price_deviation_bps = {config.price_deviation_bps!r} must be an "
                              "integer >= 0")
        return config


@dataclass
class TradeWatch:
    """Trade surveillance over a stream of fills in chain order: remembers each tranche's last price."""

    config: SurveillanceConfig = field(default_factory=SurveillanceConfig)
    last: dict[str, int] = field(default_factory=dict)

    def check(self, token: str, price: int, related: bool) -> list[str]:
        """Flags of a trade at ``price`` (``related``: buyer and seller are the same investor), then the trade
        becomes the tranche's last price. Flags: ``price_deviation`` (with the bps), ``related_parties``."""
        flags = []
        reference = self.last.get(token)
        if reference is not None:
            moved = deviation_bps(price, reference)
            if moved > self.config.price_deviation_bps:
                flags.append(f"price_deviation:{moved}bps")
        if related and self.config.flag_related_parties:
            flags.append("related_parties")
        self.last[token] = int(price)
        return flags


def flag_trades(tape: pd.DataFrame, related: Iterable[bool], config: SurveillanceConfig | None = None) -> pd.DataFrame:
    """The tape with the surveillance's verdict per trade: ``reference_price`` (the tranche's previous trade),
    ``deviation_bps``, ``related_parties`` and ``flags`` (empty when none)."""
    watch = TradeWatch(config or SurveillanceConfig())
    rel = [bool(r) for r in related]
    if len(rel) != len(tape):
        raise ValueError(f"flag_trades: {len(rel)} related flags for {len(tape)} trades")
    out = tape.copy()
    out["related_parties"] = rel
    out = out.sort_values(["block", "log_index"]).reset_index(drop=True)
    refs, moves, flags = [], [], []
    for row in out.itertuples(index=False):
        reference = watch.last.get(str(row.token))
        refs.append(reference if reference is not None else 0)
        moves.append(deviation_bps(int(row.price), reference) if reference else 0)
        flags.append(",".join(watch.check(str(row.token), int(row.price), bool(row.related_parties))))
    out["reference_price"] = refs
    out["deviation_bps"] = moves
    out["flags"] = flags
    return out
