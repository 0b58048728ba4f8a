"""Batched view calls encoded from the ABI (chainabs.chain.calls): the same answers, in the same shapes, as web3's
contract objects; a revert named; many calls in one round trip."""

from __future__ import annotations

import pytest
from web3 import Web3
from web3.exceptions import ContractLogicError

from chainabs.chain.abis import load_abi
from chainabs.chain.calls import Views, ViewCall, codec, view_calls
from chainabs.chain.connection import connected_web3
from chainabs.chain.contracts import LOCKED, UNRESTRICTED


def test_answers_equal_web3s_in_shape_and_value(issued, verified):
    w3 = connected_web3()
    web3_token = w3.eth.contract(address=issued.address, abi=load_abi("TrancheToken")).functions
    fast = Views("TrancheToken", issued.address)
    holder = verified[0].address
    names = [("symbol", ()), ("decimals", ()), ("currency", ()), ("identityRegistry", ()), ("balanceOf", (holder,)),
             ("withdrawableOf", (holder,)), ("balanceOfByPartition", (UNRESTRICTED, holder)),
             ("balanceOfByPartition", (LOCKED, holder)), ("canTransfer", (holder, 1, b"")),
             ("partitionsOf", (holder,)), ("getDocument", (b"\0" * 32,))]
    answers = view_calls(w3, [getattr(fast, name)(*args) for name, args in names])
    for (name, args), answer in zip(names, answers, strict=True):
        expected = getattr(web3_token, name)(*args).call()
        assert answer == expected and type(answer) is type(expected), name  # as web3: arrays and several outputs as lists
    assert Web3.is_checksum_address(answers[2]) and answers[4] > 0  # addresses checksummed, as web3 gives them
    # web3's own function objects are accepted too, and a ViewCall made by hand from an ABI element
    element = next(e for e in load_abi("TrancheToken") if e.get("name") == "balanceOf")
    assert view_calls(w3, [web3_token.balanceOf(holder), ViewCall(issued.address, element, (holder,))]) == [
        answers[4], answers[4]]
    assert codec(element).selector == bytes.fromhex("70a08231")  # balanceOf(address)


def test_a_revert_names_the_function_and_nothing_is_asked_for_nothing(issued):
    w3 = connected_web3()
    with pytest.raises(ContractLogicError, match=rf"tokenOfOwnerByIndex on {issued.address} reverted"):
        view_calls(w3, [Views([{"type": "function", "name": "tokenOfOwnerByIndex", "stateMutability": "view",
                                "inputs": [{"name": "o", "type": "address"}, {"name": "i", "type": "uint256"}],
                                "outputs": [{"name": "", "type": "uint256"}]}], issued.address)
                        .tokenOfOwnerByIndex(issued.address, 0)])
    assert view_calls(w3, []) == []
    with pytest.raises(TypeError, match="balanceOf: no overload takes 2 arguments"):
        Views("TrancheToken", issued.address).balanceOf(1, 2)
    with pytest.raises(AttributeError, match="no function noSuchView"):
        Views("TrancheToken", issued.address).noSuchView  # noqa: B018


def test_asset_ids_derive_from_raw_loan_ids_of_any_bytes():
    """Another originator sharing a registry may use hashed (non-text) loan ids: the id is derived from the raw
    bytes32 as the chain does (``assetIdOf``), and a text id gives the same id as its bytes."""
    from chainabs.model.assets import asset_id, loan_id_bytes

    originator = "0x" + "ab" * 20
    raw = bytes(range(200, 232))  # not text
    assert asset_id(originator, "LN-1") == asset_id(originator, loan_id_bytes("LN-1"))
    with pytest.raises(ValueError, match="a raw loan id is 32 bytes, not 3"):
        asset_id(originator, b"abc")
    assert asset_id(originator, raw) == int.from_bytes(Web3.keccak(bytes(12) + bytes.fromhex("ab" * 20) + raw), "big")
