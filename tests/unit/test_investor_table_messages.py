"""The investor table's messages: a missing column names the columns the table has, an integer too large for a
field is out of range (with the largest value allowed), an infinite number is refused like any non-integer."""

from __future__ import annotations

from collections import namedtuple

import pandas as pd
import pytest

from chainabs.chain import tokens

Row = namedtuple("Row", "address jurisdiction investor_type expiry")
ADDRESS = "0x" + "12" * 20
HUGE = 10**30


def test_missing_columns_name_what_the_table_has():
    with pytest.raises(tokens.InvestorDataError) as err:
        tokens.validate_investors(pd.DataFrame([{"address": ADDRESS, "Jurisdiction": 156}]))
    assert str(err.value) == ("investor table: missing columns 'jurisdiction', 'investor_type', 'expiry' (the table "
                              "has columns address, Jurisdiction; it needs address, jurisdiction, investor_type, "
                              "expiry)")


def test_too_large_integers_are_out_of_range():
    assert tokens.investor_row_problems(2, Row(ADDRESS, HUGE, 256, HUGE), now=1_000) == [
        f"row 2: field 'jurisdiction' = {HUGE} is out of range: must be an ISO 3166-1 numeric code 1..999",
        "row 2: field 'investor_type' = 256 is out of range: must be an integer 0..255",
        f"row 2: field 'expiry' = {HUGE} is out of range: must be a unix time in the future, at most "
        "18446744073709551615 (2^64-1)",
    ]
    with pytest.raises(tokens.InvestorDataError, match="is out of range"):
        tokens.validate_investors([{"address": ADDRESS, "jurisdiction": 156, "investor_type": 1, "expiry": HUGE}],
                                  now=1_000)


def test_infinite_and_non_integer_values_are_named_not_raised():
    assert tokens.investor_row_problems(1, Row(ADDRESS, float("inf"), "1", 999), now=1_000) == [
        "row 1: field 'jurisdiction' = inf must be an ISO 3166-1 numeric code 1..999",
        "row 1: field 'investor_type' = '1' must be an integer 0..255",
        "row 1: field 'expiry' = 999 must be a unix time in the future",
    ]


def test_an_investor_file_that_cannot_be_read_is_one_line_naming_it(tmp_path):
    """``chainabs investors register`` reads its CSV through the shared reader: an empty, UTF-16 or missing file is
    one line naming the file, not pandas' message."""
    import pytest

    from chainabs.chain.operations import read_investor_file
    from chainabs.model.inputs import InputFileError

    empty = tmp_path / "investors.csv"
    empty.write_text("")
    with pytest.raises(InputFileError, match=r"investors\.csv: empty file \(no header row\)"):
        read_investor_file(empty)
    wide = tmp_path / "wide.csv"
    wide.write_bytes("address,jurisdiction\n0x1,156\n".encode("utf-16"))
    with pytest.raises(InputFileError, match=r"wide\.csv: not UTF-8 text"):
        read_investor_file(wide)
    with pytest.raises(InputFileError, match=r"nowhere\.csv: no such file"):
        read_investor_file(tmp_path / "nowhere.csv")
