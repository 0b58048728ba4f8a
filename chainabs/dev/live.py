"""``make explorer``: a live demo deal on a local node and its explorer.

``python -m chainabs.dev.live [--periods N] [--port 8700]``: uses the node listening on ``CHAINABS_PORT``
(8545 unless set) or starts anvil there, runs ``chainabs demo --rpc URL --periods N`` on it (the deal left
live, its addresses in ``deployments/<chainid>/consumer_loan.json``), then serves ``chainabs explorer`` over
it until interrupted (the anvil it started stops with it). Blocks keep coming from whatever the user does
on the node (claims, transfers, ``cast rpc evm_mine``)."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import time

from rich.console import Console

from chainabs.chain import connection
from chainabs.paths import PROJECT_ROOT


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_anvil(port: int, console: Console) -> subprocess.Popen | None:
    """Anvil on ``port`` (30M gas blocks, 20 accounts) unless something already listens there."""
    if _listening(port):
        console.print(f"using the node already listening on port {port}")
        return None
    anvil = shutil.which("anvil") or str(PROJECT_ROOT / "node_modules" / ".bin" / "anvil")
    # its own process group: the npm launcher and the anvil binary it starts are stopped together
    proc = subprocess.Popen([anvil, "--port", str(port), "--gas-limit", "30000000", "--accounts", "20", "--quiet",
                             *connection.anvil_state_args()],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 20
    while not _listening(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise RuntimeError(f"anvil did not start on port {port}")
        time.sleep(0.1)
    console.print(f"started anvil on port {port}")
    return proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", type=int, default=12, help="periods the demo deal runs before it is left live")
    parser.add_argument("--port", type=int, default=8700, help="the explorer's port")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    console = Console()

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # uvicorn re-raises the signal it caught: then the finally below runs
    port = connection.chain_port()
    anvil = start_anvil(port, console)
    try:
        from chainabs.apps import demo
        from chainabs.apps.explorer.server import serve

        rpc = f"http://127.0.0.1:{port}"
        connection.connect(rpc=rpc)
        live = demo.run(periods=args.periods, console=console)
        serve(rpc, live["spv"], host=args.host, port=args.port, console=console)
    except KeyboardInterrupt:
        pass
    finally:
        if anvil is not None:
            os.killpg(anvil.pid, signal.SIGTERM)
            anvil.wait(timeout=10)
            console.print(f"stopped the anvil on port {port}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
