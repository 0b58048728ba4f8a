"""Fixtures and helpers for the secondary market tests: a venue for the token tests' currency with the Class A
tranche (``plugins.token``) listed, traders who made the venue their operator and approved it for their cash,
and a refusal helper that proves a refused transaction wrote nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from chainabs.chain.market import Market
from chainabs.chain.sender import default_sender
from plugins.token import assert_error, b32

#: Currency each trader holds (and approved to the venue).
CASH = 50_000_000 * 10**6
#: Prices in venue units (1/10,000 per 100 of current principal).
PAR, P99, P101 = 1_000_000, 990_000, 1_010_000
DAY = 86_400
TRANSFER_BLOCKED = "TransferBlocked(address,address,bytes1,bytes32)"
ZERO = "0x" + "00" * 20


@pytest.fixture(scope="module")
def venue(TrancheMarket, currency, admin, issued):
    """The venue for the tests' currency; the admin lists the Class A tranche."""
    market = TrancheMarket.deploy(currency, admin, {"from": admin})
    market.grantRole(market.LISTER_ROLE(), admin, {"from": admin})
    market.list(issued, {"from": admin})
    return market


@pytest.fixture(scope="module")
def traders(venue, issued, currency, verified, admin):
    """verified[0..5]: each made the venue its operator on the tranche and holds CASH approved to the venue;
    verified[0..3] hold FACE units (``issued``), verified[4..5] none."""
    for inv in verified[:6]:
        issued.authorizeOperator(venue, {"from": inv})
        currency.mint(inv, CASH, {"from": admin})
        currency.approve(venue, 2**256 - 1, {"from": inv})
    return list(verified[:6])


@pytest.fixture
def client(venue):
    """The library's client of the venue (sends through the one sender)."""
    from brownie import web3

    return Market(web3, venue.address, default_sender())


def expiry(chain, days: int = 30) -> int:
    return chain.time() + days * DAY


def order_id(tx) -> int:
    return int(tx.events["OrderPosted"]["id"])


def market_state(venue, token, currency, accounts: Sequence[Any] = (), ids: Sequence[int] = (),
                 levels: Sequence[tuple[bool, int]] = ()) -> tuple:
    """Everything a market transaction could write: the storage roots of the venue, the token and the
    currency (``eth_getProof``: any storage write changes them), and, readable in a failure message, the
    accounts' units and cash, the orders and the price levels."""
    from brownie import web3

    roots = tuple(bytes(web3.eth.get_proof(c.address, [], "latest")["storageHash"]) for c in (venue, token, currency))
    rows = [(token.balanceOf(a), currency.balanceOf(a)) for a in accounts]
    rows += [tuple(venue.orderOf(i)) for i in ids]
    rows += [tuple(venue.level(token, ask, price)) for ask, price in levels]
    return (roots, tuple(rows))


def refused(fn: Callable, *args: Any, sender: Any, error: str, values: tuple | None = None,
            state: Callable[[], tuple] | None = None) -> tuple:
    """``fn(*args)`` from ``sender`` reverts with custom ``error`` (``values`` its arguments, when given); the
    transaction is also mined (gas given, no estimate) and fails, and ``state()`` is the same before and after.
    Returns the decoded error arguments."""
    from brownie import web3

    before = state() if state else None
    decoded = assert_error(fn, *args, sender=sender, error=error, values=values)
    tx_hash = web3.eth.send_transaction({"from": str(sender), "to": str(fn._address), "data": fn.encode_input(*args),
                                         "gas": 1_000_000})
    assert web3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 0  # mined, and failed
    if state:
        assert state() == before, "a refused transaction changed the state"
    return decoded


def blocked_by_token(fn: Callable, *args: Any, sender: Any, frm: Any, to: Any, code: int, reason: str,
                     state: Callable[[], tuple] | None = None) -> None:
    """``fn`` refused with the token's ``TransferBlocked(from, to, code, reason)`` and nothing written."""
    refused(fn, *args, sender=sender, error=TRANSFER_BLOCKED, state=state,
            values=(str(frm) if frm else ZERO, str(to) if to else ZERO, bytes([code]), b32(reason) if reason else b"\0" * 32))
