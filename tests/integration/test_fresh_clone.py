"""A fresh clone in a folder whose path holds dots (a home folder like ``j.smith``, a mktemp folder like
``tmp.Ab12``) or spaces installs with ``make install`` and runs the ``chainabs`` command.

Kept cheap: the clone's virtualenv reads the installed packages of this checkout's (through a ``.pth``
file) and its ``node_modules`` and contract build are borrowed, so ``make install`` only registers the
compiler, writes ``.env`` and installs the clone's own package (its ``chainabs`` command). The clone then
deploys the sample deal to the test chain (``--rpc``): its brownie project is loaded from the awkward path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from chainabs.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} in {cwd}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _clone(root: Path, env: dict[str, str]) -> None:
    """A clone of this checkout's HEAD, with the borrowed (already installed) pieces in place."""
    head = _run(["git", "rev-parse", "HEAD"], PROJECT_ROOT, env).stdout.strip()
    root.parent.mkdir(parents=True)
    _run(["git", "clone", "--quiet", "--no-checkout", str(PROJECT_ROOT), str(root)], root.parent, env)
    _run(["git", "checkout", "--quiet", head], root, env)
    _run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")], root, env)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (root / ".venv" / "lib" / version / "site-packages" / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (root / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    shutil.copytree(PROJECT_ROOT / "build", root / "build")
    (root / ".make").mkdir()
    for stamp in ("venv", "node"):  # newer than requirements.txt / package.json: make installs neither again
        (root / ".make" / stamp).touch()


@pytest.mark.parametrize("folder", ["j.smith/tmp.Ab12/sp ace/my clone"])  # dots and spaces in one path
def test_install_and_run_from_an_awkward_path(tmp_path_factory, folder, web3):
    root = tmp_path_factory.mktemp("fresh") / folder
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "SOLCX", "DEPLOYER_",
                                                                    "CURRENCY_", "REGISTRY_", "ROLE_", "POOL_ID"))}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if str(PROJECT_ROOT) not in p)
    _clone(root, env)
    _run(["make", "install"], root, env)
    env["SOLCX_BINARY_PATH"] = str(root / ".solcx")  # what `make` and tools/dev-env.sh export
    chainabs = root / ".venv" / "bin" / "chainabs"
    where = _run([str(root / ".venv" / "bin" / "python"), "-c", "import chainabs.paths as p; print(p.PROJECT_ROOT)"],
                 root, env).stdout.strip()
    assert where == str(root)  # the clone's own package, not this checkout's
    assert "verify-tape" in _run([str(chainabs), "--help"], root, env).stdout
    deployed = _run([str(chainabs), "deploy", "consumer_loan", "--rpc", str(web3.provider.endpoint_uri),
                     "--investors", "0", "--manifest-dir", str(root / "deployments")], root, env)
    assert "spv" in deployed.stdout and (root / "deployments" / str(web3.eth.chain_id) / "consumer_loan.json").exists()
    assert "block height" not in deployed.stderr  # brownie's attach note on a node with blocks is not shown
