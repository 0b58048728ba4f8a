"""The revert data of a node's error reply, in anvil's shape and in Ganache 7's (docs/ganache.md)."""

from __future__ import annotations

from web3 import Web3

from chainabs.chain.sender import revert_data

DATA = "0x" + Web3.keccak(text="NotDeal(address,address)")[:4].hex() + "00" * 64


def test_anvil_reply():
    reply = {"code": 3, "message": "execution reverted", "data": DATA}
    assert revert_data(ValueError(reply)) == bytes.fromhex(DATA[2:])


def test_ganache_reply_as_brownie_launches_it():
    """``--chain.vmErrorsOnRPCResponse``: the data sits under the transaction hash (``0x`` for a call)."""
    call = {"code": -32000, "message": "VM Exception while processing transaction: revert", "name": "CallError",
            "data": {"0x": {"error": "revert", "reason": DATA}}}
    assert revert_data(ValueError(call)) == bytes.fromhex(DATA[2:])
    tx = {"code": -32000, "message": "VM Exception while processing transaction: revert",
          "data": {"0x" + "ab" * 32: {"error": "revert", "program_counter": 12, "return": DATA, "reason": None},
                   "stack": "RuntimeError: ...", "name": "RuntimeError"}}
    assert revert_data(ValueError(tx)) == bytes.fromhex(DATA[2:])


def test_no_revert_data():
    assert revert_data(ValueError({"code": -32000, "message": "insufficient funds", "data": {"0x": {"error": "out of gas"}}})) is None
    assert revert_data(ValueError("connection refused")) is None
