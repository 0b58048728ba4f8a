"""The one integer parser of loan and servicing tapes (chainabs.model.numbers): exact, and "1.0" is 1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chainabs.model import servicing, tape
from chainabs.model.numbers import INT64_MAX, parse_int
from chainabs.model.synthetic import DEFAULT_CUTOFF, generate_tape


@pytest.mark.parametrize("cell, value", [
    ("7", 7), (" 7 ", 7), ("+7", 7), ("-7", -7), ("007", 7), ("1.0", 1), ("1.", 1), ("12.000", 12), ("0", 0),
    ("9223372036854775807", INT64_MAX), ("1234567890123456789", 1234567890123456789),
])
def test_integers_and_whole_numbers_with_a_zero_fraction(cell, value):
    values, bad = parse_int(pd.Series([cell]))
    assert not bad[0] and int(values.iloc[0]) == value


@pytest.mark.parametrize("cell", ["1.5", "1e3", "1,000", "0x10", "", "nan", "abc", "9223372036854775808", "- 1"])
def test_anything_else_is_not_an_integer(cell):
    _, bad = parse_int(pd.Series([cell]))
    assert bad[0]


def test_typed_columns():
    assert parse_int(pd.Series([1, 2], dtype="int32"))[0].dtype == np.int64
    values, bad = parse_int(pd.Series([1.0, 2.5, np.nan, 2.0**60]))
    assert list(bad) == [False, True, True, True] and int(values.iloc[0]) == 1
    assert list(parse_int(pd.Series([2**64 - 1, 5], dtype="uint64"))[1]) == [True, False]
    assert parse_int(pd.Series([True]))[1][0]


def test_both_tapes_read_one_point_zero_the_same_way():
    loans = generate_tape(3, seed=1).astype({"principal": str})
    loans.loc[0, "principal"] = f"{int(loans.loc[0, 'principal'])}.0"
    typed, issues = tape.validate_tape(loans, today=DEFAULT_CUTOFF)
    assert not [i for i in issues if i.field == "principal"]
    assert int(typed.loc[0, "principal"]) == int(float(loans.loc[0, "principal"]))
    served = servicing.opening_tape(tape.check_tape(generate_tape(3, seed=1), today=DEFAULT_CUTOFF)).astype(str)
    served.loc[0, "ending_principal"] = served.loc[0, "ending_principal"] + ".0"
    typed, issues = servicing.validate_servicing_tape(served)
    assert issues == [] and int(typed.loc[0, "ending_principal"]) == int(served.loc[0, "beginning_principal"])
    served.loc[1, "ending_principal"] = "1.5"
    _, issues = servicing.validate_servicing_tape(served)
    assert [(i.row, i.field, i.rule) for i in issues] == [(2, "ending_principal", "type")]
