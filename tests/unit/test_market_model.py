"""The market's pure side, no chain: the quote convention's arithmetic (cash, remainder, factor), prices and
amounts as people write them, order ids, the venue model's rules, the report statistics (periods, VWAP, last
price), the surveillance (settings, flags), and the `chainabs market` command line's options and one-line
errors."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainabs.apps import cli
from chainabs.apps import market as app
from chainabs.model.market import (
    CASH_DIVISOR,
    MAX_PRICE,
    MarketError,
    MarketModel,
    OrderId,
    SurveillanceConfig,
    assign_periods,
    cash_for,
    cash_remainder,
    deviation_bps,
    factor_of,
    flag_trades,
    format_amount,
    format_order_id,
    format_price,
    last_prices,
    parse_amount,
    parse_order_id,
    parse_price,
    period_stats,
    principal_of,
    vwap,
)

TOKEN = "0x" + "ab" * 20
A, B, C = ("0x" + c * 40 for c in "123")


@settings(max_examples=60)
@given(price=st.integers(1, MAX_PRICE), quantity=st.integers(1, 2**96 - 1), factor=st.integers(0, 10**18))
def test_cash_is_rounded_down_and_the_remainder_stays_with_the_buyer(price, quantity, factor):
    cash, remainder = cash_remainder(price, quantity, factor)
    assert cash == cash_for(price, quantity, factor)
    assert cash * CASH_DIVISOR + remainder == price * quantity * factor and 0 <= remainder < CASH_DIVISOR


def test_the_quote_convention_by_example():
    # 1,000 units (6 decimals) at 99.5 per 100 of current principal, factor 0.4: 398 units of currency
    assert cash_for(995_000, 1_000 * 10**6, 4 * 10**17) == 398 * 10**6
    assert factor_of(400, 1_000) == 4 * 10**17 and factor_of(1, 0) == 0
    assert principal_of(1_000 * 10**6, 4 * 10**17) == 400 * 10**6
    assert cash_for(1, 1, 10**18) == 0  # below one base unit: the venue refuses it (ZeroCash)


def test_prices_as_written_and_refused():
    for text, price in (("99.5", 995_000), ("100", 1_000_000), ("1,000.0001", 10_000_001), (" 0.0001 ", 1),
                        ("1677.7215", MAX_PRICE)):
        assert parse_price(text) == price
        assert parse_price(format_price(price)) == price
    for text, says in (("99.12345", "at most 4 decimals"), ("0", "above 0"), ("-1", "above 0"),
                       ("1677.7216", "above the venue's maximum 1,677.7215"), ("par", "like 99.5")):
        with pytest.raises(MarketError, match=says):
            parse_price(text)


def test_amounts_as_written_and_shown():
    assert parse_amount("1,000.5", 6) == 1_000_500_000
    assert format_amount(1_234_500_000, 6) == "1,234.500000" and format_amount(1_234_567_890, 6, 2) == "1,234.56"
    assert format_amount(-5, 2) == "-0.05" and format_amount(7, 0) == "7"
    for text, says in (("1.0000001", "at most 6 decimals"), ("-1", "must not be negative"), ("x", "like 1,000.5")):
        with pytest.raises(MarketError, match=says):
            parse_amount(text, 6, "quantity")


@settings(max_examples=40)
@given(ask=st.booleans(), locked=st.booleans(), named=st.booleans(), price=st.integers(1, MAX_PRICE),
       expiry=st.integers(1, 2**40 - 1), sequence=st.integers(1, 2**29 - 1))
def test_order_ids_carry_their_terms(ask, locked, named, price, expiry, sequence):
    terms = OrderId("0xabCDeF0123456789AbcdEf0123456789aBCDEF01", ask, locked, price, expiry, named, sequence)
    oid = terms.encode()
    assert OrderId.decode(oid) == terms
    assert parse_order_id(format_order_id(oid)) == oid == parse_order_id(str(oid))


def test_bad_order_ids():
    for text in ("0xzz", "-3", "0", hex(2**256)):
        with pytest.raises(MarketError, match="order id"):
            parse_order_id(text)


def test_the_venue_model_rules():
    m = MarketModel()
    with pytest.raises(MarketError, match="not listed"):
        m.check_terms(A, TOKEN, 1, 1, 10, 0)
    m.list(TOKEN)
    for args, name in (((0, 1, 10), "ZeroPrice"), ((MAX_PRICE + 1, 1, 10), "ValueOutOfRange"), ((1, 0, 10), "ZeroQuantity"),
                       ((1, 2**96, 10), "ValueOutOfRange"), ((1, 1, 5), "ExpiryNotInFuture"),
                       ((1, 1, 2**40), "ValueOutOfRange")):
        with pytest.raises(MarketError) as refused:
            m.check_terms(A, TOKEN, *args, now=5)
        assert refused.value.name == name
    with pytest.raises(MarketError) as refused:
        m.post(A, TOKEN, True, 1, 1, 10, 5, factor=10**18)
    assert refused.value.name == "ZeroCash"
    ask = m.post(A, TOKEN, True, 1_000_000, 100, 10, 5, factor=10**18)
    named = m.post(A, TOKEN, True, 1_000_000, 100, 20, 5, factor=10**18, counterparty=B)
    assert OrderId.decode(named).sequence == 2 and OrderId.decode(named).named
    for who, oid, qty, now, name in ((A, ask, 1, 6, "SelfTrade"), (B, ask, 101, 6, "QuantityExceedsRemaining"),
                                     (B, ask, 0, 6, "ZeroQuantity"), (C, named, 1, 6, "NotCounterparty"),
                                     (B, ask, 1, 11, "OrderExpired"), (B, ask + 7, 1, 6, "OrderNotFound")):
        with pytest.raises(MarketError) as refused:
            m.take(who, oid, qty, now, factor=10**18)
        assert refused.value.name == name
    with pytest.raises(MarketError) as refused:
        m.take(B, ask, 60, 6, factor=10**18, cash_limit=59)
    assert refused.value.name == "CashOutsideLimit"
    fill = m.take(B, ask, 60, 6, factor=10**18)
    assert (fill.buyer, fill.seller, fill.cash, fill.remaining) == (B, A, 60, 40)
    assert m.depth(TOKEN, True, 6) == [(1_000_000, 140)]
    with pytest.raises(MarketError) as refused:
        m.cancel(C, ask, 6)
    assert refused.value.name == "NotMaker"
    assert m.cancel(C, ask, 11) == 40  # anyone once expired
    with pytest.raises(MarketError) as refused:
        m.cancel(A, ask, 12)
    assert refused.value.name == "OrderClosed"
    assert m.depth(TOKEN, True, 12) == [(1_000_000, 100)] and m.depth(TOKEN, True, 21) == []
    assert m.filled(ask) == 60


def _tape(rows):
    cols = ["block", "log_index", "token", "symbol", "price", "quantity", "principal", "cash", "period", "buyer", "seller"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows], columns=cols)


def test_periods_vwap_and_last_prices():
    assert assign_periods([(5, 0), (7, 1), (7, 3), (9, 0)], [(7, 2), (3, 0)]) == [2, 2, 3, 3]
    assert vwap([990_000, 1_010_000], [100, 300]) == 1_005_000 and vwap([], []) == 0
    tape = _tape([(10, 0, TOKEN, "A", 990_000, 100, 50, 49, 1, A, B), (11, 0, TOKEN, "A", 1_010_000, 300, 150, 151, 1, B, C),
                  (12, 0, TOKEN, "A", 1_000_000, 10, 5, 5, 2, A, C), (12, 1, A, "B", 970_000, 1, 1, 1, 1, A, C)])
    stats = period_stats(tape)
    first = stats[(stats["token"] == TOKEN) & (stats["period"] == 1)].iloc[0]
    assert (first["trades"], first["quantity"], first["principal"], first["cash"], first["vwap"], first["last_price"],
            first["high"], first["low"]) == (2, 400, 200, 200, 1_005_000, 1_010_000, 1_010_000, 990_000)
    assert last_prices(tape) == {TOKEN: 1_000_000, A: 970_000}
    assert period_stats(tape.iloc[0:0]).empty


def test_the_surveillance_flags_deviations_and_related_parties(tmp_path):
    assert deviation_bps(940_000, 1_000_000) == 600
    tape = _tape([(10, 0, TOKEN, "A", 1_000_000, 1, 1, 1, 1, A, B), (11, 0, TOKEN, "A", 1_040_000, 1, 1, 1, 1, B, C),
                  (12, 0, TOKEN, "A", 970_000, 1, 1, 1, 1, A, C)])
    flagged = flag_trades(tape, [False, True, False], SurveillanceConfig(price_deviation_bps=500))
    assert list(flagged["flags"]) == ["", "related_parties", "price_deviation:673bps"]
    assert list(flagged["reference_price"]) == [0, 1_000_000, 1_040_000]
    quiet = flag_trades(tape, [False, True, False], SurveillanceConfig(price_deviation_bps=700, flag_related_parties=False))
    assert list(quiet["flags"]) == ["", "", ""]
    with pytest.raises(ValueError, match="2 related flags for 3 trades"):
        flag_trades(tape, [True, False])
    assert SurveillanceConfig.load() == SurveillanceConfig(500, True)  # config/market.yaml
    path = tmp_path / "m.yaml"
    path.write_text("surveillance:\n  price_deviation_bps: 250\n")
    assert SurveillanceConfig.load(path).price_deviation_bps == 250
    assert SurveillanceConfig.load(path, {"price_deviation_bps": 10, "flag_related_parties": None}).price_deviation_bps == 10
    for text, says in (("surveillance:\n  threshold: 3\n", "unknown setting"), ("surveillance:\n  price_deviation_bps: -1\n",
                                                                                "must be an integer >= 0"),
                       ("surveillance: [1]\n", "must be a mapping")):
        path.write_text(text)
        with pytest.raises(MarketError, match=says):
            SurveillanceConfig.load(path)


def test_the_html_section_and_chart():
    empty = {"market_trades": flag_trades(_tape([]), []), "market_periods": period_stats(_tape([]))}
    assert "no trades" in app.html_section(empty, 6)
    tape = _tape([(10, 0, TOKEN, "A", 997_500, 10**9, 10**9, 997_500_000, 1, A, B)])
    tape["taker_side"] = "buy"
    tables = {"market_trades": flag_trades(tape, [True]), "market_periods": period_stats(tape)}
    section = app.html_section(tables, 6)
    assert "99.7500" in section and "997.50" in section and "related_parties" in section and "image/png" in section
    assert app.price_chart(tape)[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_market_action_runs_on_any_network_with_one_line_errors(capsys, monkeypatch):
    for action in ("book", "bid", "ask", "take", "cancel", "trades"):
        with pytest.raises(SystemExit) as done:
            cli.main(["market", action, "--help"])
        assert done.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: chainabs market {action}")
        assert "--rpc" in out and "--network" in out and "--market" in out
        signs = action in ("bid", "ask", "take", "cancel")
        assert all((opt in out) == signs for opt in ("--key-env", "--account", "--keystore")), action
    monkeypatch.delenv("MARKET_ADDRESS", raising=False)
    for argv, says in ((["book", TOKEN, "--rpc", "http://127.0.0.1:9"], "no venue: give --market ADDRESS or set "
                        "MARKET_ADDRESS"), (["book", TOKEN, "--market", "0x12", "--rpc", "http://127.0.0.1:9"],
                                            "not an address")):
        assert cli.main(["market", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err, err


def test_signers(tmp_path, monkeypatch):
    monkeypatch.delenv("X_KEY", raising=False)
    with pytest.raises(app.MarketCommandError, match="no signer: set X_KEY"):
        app.signer_from(key_env="X_KEY")
    monkeypatch.setenv("X_KEY", "0x1234")
    with pytest.raises(app.MarketCommandError, match="X_KEY from the environment is not a private key"):
        app.signer_from(key_env="X_KEY")
    key = "0x" + "11" * 32
    monkeypatch.setenv("X_KEY", key)
    assert app.signer_from(key_env="X_KEY").address == "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"
    with pytest.raises(app.MarketCommandError, match="no such file"):
        app.signer_from(keystore=tmp_path / "missing.json")
