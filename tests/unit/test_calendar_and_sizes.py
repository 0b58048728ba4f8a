"""The payment calendar (``DateLib`` on chain, ``chainabs.model.deal.add_months`` in the model) agrees to the second
on random dates, and every deployable contract fits the EIP-170 code-size limit that public networks enforce."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainabs.chain.calls import ViewCall, view_calls
from chainabs.chain.connection import connected_web3
from chainabs.model.deal import add_months

EIP170_LIMIT = 24_576
DAY = 86_400


@pytest.fixture(scope="module")
def calendar(DateLibHarness, admin):
    return DateLibHarness.deploy({"from": admin})


@settings(max_examples=10, deadline=None)
@given(dates=st.lists(st.tuples(st.integers(0, 4_102_444_800), st.integers(0, 1_200)), min_size=1, max_size=150))
def test_add_months_equals_the_model(calendar, dates):
    """Hundreds of random (date, months) pairs, asked in one batch per example (a view: nothing to revert)."""
    answers = view_calls(connected_web3(), [ViewCall(calendar.address, calendar.addMonths.abi, pair) for pair in dates])
    assert answers == [add_months(timestamp, months) for timestamp, months in dates]


def test_month_ends_are_clamped_not_drifted(calendar):
    jan31 = int(dt.datetime(2027, 1, 31, 9, 30, tzinfo=dt.timezone.utc).timestamp())
    feb = dt.datetime.fromtimestamp(calendar.addMonths(jan31, 1), dt.timezone.utc)
    assert (feb.year, feb.month, feb.day, feb.hour, feb.minute) == (2027, 2, 28, 9, 30)
    leap = dt.datetime.fromtimestamp(calendar.addMonths(jan31, 13), dt.timezone.utc)
    assert (leap.year, leap.month, leap.day) == (2028, 2, 29)
    # Each payment date is counted from the first one, so a short month never shortens the later ones.
    assert dt.datetime.fromtimestamp(calendar.addMonths(jan31, 2), dt.timezone.utc).day == 31
    for z in (0, 59, 365 * 30 + 7, 60_000):
        assert tuple(calendar.civilFromDays(z)) == (lambda d: (d.year, d.month, d.day))(
            dt.date(1970, 1, 1) + dt.timedelta(days=z))


def test_every_deployable_contract_fits_eip170():
    from brownie import project

    proj = project.get_loaded_projects()[0]
    sizes = {}
    for name in proj.keys():
        build = getattr(proj, name)._build
        if build.get("type") in ("contract", "library") and "mocks/" not in build.get("sourcePath", ""):
            size = len(build.get("deployedBytecode", "")) // 2
            if size:
                sizes[name] = size
    assert {"SPV", "TrancheToken", "AssetRegistry", "SPVOffering", "SPVSettlement", "SPVServicing", "TrancheOps",
            "ServicingCourt", "CollateralRegistry", "TrancheMarket", "GreenLedger", "InvoiceLedger"} <= set(sizes)
    over = {k: v for k, v in sizes.items() if v > EIP170_LIMIT}
    assert not over, f"over the EIP-170 limit of {EIP170_LIMIT:,} bytes: {over}"
