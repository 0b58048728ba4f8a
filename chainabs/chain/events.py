"""Reading contract events over plain JSON-RPC, in block ranges public nodes accept.

Reports and the monitor are rebuilt from chain data alone: anyone with an RPC URL and a deal's addresses
gets the same tables. This module needs only web3.py and the ABIs shipped in the package
(:mod:`chainabs.chain.abis`), not a brownie network connection or a compiled checkout.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import event_abi_to_log_topic
from web3 import Web3
from web3._utils.events import get_event_data


#: Largest block range asked in one eth_getLogs call (public providers cap ranges or result sizes).
DEFAULT_CHUNK = 2_000


class EventReadError(RuntimeError):
    """The node kept failing for a block range, or an ABI is missing."""


@dataclass(frozen=True)
class DecodedEvent:
    """One decoded log, with the coordinates that identify it uniquely on chain."""

    block_number: int
    tx_hash: str
    log_index: int
    address: str
    contract: str
    event: str
    args: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        """An argument of the event by name (``event["amount"]``)."""
        return self.args[name]

    @property
    def key(self) -> tuple[int, str, int]:
        """(block, tx hash, log index): unique per log (the identity used to de-duplicate)."""
        return (self.block_number, self.tx_hash, self.log_index)

    @property
    def order(self) -> tuple[int, int]:
        """(block, log index): the order the chain emitted the events in."""
        return (self.block_number, self.log_index)

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly dict (bytes as 0x-hex, big ints kept exact as ints)."""
        return {
            "block": self.block_number,
            "tx": self.tx_hash,
            "log_index": self.log_index,
            "address": self.address,
            "contract": self.contract,
            "event": self.event,
            "args": {k: _jsonable(v) for k, v in self.args.items()},
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):  # dicts and web3's AttributeDict (decoded structs)
        return {k: _jsonable(v) for k, v in value.items()}
    return value


class EventDecoder:
    """Decodes raw logs of a set of contracts (address -> (contract name, ABI))."""

    def __init__(self, w3: Web3, contracts: dict[str, tuple[str, list[dict[str, Any]]]]) -> None:
        self.w3 = w3
        self.contracts = {Web3.to_checksum_address(a): v for a, v in contracts.items()}
        self._by_topic: dict[str, dict[bytes, dict[str, Any]]] = {}
        for address, (_, abi) in self.contracts.items():
            table: dict[bytes, dict[str, Any]] = {}
            for item in abi:
                if item.get("type") == "event" and not item.get("anonymous"):
                    table[event_abi_to_log_topic(item)] = item
            self._by_topic[address] = table

    @property
    def addresses(self) -> list[str]:
        return list(self.contracts)

    def decode(self, log: Any) -> DecodedEvent | None:
        """Decode one raw log; None for a log whose event is not in the contract's ABI."""
        address = Web3.to_checksum_address(log["address"])
        topics = log["topics"]
        if not topics:
            return None
        topic0 = bytes(topics[0])
        abi = self._by_topic.get(address, {}).get(topic0)
        if abi is None:
            return None
        data = get_event_data(self.w3.codec, abi, log)
        return DecodedEvent(
            block_number=int(log["blockNumber"]),
            tx_hash="0x" + bytes(log["transactionHash"]).hex().removeprefix("0x"),
            log_index=int(log["logIndex"]),
            address=address,
            contract=self.contracts[address][0],
            event=data["event"],
            args=dict(data["args"]),
        )


class LogDecoder:
    """Decodes raw logs of any contract whose ABI is known, whatever its address: the events of a
    transaction's receipt. An event is recognised by its topic and its number of indexed arguments (an ERC-20
    and an ERC-721 ``Transfer`` share a topic, not the number of topics)."""

    def __init__(self, w3: Web3, abis: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        self.w3 = w3
        self._by_topic: dict[tuple[bytes, int], tuple[str, Mapping[str, Any]]] = {}
        for name, abi in abis.items():
            for item in abi:
                if item.get("type") == "event" and not item.get("anonymous"):
                    topics = 1 + sum(1 for i in item.get("inputs", []) if i.get("indexed"))
                    self._by_topic.setdefault((event_abi_to_log_topic(item), topics), (name, item))

    def decode(self, log: Any) -> DecodedEvent | None:
        """Decode one raw log; None when no known ABI has its event."""
        topics = log["topics"]
        if not topics:
            return None
        found = self._by_topic.get((bytes(topics[0]), len(topics)))
        if found is None:
            return None
        name, abi = found
        data = get_event_data(self.w3.codec, abi, log)
        return DecodedEvent(
            block_number=int(log["blockNumber"]),
            tx_hash="0x" + bytes(log["transactionHash"]).hex().removeprefix("0x"),
            log_index=int(log["logIndex"]),
            address=Web3.to_checksum_address(log["address"]),
            contract=name,
            event=data["event"],
            args=dict(data["args"]),
        )


def block_ranges(start: int, end: int, chunk: int = DEFAULT_CHUNK) -> Iterator[tuple[int, int]]:
    """Inclusive ranges [a, b] covering start..end, each at most ``chunk`` blocks."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    a = start
    while a <= end:
        b = min(a + chunk - 1, end)
        yield a, b
        a = b + 1


def get_logs(
    w3: Web3,
    addresses: Sequence[str],
    start: int,
    end: int,
    *,
    chunk: int = DEFAULT_CHUNK,
    retries: int = 5,
    backoff: float = 0.5,
) -> Iterator[tuple[int, int, list[Any]]]:
    """Yield (from, to, logs) per block range; ranges that fail are retried, then halved, then fail."""
    for a, b in block_ranges(start, end, chunk):
        yield from _get_range(w3, addresses, a, b, retries, backoff)


def _get_range(w3: Web3, addresses: Sequence[str], a: int, b: int, retries: int, backoff: float) -> Iterator[tuple[int, int, list[Any]]]:
    last_error: Exception | None = None
    for attempt in range(retries):
        try:
            logs = w3.eth.get_logs({"fromBlock": a, "toBlock": b, "address": list(addresses)})
            yield a, b, sorted(logs, key=lambda lg: (lg["blockNumber"], lg["logIndex"]))
            return
        except Exception as err:  # noqa: BLE001 - providers fail in many ways; retry then split
            last_error = err
            time.sleep(backoff * (2**attempt))
    if a < b:  # the provider may refuse large ranges: split
        mid = (a + b) // 2
        yield from _get_range(w3, addresses, a, mid, retries, backoff)
        yield from _get_range(w3, addresses, mid + 1, b, retries, backoff)
        return
    raise EventReadError(f"eth_getLogs failed for block {a}: {last_error}")


def read_events(
    w3: Web3,
    decoder: EventDecoder,
    start: int = 0,
    end: int | None = None,
    *,
    chunk: int = DEFAULT_CHUNK,
) -> list[DecodedEvent]:
    """All decoded events of the decoder's contracts in blocks start..end (default: latest), in chain order."""
    end = w3.eth.block_number if end is None else end
    out: list[DecodedEvent] = []
    for _, _, logs in get_logs(w3, decoder.addresses, start, end, chunk=chunk):
        out.extend(e for e in (decoder.decode(lg) for lg in logs) if e is not None)
    return out


def events_named(events: Iterable[DecodedEvent], *names: str) -> list[DecodedEvent]:
    """The events whose name is one of ``names``, in order."""
    wanted = set(names)
    return [e for e in events if e.event in wanted]
