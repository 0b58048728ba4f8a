"""Deal specs: the samples load and map onto the waterfall; bad specs are rejected naming the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from chainabs.model import waterfall as wf
from chainabs.model.spec import DEALS_DIR, DealSpecError, load_deal, parse_deal, sample_deals
from chainabs.model import terms

CONSUMER = yaml.safe_load((DEALS_DIR / "consumer_loan.yaml").read_text())


def test_samples_are_shipped_and_valid():
    names = {p.stem for p in sample_deals()}
    assert {"consumer_loan", "trade_receivables"} <= names
    for path in sample_deals():
        spec = load_deal(path)
        assert spec.name == path.stem


def test_consumer_deal_maps_onto_waterfall_params():
    spec = load_deal("consumer_loan")  # a bare name is looked up in deals/
    p = terms.params_from_spec(spec)
    assert spec.currency.decimals == 6
    assert [t.class_name for t in spec.tranches_by_seniority()] == ["Senior", "Mezzanine", "Subordinated"]
    assert p.original_pool_balance == 500_000_000 * 10**6
    assert p.classes == (wf.ClassParams(420, False), wf.ClassParams(550, False), wf.ClassParams(0, True))
    assert p.fees == (wf.FeeParams(20_000 * 10**6, 0), wf.FeeParams(0, 60))
    assert (p.reserve_target_bps, p.reserve_step_up_target_bps, p.reserve_floor) == (100, 200, 10**12)
    assert p.reserve_covered_classes == 1
    assert p.principal_mode == wf.PrincipalMode.PRO_RATA and p.period_months == 1
    assert [t.kind for t in p.triggers] == list(wf.TriggerKind)
    assert p.triggers[0] == wf.TriggerParams(wf.TriggerKind.CUMULATIVE_NET_LOSS, 400, True, False, False)
    assert p.triggers[1] == wf.TriggerParams(wf.TriggerKind.DELINQUENCY_60_PLUS, 300, False, True, True)
    wf.validate_params(p)
    s = terms.initial_state(spec)
    assert s.class_balances == (400 * 10**12, 40 * 10**12, 60 * 10**12)
    assert s.reserve_balance == 5 * 10**12 and s.fee_shortfalls == (0, 0)


def test_trade_receivables_deal_is_quarterly_sequential_with_decimal_fee():
    spec = load_deal(DEALS_DIR / "trade_receivables.yaml")
    p = terms.params_from_spec(spec)
    assert p.period_months == 3 and p.principal_mode == wf.PrincipalMode.SEQUENTIAL
    assert p.fees[0].fixed_amount == 15_000 * 10**6
    assert spec.units("0.000001") == 1
    with pytest.raises(ValueError):
        spec.units("0.0000001")


def _problems(data) -> list[tuple[str, str]]:
    with pytest.raises(DealSpecError) as info:
        parse_deal(data, "deals/bad.yaml")
    assert str(info.value).startswith("invalid deal spec")
    return info.value.problems


def _edit(path: str, value):
    data = copy.deepcopy(CONSUMER)
    node = data
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for k in keys[:-1]:
        node = node[k]
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return data


_DELETE = object()

BAD = [
    ("tranches.1.coupon_bps", 10_001, "tranches[1].coupon_bps", "less than or equal to 10000"),
    ("tranches.0.size", 400_000_001, "tranches", "sizes sum to 500000001 but pool.original_balance is 500000000"),
    ("tranches.1.seniority", 1, "tranches[1].seniority", "already used by tranches[0]"),
    ("tranches.1.symbol", "CLT25A", "tranches[1].symbol", "already used"),
    ("tranches.2.is_equity", False, "tranches[2].is_equity", "must be the equity class"),
    ("tranches.0.is_equity", True, "tranches[0].is_equity", "only the most junior class"),
    ("tranches.2.coupon_bps", 100, "tranches[2].coupon_bps", "equity class has no coupon"),
    ("tranches.0.size", "400000000.0000001", "tranches[0].size", "more than the currency's 6 decimals"),
    ("tranches.0.size", -5, "tranches[0].size", "greater than 0"),
    ("dates.closing", "2025-06-01", "dates.closing", "must be on or after dates.cut_off"),
    ("dates.legal_final", "2025-08-26", "dates.legal_final", "must be after dates.first_payment"),
    ("dates.frequency_months", 13, "dates.frequency_months", "less than or equal to 12"),
    ("eligibility.min_rate_bps", 3000, "eligibility", "min_rate_bps (3000) is above eligibility.max_rate_bps"),
    ("eligibility.concentration.max_obligor_bps", 10_500, "eligibility.concentration.max_obligor_bps",
     "less than or equal to 10000"),
    ("eligibility.asset_types", [], "eligibility.asset_types", "at least 1 item"),
    ("currency.address", "0x1234", "currency.address", "not a 20-byte hex address"),
    ("currency.decimals", 40, "currency.decimals", "less than or equal to 36"),
    ("roles.trustee", "0xZZ", "roles.trustee", "not a 20-byte hex address"),
    ("roles.regulator", _DELETE, "roles.regulator", "Field required"),
    ("principal_mode", "turbo", "principal_mode", "'sequential' or 'pro_rata'"),
    ("triggers.0.test", "dscr", "triggers[0].test", "'cumulative_net_loss'"),
    ("triggers.0.threshold_bps", 20_000, "triggers[0].threshold_bps", "at most 10000 bps"),
    ("triggers.1.switches", ["turbo"], "triggers[1].switches[0]", "'sequential' or 'reserve_step_up'"),
    ("triggers.1.name", "cumulative net loss", "triggers[1].name", "already used by triggers[0]"),
    ("reserve.covers_interest_of", ["Mezzanine"], "reserve.covers_interest_of", "most senior classes"),
    ("reserve.covers_interest_of", ["Class Z"], "reserve.covers_interest_of[0]", "no tranche has class_name"),
    ("reserve.covers_interest_of", ["Subordinated"], "reserve.covers_interest_of[0]", "is the equity class"),
    ("reserve.step_up_target_bps", 50, "reserve", "step_up_target_bps (50) is below reserve.target_bps"),
    ("fees.1.pool_bps_per_annum", 0, "fees[1]", "both are zero"),
    ("fees.0.payee", "auditor", "fees[0].payee", "'arranger'"),
    ("clean_up_call_bps", -1, "clean_up_call_bps", "greater than or equal to 0"),
    ("name", "Consumer Loan", "name", "lower-case letters"),
    ("tranche_count", 3, "tranche_count", "Extra inputs are not permitted"),
]


@pytest.mark.parametrize("edit,value,field,message", BAD, ids=[f"{b[0]}=<deleted>" if b[1] is _DELETE else f"{b[0]}={b[1]!r}" for b in BAD])
def test_bad_spec_is_rejected_naming_the_field(edit, value, field, message):
    problems = _problems(_edit(edit, value))
    assert any(path == field and message in msg for path, msg in problems), problems


def test_bad_step_up_trigger_without_step_up_target():
    data = _edit("reserve.step_up_target_bps", 100)
    problems = _problems(data)
    assert ("triggers[1].switches", "reserve_step_up needs reserve.step_up_target_bps above reserve.target_bps") in problems


def test_every_problem_is_listed_with_file_and_field():
    data = _edit("tranches.1.coupon_bps", 10_001)
    data["dates"]["frequency_months"] = 0
    with pytest.raises(DealSpecError) as info:
        parse_deal(data, "deals/bad.yaml")
    text = str(info.value)
    assert "deals/bad.yaml: tranches[1].coupon_bps:" in text
    assert "deals/bad.yaml: dates.frequency_months:" in text


def test_load_errors(tmp_path: Path):
    with pytest.raises(DealSpecError, match="file not found"):
        load_deal(tmp_path / "missing.yaml")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: [unclosed\n")
    with pytest.raises(DealSpecError, match="not valid YAML"):
        load_deal(bad_yaml)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(DealSpecError, match="mapping"):
        load_deal(scalar)


def test_spec_defaults():
    data = copy.deepcopy(CONSUMER)
    del data["reserve"]["step_up_target_bps"]
    for t in data["triggers"]:
        t["switches"] = ["sequential"]
    spec = parse_deal(data)
    assert spec.reserve.step_up_target_bps == spec.reserve.target_bps == 100


def test_asset_types_are_the_registry_types():
    from chainabs.model.spec import Eligibility
    from chainabs.model.assets import ASSET_TYPES

    allowed = set(Eligibility.model_fields["asset_types"].annotation.__args__[0].__args__)
    assert allowed == set(ASSET_TYPES)
