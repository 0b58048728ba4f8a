"""Every ``module.name`` the package reads exists in that module: a function that moved (``connection.deployer``
went to ``chainabs.chain.signers``) breaks a rarely run path, such as a benchmark or the gas profiler, only when
someone runs it. Checked statically over every module of ``chainabs`` (and ``tools``): each alias bound to one of
the project's modules by an import, then each attribute read on that alias."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "chainabs").rglob("*.py"), *(ROOT / "tools").glob("*.py")])


def _module_aliases(tree: ast.AST) -> dict[str, str]:
    """alias -> module name, for imports of the project's own modules (anywhere in the file). A name an import
    also binds to something else somewhere in the file (``chain``: brownie's, or our connection module in another
    function) is left out: which one an attribute read means depends on the scope."""
    aliases: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                name = a.asname or a.name.split(".")[0]
                aliases.setdefault(name, set()).add(a.name if a.asname and a.name.startswith("chainabs") else "")
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                candidate = f"{node.module}.{a.name}"
                own = bool(node.module and node.module.startswith("chainabs") and not node.level
                           and _is_module(candidate))
                aliases.setdefault(a.asname or a.name, set()).add(candidate if own else "")
    return {name: next(iter(bound)) for name, bound in aliases.items() if len(bound) == 1 and "" not in bound}


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_attribute_read_exists(path):
    tree = ast.parse(path.read_text(), str(path))
    aliases = _module_aliases(tree)
    missing = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and isinstance(node.ctx, ast.Load)):
            module = importlib.import_module(aliases[node.value.id])
            if not hasattr(module, node.attr):
                missing.append(f"line {node.lineno}: {node.value.id}.{node.attr} ({aliases[node.value.id]} has no "
                               f"{node.attr!r})")
    assert not missing, "\n".join(missing)
