"""Requests to the node: the chain id asked once, a local node reached without the environment's proxies, and
brownie's node-control calls without a full stack inspection (``chainabs.chain.connection``)."""

from __future__ import annotations

import importlib

import pytest
from web3 import Web3

from chainabs.chain.connection import quiet_rpc_guard, tune_transport


def _counted(w3: Web3) -> list[str]:
    """The JSON-RPC methods ``w3``'s provider sends from now on (recorded at the HTTP session)."""
    import json

    sent: list[str] = []
    uri = w3.provider.endpoint_uri
    session = w3.provider._request_session_manager.cache_and_return_session(uri)
    post = session.post

    def recording(url, *args, **kwargs):
        body = kwargs.get("data") or (args[0] if args else b"{}")
        sent.append(json.loads(body)["method"])
        return post(url, *args, **kwargs)

    session.post = recording
    return sent


def test_the_chain_id_is_asked_once_and_calls_still_answer(web3, admin):
    w3 = Web3(Web3.HTTPProvider(web3.provider.endpoint_uri))
    plain = _counted(w3)
    w3.eth.call({"to": str(admin), "data": "0x"})
    w3.eth.call({"to": str(admin), "data": "0x"})
    assert plain.count("eth_chainId") >= 2, "web3 asks the chain id for every call"

    tuned = tune_transport(Web3(Web3.HTTPProvider(web3.provider.endpoint_uri)))
    sent = _counted(tuned)
    for _ in range(3):
        assert tuned.eth.call({"to": str(admin), "data": "0x"}) == b""
    assert tuned.eth.chain_id == web3.eth.chain_id
    assert sent.count("eth_chainId") == 1 and sent.count("eth_call") == 3, sent
    estimate = tuned.eth.estimate_gas({"from": str(admin), "to": str(admin), "value": 1})
    assert estimate == 21_000 and sent.count("eth_chainId") == 1


@pytest.mark.parametrize("url, local", [("http://127.0.0.1:8545", True), ("http://localhost:8545", True),
                                        ("http://[::1]:8545", True), ("https://rpc.sepolia.org", False),
                                        ("http://10.0.0.7:8545", False)])
def test_only_a_node_on_this_machine_skips_the_proxy_settings(url, local):
    w3 = tune_transport(Web3(Web3.HTTPProvider(url)))
    session = w3.provider._request_session_manager.cache_and_return_session(url)
    assert session.trust_env is (not local)


def test_node_control_calls_skip_the_stack_inspection_and_the_guard_sees_the_same_frame(chain, monkeypatch):
    import inspect

    quiet_rpc_guard()
    rpc_module = importlib.import_module("brownie.network.rpc")

    def guard():  # what brownie's guard does: the frame of whoever called it
        return rpc_module.inspect.stack()[1].frame, inspect.stack()[1].frame

    def caller():
        return guard()

    quiet, full = caller()
    assert quiet is full and quiet.f_code.co_name == "caller"

    def forbidden(*args, **kwargs):
        raise AssertionError("inspect.stack() was called")

    monkeypatch.setattr(inspect, "stack", forbidden)
    before = chain.height
    chain.snapshot()
    chain.mine(2)
    chain.sleep(60)
    assert chain.height == before + 2
    chain.revert()
    assert chain.height == before
