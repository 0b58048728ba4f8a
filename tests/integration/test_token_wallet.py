"""Wallet reality: an investor with nothing but a private key (eth-account signing raw transactions through
web3), Foundry's `cast` as an outside client, and scripts/investor.py (`chainabs investor`) with a key from the
environment."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from eth_account import Account
from web3 import Web3

from chainabs.chain import tokens
from chainabs.chain.sender import transact, transfer
from plugins.token import FACE, US, YEAR

KEY_A = "0x" + Web3.keccak(text="chainabs-token-investor-a").hex().removeprefix("0x")
KEY_B = "0x" + Web3.keccak(text="chainabs-token-investor-b").hex().removeprefix("0x")


@pytest.fixture
def rpc() -> str:
    """The test chain's RPC URL (what an outside wallet or cast is pointed at)."""
    from brownie import web3

    return str(web3.provider.endpoint_uri)


@pytest.fixture
def wallets(issued, identity, kyc_agent, admin, servicer, chain):
    """Two key-only investors: verified, funded with ETH for gas, A holds tokens."""
    a, b = Account.from_key(KEY_A), Account.from_key(KEY_B)
    for acct in (a, b):  # through the one sender (brownie's own sends can report a false "dropped" on anvil)
        transact(identity.registerInvestor, acct.address, US, 1, chain.time() + YEAR, sender=kyc_agent)
        transfer(admin, acct.address, 10**18)
    return a, b


def _send(w3: Web3, key: str, call) -> dict:
    """Build, sign locally with eth-account and send a raw EIP-1559 transaction; return the receipt."""
    acct = Account.from_key(key)
    base = w3.eth.get_block("latest").get("baseFeePerGas", 0)
    tx = call.build_transaction({
        "from": acct.address, "nonce": w3.eth.get_transaction_count(acct.address), "chainId": w3.eth.chain_id,
        "maxPriorityFeePerGas": 10**9, "maxFeePerGas": 2 * base + 10**9,
    })
    signed = acct.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))
    assert receipt["status"] == 1
    return receipt


def test_key_only_investor_receives_transfers_and_claims(wallets, issued, servicer, currency, verified, rpc):
    from brownie import TrancheToken
    a, b = wallets
    w3 = Web3(Web3.HTTPProvider(rpc))
    assert a.address not in w3.eth.accounts  # not an unlocked node account
    issued.transfer(a.address, FACE // 2, {"from": verified[0]})
    token = w3.eth.contract(address=issued.address, abi=TrancheToken.abi)
    assert token.functions.balanceOf(a.address).call() == FACE // 2
    code, reason, part = token.functions.canTransfer(b.address, 1000, b"").call({"from": a.address})
    assert code == b"\x51"
    _send(w3, KEY_A, token.functions.transfer(b.address, 1000))
    assert token.functions.balanceOf(b.address).call() == 1000
    tokens.distribute(issued, servicer, 5_000_000, 0)
    owed = token.functions.withdrawableFundsOf(a.address).call()
    assert owed == 5_000_000 * (FACE // 2 - 1000) // (5 * FACE)
    receipt = _send(w3, KEY_A, token.functions.claim())
    assert receipt["gasUsed"] < 120_000
    assert currency.balanceOf(a.address) == owed
    # a blocked transfer fails for the raw-transaction wallet too, with the ERC-1066 code in the error
    with pytest.raises(Exception) as info:
        _send(w3, KEY_A, token.functions.transfer(Web3.to_checksum_address("0x" + "ab" * 20), 1))
    assert "0x12258005" in str(info.value)  # TransferBlocked(address,address,bytes1,bytes32)


@pytest.mark.skipif(shutil.which("cast") is None, reason="Foundry cast not on PATH (source tools/dev-env.sh)")
def test_cast_reads_balance_and_sends_transfer(wallets, issued, verified, rpc):
    a, b = wallets
    issued.transfer(a.address, 5_000, {"from": verified[0]})

    def cast(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["cast", *args, "--rpc-url", rpc], capture_output=True, text=True, timeout=60)

    out = cast("call", issued.address, "balanceOf(address)(uint256)", a.address)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "5000"
    out = cast("send", issued.address, "transfer(address,uint256)(bool)", b.address, "1200", "--private-key", KEY_A)
    assert out.returncode == 0, out.stderr
    assert issued.balanceOf(b.address) == 1200 and issued.balanceOf(a.address) == 3800
    out = cast("call", issued.address, "decimals()(uint8)")
    assert out.stdout.split()[0] == "6"
    # to an unverified address: cast reports the revert with the TransferBlocked selector
    out = cast("send", issued.address, "transfer(address,uint256)(bool)", "0x" + "ab" * 20, "1", "--private-key", KEY_A)
    assert "0x12258005" in (out.stdout + out.stderr)
    assert "52454345495645525f4e4f545f5645524946494544" in (out.stdout + out.stderr)  # RECEIVER_NOT_VERIFIED
    assert issued.balanceOf("0x" + "ab" * 20) == 0 and issued.balanceOf(a.address) == 3800


def test_investor_script_shows_and_claims_with_env_key(wallets, issued, servicer, verified, currency, capsys, monkeypatch):
    from scripts import investor
    a, _ = wallets
    issued.transfer(a.address, FACE, {"from": verified[0]})
    tokens.distribute(issued, servicer, 5_000_000, 1_000_000)
    monkeypatch.setenv("INVESTOR_PRIVATE_KEY", KEY_A)
    investor.main(issued.address, "claim")
    out = capsys.readouterr().out
    assert f"investor {a.address}" in out and "CABS-A" in out
    assert "claimed CABS-A: interest 1.00, principal 0.20" in out  # currency units, never base units
    assert currency.balanceOf(a.address) == 1_200_000
    investor.main(issued.address, "claim")  # nothing owed now: the token is not called
    assert "nothing to claim (nothing sent)" in capsys.readouterr().out
    investor.main(issued.address)
    shown = capsys.readouterr().out
    assert "1,000,000.00" in shown and "1.00" in shown  # balance and withdrawn interest in currency units
    assert "interest claimed" in shown and "…" not in shown  # headed columns, no amount cut
    monkeypatch.delenv("INVESTOR_PRIVATE_KEY")
    monkeypatch.delenv("INVESTOR_ACCOUNT", raising=False)
    with pytest.raises(SystemExit) as stopped:
        investor.main(issued.address)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "INVESTOR_PRIVATE_KEY" in err and len(err.strip().splitlines()) == 1  # one line, no traceback
