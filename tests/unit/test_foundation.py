"""The project sets itself up: compiler wrapper, configuration, first contract on the local chain."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "brownie-config.yaml").read_text())
SOLC_VERSION = CONFIG["compiler"]["solc"]["version"]
SOLC = ROOT / ".solcx" / f"solc-v{SOLC_VERSION}"
WRAPPER = ROOT / "tools" / "solc-launcher.sh"

OZ_SOURCE = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
contract Probe is ERC20 { constructor() ERC20("Probe", "PRB") { _mint(msg.sender, 1e18); } }
"""


def _standard_json(source: str, remap_to: str) -> str:
    return json.dumps(
        {
            "language": "Solidity",
            "sources": {"Probe.sol": {"content": source}},
            "settings": {
                "remappings": [f"@openzeppelin/contracts={remap_to}"],
                "evmVersion": "paris",
                "optimizer": {"enabled": True, "runs": 200},
                "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
            },
        }
    )


def _run(args: list[str], stdin: str = "", cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, cwd=cwd, timeout=300, check=False)


def test_registered_compiler_reports_the_pinned_version():
    assert SOLC.exists(), "make must register the compiler as .solcx/solc-v<version>"
    assert os.environ.get("SOLCX_BINARY_PATH") == str(ROOT / ".solcx")
    out = _run([str(SOLC), "--version"])
    assert out.returncode == 0
    assert f"Version: {SOLC_VERSION}+" in out.stdout


def test_wrapper_standard_json_output_is_pure_json_and_compiles_openzeppelin(tmp_path):
    # Relative remapping target resolved against --base-path, like brownie and py-solc-x call it.
    stdin = _standard_json(OZ_SOURCE, "node_modules/@openzeppelin/contracts")
    out = _run([str(WRAPPER), "--standard-json", "--base-path", str(ROOT), "--allow-paths", str(ROOT)], stdin, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)  # the whole of stdout parses: no banner line before the JSON
    errors = [e for e in result.get("errors", []) if e["severity"] == "error"]
    assert errors == []
    bytecode = result["contracts"]["Probe.sol"]["Probe"]["evm"]["bytecode"]["object"]
    assert len(bytecode) > 1000
    assert any(name.endswith("ERC20.sol") for name in result["sources"])


def test_wrapper_refuses_imports_outside_allowed_paths(tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "Lib.sol").write_text("// SPDX-License-Identifier: MIT\npragma solidity 0.8.28;\nlibrary L {}\n")
    source = 'pragma solidity 0.8.28;\nimport "%s/Lib.sol";\ncontract C {}\n' % outside
    project = tmp_path / "project"
    project.mkdir()
    stdin = json.dumps({"language": "Solidity", "sources": {"C.sol": {"content": source}}, "settings": {}})
    out = _run([str(WRAPPER), "--standard-json", "--base-path", str(project)], stdin, cwd=project)
    result = json.loads(out.stdout)
    messages = " ".join(e["message"] for e in result["errors"])
    assert "outside the allowed paths" in messages
    out = _run([str(WRAPPER), "--standard-json", "--base-path", str(project), "--allow-paths", str(outside)], stdin, cwd=project)
    result = json.loads(out.stdout)
    assert not [e for e in result.get("errors", []) if e["severity"] == "error"]


def test_wrapper_rejects_unknown_options_and_bad_json():
    out = _run([str(WRAPPER), "--bin", "x.sol"])
    assert out.returncode == 2 and "unsupported option --bin" in out.stderr
    out = _run([str(WRAPPER), "--standard-json"], stdin="{not json")
    result = json.loads(out.stdout)
    assert result["errors"][0]["type"] == "JSONError"


def test_config_is_portable_and_secret_free():
    assert CONFIG["compiler"]["evm_version"] == "paris"
    assert CONFIG["compiler"]["solc"]["optimizer"]["enabled"] is True
    assert CONFIG["dotenv"] == ".env"
    text = (ROOT / "brownie-config.yaml").read_text().lower()
    assert "private_key" not in text and "mnemonic" not in text
    pkg = json.loads((ROOT / "package.json").read_text())
    assert pkg["dependencies"]["solc"] == SOLC_VERSION
    assert pkg["dependencies"]["@openzeppelin/contracts"].startswith("5.")


def test_python_dependencies_are_all_pinned():
    lines = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines()]
    reqs = [l for l in lines if l and not l.startswith("#")]
    assert any(l == "eth-brownie==1.22.2" for l in reqs)
    assert all("==" in l for l in reqs), [l for l in reqs if "==" not in l]


def test_first_contract_deploys_on_the_local_chain(currency, admin, investors):
    assert currency.decimals() == 6
    tx = currency.mint(investors[0], 1_000_000, {"from": admin})
    assert tx.events["Minted"]["amount"] == 1_000_000
    assert currency.balanceOf(investors[0]) == 1_000_000


def test_only_the_owner_mints_test_currency(currency, stranger):
    import brownie

    with brownie.reverts():
        currency.mint(stranger, 1, {"from": stranger})
