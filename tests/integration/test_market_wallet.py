"""Wallet reality on the secondary market: two investors holding nothing but raw keys (eth-account signing raw
transactions through web3) authorize, post and take; Foundry's `cast` reads the book and the balances as an
outside client; then the same investors trade through `chainabs market` with a key from the environment and an
encrypted keystore, and the trade tape comes back as CSV."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest
from eth_account import Account
from web3 import Web3
from web3.logs import DISCARD

from chainabs.apps import cli
from chainabs.chain import tokens
from chainabs.chain.abis import load_abi
from chainabs.chain.contracts import UNRESTRICTED
from chainabs.model.market import cash_for, format_order_id
from plugins.market import P99
from plugins.token import FACE, US, YEAR

KEY_S = "0x" + Web3.keccak(text="chainabs-market-seller").hex().removeprefix("0x")
KEY_B = "0x" + Web3.keccak(text="chainabs-market-buyer").hex().removeprefix("0x")
CAST = shutil.which("cast")


@pytest.fixture(scope="module")
def rpc() -> str:
    from brownie import web3

    return str(web3.provider.endpoint_uri)


@pytest.fixture(scope="module")
def key_wallets(venue, issued, identity, kyc_agent, admin, servicer, currency, chain):
    """A seller (FACE units) and a buyer (cash), both verified, funded with ETH, known to the node only by address."""
    seller, buyer = Account.from_key(KEY_S), Account.from_key(KEY_B)
    for acct in (seller, buyer):
        identity.registerInvestor(acct.address, US, 1, chain.time() + YEAR, {"from": kyc_agent})
        admin.transfer(acct.address, 10**18)
    tokens.issue(issued, servicer, seller.address, FACE)
    currency.mint(buyer.address, 10**7 * 10**6, {"from": admin})
    return seller, buyer


def _send(w3: Web3, key: str, call) -> dict:
    """Build, sign locally with eth-account and send a raw EIP-1559 transaction; return the receipt."""
    acct = Account.from_key(key)
    base = w3.eth.get_block("latest").get("baseFeePerGas", 0)
    tx = call.build_transaction({
        "from": acct.address, "nonce": w3.eth.get_transaction_count(acct.address), "chainId": w3.eth.chain_id,
        "maxPriorityFeePerGas": 10**9, "maxFeePerGas": 2 * base + 10**9,
    })
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction))
    assert receipt["status"] == 1
    return receipt


def _cast(rpc: str, *args: str) -> list[str]:
    out = subprocess.run([CAST, "call", *args, "--rpc-url", rpc], capture_output=True, text=True, timeout=60, check=True)
    return [line.split(" ")[0] for line in out.stdout.strip().splitlines()]


@pytest.mark.skipif(CAST is None, reason="Foundry cast not on PATH (make install puts it in node_modules/.bin)")
def test_raw_key_investors_trade_and_cast_reads_the_book(key_wallets, venue, issued, currency, rpc, chain):
    seller, buyer = key_wallets
    w3 = Web3(Web3.HTTPProvider(rpc))
    assert seller.address not in w3.eth.accounts and buyer.address not in w3.eth.accounts
    market = w3.eth.contract(address=venue.address, abi=load_abi("TrancheMarket"))
    token = w3.eth.contract(address=issued.address, abi=load_abi("TrancheToken"))
    cash_token = w3.eth.contract(address=currency.address, abi=load_abi("IERC20"))
    expiry = chain.time() + 7 * 86_400
    quantity = 250_000 * 10**6

    _send(w3, KEY_S, token.functions.authorizeOperator(venue.address))
    receipt = _send(w3, KEY_S, market.functions.postAsk(issued.address, UNRESTRICTED, P99, quantity, expiry,
                                                        "0x" + "00" * 20))
    order = market.events.OrderPosted().process_receipt(receipt, errors=DISCARD)[0]["args"]["id"]
    assert _cast(rpc, venue.address, "bestAsk(address)(uint256,uint256)", issued.address) == [str(P99), str(quantity)]
    prices, quantities = json.loads(subprocess.run(
        [CAST, "call", venue.address, "depth(address,bool,uint256)(uint256[],uint256[])", issued.address, "true", "5",
         "--rpc-url", rpc, "--json"], capture_output=True, text=True, check=True, timeout=60).stdout)
    assert (prices, quantities) == ([P99], [quantity])

    cash = cash_for(P99, quantity // 2, 10**18)
    _send(w3, KEY_B, cash_token.functions.approve(venue.address, cash))
    receipt = _send(w3, KEY_B, market.functions.take(order, quantity // 2, cash))
    fill = market.events.OrderFilled().process_receipt(receipt, errors=DISCARD)[0]["args"]  # among token and cash logs
    assert (fill["buyer"], fill["seller"], fill["quantity"], fill["cash"]) == (buyer.address, seller.address,
                                                                              quantity // 2, cash)
    assert receipt["gasUsed"] < 200_000  # first fill of two new holders (checkpoints written); see make bench
    assert _cast(rpc, issued.address, "balanceOf(address)(uint256)", buyer.address) == [str(quantity // 2)]
    assert _cast(rpc, currency.address, "balanceOf(address)(uint256)", seller.address) == [str(cash)]
    assert _cast(rpc, venue.address, "bestAsk(address)(uint256,uint256)", issued.address) == [str(P99),
                                                                                              str(quantity - quantity // 2)]
    # a refused raw transaction names the token's rule (the buyer has no allowance left)
    with pytest.raises(Exception) as info:
        _send(w3, KEY_B, market.functions.take(order, 10**6, 2**256 - 1))
    selector = Web3.keccak(text="CashUnavailable(address,bytes1,uint256,uint256)")[:4].hex().removeprefix("0x")
    assert selector in str(info.value)


def test_the_command_line_trades_with_an_env_key_and_a_keystore(key_wallets, venue, issued, currency, rpc, chain,
                                                                 tmp_path, monkeypatch, capsys):
    seller, buyer = key_wallets
    keystore = tmp_path / "buyer.json"
    keystore.write_text(json.dumps(Account.encrypt(KEY_B, "correct horse", kdf="scrypt", iterations=2**10)))  # light KDF: a test
    common = ["--rpc", rpc, "--market", venue.address]

    def run(*argv: str) -> tuple[int, str, str]:
        status = cli.main(["market", *argv])
        out = capsys.readouterr()
        return status, out.out, out.err

    monkeypatch.setenv("INVESTOR_PRIVATE_KEY", KEY_S)
    status, out, err = run("ask", issued.address, "--price", "100.25", "--quantity", "1,000.5", "--days", "3", *common)
    assert status == 0, err
    assert "made the venue" in out and "1,000.500000 units at 100.2500" in out
    order = re.search(r"posted ask (0x[0-9a-f]{64}):", out).group(1)
    status, out, _ = run("book", issued.address, "--maker", seller.address, *common)
    assert status == 0 and "100.2500" in out and "1,000.500000" in out and "best ask 100.2500" in out
    assert order in out  # the maker's open orders

    monkeypatch.delenv("INVESTOR_PRIVATE_KEY")
    monkeypatch.setenv("CHAINABS_KEYSTORE_PASSWORD", "correct horse")
    status, _, err = run("take", order, "--quantity", "2,000", "--keystore", str(keystore), *common)
    assert status == 2 and err.count("\n") == 1 and "QuantityExceedsRemaining" in err, err
    status, out, err = run("take", order, "--quantity", "500", "--cash-limit", "501.25", "--keystore", str(keystore),
                           *common)
    assert status == 0, err
    assert "bought 500.000000 units at 100.2500 for 501.250000" in out and "500.500000 left" in out
    monkeypatch.setenv("INVESTOR_PRIVATE_KEY", KEY_S)
    status, out, _ = run("cancel", order, *common)
    assert status == 0 and "500.500000 units withdrawn" in out
    status, _, err = run("cancel", order, *common)
    assert status == 2 and "OrderClosed" in err
    status, _, err = run("bid", issued.address, "--price", "99.12345", "--quantity", "1", *common)
    assert status == 2 and "at most 4 decimals" in err
    monkeypatch.delenv("INVESTOR_PRIVATE_KEY")
    status, _, err = run("bid", issued.address, "--price", "99", "--quantity", "1", *common)
    assert status == 2 and "no signer" in err

    tape_csv = tmp_path / "tape.csv"
    status, out, _ = run("trades", "--token", issued.address, "--out", str(tape_csv), *common)
    assert status == 0 and "501.25" in out
    tape = pd.read_csv(tape_csv)
    mine = tape[tape["order_id"] == format_order_id(int(order, 16))]
    assert list(mine[["price", "quantity", "cash"]].itertuples(index=False, name=None)) == [(1_002_500, 500 * 10**6,
                                                                                             501_250_000)]
    assert mine.iloc[0]["buyer"] == buyer.address and mine.iloc[0]["seller"] == seller.address

    # On a live network each transaction is shown with its cost and needs --yes or a terminal's answer, as for
    # every operation command (this chain plays a live one here; pytest's stdin is no terminal).
    monkeypatch.setattr("chainabs.chain.sender.LOCAL_CHAIN_IDS", frozenset())
    monkeypatch.setenv("INVESTOR_PRIVATE_KEY", KEY_S)
    height = chain.height
    status, out, err = run("bid", issued.address, "--price", "98", "--quantity", "1", *common)
    assert status == 2 and "live network" in err and "not sent (no terminal to confirm; add --yes" in err, err
    assert chain.height == height  # nothing sent
    status, out, err = run("bid", issued.address, "--price", "98", "--quantity", "1", "--yes", *common)
    assert status == 0 and f"market bid: TrancheMarket.postBid -> market {venue.address} from {seller.address}" in err
    assert "posted bid" in out and chain.height > height
