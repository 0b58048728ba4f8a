"""Serving the explorer: ``chainabs explorer --rpc URL --spv ADDRESS`` (:func:`serve`, in the foreground) and
:class:`ExplorerServer` (in a background thread: tests, benchmarks, the live demo)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import uvicorn
from rich.console import Console

from chainabs.apps.explorer.app import ExplorerPage, create_app
from chainabs.apps.explorer.indexer import Indexer, _unreachable


def first_index(indexer: Indexer) -> None:
    """Index the deal once, turning the node's failures into one-line errors for the command line."""
    try:
        indexer.index_once()
    except LookupError as exc:
        raise ValueError(str(exc)) from None
    except Exception as exc:
        if _unreachable(exc):
            raise ConnectionError(f"no JSON-RPC node answers at {indexer.rpc}") from None
        raise


class ExplorerServer:
    """The explorer over ``indexer`` served by uvicorn in a background thread (``with`` starts and stops)."""

    def __init__(self, indexer: Indexer, host: str = "127.0.0.1", port: int = 8700,
                 pages: Sequence[ExplorerPage] = ()) -> None:
        self.indexer = indexer
        self.host, self.port = host, port
        self.app = create_app(indexer, pages=pages)
        config = uvicorn.Config(self.app, host=host, port=port, log_level="warning", access_log=False,
                                timeout_graceful_shutdown=1, lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> ExplorerServer:
        self._thread = threading.Thread(target=self.server.run, name="explorer-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the explorer did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self, *, indexer: bool = True) -> None:
        """Stop serving (and the indexer, unless ``indexer`` is False: another server shares it)."""
        self.server.should_exit = True
        if indexer:
            self.indexer.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> ExplorerServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(rpc: str, spv: str, *, host: str = "127.0.0.1", port: int = 8700, interval: float = 0.5,
          start_block: int | None = None, console: Console | None = None,
          pages: Sequence[ExplorerPage] = ()) -> None:
    """Index the deal of ``spv`` on the node at ``rpc``, then serve the explorer (with ``pages``) until
    interrupted."""
    console = console or Console()
    indexer = Indexer(rpc, spv, interval=interval, start_block=start_block)
    started = time.perf_counter()
    first_index(indexer)
    reader = indexer.reader
    assert reader is not None and indexer.snapshot is not None
    console.print(f"indexed {len(reader.events):,} events of SPV {indexer.spv} (chain {indexer.chain_id}, blocks "
                  f"{reader.start_block:,}..{reader.last_block:,}) in {time.perf_counter() - started:.1f} s")
    indexer.start()
    console.print(f"explorer: http://{host}:{port}/deal  (Ctrl-C stops)")
    app = create_app(indexer, pages=pages)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    finally:
        indexer.stop()
