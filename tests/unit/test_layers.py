"""The library's layering, read from its source with ``ast``: every import (at module level, inside functions,
under ``TYPE_CHECKING``) must go down or sideways within a layer, never up, and the import graph of the
package's modules must have no cycle.

Layers, bottom up (see ``docs/architecture.md``):

* ``chainabs.paths`` (and the package's ``__init__``): where the checkout's folders are; imports nothing;
* ``chainabs.model``: pure model (specs, tapes, waterfall, deal model, projections...): no web3, no brownie,
  no network client;
* ``chainabs.chain``: the sender, ABIs, contract clients, deployment, read side: the model only;
* ``chainabs.apps``: the command line and the applications: chain and model;
* ``chainabs.dev``: test helpers, sandbox, benchmarks: anything; nothing imports them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chainabs.paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "chainabs"
#: Layer rank of each top-level part of the package (a module may import ranks <= its own).
RANKS: dict[str, int] = {"paths": 0, "__init__": 0, "model": 1, "chain": 2, "apps": 3, "__main__": 3, "dev": 4}
#: Third-party packages a layer must not import (the model never talks to a chain or a network).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "paths": ("web3", "brownie", "requests", "eth_account", "rich"),
    "model": ("web3", "brownie", "requests", "eth_account"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def imports_of(path: Path, name: str, known: set[str]) -> list[tuple[str, int]]:
    """(imported module, line) for every import in ``path``, however deep in the code; ``from a import b``
    names module ``a.b`` when that is a module of the package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.append((full if full in known else base, node.lineno))
    return out


def part_of(module: str) -> str:
    """The top-level part of the package a module belongs to (``chainabs.chain.sender`` -> ``chain``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def graph() -> dict[str, list[tuple[str, int]]]:
    modules = all_modules()
    known = set(modules)
    return {name: imports_of(path, name, known) for name, path in modules.items()}


def test_every_part_of_the_package_has_a_layer():
    parts = {part_of(m) for m in all_modules()}
    assert parts <= set(RANKS), f"parts without a layer: {sorted(parts - set(RANKS))}: add them to RANKS"


def test_imports_follow_the_layers():
    bad = []
    for module, imported in graph().items():
        part = part_of(module)
        for target, line in imported:
            top = target.split(".")[0]
            if top == "chainabs":
                if RANKS[part_of(target)] > RANKS[part]:
                    bad.append(f"{module}:{line} imports {target} ({part} may not import {part_of(target)})")
            elif top in FORBIDDEN.get(part, ()):
                bad.append(f"{module}:{line} imports {target} (the {part} layer never imports {top})")
    assert not bad, "imports against the layering:\n  " + "\n  ".join(bad)


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a module importing itself), Tarjan."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles():
    edges = {m: {t for t, _ in imported if t.startswith("chainabs") and t != m} | {t for t, _ in imported if t == m}
             for m, imported in graph().items()}
    cycles = find_cycles(edges)
    assert not cycles, "import cycles:\n  " + "\n  ".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("edges, expected", [
    ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"a"}}, [["a"]]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
])
def test_cycle_finder(edges, expected):
    """The checker itself finds the cycles it must (so the test above cannot pass by finding nothing)."""
    assert find_cycles(edges) == expected


def test_import_reader_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "chainabs_probe.py"
    source.write_text("import os\n\ndef f():\n    from chainabs.chain import sender\n    import web3\n")
    found = [m for m, _ in imports_of(source, "chainabs.model.probe", {"chainabs.chain.sender"})]
    assert found == ["os", "chainabs.chain.sender", "web3"]
