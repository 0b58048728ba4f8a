"""Reading the tables people hand over (loan tapes, servicing tapes, collateral files, investor lists): the one
CSV / Parquet reader of the model layer, whose every refusal is one line naming the file and what is wrong.

:func:`read_table` reads a CSV (every cell as text, as it is: the validators type and check the cells) or a
Parquet file. A file that cannot be read raises :class:`InputFileError`, e.g.
``tape.csv: empty file (no header row)``, ``tape.csv: not UTF-8 text (line 7): save it as UTF-8 CSV``,
``tape.csv: line 12: 15 fields, the header has 14`` or ``tape.csv: no such file``; never a parser's message or
a traceback. :func:`missing_column_messages` words a missing column the same way everywhere
(``column 'rate_bps' is missing (the tape has columns loan_id, asset_type, ...)``).
"""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

CSV_SUFFIXES = (".csv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
#: Columns a missing-column message lists at most.
LISTED_COLUMNS = 20
_SAVE_AS = "save it as UTF-8 CSV"


class InputFileError(ValueError):
    """An input file that cannot be read as a table: ``path`` and ``problem``; the message is the one line
    ``<path>: <problem>``."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def read_table(path: str | Path, *, what: str = "table") -> pd.DataFrame:
    """A CSV (by suffix ``.csv`` / ``.txt``, every cell as text) or Parquet (``.parquet`` / ``.pq``) file, as it is.

    ``what`` names the kind of file in messages (``tape``, ``investor file``...). Raises :class:`InputFileError`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return read_parquet(path)
    if suffix in CSV_SUFFIXES:
        return read_csv(path)
    if not suffix:
        _read_bytes(path)  # a missing file or a folder is named as such first
        raise InputFileError(path, f"no file suffix: name the {what} .csv or .parquet")
    raise InputFileError(path, f"unknown {what} format {suffix!r} (use .csv or .parquet)")


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise InputFileError(path, "no such file")
    if path.is_dir():
        raise InputFileError(path, "is a folder, not a file")
    try:
        return path.read_bytes()
    except PermissionError:
        raise InputFileError(path, "cannot be read (permission denied)") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot be read ({exc.strerror or type(exc).__name__})") from None


def read_parquet(path: str | Path) -> pd.DataFrame:
    """A Parquet file as it is; :class:`InputFileError` when it is missing or not Parquet."""
    path = Path(path)
    data = _read_bytes(path)
    if not data:
        raise InputFileError(path, "empty file (not a Parquet file)")
    try:
        return pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types; the reader's message is one line
        first = " ".join(str(exc).split()) or type(exc).__name__
        raise InputFileError(path, f"not a readable Parquet file ({first[:120]})") from None


def decode_text(path: str | Path, data: bytes, save_as: str = _SAVE_AS) -> str:
    """``data`` (the bytes of ``path``) as UTF-8 text without a byte-order mark; :class:`InputFileError` naming the
    first line that is not UTF-8 (or that the file is UTF-16, e.g. Excel's "Unicode text")."""
    head = data[:4096]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or head.count(b"\x00") * 4 >= len(head) > 0:
        raise InputFileError(path, f"not UTF-8 text (it is UTF-16): {save_as}")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data[:nul].count(b"\n") + 1
        raise InputFileError(path, f"not text (line {line} has a NUL byte): {save_as}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)  # the codec counts after the BOM
        line = data[:start].count(b"\n") + 1
        raise InputFileError(path, f"not UTF-8 text (line {line}): {save_as}") from None


def read_csv(path: str | Path) -> pd.DataFrame:
    """A CSV file with a header row, every cell as text (empty cells as ``""``); :class:`InputFileError` for a
    missing, empty, non-UTF-8 or malformed file (the line and what is wrong with it)."""
    path = Path(path)
    data = _read_bytes(path)
    text = decode_text(path, data)
    if not text.strip():
        raise InputFileError(path, "empty file (no header row)")
    lines = text.splitlines()
    first = next(k for k, line in enumerate(lines) if line.strip())
    header = next(csv.reader([lines[first]]))
    _check_header(path, header, first + 1)
    body = text.encode("utf-8")
    try:
        return pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False, engine="pyarrow")
    except Exception:  # noqa: BLE001 - pyarrow's messages name neither the file nor the line: find it below
        pass
    problem = _first_bad_line(text, len(header))
    if problem is None:  # e.g. a quoted value over several lines, which the fast reader does not take
        try:
            return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        except Exception as exc:  # noqa: BLE001
            problem = "not a readable CSV file (" + " ".join(str(exc).split())[:120] + ")"
    raise InputFileError(path, problem)


def _check_header(path: Path, header: Sequence[str], line: int) -> None:
    names = [h.strip() for h in header]
    if len(names) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs")):
            if sep in names[0]:
                raise InputFileError(path, f"line {line}: the columns are separated by {name}, not commas: "
                                     "save it as CSV (comma-separated)")
    for k, name in enumerate(names):
        if not name:
            raise InputFileError(path, f"line {line}: column {k + 1} of the header has no name")
        if names.index(name) != k:
            raise InputFileError(path, f"line {line}: column {name!r} appears twice in the header "
                                 f"(columns {names.index(name) + 1} and {k + 1})")


def _first_bad_line(text: str, width: int) -> str | None:
    """Where a CSV's rows stop matching its header: ``line N: K fields, the header has M``."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row) and len(row) != width:
                return f"line {reader.line_num}: {len(row)} field(s), the header has {width}"
    except csv.Error as exc:
        return f"line {reader.line_num}: not valid CSV ({exc})"
    return None


def missing_column_messages(columns: Iterable[object], required: Sequence[str], what: str = "tape") -> dict[str, str]:
    """Required column -> ``column 'x' is missing (the <what> has columns a, b, c)`` for each column of
    ``required`` not in ``columns`` (with a near miss such as ``'Loan_ID '``: ``did you mean ...``)."""
    have = [str(c) for c in columns]
    missing = [c for c in required if c not in have]
    if not missing:
        return {}
    if not have:
        listed = f"the {what} has no columns"
    else:
        shown = ", ".join(have[:LISTED_COLUMNS]) + (f" and {len(have) - LISTED_COLUMNS} more"
                                                    if len(have) > LISTED_COLUMNS else "")
        listed = f"the {what} has columns {shown}"
    out = {}
    folded = {h.strip().lower(): h for h in have}
    for col in missing:
        near = folded.get(col) or next(iter(difflib.get_close_matches(col, have, n=1, cutoff=0.85)), None)
        hint = f"; did you mean {near!r}?" if near is not None else ""
        out[col] = f"column {col!r} is missing ({listed}{hint})"
    return out
