"""Fixtures and helpers of the deployment tests: a separately started anvil with Sepolia's chain id that
brownie treats as a live network, reached by `brownie run` in a subprocess with its own HOME."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chainabs.paths import PROJECT_ROOT
from chainabs.dev.testing import PORTS_PER_WORKER, ExternalAnvil, worker_port

SEPOLIA_CHAIN_ID = 11155111
#: What the subprocess sees of the project (symlinked); `build/` is copied so that brownie's own live-network
#: deployment artifacts land in the copy, never among real Sepolia artifacts of the project.
PROJECT_LINKS = ("contracts", "interfaces", "scripts", "chainabs", "deals", "brownie-config.yaml", "node_modules")


def free_port(first: int, last: int) -> int:
    """The first port in ``first..last`` nothing listens on."""
    for port in range(first, last + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}..{last}")


def artifact(name: str) -> dict[str, Any]:
    """The compiled artifact (abi, bytecode) of a project contract."""
    return json.loads((PROJECT_ROOT / "build" / "contracts" / f"{name}.json").read_text())


@dataclass
class Rehearsal:
    """A 'live' network: the external anvil, a project copy and a brownie HOME where it is registered."""

    anvil: ExternalAnvil
    cwd: Path
    home: Path
    w3: Any

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a `brownie run` against the rehearsal network (no key of the caller leaks in)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYER_", "ROLE_", "CURRENCY_", "REGISTRY_",
                                                                       "POOL_ID", "ETHERSCAN_", "ORIGINATOR_"))}
        env.update(HOME=str(self.home), PYTHONPATH=str(PROJECT_ROOT), COLUMNS="120", **extra)
        return env

    def brownie(self, *args: str, env: dict[str, str], log: Path, stdin: int = subprocess.DEVNULL) -> subprocess.Popen:
        """Start ``brownie <args>`` in its own process group, output to ``log``."""
        return self._start("brownie", args, env, log, stdin)

    def chainabs(self, *args: str, env: dict[str, str], log: Path, stdin: int = subprocess.DEVNULL) -> subprocess.Popen:
        """Start ``chainabs <args>`` (the installed command) in its own process group, output to ``log``."""
        return self._start("chainabs", args, env, log, stdin)

    def _start(self, command: str, args: tuple[str, ...], env: dict[str, str], log: Path, stdin: int) -> subprocess.Popen:
        exe = Path(sys.executable).with_name(command)
        fh = log.open("w")
        return subprocess.Popen([str(exe), *args], cwd=self.cwd, env=env, stdin=stdin, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def account(self, eth: int = 100) -> Any:
        """A fresh key funded with ``eth`` ether (anvil_setBalance)."""
        from eth_account import Account

        acct = Account.create()
        self.anvil.fund(acct.address, eth * 10**18)
        return acct

    def send(self, key: Any, tx: dict[str, Any]) -> Any:
        """Sign ``tx`` with ``key`` and wait for its receipt."""
        tx = {**tx, "from": key.address, "nonce": self.w3.eth.get_transaction_count(key.address),
              "chainId": SEPOLIA_CHAIN_ID}
        built = tx if "gas" in tx else {**tx, "gas": self.w3.eth.estimate_gas(tx)}
        fee = self.w3.eth.get_block("latest")["baseFeePerGas"]
        built.update(maxFeePerGas=2 * fee + 10**9, maxPriorityFeePerGas=10**9)
        sent = self.w3.eth.send_raw_transaction(key.sign_transaction(built).raw_transaction)
        return self.w3.eth.wait_for_transaction_receipt(sent)

    def deploy(self, key: Any, name: str, *args: Any) -> Any:
        """Deploy project contract ``name`` from ``key`` (raw signed); returns a web3 contract."""
        art = artifact(name)
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        receipt = self.send(key, factory.constructor(*args).build_transaction({"from": key.address}))
        return self.w3.eth.contract(address=receipt.contractAddress, abi=art["abi"])

    def contract(self, name: str, address: str) -> Any:
        return self.w3.eth.contract(address=address, abi=artifact(name)["abi"])


def run_until(proc: subprocess.Popen, stop: Callable[[], bool], timeout: float) -> bool:
    """Wait until ``stop()`` (then SIGKILL the process group of ``proc``: True) or the process ends (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stop():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    raise TimeoutError(f"nothing happened in {timeout} s")


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest's JSON, or None before it exists (it is written atomically: never half a file)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    """An anvil with chain id 11155111 on a free port after CHAINABS_PORT, registered in a fresh brownie HOME
    as the live network `rehearsal`."""
    from web3 import Web3

    base = worker_port()
    port = free_port(base + 1, base + PORTS_PER_WORKER - 1)
    root = tmp_path_factory.mktemp("rehearsal")
    cwd, home = root / "project", root / "home"
    (cwd / "build").mkdir(parents=True)
    home.mkdir()
    for name in PROJECT_LINKS:
        (cwd / name).symlink_to(PROJECT_ROOT / name)
    for sub in ("contracts", "interfaces"):
        shutil.copytree(PROJECT_ROOT / "build" / sub, cwd / "build" / sub)
    (cwd / ".env").write_text("")  # brownie-config names a dotenv file; the developer's own stays out
    with ExternalAnvil(port, chain_id=SEPOLIA_CHAIN_ID) as anvil:
        r = Rehearsal(anvil, cwd, home, Web3(Web3.HTTPProvider(anvil.url)))
        log = root / "networks.log"
        proc = r.brownie("networks", "add", "Ethereum", "rehearsal", f"host={anvil.url}",
                         f"chainid={SEPOLIA_CHAIN_ID}", env=r.env(), log=log)
        assert proc.wait(timeout=60) == 0, log.read_text()
        yield r
