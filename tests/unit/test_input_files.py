"""Bad input files get one line naming the file and what is wrong (loan tapes, servicing tapes, collateral files,
investor tables): never a parser's message, a NUL byte or a traceback. And integers too large for a column are
out of range, not "not an integer"; a missing column names the columns the file has."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chainabs.model import collateral as cl
from chainabs.model import inputs, servicing, synthetic
from chainabs.model import tape as tp
from chainabs.model.numbers import int64_overflow, parse_int, range_text

HUGE = "1000000000000000000000000000000"


@pytest.fixture(scope="module")
def good_csv(tmp_path_factory) -> str:
    """The text of a good 3-loan tape."""
    path = tmp_path_factory.mktemp("tape") / "good.csv"
    tp.write_tape(synthetic.generate_tape(3, seed=5), path)
    return path.read_text()


def _one_line(exc: BaseException, path) -> str:
    text = str(exc)
    assert "\n" not in text and "\x00" not in text, text
    assert text.startswith(f"{path}: "), text
    return text[len(f"{path}: "):]


def _refused(path) -> str:
    with pytest.raises(inputs.InputFileError) as err:
        tp.read_tape(path)
    assert isinstance(err.value, ValueError)  # the command line prints a ValueError as its one line
    return _one_line(err.value, path)


def test_empty_and_missing_files(tmp_path):
    for text in ("", "\n\n  \n", "\ufeff"):
        (tmp_path / "empty.csv").write_text(text, encoding="utf-8")
        assert _refused(tmp_path / "empty.csv") == "empty file (no header row)"
    assert _refused(tmp_path / "nope.csv") == "no such file"
    (tmp_path / "dir.csv").mkdir()
    assert _refused(tmp_path / "dir.csv") == "is a folder, not a file"
    assert _refused(tmp_path / "noext") == "no such file"
    (tmp_path / "noext").write_text("a,b\n")
    assert "no file suffix" in _refused(tmp_path / "noext")


def test_not_utf8_names_the_line(tmp_path, good_csv):
    lines = good_csv.splitlines(keepends=True)
    lines[2] = lines[2].replace("consumer_loan", "consumer_lo\u00e9n")
    (tmp_path / "latin1.csv").write_bytes("".join(lines).encode("latin-1"))
    assert _refused(tmp_path / "latin1.csv") == "not UTF-8 text (line 3): save it as UTF-8 CSV"
    (tmp_path / "bom_latin1.csv").write_bytes(b"\xef\xbb\xbf" + "".join(lines).encode("latin-1"))
    assert _refused(tmp_path / "bom_latin1.csv") == "not UTF-8 text (line 3): save it as UTF-8 CSV"
    for encoding in ("utf-16", "utf-16-le", "utf-16-be"):
        (tmp_path / "u16.csv").write_bytes(good_csv.encode(encoding))
        assert _refused(tmp_path / "u16.csv") == "not UTF-8 text (it is UTF-16): save it as UTF-8 CSV"
    (tmp_path / "nul.csv").write_bytes(good_csv.encode() + b"x\x00y\n")
    assert _refused(tmp_path / "nul.csv").startswith("not text (line 5 has a NUL byte)")


def test_utf8_with_bom_and_quoted_newlines_read(tmp_path, good_csv):
    (tmp_path / "bom.csv").write_bytes(good_csv.encode("utf-8-sig"))
    frame = tp.read_tape(tmp_path / "bom.csv")
    assert list(frame.columns) == list(tp.TAPE_COLUMNS) and len(frame) == 3
    lines = good_csv.splitlines()
    cells = lines[1].split(",")
    cells[0] = '"CL\nX"'
    (tmp_path / "quoted.csv").write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    frame = tp.read_tape(tmp_path / "quoted.csv")
    assert frame.loc[0, "loan_id"] == "CL\nX" and len(frame) == 3


def test_malformed_csv_names_the_line(tmp_path, good_csv):
    lines = good_csv.splitlines()
    (tmp_path / "ragged.csv").write_text("\n".join([*lines[:3], lines[3] + ",extra"]) + "\n")
    assert _refused(tmp_path / "ragged.csv") == "line 4: 15 field(s), the header has 14"
    (tmp_path / "semi.csv").write_text(good_csv.replace(",", ";"))
    assert _refused(tmp_path / "semi.csv").startswith("line 1: the columns are separated by semicolons")
    (tmp_path / "dup.csv").write_text("\n".join([lines[0] + ",loan_id", *(x + ",y" for x in lines[1:])]) + "\n")
    assert _refused(tmp_path / "dup.csv") == "line 1: column 'loan_id' appears twice in the header (columns 1 and 15)"
    (tmp_path / "blank.csv").write_text("\n".join([lines[0] + ",", *(x + "," for x in lines[1:])]) + "\n")
    assert _refused(tmp_path / "blank.csv") == "line 1: column 15 of the header has no name"


def test_parquet_that_is_not_parquet(tmp_path, good_csv):
    (tmp_path / "t.parquet").write_text(good_csv)
    assert _refused(tmp_path / "t.parquet").startswith("not a readable Parquet file (")
    (tmp_path / "e.parquet").write_bytes(b"")
    assert _refused(tmp_path / "e.parquet") == "empty file (not a Parquet file)"
    assert _refused(tmp_path / "none.parquet") == "no such file"


def test_servicing_tapes_use_the_same_reader(tmp_path):
    (tmp_path / "s.csv").write_text("")
    with pytest.raises(inputs.InputFileError, match=r"s\.csv: empty file \(no header row\)$"):
        servicing.read_servicing_tape(tmp_path / "s.csv")
    (tmp_path / "s.csv").write_bytes("period,loan_id\n1,caf\u00e9\n".encode("latin-1"))
    with pytest.raises(inputs.InputFileError, match=r"not UTF-8 text \(line 2\)"):
        servicing.read_servicing_tape(tmp_path / "s.csv")
    with pytest.raises(inputs.InputFileError, match="no such file"):
        servicing.read_servicing_tape(tmp_path / "none.parquet")


# ------------------------------------------------------------------------------------------ missing columns


def test_missing_column_names_the_columns_the_tape_has(good_csv, tmp_path):
    (tmp_path / "t.csv").write_text(good_csv)
    frame = tp.read_tape(tmp_path / "t.csv").drop(columns=["rate_bps"]).rename(columns={"loan_id": "Loan_ID "})
    _, issues = tp.validate_tape(frame)
    by_field = {i.field: i for i in issues}
    assert set(by_field) == {"loan_id", "rate_bps"} and all(i.row is None for i in issues)
    have = ", ".join(frame.columns)
    assert by_field["rate_bps"].message == f"column 'rate_bps' is missing (the tape has columns {have})"
    assert by_field["loan_id"].message.endswith("; did you mean 'Loan_ID '?)")
    assert "row None" not in str(by_field["rate_bps"]) and str(by_field["rate_bps"]).startswith("tape: rate_bps:")


def test_missing_column_in_servicing_and_collateral_files():
    frame = pd.DataFrame({"period": ["1"], "loan_id": ["L1"]})
    _, issues = servicing.validate_servicing_tape(frame)
    assert issues[0].message.startswith("column 'status' is missing (the tape has columns period, loan_id)")
    _, issues = cl.validate_collateral(pd.DataFrame({"loan_id": ["L1"]}))
    assert issues[0].message == "column 'kind' is missing (the file has columns loan_id)"


def test_missing_column_messages_list_at_most_twenty_columns():
    messages = inputs.missing_column_messages([f"c{k}" for k in range(25)], ["x"], "tape")
    assert messages == {"x": "column 'x' is missing (the tape has columns "
                             + ", ".join(f"c{k}" for k in range(20)) + " and 5 more)"}
    assert inputs.missing_column_messages([], ["x"]) == {"x": "column 'x' is missing (the tape has no columns)"}


# ------------------------------------------------------------------------------------------ oversized integers


def test_int64_overflow_marks_only_integers_too_large():
    raw = pd.Series(["1", HUGE, "-" + HUGE, "9223372036854775807", "9223372036854775808.00", "1e40", "1.5", "x"])
    _, bad = parse_int(raw)
    huge = int64_overflow(raw)
    assert huge.tolist() == [False, True, True, False, True, False, False, False]
    assert not (huge & ~bad).any()  # a subset of what parse_int refuses
    assert int64_overflow(pd.Series(np.array([2**64 - 1, 3], dtype=np.uint64))).tolist() == [True, False]
    assert range_text(0, 2**63 - 1) == "0..9223372036854775807 (2^63-1)" and range_text(0, 255) == "0..255"


def test_oversized_integers_are_out_of_range_in_tapes(good_csv, tmp_path):
    (tmp_path / "t.csv").write_text(good_csv)
    frame = tp.read_tape(tmp_path / "t.csv")
    frame.loc[0, "original_principal"] = HUGE
    frame.loc[1, "rate_bps"] = HUGE
    frame.loc[2, "region"] = "256"
    _, issues = tp.validate_tape(frame)
    got = {(i.row, i.field): (i.rule, i.message) for i in issues}
    assert got[(1, "original_principal")] == ("range", f"'{HUGE}' is out of range 0..9223372036854775807 (2^63-1)")
    assert got[(2, "rate_bps")] == ("range", f"'{HUGE}' is out of range 0..65535")
    assert got[(3, "region")] == ("range", "256 is out of range 0..255")
    assert not any("not an integer" in m for _, m in got.values())


def test_oversized_integers_are_out_of_range_in_servicing_and_collateral():
    tape = pd.DataFrame({c: ["0"] for c in servicing.SERVICING_COLUMNS})
    tape["period"], tape["loan_id"], tape["status"], tape["beginning_principal"] = "1", "L1", "Performing", HUGE
    _, issues = servicing.validate_servicing_tape(tape)
    assert [(i.field, i.rule) for i in issues] == [("beginning_principal", "range")]
    assert "is out of range 0..9223372036854775807" in issues[0].message
    frame = pd.DataFrame({"loan_id": ["L1"], "kind": ["vehicle"], "identifier": ["VIN"], "appraised_value": [HUGE],
                          "appraisal_date": ["2024-01-01"], "lien_hash": ["0x" + "ab" * 32]})
    _, issues = cl.validate_collateral(frame)
    assert [(i.field, i.rule, i.message) for i in issues] == [
        ("appraised_value", "range", f"'{HUGE}' is out of range 1..9223372036854775807 (2^63-1)")]
