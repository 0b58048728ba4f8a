"""The one integer parser of the tapes (loan tapes, servicing tapes): a column as read from CSV, Parquet or a
spreadsheet export, to exact ``int64`` values and the mask of cells that are not integers.

What counts as an integer, everywhere:

* integer columns (Parquet, pandas): as they are (an unsigned value above the int64 range is not);
* text: optional spaces, an optional sign, decimal digits, and optionally a decimal point followed only by
  zeros, so ``"1.0"`` and ``"1."`` are the integer 1 (spreadsheets export whole numbers that way), parsed
  exactly (never through a float: an amount of 19 digits keeps every digit);
* float columns: finite whole values below 2**53 in magnitude (where a float is still exact).

Not integers: ``"1.5"``, ``"1e3"``, ``"1,000"``, ``"0x10"``, empty cells, booleans, NaN, infinities and
anything outside the int64 range. Range checks beyond that (negative amounts, uint16 fields...) are the
callers', who name the field and the rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

INT64_MAX = 2**63 - 1
#: Largest magnitude a float holds exactly.
FLOAT_EXACT = 2**53
#: Digits that always fit an int64 (pandas converts them exactly).
_SAFE_DIGITS = 18
_INTEGER_TEXT = r"[+-]?[0-9]+(?:\.0*)?"


def parse_int(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """``(values, bad)``: the column as exact int64 (0 where ``bad``) and the mask of its non-integer cells."""
    index = raw.index
    if pd.api.types.is_bool_dtype(raw.dtype):
        return pd.Series(np.zeros(len(raw), dtype=np.int64), index=index), np.ones(len(raw), dtype=bool)
    if pd.api.types.is_integer_dtype(raw.dtype):
        if pd.api.types.is_unsigned_integer_dtype(raw.dtype):
            bad = (raw.to_numpy() > INT64_MAX)
            return pd.Series(np.where(bad, 0, raw.to_numpy()).astype(np.int64), index=index), bad
        return raw.astype("int64"), np.zeros(len(raw), dtype=bool)
    if pd.api.types.is_float_dtype(raw.dtype):
        values = raw.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(values) & (np.abs(values) < FLOAT_EXACT)
            ok &= np.where(ok, values == np.floor(values), False)
        return pd.Series(np.where(ok, values, 0).astype(np.int64), index=index), ~ok
    text = raw.astype(str).str.strip()
    ok = text.str.fullmatch(_INTEGER_TEXT).to_numpy(dtype=bool, na_value=False).copy()
    whole = text.str.replace(r"\.0*$", "", regex=True)
    negative = whole.str.startswith("-").to_numpy(dtype=bool, na_value=False)
    digits = whole.str.lstrip("+-").str.lstrip("0")
    short = ok & (digits.str.len().to_numpy() <= _SAFE_DIGITS)
    values = np.zeros(len(raw), dtype=np.int64)
    if short.any():
        magnitude = digits[short].replace("", "0").astype("int64").to_numpy()
        values[short] = np.where(negative[short], -magnitude, magnitude)
    for i in np.flatnonzero(ok & ~short):  # 19 digits or more: exact Python integers, then the int64 range
        number = -int(digits.iloc[i]) if negative[i] else int(digits.iloc[i])
        if -INT64_MAX - 1 <= number <= INT64_MAX:
            values[i] = number
        else:
            ok[i] = False
    return pd.Series(values, index=index), ~ok


def format_units(amount: int, decimals: int, symbol: str | None = None) -> str:
    """An integer amount of base units as currency units for people, exactly: thousands separators, at least
    two decimals and no trailing zeros beyond them (``format_units(1_234_500_000, 6) == "1,234.50"``), the
    currency's symbol after it when given. Never through a float."""
    amount, decimals = int(amount), int(decimals)
    if decimals < 0:
        raise ValueError(f"decimals must be >= 0, got {decimals}")
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**decimals)
    digits = str(frac).rjust(decimals, "0").rstrip("0") if decimals else ""
    digits = digits.ljust(min(2, decimals), "0")
    text = f"{sign}{whole:,}" + (f".{digits}" if digits else "")
    return f"{text} {symbol}" if symbol else text
