"""`chainabs market` as its users meet it (the usability review of the market commands): every refusal a read can
predict comes before anything is sent (the signer's nonce unchanged: no approve, no operator authorization), in
one line naming the order in hex and the amounts in currency units; `book` shows the order ids that `take` and
`cancel` accept; the venue is found from the deal's manifest when no address is given; expiries read as UTC
dates and times."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from eth_account import Account
from web3 import Web3

from chainabs.apps import cli
from chainabs.apps import market as app
from chainabs.chain import tokens
from chainabs.chain.market import Market
from chainabs.chain.sender import Signer
from chainabs.model.market import format_order_id
from plugins.market import DAY, P99
from plugins.token import FACE, US, YEAR

KEY_S = "0x" + Web3.keccak(text="chainabs-market-cli-seller").hex().removeprefix("0x")
KEY_B = "0x" + Web3.keccak(text="chainabs-market-cli-buyer").hex().removeprefix("0x")
KEY_O = "0x" + Web3.keccak(text="chainabs-market-cli-other").hex().removeprefix("0x")
UNIT = 10**6  # the tests' currency has 6 decimals
ISO = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"


@pytest.fixture(scope="module")
def rpc() -> str:
    from brownie import web3

    return str(web3.provider.endpoint_uri)


@pytest.fixture(scope="module")
def wallets(venue, issued, identity, kyc_agent, admin, servicer, currency, chain):
    """Raw-key investors, verified and funded with ETH: a seller holding FACE units, a buyer holding cash and
    another holding a little cash and no units."""
    seller, buyer, other = (Account.from_key(k) for k in (KEY_S, KEY_B, KEY_O))
    for acct in (seller, buyer, other):
        identity.registerInvestor(acct.address, US, 1, chain.time() + YEAR, {"from": kyc_agent})
        admin.transfer(acct.address, 10**18)
    tokens.issue(issued, servicer, seller.address, FACE)
    currency.mint(buyer.address, 10**7 * UNIT, {"from": admin})
    currency.mint(other.address, 5 * UNIT, {"from": admin})
    return SimpleNamespace(seller=seller, buyer=buyer, other=other)


@pytest.fixture
def client(venue, rpc) -> Market:
    return app.open_market(rpc, venue.address)


@pytest.fixture
def cli_run(rpc, venue, capsys, monkeypatch):
    """``chainabs market ACTION ... --rpc URL --market VENUE`` signed by ``key`` (INVESTOR_PRIVATE_KEY):
    (status, stdout, stderr)."""

    def run(*argv: str, key: str | None = None, market: bool = True) -> tuple[int, str, str]:
        if key is None:
            monkeypatch.delenv("INVESTOR_PRIVATE_KEY", raising=False)
        else:
            monkeypatch.setenv("INVESTOR_PRIVATE_KEY", key)
        status = cli.main(["market", *argv, "--rpc", rpc, *(["--market", venue.address] if market else [])])
        out = capsys.readouterr()
        return status, out.out, out.err

    return run


def _ask(client: Market, issued, chain, units: int, *, key: str = KEY_S, days: int = 7,
         counterparty: str | None = None) -> int:
    seller = Signer.from_key(key)
    fn = client.token(issued.address).functions
    if not fn.isOperator(client.address, seller.address).call():
        client.authorize_seller(seller, issued.address)
    return client.post_ask(seller, issued.address, P99, units, chain.time() + days * DAY,
                           counterparty=counterparty).id


def _bid(client: Market, issued, chain, units: int, *, key: str = KEY_B, approve: bool = True) -> int:
    buyer = Signer.from_key(key)
    if approve:
        client.approve_cash(buyer, 2**256 - 1)
    return client.post_bid(buyer, issued.address, P99, units, chain.time() + 7 * DAY).id


def _nonce(web3, who) -> int:
    return web3.eth.get_transaction_count(who.address)


def _refused_without_sending(run, web3, who, *argv: str, key: str) -> str:
    """Run a market command that must be refused before sending: status 2, one line, the signer's nonce
    unchanged. Returns the line."""
    before = _nonce(web3, who)
    status, _, err = run(*argv, key=key)
    assert status == 2, err
    assert err.count("\n") == 1 and err.rstrip().endswith("nothing sent"), err
    assert _nonce(web3, who) == before, f"something was sent: {err}"
    return err


# ------------------------------------------------------------------------------------------------ take


def test_take_more_than_is_left_is_refused_before_the_approve(wallets, client, issued, currency, venue, chain, web3,
                                                              cli_run):
    order = _ask(client, issued, chain, 10_000 * UNIT)
    hex_id = format_order_id(order)
    assert currency.allowance(wallets.buyer.address, venue) == 0
    for typed in (hex_id, str(order)):  # the id as hex or as the decimal number
        err = _refused_without_sending(cli_run, web3, wallets.buyer, "take", typed, "--quantity", "20,000", key=KEY_B)
        assert f"order {hex_id} has 10,000.00 units left, --quantity asks 20,000.00" in err, err
        assert str(order) not in err and "20000000000" not in err  # no 77-digit id, no base units
    assert currency.allowance(wallets.buyer.address, venue) == 0  # no approve was sent


def test_take_of_a_closed_or_expired_order_sends_nothing(wallets, client, issued, chain, web3, cli_run):
    cancelled = _ask(client, issued, chain, 1_000 * UNIT)
    client.cancel(Signer.from_key(KEY_S), cancelled)
    err = _refused_without_sending(cli_run, web3, wallets.buyer, "take", format_order_id(cancelled), key=KEY_B)
    assert f"order {format_order_id(cancelled)} is closed (filled or cancelled) (OrderClosed)" in err

    expiring = _ask(client, issued, chain, 1_000 * UNIT, days=1)
    chain.sleep(2 * DAY)
    chain.mine()
    err = _refused_without_sending(cli_run, web3, wallets.buyer, "take", format_order_id(expiring), key=KEY_B)
    assert re.search(rf"order {format_order_id(expiring)} expired at {ISO} \(OrderExpired\)", err), err


def test_take_by_a_taker_not_allowed_sends_nothing(wallets, client, issued, chain, web3, cli_run):
    # an order reserved for another account
    reserved = _ask(client, issued, chain, 1_000 * UNIT, counterparty=wallets.other.address)
    err = _refused_without_sending(cli_run, web3, wallets.buyer, "take", format_order_id(reserved), key=KEY_B)
    assert f"is reserved for {wallets.other.address}, not {wallets.buyer.address} (NotCounterparty)" in err
    # the maker taking its own order
    err = _refused_without_sending(cli_run, web3, wallets.seller, "take", format_order_id(reserved), key=KEY_S)
    assert "is your own" in err and "(SelfTrade)" in err


def test_take_of_an_unverified_buyer_sends_nothing(wallets, client, issued, identity, kyc_agent, chain, web3,
                                                   cli_run):
    order = _ask(client, issued, chain, 1_000 * UNIT)
    identity.setFrozen(wallets.buyer.address, True, {"from": kyc_agent})
    err = _refused_without_sending(cli_run, web3, wallets.buyer, "take", format_order_id(order), key=KEY_B)
    assert "refused by the token's rules: 0x5" in err and f"from {wallets.seller.address} to {wallets.buyer.address}" \
        in err, err


def test_take_without_the_cash_sends_nothing(wallets, client, issued, chain, web3, cli_run):
    order = _ask(client, issued, chain, 1_000 * UNIT)
    err = _refused_without_sending(cli_run, web3, wallets.other, "take", format_order_id(order), key=KEY_O)
    assert f"you hold 5.00 of the currency, buying 1,000.00 units of order {format_order_id(order)} costs 990.00" \
        in err, err


def test_take_outside_the_cash_limit_sends_nothing(wallets, client, issued, chain, web3, cli_run):
    order = _ask(client, issued, chain, 1_000 * UNIT)
    err = _refused_without_sending(cli_run, web3, wallets.buyer, "take", format_order_id(order), "--cash-limit", "900",
                                   key=KEY_B)
    assert "costs 990.00, above --cash-limit 900.00 (CashOutsideLimit)" in err, err


def test_selling_into_a_bid_without_the_units_sends_nothing(wallets, client, issued, chain, web3, cli_run):
    order = _bid(client, issued, chain, 1_000 * UNIT)
    # the other investor holds no units: before, the operator authorization went out first
    err = _refused_without_sending(cli_run, web3, wallets.other, "take", format_order_id(order), key=KEY_O)
    assert "refused by the token's rules: 0x52 insufficient balance" in err, err


def test_selling_into_a_bid_whose_maker_cannot_pay_sends_nothing(wallets, client, issued, currency, venue, chain,
                                                                  web3, cli_run):
    order = _bid(client, issued, chain, 1_000 * UNIT)
    client.approve_cash(Signer.from_key(KEY_B), 0)  # the bid's maker withdrew its allowance
    err = _refused_without_sending(cli_run, web3, wallets.seller, "take", format_order_id(order), key=KEY_S)
    assert f"the bid's maker {wallets.buyer.address} cannot pay 990.00 for 1,000.00 units" in err, err
    assert "allows the venue 0.00 (CashUnavailable)" in err, err


def test_a_take_that_passes_the_checks_still_fills(wallets, client, issued, chain, web3, cli_run):
    order = _ask(client, issued, chain, 10_000 * UNIT)
    status, out, err = cli_run("take", format_order_id(order), "--quantity", "2,500", key=KEY_B)
    assert status == 0, err
    assert "allowed the venue" in out and "bought 2,500.000000 units at 99.0000 for 2,475.000000" in out


# ------------------------------------------------------------------------------------------------ post, cancel


def test_a_bid_without_the_cash_sends_nothing(wallets, issued, venue, currency, web3, cli_run):
    err = _refused_without_sending(cli_run, web3, wallets.other, "bid", issued.address, "--price", "99",
                                   "--quantity", "1,000", key=KEY_O)
    assert "you hold 5.00 of the currency, the bid's cash is 990.00 (CashUnavailable)" in err, err
    assert currency.allowance(wallets.other.address, venue) == 0


def test_an_ask_without_the_units_sends_nothing(wallets, issued, venue, web3, cli_run):
    err = _refused_without_sending(cli_run, web3, wallets.other, "ask", issued.address, "--price", "99",
                                   "--quantity", "1,000", key=KEY_O)
    assert "refused by the token's rules: 0x52 insufficient balance" in err, err
    assert not issued.isOperator(venue, wallets.other.address)  # no authorization was sent


def test_cancel_refusals_name_the_order_in_hex(wallets, client, issued, chain, web3, cli_run):
    order = _ask(client, issued, chain, 1_000 * UNIT)
    err = _refused_without_sending(cli_run, web3, wallets.buyer, "cancel", str(order), key=KEY_B)
    assert f"only its maker {wallets.seller.address} may cancel order {format_order_id(order)}" in err, err
    assert str(order) not in err
    status, out, err = cli_run("cancel", format_order_id(order), key=KEY_S)
    assert status == 0 and "1,000.000000 units withdrawn" in out, err
    err = _refused_without_sending(cli_run, web3, wallets.seller, "cancel", format_order_id(order), key=KEY_S)
    assert f"OrderClosed: order {format_order_id(order)} is closed" in err, err


def test_ask_prints_its_expiry_as_a_utc_date_and_time(wallets, issued, cli_run):
    status, out, err = cli_run("ask", issued.address, "--price", "99", "--quantity", "10", "--expiry", "1810426063",
                               key=KEY_S)
    assert status == 0, err
    assert "expires 2027-05-16T00:07:43Z" in out and "1810426063" not in out, out


# ------------------------------------------------------------------------------------------------ book


def test_the_book_shows_each_order_id_and_another_user_takes_it(wallets, client, issued, chain, cli_run):
    first = _ask(client, issued, chain, 1_000 * UNIT)
    second = _ask(client, issued, chain, 500 * UNIT)
    bid = _bid(client, issued, chain, 300 * UNIT)
    status, out, err = cli_run("book", issued.address)
    assert status == 0, err
    ids = re.findall(r"0x[0-9a-f]{64}", out)
    assert ids == [format_order_id(bid), format_order_id(first), format_order_id(second)], out  # best first
    line = next(x for x in out.splitlines() if format_order_id(first) in x)
    assert "1,000.000000 units at 99.0000" in line and re.search(f"expires {ISO}", line)
    assert wallets.seller.address in line
    # another user takes an order by the id the book showed
    status, out, err = cli_run("take", ids[1], "--quantity", "100", key=KEY_B)
    assert status == 0 and "bought 100.000000 units" in out, err


def test_the_makers_orders_show_their_expiry_as_utc(wallets, client, issued, chain, cli_run):
    _ask(client, issued, chain, 1_000 * UNIT)
    status, out, err = cli_run("book", issued.address, "--maker", wallets.seller.address)
    assert status == 0, err
    mine = out.split("\n", 2)[1]
    assert re.search(f"expires {ISO}", mine) and not re.search(r"expires \d{10}\b", out), out


# ------------------------------------------------------------------------------------------------ the venue


def test_the_venue_comes_from_the_deals_manifest(wallets, client, issued, venue, chain, rpc, monkeypatch, cli_run):
    from chainabs.chain import operations as ops

    monkeypatch.delenv("MARKET_ADDRESS", raising=False)
    found: dict = {}

    def find_deal(w3, *, deal=None, spv=None, root=None):
        found.update(deal=deal, spv=spv, root=root)
        return SimpleNamespace(addresses={"spv": "0x" + "11" * 20, ops.MARKET_KEY: venue.address}, name="my-deal",
                               manifest="deployments/31337/my-deal.json", spv=SimpleNamespace(address="0x" + "11" * 20))

    monkeypatch.setattr(ops, "find_deal", find_deal)
    assert app.open_market(rpc, None, deal="my-deal").address == venue.address
    assert found["deal"] == "my-deal"
    order = _ask(client, issued, chain, 1_000 * UNIT)
    status, out, err = cli_run("book", issued.address, market=False)  # no --market, no MARKET_ADDRESS
    assert status == 0 and format_order_id(order) in out, err
    status, out, err = cli_run("take", format_order_id(order), "--quantity", "10", key=KEY_B, market=False)
    assert status == 0 and "bought 10.000000 units" in out, err
    # MARKET_ADDRESS still wins over the manifest
    monkeypatch.setenv("MARKET_ADDRESS", "0x" + "22" * 20)
    status, _, err = cli_run("book", issued.address, market=False)
    assert status == 2 and f"--market 0x{'22' * 20}: no contract there" in err, err


def test_a_deal_without_a_recorded_venue_is_one_line(tmp_path, issued, rpc, monkeypatch, cli_run):
    from chainabs.chain import operations as ops

    monkeypatch.delenv("MARKET_ADDRESS", raising=False)
    monkeypatch.setattr(ops, "find_deal", lambda w3, **_: SimpleNamespace(
        addresses={"spv": "0x" + "11" * 20}, name="my-deal", manifest=tmp_path / "31337" / "my-deal.json",
        spv=SimpleNamespace(address="0x" + "11" * 20)))
    status, _, err = cli_run("book", issued.address, market=False)
    assert status == 2 and err.count("\n") == 1, err
    assert "no venue: the deal my-deal has none recorded" in err and "chainabs market open --deal my-deal" in err


def test_no_venue_and_no_deal_is_one_line(tmp_path, issued, monkeypatch, cli_run):
    monkeypatch.delenv("MARKET_ADDRESS", raising=False)
    monkeypatch.setenv("CHAINABS_DEPLOYMENTS_DIR", str(tmp_path))  # no manifest on this chain
    status, _, err = cli_run("trades", market=False)
    assert status == 2 and err.count("\n") == 1, err
    assert "no venue: give --market ADDRESS or set MARKET_ADDRESS" in err and "0 deals deployed" in err, err

