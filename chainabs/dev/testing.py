"""Helpers for tests on local chains: the ports of a test worker, an anvil started outside brownie (a
rehearsal 'live' network), and a patient transaction lookup for the tests' own brownie sends."""

from __future__ import annotations

import os
import time
from typing import Any

from web3.exceptions import TransactionNotFound

from chainabs.chain.connection import anvil_state_args, chain_port

#: Ports reserved per test worker: its chain's, and nine for helper nodes.
PORTS_PER_WORKER = 10


def worker_index() -> int:
    """The pytest-xdist worker number of this process (``gw3`` -> 3), 0 without xdist."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def worker_port() -> int:
    """The port of this test worker's chain: ``CHAINABS_PORT + 10 * worker``; helper nodes (rehearsal
    networks, a second anvil) use the nine ports after it."""
    return chain_port() + PORTS_PER_WORKER * worker_index()


def patient_transaction_lookup(w3: Any, *, attempts: int = 1500, pause: float = 0.02) -> None:
    """Make ``w3.eth.get_transaction`` and ``w3.eth.get_transaction_receipt`` look a transaction up again for up
    to ``attempts`` x ``pause`` seconds (30 s by default) before they report it not found. brownie declares a
    transaction dropped the moment its sender's nonce has moved and one lookup of the transaction or of its
    receipt misses it; on a loaded machine anvil can count the nonce before it serves the mined transaction, and
    a test's own ``contract.fn(..., {"from": ...})`` then fails with "Tx dropped without known replacement".
    (The library's sends go through :mod:`chainabs.chain.sender`, which waits for the receipt.)"""
    eth = w3.eth
    for name in ("get_transaction", "get_transaction_receipt"):
        lookup = getattr(eth, name, None)
        if lookup is None or getattr(lookup, "patient", False):
            continue
        setattr(eth, name, _patient(lookup, attempts, pause))


def _patient(lookup: Any, attempts: int, pause: float) -> Any:
    """``lookup`` retried on ``TransactionNotFound`` (``attempts`` tries, ``pause`` seconds apart)."""

    def patient_lookup(tx_hash: Any, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(attempts):
            try:
                return lookup(tx_hash, *args, **kwargs)
            except TransactionNotFound:
                if attempt == attempts - 1:
                    raise
                time.sleep(pause)
        raise AssertionError("unreachable")

    patient_lookup.patient = True  # type: ignore[attr-defined]
    return patient_lookup


class ExternalAnvil:
    """An anvil node started outside brownie, e.g. to rehearse a live-network deployment.

    Used as a context manager; ``url`` is its RPC endpoint. With ``chain_id=11155111`` brownie treats it
    like Sepolia: nothing is unlocked for the project's code, which must sign raw transactions.
    """

    def __init__(self, port: int, chain_id: int = 11155111, base_fee: int | None = None) -> None:
        self.port = port
        self.chain_id = chain_id
        self.base_fee = base_fee
        self.url = f"http://127.0.0.1:{port}"
        self._proc = None

    def __enter__(self) -> "ExternalAnvil":
        import shutil
        import subprocess
        import time

        import requests

        exe = shutil.which("anvil")
        if exe is None:
            raise RuntimeError("anvil is not on PATH (run `make install` or source tools/dev-env.sh)")
        cmd = [exe, "--port", str(self.port), "--chain-id", str(self.chain_id), "--silent", *anvil_state_args()]
        if self.base_fee is not None:
            cmd += ["--block-base-fee-per-gas", str(self.base_fee)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError(f"anvil did not start on port {self.port}")

    def rpc(self, method: str, params: list | None = None) -> object:
        """Send one JSON-RPC request to the node and return its result."""
        import requests

        reply = requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=10).json()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def fund(self, address: str, wei: int) -> None:
        """Give ``address`` a balance of ``wei`` (anvil_setBalance)."""
        self.rpc("anvil_setBalance", [address, hex(wei)])

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except Exception:  # noqa: BLE001
                self._proc.kill()
            self._proc = None
