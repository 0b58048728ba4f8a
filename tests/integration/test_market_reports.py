"""The market from chain data only: the trade tape with periods (distributions), VWAP and last price per
tranche per period, the CSV files and the chart; the regulator monitor's trade surveillance raising alerts for a
trade far from the last price and for a trade between two wallets of the same investor, and still knowing the
last price after a restart."""

from __future__ import annotations

import pandas as pd

from chainabs.apps import market as app
from chainabs.apps import monitor
from chainabs.chain import tokens
from chainabs.chain.contracts import UNRESTRICTED
from chainabs.chain.market import Market
from plugins.market import ZERO, expiry, order_id

MAX = 2**256 - 1


def _trade(venue, issued, seller, buyer, price, quantity, chain):
    oid = order_id(venue.postAsk(issued, UNRESTRICTED, price, quantity, expiry(chain), ZERO, {"from": seller}))
    venue.take(oid, quantity, MAX, {"from": buyer})


def test_trade_reports_and_surveillance(venue, issued, traders, identity, kyc_agent, servicer, chain, web3, tmp_path):
    a, b, c, d, e, f = traders
    rpc = str(web3.provider.endpoint_uri)
    tokens.link_wallets(identity, kyc_agent, [e, f], b"investor-ef".ljust(32, b"\0"))
    _trade(venue, issued, a, e, 990_000, 4 * 10**9, chain)  # first trade: no reference, unrelated
    tokens.distribute(issued, servicer, 10**9, 0)  # period 2 from here
    _trade(venue, issued, e, f, 995_000, 10**9, chain)  # e and f are one investor
    _trade(venue, issued, c, d, 930_000, 2 * 10**9, chain)  # 6.53% below the last price
    state = tmp_path / "monitor"
    monitor.follow(rpc, {}, state, start_block=0, max_polls=1, quiet=True, market=venue.address)
    flagged = [r for r in monitor.read_jsonl(state / "events.jsonl") if r["event"] == "OrderFilled"]
    assert [(r["kind"], r["flags"], r["args"]["price"]) for r in flagged] == [
        ("alert", ["related_parties"], 995_000), ("alert", ["price_deviation:653bps"], 930_000)]

    # a restarted monitor resumes after its checkpoint and still knows the last price (93.00)
    _trade(venue, issued, b, d, 995_000, 10**9, chain)
    monitor.follow(rpc, {}, state, start_block=0, max_polls=1, quiet=True, market=venue.address)
    flagged = [r for r in monitor.read_jsonl(state / "events.jsonl") if r["event"] == "OrderFilled"]
    assert len(flagged) == 3 and flagged[-1]["flags"] == ["price_deviation:698bps"]

    # the reports
    market = Market(web3, venue.address)
    tables = app.market_tables(market, 0, tokens=[issued.address])
    tape, stats = tables["market_trades"], tables["market_periods"]
    assert list(tape["period"]) == [1, 2, 2, 2] and list(tape["related_parties"]) == [False, True, False, False]
    assert list(stats["period"]) == [1, 2] and list(stats["trades"]) == [1, 3]
    second = stats.iloc[1]
    assert second["vwap"] == (995_000 * 10**9 + 930_000 * 2 * 10**9 + 995_000 * 10**9) // (4 * 10**9)
    assert (second["last_price"], second["high"], second["low"], second["quantity"]) == (995_000, 995_000, 930_000,
                                                                                         4 * 10**9)
    assert list(tape["cash"]) == [990_000 * 4 * 10**9 // 10**6, 995_000 * 10**9 // 10**6, 930_000 * 2 * 10**9 // 10**6,
                                  995_000 * 10**9 // 10**6]
    paths = app.write_market_reports(tables, tmp_path / "reports")
    assert set(paths) == {"market_trades", "market_periods", "market_prices.png"}
    assert pd.read_csv(paths["market_trades"])["flags"].fillna("").tolist() == ["", "related_parties",
                                                                                "price_deviation:653bps",
                                                                                "price_deviation:698bps"]
    section = app.deal_market_section(web3, [issued.address], 6, tmp_path / "deal", venue.address)
    assert "Secondary market" in section and "93.0000" in section and (tmp_path / "deal" / "market_trades.csv").exists()
    assert app.deal_market_section(web3, [issued.address], 6, tmp_path / "none", ZERO) == ""
