"""tools/lint.py (`make lint`): suppression rules, scope, and a whole run on a small probe project."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_PYTHON = ROOT / ".venv-lint" / "bin" / "python"
DETECTORS = {"divide-before-multiply", "reentrancy-no-eth", "uninitialized-local"}


def _load_lint() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chainabs_lint_tool", ROOT / "tools" / "lint.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


lint = _load_lint()


def _problems(tmp_path: Path, source: str) -> list[str]:
    (tmp_path / "contracts").mkdir(exist_ok=True)
    (tmp_path / "contracts" / "A.sol").write_text(source)
    return [p.message for p in lint.check_suppressions(tmp_path, ["contracts/A.sol"], DETECTORS)]


def test_a_suppression_with_its_reason_on_the_line_is_accepted(tmp_path):
    assert (
        _problems(tmp_path, "// slither-disable-next-line divide-before-multiply -- rounds down on purpose\n")
        == []
    )


def test_a_suppression_with_its_reason_on_the_comment_line_above_is_accepted(tmp_path):
    source = "    // Rounds down on purpose: the remainder goes to the residual class.\n"
    source += "    // slither-disable-next-line divide-before-multiply,uninitialized-local\n"
    assert _problems(tmp_path, source) == []


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("// slither-disable-next-line divide-before-multiply", "gives no reason"),
        ("// slither-disable-next-line all -- everything is fine", "'all' hides every detector"),
        (
            "// slither-disable-next-line divide-before-multipy -- typo",
            "unknown detector 'divide-before-multipy'",
        ),
        (
            "// slither-disable-next-line divide-before-multiply, uninitialized-local -- x",
            "separate detectors",
        ),
        ("// slither-disable-next-line -- no detector", "unknown detector '--'"),
        ("// slither-disable-next-line", "names no detector"),
        ("// slither-disable-start divide-before-multiply -- a range", "use slither-disable-next-line"),
    ],
)
def test_a_malformed_suppression_is_reported(tmp_path, comment, expected):
    problems = _problems(tmp_path, "uint256 x;\n" + comment + "\n")
    assert any(expected in p for p in problems), problems


def test_scope_keeps_project_sources_and_drops_mocks_and_dependencies(tmp_path):
    assert lint.in_scope("contracts/spv/SPV.sol")
    assert lint.in_scope("interfaces/ISPV.sol")
    assert not lint.in_scope("contracts/mocks/TestStablecoin.sol")
    assert not lint.in_scope("node_modules/@openzeppelin/contracts/utils/math/Math.sol")
    outside = tmp_path.parent / "elsewhere" / "contracts" / "X.sol"
    assert not lint.in_scope(lint.path_from_root(tmp_path, str(outside)))
    assert lint.path_from_root(tmp_path, str(tmp_path / "contracts" / "X.sol")) == "contracts/X.sol"
    assert lint.path_from_root(tmp_path, "contracts/spv/../spv/SPV.sol") == "contracts/spv/SPV.sol"


def test_compiler_settings_come_from_brownie_config():
    settings = lint.read_compiler_settings(ROOT)
    assert settings.evm_version == "paris"
    assert "@openzeppelin/contracts=node_modules/@openzeppelin/contracts" in settings.remappings
    assert (ROOT / ".solcx" / f"solc-v{settings.version}").exists()


PROBE = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

contract Probe {
    function share(uint256 amount, uint256 parts) external pure returns (uint256) {
        {SUPPRESSION}
        return amount / parts * 3;
    }
}
"""

MOCK = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

contract BadMock {
    function share(uint256 amount, uint256 parts) external pure returns (uint256) {
        return amount / parts * 7;
    }
}
"""


@pytest.fixture
def probe_project(tmp_path: Path) -> Path:
    """A project in a folder whose name has a space and dots, with one Medium finding and a mock."""
    if not LINT_PYTHON.exists():
        pytest.skip("no .venv-lint: `make lint` creates it")
    root = tmp_path / "probe project.v1.2"
    (root / "contracts" / "mocks").mkdir(parents=True)
    (root / "interfaces").mkdir()
    shutil.copy(ROOT / "brownie-config.yaml", root / "brownie-config.yaml")
    (root / ".solcx").mkdir()
    version = lint.read_compiler_settings(ROOT).version
    (root / ".solcx" / f"solc-v{version}").symlink_to(ROOT / "tools" / "solc-launcher.sh")
    (root / "contracts" / "mocks" / "BadMock.sol").write_text(MOCK)
    return root


def _lint_run(root: Path, suppression: str) -> subprocess.CompletedProcess[str]:
    (root / "contracts" / "Probe.sol").write_text(PROBE.replace("{SUPPRESSION}", suppression))
    return subprocess.run(
        [str(LINT_PYTHON), str(ROOT / "tools" / "lint.py"), "--root", str(root), "--show-suppressed"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_lint_fails_on_a_medium_finding_and_ignores_mocks(probe_project):
    out = _lint_run(probe_project, "")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Medium 1," in out.stdout
    assert "divide-before-multiply" in out.stdout and "contracts/Probe.sol:" in out.stdout
    assert "BadMock" not in out.stdout
    assert "lint FAIL" in out.stdout.splitlines()[-1]


def test_lint_passes_once_the_finding_is_suppressed_with_a_reason(probe_project):
    out = _lint_run(
        probe_project, "// slither-disable-next-line divide-before-multiply -- probe: rounds down"
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Medium 0 (+1 suppressed)" in out.stdout
    assert out.stdout.splitlines()[-1].startswith("lint ok")


def test_lint_fails_on_a_suppression_without_reason(probe_project):
    out = _lint_run(probe_project, "// slither-disable-next-line divide-before-multiply")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "bad suppression contracts/Probe.sol:6: gives no reason" in out.stdout
