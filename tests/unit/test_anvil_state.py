"""The states a local anvil persists to disk live in a temporary folder of the process that launched it, removed
when that process exits (anvil's default, ``~/.foundry/anvil/tmp``, kept about 1 GB per test session forever)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from chainabs.dev.testing import worker_port

SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from chainabs.chain import connection
    from chainabs.dev.testing import ExternalAnvil

    args = connection.anvil_state_args()
    assert args[0] == "--cache-path", args
    folder = Path(args[1])
    with ExternalAnvil(int(sys.argv[1]), chain_id=31337) as node:
        sender = node.rpc("eth_accounts")[0]
        for _ in range(3):
            node.rpc("eth_sendTransaction", [{"from": sender, "to": "0x" + "22" * 20, "value": "0x1"}])
        node.rpc("anvil_mine", ["0x240"])  # 576 blocks: the early states leave anvil's memory window (about 500)
        persisted = [p for p in folder.rglob("*") if p.is_file()]
        assert persisted, "anvil persisted nothing in the process's folder"
    print(folder)
""")


def test_anvil_persists_states_in_a_folder_removed_at_exit():
    port = worker_port() + 7
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(port)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    folder = Path(run.stdout.strip().splitlines()[-1])
    assert folder.name.startswith("chainabs-anvil-") and not folder.exists()


def test_brownie_launches_anvil_with_the_folder():
    from brownie._config import CONFIG

    from chainabs.chain import connection

    connection.configure_local_chain()
    assert CONFIG.networks["development"]["cmd"].split(" ")[:2] == ["anvil", "--cache-path"]
