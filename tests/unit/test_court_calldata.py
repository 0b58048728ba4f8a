"""The challenger's tool reads a registry batch's records from a transaction's input as the registry's own decoder
reads calldata (``chainabs.chain.court._batch_calls``): a bare call, one carried inside a wallet's call, and a
non-canonical encoding the registry accepts but web3's decoder refuses; a crafted input with thousands of decoy
headers (or bare selectors) ahead of the true call neither hides it nor is read more than once per array."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from eth_abi import encode
from web3 import Web3

from chainabs.chain import court
from chainabs.chain.abis import load_abi

REGISTRY = SimpleNamespace(abi=load_abi("AssetRegistry"))  # what court needs of the registry: its ABI
RECORD = "(bytes32,uint256,uint256,bytes32,bytes32,bytes32)"


def _records(n: int) -> list[tuple]:
    return [(bytes([k + 1]) * 32, 1_000 + k, 2_000 + k, bytes([200 - k]) * 32, b"\x0c" * 32, b"\x0d" * 32)
            for k in range(n)]


def _call(name: str, pool: int, records: list[tuple]) -> bytes:
    return court._selector(REGISTRY, name) + encode(["uint256", f"{RECORD}[]"], [pool, records])


def _read(data: bytes, count: int) -> list[list[tuple]]:
    return [[court._packed_record(data, body + k * court._RECORD_BYTES) for k in range(count)]
            for body in court._batch_calls(REGISTRY, data, count)]


def test_a_bare_call_and_one_inside_a_wallets_call_are_read():
    records = _records(3)
    bare = _call("sellIntoPool", 7, records)
    assert _read(bare, 3) == [records]
    assert _read(bare, 2) == []  # another batch size: not this batch's call
    wrapped = b"\x6a\x76\x12\xe0" + encode(["address", "uint256", "bytes"], ["0x" + "11" * 20, 0, bare])
    assert _read(wrapped, 3) == [records]


def test_a_non_canonical_encoding_the_registry_accepts_is_read():
    """The records' offset pointing into the head (0x20: the offset word doubles as the array's length, 32): Solidity
    decodes it, web3 refuses it (the review's finding: such a batch made the tool unable to read the deal)."""
    records = _records(32)
    words = b"".join(encode([RECORD], [r]) for r in records)
    data = court._selector(REGISTRY, "registerAndPool") + (5).to_bytes(32, "big") + (32).to_bytes(32, "big") + words
    contract = Web3().eth.contract(abi=REGISTRY.abi)
    with pytest.raises(Exception):
        contract.decode_function_input(data)
    assert _read(data, 32) == [records]


def test_decoy_headers_sharing_one_array_are_read_once():
    records = _records(4)
    call = _call("sellIntoPool", 9, records)
    selector, array_at = call[:4], 4 + 64  # the true call's records array (length word) at byte 68 of the call
    decoys = []
    prefix = 8_000 * (4 + 64)  # 8,000 tiny headers (selector, pool, offset) in front of the true call
    for k in range(8_000):
        here = k * 68
        decoys.append(selector + (9).to_bytes(32, "big") + (prefix + array_at - here - 4).to_bytes(32, "big"))
    data = b"".join(decoys) + call
    bodies = list(court._batch_calls(REGISTRY, data, 4))
    assert len(bodies) == 1 and _read(data, 4) == [records]  # one distinct array, read once


def test_bytes_ahead_of_the_true_call_do_not_hide_it():
    """5,000 bare selectors and 5,000 headers pointing elsewhere (the second review's finding B: a cap on the places
    tried let them hide the true call)."""
    records = _records(3)
    call = _call("registerAndPool", 4, records)
    noise = court._selector(REGISTRY, "sellIntoPool") * 5_000
    elsewhere = (court._selector(REGISTRY, "registerAndPool") + (4).to_bytes(32, "big") + (10**6).to_bytes(32, "big")) * 5_000
    assert _read(noise + elsewhere + call, 3) == [records]
