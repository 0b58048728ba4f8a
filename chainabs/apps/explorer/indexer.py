"""The explorer's indexer: reads a deal's events once, then follows the chain block by block.

A background thread polls the node's latest block (every ``interval`` seconds). On a new block it reads the
new events (:meth:`chainabs.chain.read.deal.DealReader.refresh`: raw logs, cached decoders, reorganisations
undone) and rebuilds the pages' snapshot (:func:`chainabs.apps.explorer.views.build_snapshot`; the tables
whose events did not change come from the reader's cache). Pages and the live stream read the snapshot and
:attr:`Indexer.status`; a node that stops answering sets the status to ``unreachable`` and is retried with
a growing pause (at most :data:`MAX_BACKOFF` seconds) until it answers again.

A chain that was reset under the explorer (a local node restarted: the blocks it indexed are gone) is told
apart from a reorganisation: the hash of the deal's first block, recorded at the first read, no longer
matches (or that block is gone, or the SPV has no code). The status becomes ``reset`` for good
(:class:`ChainReset`): the pages answer 503 saying so, and the explorer has to be restarted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import requests
from web3 import Web3

from chainabs.apps.explorer import views
from chainabs.chain.read.deal import DealReader, read_deal, web3_for

#: Longest pause between two attempts to reach a node that does not answer (seconds).
MAX_BACKOFF = 2.0
T = TypeVar("T")


class ChainReset(RuntimeError):
    """The chain the explorer indexed is gone (the node was reset): the deal as indexed no longer exists."""


@dataclass(frozen=True)
class Status:
    """What the indexer knows of the node: ``ok``, ``starting``, ``unreachable``, ``error`` or ``reset`` (the
    chain it indexed is gone: final)."""

    node: str = "starting"
    error: str = ""
    #: Latest block seen, the block the snapshot is of, and the snapshot's number (bumped at each rebuild).
    head: int = -1
    indexed: int = -1
    version: int = 0
    #: Unix time of the indexed block; seconds the last (re)build took; when the node last answered.
    block_time: int = 0
    build_seconds: float = 0.0
    checked_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "error": self.error, "head": self.head, "block": self.indexed,
                "version": self.version, "block_time": self.block_time, "build_seconds": round(self.build_seconds, 3),
                "checked_at": self.checked_at}


def _unreachable(exc: BaseException) -> bool:
    """True for an error that means the node did not answer (refused, reset, timed out)."""
    chain = [exc]
    while chain[-1].__cause__ is not None or chain[-1].__context__ is not None:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)  # type: ignore[arg-type]
        if len(chain) > 10:
            break
    return any(isinstance(e, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)) for e in chain)


def _block_hash(block: Any) -> str:
    return "0x" + bytes(block["hash"]).hex()


class Indexer:
    """Follows one deal on one node; thread-safe: readers use :meth:`locked` around reader access."""

    def __init__(self, rpc: str, spv: str, *, interval: float = 0.5, timeout: float = 5.0,
                 start_block: int | None = None) -> None:
        if not Web3.is_address(spv):
            raise ValueError(f"SPV address {spv!r} is not an Ethereum address")
        self.rpc = rpc
        self.spv = Web3.to_checksum_address(spv)
        self.interval = interval
        self.timeout = timeout
        self.start_block = start_block
        self.w3 = web3_for(rpc, timeout=timeout)
        self.reader: DealReader | None = None
        self.snapshot: dict[str, Any] | None = None
        self.status = Status()
        self.chain_id: int | None = None
        #: The deal's first block read and its hash (0x hex) at the first read: the chain this index is of.
        self.anchor: tuple[int, str] | None = None
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[Status], None]] = []

    # ------------------------------------------------------------------------------------------------ indexing
    def index_once(self) -> bool:
        """One poll: the first read of the deal, or the new blocks since the last; the snapshot rebuilt when
        the head moved. Returns True when a new snapshot was built. Raises what the node raised."""
        with self.lock:
            start = time.perf_counter()
            if self.reader is None:
                self.chain_id = int(self.w3.eth.chain_id)
                if len(self.w3.eth.get_code(self.spv)) == 0:
                    raise LookupError(f"no contract at {self.spv} on chain {self.chain_id} (is it the deal's SPV?)")
                try:
                    self.reader = read_deal(self.w3, self.spv, start_block=self.start_block)
                except Exception as exc:
                    if _unreachable(exc):
                        raise
                    said = " ".join(str(exc).split())[:160] or type(exc).__name__
                    raise LookupError(f"{self.spv} on chain {self.chain_id} does not read as a ChainABS SPV "
                                      f"({type(exc).__name__}: {said})") from exc
                self.reader.retries = 2
                first = max(int(self.reader.start_block), 0)
                self.anchor = (first, _block_hash(self.w3.eth.get_block(first)))
            else:
                if self.reset:
                    raise ChainReset(self.status.error)
                head = int(self.w3.eth.block_number)
                moved = head < self.reader.last_block or self.reader.reorganised()
                if moved:
                    self.check_chain()
                if head == self.reader.last_block and not moved:
                    self._set(replace(self.status, node="ok", error="", head=head, checked_at=time.time()))
                    return False
                self.reader.refresh()
            self.snapshot = views.build_snapshot(self.reader)
            self._set(Status(node="ok", head=self.reader.last_block, indexed=self.snapshot["block"],
                             version=self.status.version + 1, block_time=self.snapshot["block_time"],
                             build_seconds=time.perf_counter() - start))
            return True

    def check_chain(self) -> None:
        """Raise :class:`ChainReset` when the chain indexed is gone: the deal's first block changed or no
        longer exists, or the SPV has no code (a reorganisation never reaches that far back)."""
        if self.anchor is None:
            return
        block, known = self.anchor
        why = ""
        try:
            if _block_hash(self.w3.eth.get_block(block)) != known:
                why = f"block {block:,}, where the deal starts, is not the block indexed"
        except Exception as exc:  # noqa: BLE001 - web3 raises BlockNotFound beyond the head
            if "not found" not in str(exc).lower():
                raise
            why = f"block {block:,}, where the deal starts, is gone"
        if not why and len(self.w3.eth.get_code(self.spv)) == 0:
            why = "there is no contract at that address any more"
        if why:
            message = (f"the chain was reset: the deal at {self.spv} no longer exists as indexed ({why}; the node's "
                       f"head is block {int(self.w3.eth.block_number):,}); restart the explorer")
            self._set(replace(self.status, node="reset", error=message, checked_at=time.time()))
            raise ChainReset(message)

    def _run(self) -> None:
        pause = self.interval
        while not self._stop.is_set():
            try:
                self.index_once()
                pause = self.interval
            except ChainReset:  # final (the status says so): the pages say so until the explorer is restarted
                pause = MAX_BACKOFF
            except Exception as exc:  # noqa: BLE001 - the node's failures are shown, then retried
                node = "unreachable" if _unreachable(exc) else "error"
                self._set(replace(self.status, node=node, error=" ".join(str(exc).split())[:300] or type(exc).__name__,
                                  checked_at=time.time()))
                pause = min(max(pause * 2, self.interval), MAX_BACKOFF)
            self._stop.wait(pause)

    # ------------------------------------------------------------------------------------------------ lifecycle
    def start(self, *, wait: float | None = None) -> Indexer:
        """Start following the chain in a background thread; with ``wait``, block until the first snapshot
        (raising the node's error if it does not come within ``wait`` seconds)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="explorer-indexer", daemon=True)
            self._thread.start()
        if wait is not None:
            deadline = time.monotonic() + wait
            while self.snapshot is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.snapshot is None:
                raise RuntimeError(f"the deal was not indexed within {wait} s: {self.status.node} {self.status.error}")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # ------------------------------------------------------------------------------------------------ access
    def _set(self, status: Status) -> None:
        self.status = status
        for listener in list(self._listeners):
            listener(status)

    def subscribe(self, listener: Callable[[Status], None]) -> Callable[[], None]:
        """Call ``listener(status)`` at every status change; returns the function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def page(self, name: str) -> dict[str, Any]:
        """The snapshot's data of page ``name`` (deal, pool, regulator) with the block it is of."""
        snap = self.snapshot
        if snap is None:
            raise RuntimeError("the deal is not indexed yet")
        return {**snap[name], "block": snap["block"], "block_time": snap["block_time"], "chain_id": snap["chain_id"]}

    @property
    def reset(self) -> bool:
        """True when the chain indexed is gone (:class:`ChainReset`)."""
        return self.status.node == "reset"

    def with_reader(self, build: Callable[[DealReader], T]) -> T:
        """``build(reader)`` under the indexer's lock (per-request pages: loans, investors). When it fails
        because the chain was reorganised since the last poll (events of blocks that are gone), the reader
        catches up first and ``build`` runs once more."""
        with self.lock:
            if self.reader is None:
                raise RuntimeError("the deal is not indexed yet")
            if self.reset:
                raise ChainReset(self.status.error)
            try:
                return build(self.reader)
            except Exception:
                if not self.reader.reorganised():
                    raise
                self.check_chain()
                self.index_once()
                return build(self.reader)
