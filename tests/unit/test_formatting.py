"""What people read: amounts in currency units with separators and the symbol (exact, never through a
float), percentages with their unit, dates as dates, factors; and the explorer's table cells built on them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainabs.apps import display
from chainabs.model import numbers


#: (amount in base units, decimals, symbol, places, what people read)
AMOUNTS = [
    (11_432_810_830_000, 6, "CNHT", 2, "CNHT 11,432,810.83"),
    (1_234_567_890, 6, "CNHT", 2, "CNHT 1,234.57"),  # rounded half up
    (1_234_565_000, 6, "CNHT", 2, "CNHT 1,234.57"),
    (1_234_564_999, 6, "CNHT", 2, "CNHT 1,234.56"),
    (-1_000_000, 6, "CNHT", 2, "-CNHT 1.00"),
    (0, 6, "tUSD", 2, "tUSD 0.00"),
    (5, 0, "", 2, "5.00"),
    (10**30 + 1, 18, "DAI", 4, "DAI 1,000,000,000,000.0000"),
]


def test_amounts_read_in_currency_units():
    # one test, not one per case: every test pays the chain's snapshot and revert (the suite's isolation)
    for amount, decimals, symbol, places, text in AMOUNTS:
        assert numbers.format_amount(amount, decimals, symbol, places) == text


@settings(max_examples=60)
@given(st.integers(min_value=-(10**40), max_value=10**40), st.integers(min_value=0, max_value=18))
def test_amounts_are_exact_to_half_a_cent(amount, decimals):
    text = numbers.format_amount(amount, decimals, "SYM")
    sign = -1 if text.startswith("-") else 1
    shown = sign * Decimal(text.lstrip("-").removeprefix("SYM ").replace(",", ""))
    assert abs(shown - Decimal(amount).scaleb(-decimals)) <= Decimal("0.005")


def test_an_amount_must_be_whole_base_units():
    with pytest.raises(TypeError, match="integer number of base units"):
        numbers.format_amount(1.5, 6)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="decimals and places"):
        numbers.format_amount(1, -1)


def test_percentages_dates_factors_and_compact_amounts():
    assert numbers.format_bps(420) == "4.20%" and numbers.format_bps(-117) == "-1.17%" and numbers.format_bps(None) == "n/a"
    assert numbers.format_pct(3.2857) == "3.29%" and numbers.format_pct(float("nan")) == "n/a"
    assert numbers.format_date(1_751_241_600) == "2025-06-30" and numbers.format_date(0) == "n/a"
    assert numbers.format_datetime(1_813_017_600) == "2027-06-15 00:00 UTC"
    assert numbers.format_factor(numbers.WAD // 2) == "0.500000"
    assert numbers.format_compact(9_150_000_000_000, 6, "CNHT") == "CNHT 9.15M"
    assert numbers.format_compact(950_000_000_000, 6, "CNHT") == "CNHT 950k"
    assert numbers.format_compact(950_000_000, 6, "CNHT") == "CNHT 950"
    assert numbers.format_count(1_903) == "1,903"


def test_table_cells_by_column():
    money = display.Money(6, "CNHT")
    assert display.cell_text(display.column_kind("principal", 1), 4_366_840_000, money) == "CNHT 4,366.84"
    assert display.cell_text(display.column_kind("coupon_bps", 420), 420, money) == "4.20%"
    assert display.cell_text(display.column_kind("cpr_pct", 11.7), 11.7, money) == "11.70%"
    assert display.cell_text(display.column_kind("block", 1), 123_456, money) == "123,456"
    assert display.label("coupon_bps") == "coupon" and display.label("interest_due") == "interest due"
    html = display.cell_html(display.HEX, "0x" + "ab" * 32, money)
    assert 'title="0x' + "ab" * 32 + '"' in html and "…" in html
    assert display.short_hex("0x" + "12" * 20) == "0x121212…121212"


def test_figures_already_written_for_people_pass_through():
    from chainabs.apps.display import AMOUNT, COUNT, Money, cell_text

    money = Money(6, "CNHT")
    assert cell_text(AMOUNT, "6,155.376", money) == "6,155.376"
    assert cell_text(COUNT, "12", money) == "12"
    assert cell_text(AMOUNT, {"amount": "1,000.00 CNHT", "interest": 5_000_000}, money) == \
        "amount=1,000.00 CNHT, interest=CNHT 5.00"
