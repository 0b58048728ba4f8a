"""A bad deal spec file gets one line per problem, each starting with the file's name: a bad date names its
field, a YAML syntax error its line and column, and checking a spec (``check_spec``, ``python -m
chainabs.model.spec``) prints those lines, never a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from chainabs.model import spec as sp

CONSUMER = (sp.DEALS_DIR / "consumer_loan.yaml").read_text()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _closing(value: str) -> str:
    out, count = re.subn(r"(?m)^(\s*closing:) \S+$", rf"\1 {value}", CONSUMER, count=1)
    assert count == 1
    return out


def _lines(path: Path) -> list[str]:
    lines = sp.check_spec(path)
    assert lines, "expected problems"
    for line in lines:
        assert line.startswith(f"{path}: ") and "\n" not in line, line
    with pytest.raises(sp.DealSpecError) as err:
        sp.load_deal(path)
    assert err.value.lines == lines
    return lines


def test_sample_specs_check_clean():
    for path in sp.sample_deals():
        assert sp.check_spec(path) == []


@pytest.mark.parametrize("value,reason", [
    ("2025-13-45", "month must be in 1..12"),
    ("2025-02-30", "day is out of range for month"),
    ("tomorrow", "write it as YYYY-MM-DD"),
])
def test_a_bad_date_names_file_field_and_reason(tmp_path, value, reason):
    path = _write(tmp_path, "x.yaml", _closing(value))
    assert _lines(path) == [f"{path}: dates.closing: '{value}' is not a date ({reason})"]


def test_a_date_and_time_is_not_a_date(tmp_path):
    path = _write(tmp_path, "x.yaml", _closing("2025-07-15 10:00:00"))
    assert _lines(path) == [f"{path}: dates.closing: 2025-07-15 10:00:00 is not a date: write the day only (YYYY-MM-DD)"]


def test_yaml_syntax_error_is_one_line_with_line_and_column(tmp_path):
    path = _write(tmp_path, "x.yaml", CONSUMER.replace("  closing:", "   closing:", 1))
    line_no = CONSUMER.splitlines().index(next(x for x in CONSUMER.splitlines() if x.startswith("  closing:"))) + 1
    [line] = _lines(path)
    assert line.startswith(f"{path}: line {line_no}, column ") and "not valid YAML: mapping values are not allowed" in line
    assert "<unicode string>" not in line
    path = _write(tmp_path, "y.yaml", "name: [unclosed\n")
    assert _lines(path) == [f"{path}: line 2, column 1: not valid YAML: expected ',' or ']', but got '<stream end>' "
                            "(while parsing a flow sequence started at line 1, column 7)"]


def test_a_key_given_twice_is_refused(tmp_path):
    path = _write(tmp_path, "x.yaml", CONSUMER + "\nname: other\n")
    first = next(k for k, x in enumerate(CONSUMER.splitlines()) if x.startswith("name:")) + 1
    [line] = _lines(path)
    assert line.endswith(f"key 'name' appears twice (first on line {first})")


def test_unreadable_spec_files(tmp_path):
    assert _lines(_write(tmp_path, "e.yaml", "\n# nothing\n")) == [f"{tmp_path / 'e.yaml'}: empty file (no deal spec)"]
    latin = tmp_path / "l.yaml"
    latin.write_bytes(CONSUMER.replace("title:", "title: caf\u00e9 #", 1).encode("latin-1"))
    [line] = _lines(latin)
    assert re.fullmatch(rf"{re.escape(str(latin))}: not UTF-8 text \(line \d+\): save it as UTF-8 text", line)
    u16 = tmp_path / "u.yaml"
    u16.write_bytes(CONSUMER.encode("utf-16"))
    assert _lines(u16) == [f"{u16}: not UTF-8 text (it is UTF-16): save it as UTF-8 text"]
    assert sp.check_spec(tmp_path / "missing.yaml") == [f"{tmp_path / 'missing.yaml'}: file not found"]
    assert sp.check_spec(tmp_path) == [f"{tmp_path}: is a folder, not a deal spec file"]


def test_every_problem_of_a_spec_is_one_line(tmp_path):
    text = _closing("2025-13-45").replace("frequency_months: ", "frequency_months: 0 #", 1)
    lines = _lines(_write(tmp_path, "x.yaml", text))
    assert len(lines) == 2 and any("dates.frequency_months:" in x for x in lines)


def test_module_command_prints_lines_and_no_traceback(tmp_path):
    bad = _write(tmp_path, "bad.yaml", _closing("2025-13-45"))
    run = subprocess.run([sys.executable, "-m", "chainabs.model.spec", str(bad), "consumer_loan"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [f"{bad}: dates.closing: '2025-13-45' is not a date (month must be in 1..12)"]
    assert run.stdout.strip().endswith("consumer_loan.yaml: ok")
    assert sp.main([]) == 2 and sp.main(["consumer_loan"]) == 0


def test_a_deal_name_may_not_take_the_onboarding_records_prefix(tmp_path):
    """``chainabs onboard`` keeps its records as ``onboard-*.json`` beside the deals' manifests, which the operation
    commands do not take for deals: a deal named so would be invisible to them, so the name is refused."""
    from chainabs.model.spec import check_spec
    from chainabs.paths import PROJECT_ROOT

    text = (PROJECT_ROOT / "deals" / "consumer_loan.yaml").read_text()
    path = tmp_path / "deal.yaml"
    path.write_text(text.replace("name: consumer_loan", "name: onboard-loans", 1))
    lines = check_spec(path)
    assert len(lines) == 1 and "may not start with 'onboard-'" in lines[0] and lines[0].startswith(str(path)), lines
