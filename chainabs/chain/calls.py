"""Contract view calls in one JSON-RPC batch, encoded and decoded straight from the function's ABI.

Readers (reports, the explorer, the SPV's reconciliation, the state machines' invariants) ask hundreds of views
at a time. Building a web3 contract from a whole ABI and resolving each function by name costs far more than the
node's answer (about 0.2 s per token read through web3's contract objects); here a call is its address, its
ABI element and its arguments (:class:`ViewCall`), the selector and types are computed once per function
(:func:`codec`), and results have web3's shape (one output unwrapped, several as a list, structs as tuples,
arrays as lists, addresses checksummed: the events' shaping, :func:`chainabs.chain.events.value_shaper`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_abi_to_4byte_selector
from web3 import Web3
from web3.exceptions import ContractLogicError

from chainabs.chain.abis import abi_type, load_abi
from chainabs.chain.events import value_shaper


@dataclass(frozen=True)
class ViewCall:
    """One view call: the contract's address, the function's ABI element and the arguments."""

    address: str
    abi: Mapping[str, Any]
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Codec:
    """What encoding a function's call and decoding its answer needs."""

    name: str
    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    #: How each decoded output becomes what web3 gives (:func:`chainabs.chain.events.value_shaper`).
    shapes: tuple[Callable[[Any], Any] | None, ...]

    def data(self, args: Sequence[Any]) -> str:
        """The call's data (0x hex)."""
        return "0x" + (self.selector + encode(list(self.inputs), list(args))).hex()

    def result(self, raw: bytes) -> Any:
        """The answer in web3's shape."""
        values = [f(v) if f else v for f, v in zip(self.shapes, decode(list(self.outputs), raw), strict=True)]
        return values[0] if len(values) == 1 else values


@lru_cache(maxsize=4096)
def _codec(abi_json: str) -> Codec:
    element = json.loads(abi_json)
    outputs = element.get("outputs", ())
    return Codec(str(element["name"]), function_abi_to_4byte_selector(element),
                 tuple(abi_type(p) for p in element.get("inputs", ())), tuple(abi_type(p) for p in outputs),
                 tuple(value_shaper(p, structs_by_name=False) for p in outputs))


def codec(abi: Mapping[str, Any]) -> Codec:
    """The codec of a function's ABI element (computed once per distinct element)."""
    return _codec(json.dumps(abi, sort_keys=True, default=str))


class Views:
    """A contract's functions as :class:`ViewCall` builders, from a shipped ABI name or an ABI list, without a
    web3 contract: ``Views("TrancheToken", token).balanceOf(holder)``. Overloads are told apart by arity."""

    def __init__(self, abi: str | Sequence[Mapping[str, Any]], address: str) -> None:
        self.address = Web3.to_checksum_address(address)
        self._functions = _functions(abi) if isinstance(abi, str) else _index(abi)

    def __getattr__(self, name: str) -> Any:
        overloads = self.__dict__.get("_functions", {}).get(name)
        if not overloads:
            raise AttributeError(f"no function {name} in the ABI")

        def build(*args: Any) -> ViewCall:
            for element in overloads:
                if len(element.get("inputs", ())) == len(args):
                    return ViewCall(self.address, element, tuple(args))
            raise TypeError(f"{name}: no overload takes {len(args)} arguments")

        return build


def _index(abi: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for item in abi:
        if item.get("type") == "function":
            out.setdefault(str(item["name"]), []).append(item)
    return out


@lru_cache(maxsize=64)
def _functions(abi_name: str) -> dict[str, list[Mapping[str, Any]]]:
    return _index(load_abi(abi_name))


def as_view_call(call: Any) -> ViewCall:
    """A :class:`ViewCall`, or one made from a web3 ``ContractFunction`` with its arguments bound."""
    if isinstance(call, ViewCall):
        return call
    return ViewCall(str(call.address), call.abi, tuple(call.args or ()))


def view_calls(w3: Web3, calls: Sequence[Any], *, block: int | str = "latest") -> list[Any]:
    """The answers of ``calls`` (:class:`ViewCall` or web3 ``ContractFunction`` objects with their arguments),
    in order, asked in one JSON-RPC batch (one round trip). A call that reverts raises ``ContractLogicError``
    naming the function and its contract."""
    if not calls:
        return []
    prepared = [(call, codec(call.abi)) for call in map(as_view_call, calls)]
    at = hex(block) if isinstance(block, int) else block
    requests = [("eth_call", [{"to": call.address, "data": code.data(call.args)}, at]) for call, code in prepared]
    provider = w3.provider
    if hasattr(provider, "make_batch_request"):
        replies = provider.make_batch_request(requests)
    else:  # a provider without batches: one request each
        replies = [provider.make_request(method, params) for method, params in requests]
    if isinstance(replies, Mapping):  # the node refused the batch as a whole
        raise ContractLogicError(f"the node refused a batch of {len(requests)} calls: {replies.get('error')}")
    by_id = sorted(replies, key=lambda r: int(r.get("id", 0))) if all("id" in r for r in replies) else list(replies)
    out = []
    for (call, code), reply in zip(prepared, by_id, strict=True):
        if reply.get("error"):
            error = reply["error"]
            message = error.get("message", error) if isinstance(error, Mapping) else error
            raise ContractLogicError(f"{code.name} on {call.address} reverted: {message}",
                                     data=error.get("data") if isinstance(error, Mapping) else None)
        out.append(code.result(bytes.fromhex(str(reply["result"]).removeprefix("0x"))))
    return out
