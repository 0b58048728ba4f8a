"""Serving the explorer: ``chainabs explorer --rpc URL --spv ADDRESS`` (:func:`serve`, in the foreground) and
:class:`ExplorerServer` (in a background thread: tests, benchmarks, the live demo)."""

from __future__ import annotations

import errno
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import uvicorn
from rich.console import Console

from chainabs.apps.explorer.app import ExplorerPage, create_app
from chainabs.apps.explorer.indexer import Indexer, Status, _unreachable


def check_port(port: Any) -> int:
    """``port`` as a TCP port number (1..65535), else a one-line ValueError."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"--port {port}: a port is a number from 1 to 65535")
    return port


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (what uvicorn then serves on), checked before anything else is done:
    a port in use or a host that cannot be listened on is refused in one line (ValueError)."""
    check_port(port)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ValueError(f"--host {host}: cannot listen there ({exc.strerror or exc})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a port in TIME_WAIT is free
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        why = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            raise ValueError(f"port {port} is in use: {why} on {host}:{port}; give --port N (another free port)") from None
        raise ValueError(f"cannot listen on {host}:{port}: {why}; give another --host or --port") from None
    sock.set_inheritable(True)
    return sock


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
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> ExplorerServer:
        self._sock = reserve_port(self.host, self.port)  # a port in use: a one-line ValueError, no thread started
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]},
                                        name="explorer-http", daemon=True)
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
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> ExplorerServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(rpc: str, spv: str, *, host: str = "127.0.0.1", port: int = 8700, interval: float = 0.5,
          start_block: int | None = None, console: Console | None = None,
          pages: Sequence[ExplorerPage] = ()) -> None:
    """Index the deal of ``spv`` on the node at ``rpc``, then serve the explorer (with ``pages``) until
    interrupted. The port is taken first: in use (or not a port), the explorer is refused in one line
    (ValueError) before anything is indexed."""
    console = console or Console()
    sock = reserve_port(host, port)
    try:
        indexer = Indexer(rpc, spv, interval=interval, start_block=start_block)
        started = time.perf_counter()
        first_index(indexer)
    except BaseException:
        sock.close()
        raise
    reader = indexer.reader
    assert reader is not None and indexer.snapshot is not None
    console.print(f"indexed {len(reader.events):,} events of SPV {indexer.spv} (chain {indexer.chain_id}, blocks "
                  f"{reader.start_block:,}..{reader.last_block:,}) in {time.perf_counter() - started:.1f} s")
    indexer.subscribe(_log_reset(console))
    indexer.start()
    app = create_app(indexer, pages=pages)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=1)
    console.print(f"explorer: http://{host}:{port}/deal  (Ctrl-C stops)")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        indexer.stop()
        sock.close()


def _log_reset(console: Console) -> Any:
    """A status listener printing, once, that the chain indexed is gone (the pages say it too)."""
    said: list[str] = []

    def listener(status: Status) -> None:
        if status.node == "reset" and not said:
            said.append(status.error)
            console.print(f"explorer: {status.error}", style="bold red", highlight=False)
            sys.stdout.flush()

    return listener
