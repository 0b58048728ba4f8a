"""Green deals' model: the spec's green section (errors name the field), category codes equal to the contract's,
and the allocation and impact tables."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
import yaml

from chainabs.model import green
from chainabs.model.spec import DEALS_DIR, DealSpecError, load_deal, parse_deal

GREEN = yaml.safe_load((DEALS_DIR / "green_auto_loans.yaml").read_text())


def test_sample_green_deal():
    spec = load_deal("green_auto_loans")
    g = spec.green
    assert g is not None and g.allocator == "originator"
    assert g.eligible_mask == (1 << 5) | (1 << 0)
    assert green.categories_of(g.eligible_mask) == ["renewable_energy", "clean_transportation"]
    assert sum(p.allocate_bps for p in g.projects) == 10_000
    assert sum(spec.units(p.planned) for p in g.projects) == spec.units(spec.pool.original_balance)
    assert load_deal("auto_loan").green is None
    assert spec.sized_to(900_000_000).green == g  # the section survives sizing to the pool


BAD_SECTIONS = [
    (lambda g: g.update(eligible_categories=["rockets"]), "green.eligible_categories[0]"),
    (lambda g: g.update(eligible_categories=[]), "green.eligible_categories"),
    (lambda g: g.update(allocation_deadline="2025-07-01"), "must be after dates.closing"),
    (lambda g: g.update(allocator="investor"), "green.allocator"),
    (lambda g: g["projects"][0].update(allocate_bps=6000), "allocate_bps sum above 10000"),
    (lambda g: g["projects"][0].update(planned="1.0000001"), "green.projects[0].planned"),
    (lambda g: g["projects"][0]["impact"][0].update(value="1.0001"), "at most 3 decimals"),
    (lambda g: g["projects"][0]["impact"][0].update(metric="smiles"), "metric"),
]


def test_bad_green_section_is_rejected_naming_the_field():
    for edit, message in BAD_SECTIONS:  # one test: each case is a spec parse, no chain
        data = copy.deepcopy(GREEN)
        edit(data["green"])
        with pytest.raises(DealSpecError) as exc:
            parse_deal(data, "green.yaml")
        assert message in str(exc.value), message


def test_category_codes_match_the_contract():
    source = (DEALS_DIR.parent / "contracts" / "green" / "GreenLedger.sol").read_text()
    assert f"CATEGORY_COUNT = {len(green.CATEGORIES)};" in source
    assert f"METRIC_COUNT = {len(green.METRICS)};" in source
    assert sorted(green.CATEGORIES.values()) == list(range(len(green.CATEGORIES)))


def test_deadline_time_is_the_end_of_the_day_shifted_like_closing():
    import datetime as dt

    closing_time = 1_800_000_000 - 1_800_000_000 % 86_400
    t = green.deadline_time(dt.date(2026, 7, 15), dt.date(2025, 7, 15), closing_time)
    assert t == closing_time + 365 * 86_400 + 86_399


def test_tables():
    projects = [{"projectId": "0xa", "name": "A", "category": 0, "planned": 100, "evidenceHash": "0x1"},
                {"projectId": "0xb", "name": "B", "category": 5, "planned": 50, "evidenceHash": "0x2"}]
    allocations = [{"projectId": "0xa", "amount": 30, "evidenceHash": "0x3", "unallocated": 170},
                   {"projectId": "0xa", "amount": 40, "evidenceHash": "0x4", "unallocated": 130}]
    t = green.allocation_table(projects, allocations, 200).set_index("project")
    assert t.loc["A", "allocated"] == 70 and t.loc["A", "allocations"] == 2 and t.loc["A", "share_bps"] == 3500
    assert t.loc["B", "allocated"] == 0 and t.loc["B", "category"] == "clean_transportation"
    impact = green.impact_table([
        {"projectId": "0xa", "period": 1, "metric": 0, "value": 1_500, "evidenceHash": "0x5"},
        {"projectId": "0xa", "period": 1, "metric": 0, "value": 250, "evidenceHash": "0x6"},
        {"projectId": "0xa", "period": 2, "metric": 1, "value": 7, "evidenceHash": "0x7"}])
    first = impact.iloc[0]
    assert (first["metric"], first["unit"], first["value"], first["value_milli"]) == ("mwh_generated", "MWh",
                                                                                     Decimal("1.75"), 1_750)
    assert impact.iloc[1]["value"] == Decimal("0.007")
    assert green.impact_table([]).empty
