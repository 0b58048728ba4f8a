"""Contract view calls in one JSON-RPC batch, encoded and decoded straight from the function's ABI.

Readers (reports, the explorer, the SPV's reconciliation, the state machines' invariants) ask hundreds of views
at a time. Building a web3 contract from a whole ABI and resolving each function by name costs far more than the
node's answer (about 0.2 s per token read through web3's contract objects); here a call is its address, its
ABI element and its arguments (:class:`ViewCall`), the selector and types are computed once per function
(:func:`codec`), and results have web3's shape (one output unwrapped, several as a tuple, structs as tuples,
addresses checksummed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_abi_to_4byte_selector, to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError

from chainabs.chain.abis import load_abi


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

    def data(self, args: Sequence[Any]) -> str:
        """The call's data (0x hex)."""
        return "0x" + (self.selector + encode(list(self.inputs), list(args))).hex()

    def result(self, raw: bytes) -> Any:
        """The answer in web3's shape."""
        values = tuple(_checksummed(t, v) for t, v in zip(self.outputs, decode(list(self.outputs), raw), strict=True))
        return values[0] if len(values) == 1 else values


def _type(param: Mapping[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_type(c) for c in param["components"]) + ")" + kind[len("tuple"):]
    return kind


def _checksummed(kind: str, value: Any) -> Any:
    if kind == "address":
        return to_checksum_address(value)
    if kind.endswith("]") and isinstance(value, (list, tuple)):
        return tuple(_checksummed(kind[: kind.rindex("[")], v) for v in value)
    if kind.startswith("(") and isinstance(value, tuple):
        return tuple(_checksummed(t, v) for t, v in zip(_split(kind[1 : kind.rindex(")")]), value, strict=True))
    return value


def _split(types: str) -> list[str]:
    """The members of a tuple type's inside, split at top-level commas."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(types):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            out.append(types[start:i])
            start = i + 1
    if types:
        out.append(types[start:])
    return out


@lru_cache(maxsize=4096)
def _codec(abi_json: str) -> Codec:
    element = json.loads(abi_json)
    return Codec(str(element["name"]), function_abi_to_4byte_selector(element),
                 tuple(_type(p) for p in element.get("inputs", ())), tuple(_type(p) for p in element.get("outputs", ())))


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
    prepared = [(as_view_call(c), codec(as_view_call(c).abi)) for c in calls]
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
