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

And the other way, what people see (reports, the explorer, charts): amounts in currency units with thousands
separators and the currency symbol (:func:`format_amount`, exact: base-unit integers are never turned into
floats), compact amounts for chart axes (:func:`format_compact`), basis points and percentages with their
unit (:func:`format_bps`, :func:`format_pct`), unix times as dates (:func:`format_date`,
:func:`format_datetime`) and 1e18 fixed-point factors (:func:`format_factor`).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

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


def int64_overflow(raw: pd.Series) -> np.ndarray:
    """Mask of the cells :func:`parse_int` refuses only for their size: integers (text of the integer form, or an
    unsigned integer column) outside the int64 range. Callers report them as out of range, not as non-integers."""
    if pd.api.types.is_unsigned_integer_dtype(raw.dtype):
        return raw.to_numpy() > INT64_MAX
    if pd.api.types.is_bool_dtype(raw.dtype) or pd.api.types.is_numeric_dtype(raw.dtype):
        return np.zeros(len(raw), dtype=bool)
    text = raw.astype(str).str.strip()
    long = text.str.fullmatch(_INTEGER_TEXT).to_numpy(dtype=bool, na_value=False).copy()
    digits = text.str.replace(r"\.0*$", "", regex=True).str.lstrip("+-").str.lstrip("0")
    long &= digits.str.len().to_numpy() > _SAFE_DIGITS
    out = np.zeros(len(raw), dtype=bool)
    for i in np.flatnonzero(long):
        number = int(text.iloc[i].split(".")[0])
        out[i] = not -INT64_MAX - 1 <= number <= INT64_MAX
    return out


def limit_text(value: int) -> str:
    """A bound for a message: large powers of two minus one get their name (``9223372036854775807 (2^63-1)``)."""
    return f"{value} (2^{value.bit_length()}-1)" if value > 10**6 and (value + 1) & value == 0 else str(value)


def range_text(low: int, high: int) -> str:
    """``low..high`` for a message (``0..255``, ``0..9223372036854775807 (2^63-1)``)."""
    return f"{limit_text(low)}..{limit_text(high)}"


# ------------------------------------------------------------------------------------------------- display

#: 1e18 fixed point (token factors).
WAD = 10**18


def format_amount(amount: int, decimals: int, symbol: str = "", places: int = 2) -> str:
    """An amount in base units as currency units: ``format_amount(1234567890, 6, "CNHT")`` is
    ``"CNHT 1,234.57"``. Exact decimal arithmetic (no float), rounded half up to ``places`` decimals; a
    negative amount reads ``"-CNHT 1.00"``."""
    if isinstance(amount, bool) or not isinstance(amount, (int, np.integer)):
        raise TypeError(f"amount must be an integer number of base units, got {amount!r}")
    if decimals < 0 or places < 0:
        raise ValueError(f"decimals and places must be >= 0, got {decimals} and {places}")
    value = (Decimal(int(amount)).scaleb(-decimals)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    text = f"{abs(value):,.{places}f}"
    return f"{sign}{symbol} {text}" if symbol else f"{sign}{text}"


def format_compact(amount: float, decimals: int, symbol: str = "") -> str:
    """An amount in base units, short, for chart axes and tight cells: ``CNHT 9.15M``, ``CNHT 950k``,
    ``CNHT 12``."""
    units = float(amount) / 10**decimals
    sign = "-" if units < 0 else ""
    units = abs(units)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if units >= limit:
            text = f"{units / limit:.3g}{suffix}"
            break
    else:
        text = f"{units:.3g}" if units else "0"
    return f"{sign}{symbol} {text}" if symbol else f"{sign}{text}"


def format_bps(bps: int | None, places: int = 2) -> str:
    """Basis points as a percentage: ``420`` is ``"4.20%"``; None (no value) is ``"n/a"``."""
    if bps is None:
        return "n/a"
    return f"{Decimal(int(bps)).scaleb(-2):,.{places}f}%"


def format_pct(value: float | None, places: int = 2) -> str:
    """A percentage already in percent: ``3.2857`` is ``"3.29%"``; None or NaN is ``"n/a"``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{float(value):,.{places}f}%"


def format_date(timestamp: int | None) -> str:
    """Unix seconds as a UTC date ``YYYY-MM-DD``; None or 0 (no date) is ``"n/a"``."""
    if not timestamp:
        return "n/a"
    return dt.datetime.fromtimestamp(int(timestamp), tz=dt.timezone.utc).date().isoformat()


def format_datetime(timestamp: int | None) -> str:
    """Unix seconds as ``YYYY-MM-DD HH:MM UTC``; None or 0 is ``"n/a"``."""
    if not timestamp:
        return "n/a"
    return dt.datetime.fromtimestamp(int(timestamp), tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def format_factor(factor: int, places: int = 6) -> str:
    """A 1e18 fixed-point factor as a decimal: ``WAD // 2`` is ``"0.500000"``."""
    return f"{Decimal(int(factor)).scaleb(-18).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)}"


def format_count(value: int) -> str:
    """A count with thousands separators."""
    return f"{int(value):,}"

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
