"""``make fuzz`` (tools/fuzz.py) counts the steps of every state machine in tests/stateful from the line each one
prints (plugins.stateful.report_steps): a machine whose line the tool cannot read would run unreported."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from plugins.stateful import report_steps

ROOT = Path(__file__).resolve().parents[2]


def _fuzz_tool():
    spec = importlib.util.spec_from_file_location("fuzz_tool", ROOT / "tools" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_state_machine_reports_a_line_the_fuzz_tool_reads(capsys):
    tool = _fuzz_tool()
    names = []
    for path in sorted((ROOT / "tests" / "stateful").glob("test_*.py")):
        found = re.findall(r'report_steps\("([^"]+)"', path.read_text())
        assert len(found) == 1, f"{path.name}: one report_steps call expected, found {found}"
        names += found
    for k, name in enumerate(names):
        report_steps(name, {"steps": 10 + k, "runs": 2})
    out = capsys.readouterr().out
    assert {m.group(1): int(m.group(2)) for m in tool.STEPS_LINE.finditer(out)} == {
        name: 10 + k for k, name in enumerate(names)}
