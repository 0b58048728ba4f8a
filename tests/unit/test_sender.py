"""The one transaction sender (chainabs.chain.sender): signing (node account, brownie key, raw key, keystore),
fees by chain, gas estimation, waiting with a grace period (a false "dropped", simulated), and one error
type carrying the decoded custom error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import TransactionNotFound

from chainabs.chain.abis import ErrorTable, load_abi
from chainabs.chain.sender import LOCAL_PRIORITY_FEE, Sender, Signer, TxError, deploy, refusal, transact, transfer
from chainabs.dev.testing import PORTS_PER_WORKER, ExternalAnvil, worker_port
from plugins.deploy import free_port

KEY = "0x" + Web3.keccak(text="chainabs-sender-test-key").hex().removeprefix("0x")


@pytest.fixture(scope="module")
def outside_anvil():
    """An anvil with a base fee and nothing unlocked for us, like a public network (chain id 11155111)."""
    base = worker_port()
    with ExternalAnvil(free_port(base + 1, base + PORTS_PER_WORKER - 1), base_fee=7 * 10**9) as node:
        yield node


# ------------------------------------------------------------------------------------------ on the test chain


def test_transact_returns_the_receipt_with_decoded_events(currency, admin, investors):
    receipt = transact(currency.mint, investors[0], 1_234, sender=admin)
    assert receipt.gas_used > 21_000 and receipt.sender == admin.address
    assert int(currency.balanceOf(investors[0])) == 1_234
    minted = receipt.event("Transfer")  # the ERC-20 Transfer of the mint, decoded from the shipped ABIs
    assert (minted["from"], minted["to"], minted["value"]) == ("0x" + "00" * 20, investors[0].address, 1_234)
    assert minted.address == currency.address
    with pytest.raises(LookupError):
        receipt.event("Approval")


def test_a_revert_is_refused_before_sending_with_the_decoded_custom_error(currency, investors, web3):
    nonce = web3.eth.get_transaction_count(investors[1].address)
    with pytest.raises(TxError) as info:
        transact(currency.transfer, investors[2], 5, sender=investors[1])  # holds nothing
    err = info.value
    assert err.stage == "estimate" and err.tx_hash is None
    assert err.name == "ERC20InsufficientBalance"
    assert err.error_args == (investors[1].address, 0, 5)
    assert "ERC20InsufficientBalance" in str(err) and "transfer" in str(err)
    assert web3.eth.get_transaction_count(investors[1].address) == nonce  # nothing was sent


def test_a_refusal_is_read_without_sending_anything(currency, admin, investors, web3):
    nonces = [web3.eth.get_transaction_count(a.address) for a in (admin, investors[1])]
    height = web3.eth.block_number
    refused = refusal(currency.transfer, investors[2], 5, sender=investors[1])  # holds nothing
    assert refused.name == "ERC20InsufficientBalance" and refused.args == (investors[1].address, 0, 5)
    assert refusal(currency.mint, investors[1], 5, sender=admin) is None  # it would go through
    assert int(currency.balanceOf(investors[1])) == 0
    assert [web3.eth.get_transaction_count(a.address) for a in (admin, investors[1])] == nonces
    assert web3.eth.block_number == height


def test_a_refusal_asked_of_a_node_that_does_not_answer_raises(currency, admin, web3):
    import requests

    from chainabs.chain import sender as senderlib

    dead = Sender(web3)
    dead.w3 = Web3(Web3.HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 2}))  # nothing listens there
    previous = senderlib.bind_sender(dead)
    try:
        with pytest.raises(requests.RequestException):
            refusal(currency.mint, admin, 5, sender=admin)
    finally:
        senderlib.bind_sender(previous)


def test_a_mined_failure_is_replayed_for_its_reason(currency, investors, web3):
    """With the gas given (no estimate), a reverting call is mined and fails: the sender says why."""
    with pytest.raises(TxError) as info:
        transact(currency.transfer, investors[2], 5, sender=investors[1], gas=100_000)
    err = info.value
    assert err.stage == "reverted" and err.tx_hash is not None
    assert (err.name, err.error_args) == ("ERC20InsufficientBalance", (investors[1].address, 0, 5))
    assert web3.eth.get_transaction_receipt(err.tx_hash)["status"] == 0


def test_deploy_and_a_brownie_key_account(TestStablecoin, accounts, admin):
    fresh = accounts.add(KEY)  # a brownie LocalAccount: signs locally
    assert Signer.of(fresh).key is not None and Signer.of(admin).key is None  # admin: the node signs
    transfer(admin, fresh, 10**18)
    token, receipt = deploy(TestStablecoin, "Key USD", "kUSD", 6, sender=fresh)
    assert receipt.contract_address == token.address and token.owner() == fresh.address
    assert receipt.sender == fresh.address


# ------------------------------------------------------------------------------------------ on an outside node


def test_raw_key_and_keystore_on_a_chain_with_a_base_fee(outside_anvil, tmp_path):
    w3 = Web3(Web3.HTTPProvider(outside_anvil.url))
    sender = Sender(w3)
    assert not sender.local  # chain id 11155111: priced like a public network
    fees = sender.fees()
    assert set(fees) == {"maxPriorityFeePerGas", "maxFeePerGas"} and fees["maxFeePerGas"] >= 2 * 7 * 10**9
    raw = Signer.from_key(KEY)
    outside_anvil.fund(raw.address, 10**19)
    keystore = tmp_path / "key.json"
    other = Account.create()
    keystore.write_text(json.dumps(Account.encrypt(other.key, "secret")))
    from_file = Signer.from_keystore(keystore, "secret")
    assert from_file.address == other.address
    receipt = sender.send(raw, other.address, value=10**18)
    assert receipt.gas_used == 21_000 and w3.eth.get_balance(other.address) == 10**18
    tx = w3.eth.get_transaction(receipt.tx_hash)
    assert tx["type"] == 2 and tx["maxPriorityFeePerGas"] == w3.eth.max_priority_fee  # EIP-1559, node's tip
    back = sender.send(from_file, raw.address, value=10**17)
    assert w3.eth.get_transaction(back.tx_hash)["from"] == other.address
    with pytest.raises(ValueError, match="MAC mismatch|password"):
        Signer.from_keystore(keystore, "wrong")


# ------------------------------------------------------------------------------------------ simulated nodes


class LaggingNode:
    """A node that, like anvil under load, counts a transaction in the sender's nonce before it serves the
    receipt (``hidden`` receipt lookups answer "not found"), or never serves it (``hidden=None``)."""

    def __init__(self, w3: Web3, hidden: int | None, nonce_moves: bool = True) -> None:
        self.real = w3.eth
        self.hidden = hidden
        self.nonce_moves = nonce_moves
        self.lookups = 0
        self.codec = w3.codec

    @property
    def eth(self) -> LaggingNode:
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def get_transaction_receipt(self, tx_hash: Any) -> Any:
        self.lookups += 1
        if self.hidden is None or self.lookups <= self.hidden:
            raise TransactionNotFound(f"transaction {tx_hash} not found")
        return self.real.get_transaction_receipt(tx_hash)

    def get_transaction_count(self, address: str, block: Any = "latest") -> int:
        count = self.real.get_transaction_count(address, block)
        return count if self.nonce_moves or block == "pending" else count - 1


def test_a_receipt_served_late_is_waited_for_not_called_dropped(outside_anvil):
    w3 = Web3(Web3.HTTPProvider(outside_anvil.url))
    signer = Signer.from_key(KEY)
    outside_anvil.fund(signer.address, 10**19)
    node = LaggingNode(w3, hidden=8)
    receipt = Sender(node, grace=5.0, poll=0.001).send(signer, Account.create().address, value=1)  # type: ignore[arg-type]
    assert node.lookups == 9 and receipt.gas_used == 21_000  # the nonce moved long before the receipt came


def test_a_transaction_that_never_comes_is_dropped_after_the_grace_period(outside_anvil):
    w3 = Web3(Web3.HTTPProvider(outside_anvil.url))
    signer = Signer.from_key(KEY)
    outside_anvil.fund(signer.address, 10**19)
    with pytest.raises(TxError) as info:
        Sender(LaggingNode(w3, hidden=None), grace=0.2, poll=0.01).send(signer, signer.address, value=1)  # type: ignore[arg-type]
    assert info.value.stage == "dropped" and info.value.tx_hash and "dropped" in str(info.value)


def test_a_transaction_still_pending_times_out(outside_anvil):
    w3 = Web3(Web3.HTTPProvider(outside_anvil.url))
    signer = Signer.from_key(KEY)
    outside_anvil.fund(signer.address, 10**19)
    node = LaggingNode(w3, hidden=None, nonce_moves=False)
    with pytest.raises(TxError) as info:
        Sender(node, grace=0.1, timeout=0.3, poll=0.01).send(signer, signer.address, value=1)  # type: ignore[arg-type]
    assert info.value.stage == "timeout"


class LegacyNode(LaggingNode):
    """A node whose blocks carry no base fee (Ganache before London)."""

    def get_block(self, block: Any, *args: Any) -> Any:
        return {k: v for k, v in self.real.get_block(block, *args).items() if k != "baseFeePerGas"}


def test_legacy_fees_where_blocks_have_no_base_fee(outside_anvil):
    w3 = Web3(Web3.HTTPProvider(outside_anvil.url))
    node = LegacyNode(w3, hidden=0)
    assert Sender(node, local=True).fees() == {"gasPrice": 0}  # type: ignore[arg-type]
    assert Sender(node, local=False).fees() == {"gasPrice": w3.eth.gas_price}  # type: ignore[arg-type]
    assert Sender(w3, local=True).fees()["maxPriorityFeePerGas"] == LOCAL_PRIORITY_FEE


def test_error_table_decodes_custom_errors_require_messages_and_panics():
    table = ErrorTable([load_abi("SPV")])
    selector = Web3.keccak(text="UnknownClass(uint256)")[:4]
    decoded = table.decode(selector + (9).to_bytes(32, "big"))
    assert (decoded.name, decoded.args, str(decoded)) == ("UnknownClass", (9,), "UnknownClass(9)")
    message = Web3.keccak(text="Error(string)")[:4] + bytes.fromhex(
        "0000000000000000000000000000000000000000000000000000000000000020"
        "0000000000000000000000000000000000000000000000000000000000000003") + b"abc".ljust(32, b"\0")
    assert table.decode(message).args == ("abc",) and table.decode(message).name == "Error"
    assert table.decode("0x" + (Web3.keccak(text="Panic(uint256)")[:4] + (0x11).to_bytes(32, "big")).hex()).args == (0x11,)
    # ERC-1066 codes stay hex, bytes32 reasons read as their words, other bytes stay hex
    blocked = ErrorTable([load_abi("TrancheToken")]).decode(
        Web3.keccak(text="TransferBlocked(address,address,bytes1,bytes32)")[:4] + bytes(12) + b"\x11" * 20
        + bytes(12) + b"\x22" * 20 + b"\x57".ljust(32, b"\0") + b"RECEIVER_NOT_VERIFIED".ljust(32, b"\0"))
    assert str(blocked) == (f"TransferBlocked({Web3.to_checksum_address('0x' + '11' * 20)}, "
                            f"{Web3.to_checksum_address('0x' + '22' * 20)}, 0x57, 'RECEIVER_NOT_VERIFIED')")
    assert blocked.args[3] == b"RECEIVER_NOT_VERIFIED".ljust(32, b"\0")  # the value itself is untouched
    unknown = table.decode(b"\xde\xad\xbe\xef")
    assert unknown.name == "" and "unknown error 0xdeadbeef" in str(unknown)


def test_the_tests_transaction_lookup_waits_for_a_late_transaction():
    """brownie's "dropped" race on a loaded machine: the lookup retries before it reports not found."""
    from types import SimpleNamespace

    from web3.exceptions import TransactionNotFound

    from chainabs.dev.testing import patient_transaction_lookup

    calls = []

    def late(tx_hash):
        calls.append(tx_hash)
        if len(calls) < 3:
            raise TransactionNotFound("not yet")
        return {"hash": tx_hash}

    w3 = SimpleNamespace(eth=SimpleNamespace(get_transaction=late, get_transaction_receipt=late))
    patient_transaction_lookup(w3, pause=0.0)
    assert w3.eth.get_transaction("0xab") == {"hash": "0xab"} and len(calls) == 3
    calls.clear()
    assert w3.eth.get_transaction_receipt("0xef") == {"hash": "0xef"} and len(calls) == 3
    patient_transaction_lookup(w3, pause=0.0)  # idempotent: not wrapped twice
    calls.clear()
    never = SimpleNamespace(eth=SimpleNamespace(get_transaction=lambda h: (_ for _ in ()).throw(TransactionNotFound(h))))
    patient_transaction_lookup(never, attempts=4, pause=0.0)
    with pytest.raises(TransactionNotFound):
        never.eth.get_transaction("0xcd")
