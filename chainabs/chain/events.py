"""Reading contract events over plain JSON-RPC, in block ranges public nodes accept.

Reports, the monitor and the explorer are rebuilt from chain data alone: anyone with an RPC URL and a deal's
addresses gets the same tables. This module needs only web3.py and the ABIs shipped in the package
(:mod:`chainabs.chain.abis`), not a brownie network connection or a compiled checkout.

Speed: web3's own path (``eth.get_logs`` formatting every log into attribute dicts, then ``get_event_data``)
costs about 2 ms per log; a deal's servicing emits tens of thousands. Here logs are fetched as the node's
raw JSON (:func:`get_raw_logs`) and decoded by one cached decoder per event ABI (:class:`EventCodec`:
topic, argument types and the shaping of structs, arrays and addresses worked out once), giving exactly
what ``get_event_data`` gives (a test holds them equal) about twenty times faster.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.grammar import parse as parse_abi_type
from eth_utils import collapse_if_tuple, event_abi_to_log_topic, to_checksum_address
from web3 import Web3

try:  # the compiled drop-in replacement of eth_abi that web3 7 brings (same results, faster)
    from faster_eth_abi import decode as abi_decode
except ImportError:  # pragma: no cover - eth_abi itself
    from eth_abi import decode as abi_decode


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
    #: Hash of the block (0x hex; empty when unknown): tells a reorganised block from the one read.
    block_hash: str = field(default="", compare=False)

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


@functools.lru_cache(maxsize=4096)
def _checksum(address: str) -> str:
    return to_checksum_address(address)


def _as_bytes(value: Any) -> bytes:
    """Bytes of a raw JSON-RPC hex string or of bytes / HexBytes."""
    if isinstance(value, str):
        return bytes.fromhex(value[2:] if value.startswith("0x") else value)
    return bytes(value)


def _as_int(value: Any) -> int:
    """An int from a raw JSON-RPC hex quantity or an int."""
    return int(value, 16) if isinstance(value, str) else int(value)


def value_shaper(item: Mapping[str, Any], *, structs_by_name: bool = True) -> Callable[[Any], Any] | None:
    """How a decoded value of ABI input/output ``item`` becomes what web3 gives: addresses checksummed, arrays
    as lists, structs as dicts by member name (``get_event_data``) or, with ``structs_by_name=False``, as tuples
    (a view call's answer); None when the value stays as decoded."""
    abi_type = str(item["type"])
    if abi_type.endswith("]"):
        inner = value_shaper({**item, "type": abi_type[: abi_type.rindex("[")]}, structs_by_name=structs_by_name)
        if inner is None:
            return list
        return lambda values: [inner(v) for v in values]
    if abi_type == "tuple":
        members = [(c["name"], value_shaper(c, structs_by_name=structs_by_name)) for c in item["components"]]
        if structs_by_name:
            return lambda values: {name: (f(v) if f else v) for (name, f), v in zip(members, values, strict=True)}
        return lambda values: tuple((f(v) if f else v) for (_, f), v in zip(members, values, strict=True))
    if abi_type == "address":
        return _checksum
    return None


def _topic_decoder(item: Mapping[str, Any]) -> Callable[[bytes], Any]:
    """Decoder of one indexed argument's topic (a dynamic type's topic is its hash: kept as bytes32)."""
    abi_type = collapse_if_tuple(dict(item))
    if parse_abi_type(abi_type).is_dynamic:
        return bytes
    if abi_type == "address":
        return lambda topic: _checksum("0x" + topic[12:].hex())
    if abi_type.startswith("uint"):
        return lambda topic: int.from_bytes(topic, "big")
    if abi_type == "bytes32":
        return bytes
    if abi_type == "bool":
        return lambda topic: bool(int.from_bytes(topic, "big"))
    shape = value_shaper(item)
    return lambda topic: (shape or (lambda v: v))(abi_decode([abi_type], topic)[0])


class EventCodec:
    """One event ABI worked out once: its topic, the types of its data, how each argument is shaped. Use
    :func:`event_codec` (cached per ABI item) rather than building one per log."""

    __slots__ = ("name", "topic", "topics", "_indexed", "_data_types", "_data")

    def __init__(self, item: Mapping[str, Any]) -> None:
        inputs = list(item.get("inputs", []))
        self.name: str = str(item["name"])
        self.topic: bytes = bytes(event_abi_to_log_topic(dict(item)))
        indexed = [i for i in inputs if i.get("indexed")]
        data = [i for i in inputs if not i.get("indexed")]
        #: Number of topics of a log of this event (the signature's and one per indexed argument).
        self.topics = 1 + len(indexed)
        self._indexed = [(str(i["name"]), _topic_decoder(i)) for i in indexed]
        self._data_types = [collapse_if_tuple(dict(i)) for i in data]
        self._data = [(str(i["name"]), value_shaper(i)) for i in data]

    def decode(self, topics: Sequence[bytes], data: bytes) -> dict[str, Any]:
        """The event's arguments (indexed first, then data, as web3 orders them) from a log's topics (the
        signature's first) and data."""
        if len(topics) != self.topics:
            raise ValueError(f"{self.name}: expected {self.topics} topics, got {len(topics)}")
        args = {name: decode(topic) for (name, decode), topic in zip(self._indexed, topics[1:], strict=True)}
        if self._data:
            values = abi_decode(self._data_types, data)
            for (name, shape), value in zip(self._data, values, strict=True):
                args[name] = shape(value) if shape else value
        return args


@functools.lru_cache(maxsize=1024)
def _codec_of(item_json: str) -> EventCodec:
    return EventCodec(json.loads(item_json))


def event_codec(item: Mapping[str, Any]) -> EventCodec:
    """The cached :class:`EventCodec` of an event ABI item."""
    return _codec_of(json.dumps(item, sort_keys=True))


def event_codecs(abi: Sequence[Mapping[str, Any]]) -> list[EventCodec]:
    """Codecs of every non-anonymous event of an ABI."""
    return [event_codec(i) for i in abi if i.get("type") == "event" and not i.get("anonymous")]


def _decoded(log: Mapping[str, Any], contract: str, codec: EventCodec, topics: Sequence[bytes],
             address: str) -> DecodedEvent:
    block_hash = log.get("blockHash")
    return DecodedEvent(
        block_number=_as_int(log["blockNumber"]),
        tx_hash="0x" + _as_bytes(log["transactionHash"]).hex(),
        log_index=_as_int(log["logIndex"]),
        address=address,
        contract=contract,
        event=codec.name,
        args=codec.decode(topics, _as_bytes(log["data"])),
        block_hash="0x" + _as_bytes(block_hash).hex() if block_hash else "",
    )


class EventDecoder:
    """Decodes logs of a set of contracts (address -> (contract name, ABI)): raw JSON-RPC logs (hex strings,
    :func:`get_raw_logs`) or web3's formatted ones alike."""

    def __init__(self, w3: Web3, contracts: dict[str, tuple[str, list[dict[str, Any]]]]) -> None:
        self.w3 = w3
        self.contracts = {Web3.to_checksum_address(a): v for a, v in contracts.items()}
        self._by_topic: dict[str, dict[bytes, EventCodec]] = {
            address: {c.topic: c for c in event_codecs(abi)} for address, (_, abi) in self.contracts.items()
        }

    @property
    def addresses(self) -> list[str]:
        return list(self.contracts)

    def decode(self, log: Any) -> DecodedEvent | None:
        """Decode one log; None for a log whose event is not in the contract's ABI."""
        topics = [_as_bytes(t) for t in log["topics"]]
        if not topics:
            return None
        address = _checksum(log["address"]) if isinstance(log["address"], str) else Web3.to_checksum_address(log["address"])
        codec = self._by_topic.get(address, {}).get(topics[0])
        if codec is None:
            return None
        return _decoded(log, self.contracts[address][0], codec, topics, address)


class LogDecoder:
    """Decodes logs of any contract whose ABI is known, whatever its address: the events of a
    transaction's receipt. An event is recognised by its topic and its number of indexed arguments (an ERC-20
    and an ERC-721 ``Transfer`` share a topic, not the number of topics)."""

    def __init__(self, w3: Web3, abis: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        self.w3 = w3
        self._by_topic: dict[tuple[bytes, int], tuple[str, EventCodec]] = {}
        for name, abi in abis.items():
            for codec in event_codecs(abi):
                self._by_topic.setdefault((codec.topic, codec.topics), (name, codec))

    def decode(self, log: Any) -> DecodedEvent | None:
        """Decode one log; None when no known ABI has its event."""
        topics = [_as_bytes(t) for t in log["topics"]]
        if not topics:
            return None
        found = self._by_topic.get((topics[0], len(topics)))
        if found is None:
            return None
        name, codec = found
        return _decoded(log, name, codec, topics, Web3.to_checksum_address(log["address"]))


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
    """Yield (from, to, logs) per block range (web3's formatted logs); ranges that fail are retried, then
    halved, then fail."""

    def fetch(a: int, b: int) -> list[Any]:
        return list(w3.eth.get_logs({"fromBlock": a, "toBlock": b, "address": list(addresses)}))

    for a, b in block_ranges(start, end, chunk):
        yield from _get_range(fetch, a, b, retries, backoff)


def get_raw_logs(
    w3: Web3,
    addresses: Sequence[str],
    start: int,
    end: int,
    *,
    chunk: int = DEFAULT_CHUNK,
    retries: int = 5,
    backoff: float = 0.5,
    topics: Sequence[str | None] | None = None,
) -> Iterator[tuple[int, int, list[dict[str, Any]]]]:
    """As :func:`get_logs`, but each log is the node's raw JSON (hex strings), without web3's formatting
    (which costs more than decoding): what :class:`EventDecoder` decodes fastest. ``topics``: an
    ``eth_getLogs`` topic filter (0x hex or None per position)."""
    params: dict[str, Any] = {"address": list(addresses)}
    if topics is not None:
        params["topics"] = list(topics)

    def fetch(a: int, b: int) -> list[dict[str, Any]]:
        reply = w3.provider.make_request("eth_getLogs", [{**params, "fromBlock": hex(a), "toBlock": hex(b)}])  # type: ignore[arg-type]
        if "error" in reply:
            raise EventReadError(f"eth_getLogs {a}..{b}: {reply['error']}")
        return [lg for lg in reply["result"] if not lg.get("removed")]

    for a, b in block_ranges(start, end, chunk):
        yield from _get_range(fetch, a, b, retries, backoff)


#: Words in the errors public providers give for an eth_getLogs range or result set they will not serve
#: (Alchemy "Log response size exceeded ... block range", Infura "query returned more than 10000 results",
#: QuickNode "eth_getLogs is limited to a 10,000 range", Ankr "block range is too wide", others "exceed maximum
#: block range"): such a range is split at once instead of being retried with back-off.
_TOO_LARGE = ("range", "response size", "more than", "results", "too large", "too wide")
#: Words of a throttled request ("project ID request rate exceeded", "exceeded its compute units per second
#: capacity", "429 Too Many Requests"): never a reason to narrow the range; retried with back-off.
_THROTTLED = re.compile(r"\b(rate|429|capacity|compute units|too many requests|throughput|credits)\b")


def _too_large(err: Exception) -> bool:
    text = str(err).lower()
    return _THROTTLED.search(text) is None and any(word in text for word in _TOO_LARGE)


class _RangeRefused(Exception):
    """The node refused a block range as too large (split it; no back-off)."""


def _fetch(fetch: Callable[[int, int], list[Any]], a: int, b: int, retries: int, backoff: float) -> list[Any]:
    """``fetch(a, b)`` sorted in chain order, retried with back-off on a failure; :class:`_RangeRefused` at once
    when the node calls the range (of more than one block) too large; the last error after the retries."""
    for attempt in range(retries):
        try:
            logs = fetch(a, b)
            return sorted(logs, key=lambda lg: (_as_int(lg["blockNumber"]), _as_int(lg["logIndex"])))
        except Exception as err:  # noqa: BLE001 - providers fail in many ways; retry then split
            if a < b and _too_large(err):
                raise _RangeRefused(str(err)) from err
            if attempt + 1 >= retries:
                raise
            time.sleep(backoff * (2**attempt))
    raise EventReadError(f"eth_getLogs {a}..{b}: no attempt (retries={retries})")


def _get_range(fetch: Callable[[int, int], list[Any]], a: int, b: int, retries: int,
               backoff: float) -> Iterator[tuple[int, int, list[Any]]]:
    try:
        logs = _fetch(fetch, a, b, retries, backoff)
    except Exception as err:  # noqa: BLE001 - the provider may refuse large ranges: split
        if a < b:
            mid = (a + b) // 2
            yield from _get_range(fetch, a, mid, retries, backoff)
            yield from _get_range(fetch, mid + 1, b, retries, backoff)
            return
        raise EventReadError(f"eth_getLogs failed for block {a}: {err}") from err
    yield a, b, logs


#: Chain ids of local development chains (anvil, Ganache): short histories, read from block 0.
DEV_CHAIN_IDS = frozenset({31337, 1337})

#: First block range :func:`contract_logs` asks: its reads are filtered by event and indexed argument, so few logs
#: match and most providers serve wide ranges; a node that refuses one is asked narrower ranges from then on.
WIDE_CHUNK = 50_000


def contract_logs(
    event: Any,
    start: int | None = None,
    end: int | None = None,
    *,
    argument_filters: Mapping[str, Any] | None = None,
    chunk: int = WIDE_CHUNK,
    retries: int = 5,
    backoff: float = 0.5,
) -> list[Any]:
    """The logs of one event of one web3 contract (``contract.events.Name``, web3's decoded logs with ``args``)
    in blocks start..end, in chain order, as a public node serves them (one eth_getLogs from block 0 fails on
    them): asked in ranges of at most ``chunk`` blocks, each retried, then split when the node refuses it; once
    the node has refused a range, the next ranges are no wider than the one it served.
    ``start`` defaults to the block the contract was deployed in (:func:`deployment_block`; block 0 on a local
    development chain), ``end`` to the latest block."""
    w3 = event.w3
    start = log_start(w3, event.address) if start is None else int(start)
    end = int(w3.eth.block_number) if end is None else int(end)
    filters = dict(argument_filters or {})

    def fetch(a: int, b: int) -> list[Any]:
        return list(event.get_logs(from_block=a, to_block=b, argument_filters=filters))

    out: list[Any] = []
    a, width = start, max(1, int(chunk))
    while a <= end:
        b = min(a + width - 1, end)
        try:
            logs = _fetch(fetch, a, b, retries, backoff)
        except _RangeRefused:  # too large for this node: narrower ranges from here on
            width = (b - a + 1) // 2
            continue
        except Exception as err:  # noqa: BLE001 - still failing after the retries with back-off
            raise EventReadError(f"eth_getLogs {a}..{b} failed after {retries} attempts: {err}") from err
        out.extend(logs)
        a = b + 1
    return out


def log_start(w3: Web3, address: str) -> int:
    """Where reading ``address``'s logs starts: its deployment block (:func:`deployment_block`), or block 0 on a
    local development chain (short: no search over its history)."""
    return 0 if int(w3.eth.chain_id) in DEV_CHAIN_IDS else deployment_block(w3, address)


#: (node, address) -> block the contract was deployed in, as last found (checked again before each use: a
#: local chain reverted to a snapshot may deploy another contract at the same address in another block).
_DEPLOYED: dict[tuple[str, str], int] = {}


def _has_code(w3: Web3, address: str, block: int) -> bool:
    return len(w3.eth.get_code(address, block_identifier=block)) > 0  # type: ignore[arg-type]


def deployment_block(w3: Web3, address: str) -> int:
    """First block where ``address`` has code (a binary search over eth_getCode, remembered per node and
    address and confirmed with two eth_getCode calls on later uses). A node that keeps no old state (a full
    node, not an archive: it refuses eth_getCode at old blocks) gets 0: the reads then start at the genesis
    block, slower but complete."""
    address = Web3.to_checksum_address(address)
    key = (str(getattr(w3.provider, "endpoint_uri", id(w3.provider))), address)
    known = _DEPLOYED.get(key)
    try:
        if known is not None and _has_code(w3, address, known) and (
                known == 0 or not _has_code(w3, address, known - 1)):
            return known
        lo, hi = 0, int(w3.eth.block_number)
        while lo < hi:
            mid = (lo + hi) // 2
            if _has_code(w3, address, mid):
                hi = mid
            else:
                lo = mid + 1
    except Exception:  # noqa: BLE001 - "missing trie node", "header not found", ...: no state that old here
        lo = 0
    _DEPLOYED[key] = lo
    return lo


def read_events(
    w3: Web3,
    decoder: EventDecoder,
    start: int = 0,
    end: int | None = None,
    *,
    chunk: int = DEFAULT_CHUNK,
    retries: int = 5,
    topics: Sequence[str | None] | None = None,
) -> list[DecodedEvent]:
    """All decoded events of the decoder's contracts in blocks start..end (default: latest), in chain order
    (raw logs, :func:`get_raw_logs`; ``retries`` per block range before it is split; ``topics`` an
    ``eth_getLogs`` topic filter)."""
    end = w3.eth.block_number if end is None else end
    out: list[DecodedEvent] = []
    for _, _, logs in get_raw_logs(w3, decoder.addresses, start, end, chunk=chunk, retries=retries, topics=topics):
        out.extend(e for e in (decoder.decode(lg) for lg in logs) if e is not None)
    return out


def events_named(events: Iterable[DecodedEvent], *names: str) -> list[DecodedEvent]:
    """The events whose name is one of ``names``, in order."""
    wanted = set(names)
    return [e for e in events if e.event in wanted]
