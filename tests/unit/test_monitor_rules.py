"""The regulator rules on plain figures (``chainabs.model.rules``): each rule fires one unit past its threshold
and not at it, state rules fire on the edge only, alerts carry stable ids, severities and amounts in currency
units; property tests over random figures; the rules' configuration refuses bad input by name."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainabs.model import rules as rl
from chainabs.model.numbers import format_units
from chainabs.model.spec import DealSpecError, load_deal, parse_deal
from chainabs.model.waterfall import TriggerKind

ZERO = "0x" + "00" * 20
A, B = "0x" + "aa" * 20, "0x" + "bb" * 20


def _exposures(region: dict, total: int | None = None) -> rl.Exposures:
    return rl.Exposures({"region": region}, total if total is not None else sum(region.values()))


# --------------------------------------------------------------------------------------------- numbers


def test_amounts_are_shown_in_currency_units_exactly():
    assert format_units(1_234_500_000, 6) == "1,234.50"
    assert format_units(5, 6) == "0.000005"
    assert format_units(-1_000_000_000_123, 6, "USDC") == "-1,000,000.000123 USDC"
    assert format_units(10**30 + 1, 18) == "1,000,000,000,000.000000000000000001"
    assert format_units(7, 0) == "7"
    with pytest.raises(ValueError, match="decimals"):
        format_units(1, -1)


# --------------------------------------------------------------------------------------- concentration


def test_concentration_fires_one_unit_above_the_limit_not_at_it():
    limits = {"region": 2_000, "industry": None}
    rest = {12: 2_000, 13: 2_000, 14: 2_000, 15: 2_000}
    at = _exposures({11: 2_000, **rest})  # exactly 20.00 %
    assert rl.concentration_breaches(at, limits) == {}
    above = _exposures({11: 2_001, **rest})  # 2,001 / 10,001 > 20 %
    assert rl.concentration_breaches(above, limits) == {"region:11": ("region", 11, 2_001)}
    (alert,) = rl.concentration_drift(42, above, at, limits, 6)
    assert (alert.rule, alert.severity, alert.block, alert.subject) == ("concentration_drift", "high", 42, "region:11")
    assert alert.id == "concentration_drift:42:region:11"
    assert alert.figures["share_bps"] == 2_000 and alert.figures["limit_bps"] == 2_000  # floor of 20.008 %
    assert alert.figures["principal"] == "0.002001" and alert.figures["pool_principal"] == "0.010001"
    # one unit under: nothing; already over before the block: nothing (edge-triggered); no limit: nothing
    under = rl.concentration_drift(42, _exposures({11: 1_999, **rest}), None, limits, 6)
    assert "region:11" not in {a.subject for a in under}  # (the others are now a unit over 20 %)
    assert rl.concentration_drift(43, above, above, limits, 6) == []
    assert rl.concentration_drift(43, rl.Exposures({"industry": {1: 10}}, 10), None, limits, 6) == []


@given(st.dictionaries(st.integers(0, 40), st.integers(0, 10**12), min_size=1, max_size=8),
       st.dictionaries(st.integers(0, 40), st.integers(0, 10**12), max_size=8), st.integers(0, 10_000))
def test_concentration_drift_is_the_new_breaches_exactly(now, before, limit):
    limits = {"region": limit}
    n, b = _exposures(now), _exposures(before)
    fired = {a.subject for a in rl.concentration_drift(7, n, b, limits, 6)}
    over_now = {f"region:{k}" for k, v in now.items() if v * 10_000 > n.total * limit}
    over_before = {f"region:{k}" for k, v in before.items() if v * 10_000 > b.total * limit}
    assert fired == over_now - over_before
    again = rl.concentration_drift(7, n, b, limits, 6)
    assert [a.id for a in again] == sorted(a for a in (x.id for x in again))  # stable and in subject order


# --------------------------------------------------------------------------------------------- reports


def test_a_refused_report_is_a_registry_mismatch_when_the_spv_named_a_registry_figure():
    alert = rl.refused_report(9, "0xab", A, 5, "ReportDisagrees(Delinquent30, 1, 2)", 6, figure="Delinquent30",
                              reported=1_000_000, on_chain=2_000_000)
    assert (alert.rule, alert.severity, alert.subject, alert.tx) == ("registry_report_mismatch", "critical",
                                                                     "tx:0xab", "0xab")
    assert alert.figures["reported"] == "1.00" and alert.figures["on_chain"] == "2.00"
    count = rl.refused_report(9, "0xab", A, 5, "e", 6, figure="LoanCount", reported=10, on_chain=11)
    assert count.rule == "registry_report_mismatch" and count.figures["reported"] == 10  # a count, not money
    tape = rl.refused_report(9, "0xcd", A, 5, "ReportDisagrees(PoolBalance, 1, 2)", 6, figure="PoolBalance",
                             reported=1, on_chain=2)
    assert tape.rule == "report_refused" and tape.severity == "high"
    role = rl.refused_report(9, "0xef", B, 5, "AccessControlUnauthorizedAccount(...)", 6)
    assert role.rule == "report_refused" and role.figures == {"period": 5, "servicer": B,
                                                              "error": "AccessControlUnauthorizedAccount(...)"}


def test_a_pending_report_that_differs_from_the_registry_by_one_unit_is_named():
    report = {"delinquent_30": 500, "delinquent_60": 70, "delinquent_90_plus": 0}
    assert rl.pending_mismatch(3, 2, report, dict(report), 6) == []
    off = dict(report, delinquent_60=71)
    (alert,) = rl.pending_mismatch(3, 2, report, off, 6)
    assert alert.subject == "period:2:delinquent_60" and alert.figures["registry"] == "0.000071"


def test_a_proven_challenge_is_critical():
    alert = rl.challenge_proven(5, "0x12", 3, 4, "Discontinuity", 77, A)
    assert (alert.rule, alert.severity, alert.id) == ("challenge_proven", "critical", "challenge_proven:5:log:0x12:3")
    assert alert.figures == {"period": 4, "kind": "Discontinuity", "asset_id": "77", "challenger": A}


# ---------------------------------------------------------------------------------------- related party


def test_related_parties_fire_one_unit_beyond_the_retained_slice_and_tolerance():
    retained, tolerance = 1_000, 50
    at = {A: 600, B: 450}  # 1,050 = retained + tolerance
    assert rl.related_party_holding(8, "SEN", at, None, retained, tolerance, 6) == []
    over = {A: 600, B: 451}
    (alert,) = rl.related_party_holding(8, "SEN", over, at, retained, tolerance, 6)
    assert (alert.rule, alert.subject, alert.severity) == ("related_party_holding", "class:SEN", "high")
    assert alert.figures["excess"] == "0.000051" and alert.figures["held"] == {A: "0.0006", B: "0.000451"}
    assert rl.related_party_holding(9, "SEN", {A: 5_000}, over, retained, tolerance, 6) == []  # still over
    # the retained slice itself grew in the block (a retained subscription): judged against the slice before
    assert rl.related_party_holding(9, "SEN", {A: 2_100}, {A: 1_051}, 2_000, tolerance, 6, retained_before=1_000) == []
    (grew,) = rl.related_party_holding(9, "SEN", {A: 2_100}, {A: 1_000}, 2_000, tolerance, 6, retained_before=1_000)
    assert grew.figures["excess"] == "0.0001"


# ---------------------------------------------------------------------------------------------- events


def test_event_rules():
    ev = {"from": A, "to": B, "value": 5_000_000_000}
    large = rl.event_alert(4, "0x1", 2, "TrancheToken", "Transfer", ev, 6, large_transfer=5_000_000_000, tranche=True)
    assert large.rule == "large_transfer" and large.figures["units"] == "5,000.00" and large.id == "large_transfer:4:log:0x1:2"
    assert rl.event_alert(4, "0x1", 2, "T", "Transfer", {**ev, "value": 4_999_999_999}, 6, large_transfer=5_000_000_000,
                          tranche=True) is None
    assert rl.event_alert(4, "0x1", 2, "T", "Transfer", ev, 6, large_transfer=1, tranche=False) is None  # currency
    assert rl.event_alert(4, "0x1", 2, "T", "Transfer", {**ev, "from": ZERO}, 6, large_transfer=1, tranche=True) is None
    kinds = {name: rl.event_alert(1, "0x2", 0, "C", name, {"account": A, "role": b"\x01" * 32, "amount": 1_500_000}, 6)
             for name in rl.EVENT_RULES}
    assert {n: a.rule for n, a in kinds.items()} == rl.EVENT_RULES
    assert kinds["RecoveryRecorded"].figures["amount"] == "1.50" and kinds["RecoveryRecorded"].severity == "info"
    assert kinds["RoleGranted"].figures["role"] == "0x" + "01" * 32
    assert kinds["ControllerTransfer"].severity == "high"
    assert rl.event_alert(1, "0x2", 0, "C", "PeriodClosed", {}, 6) is None


# ----------------------------------------------------------------------------- delinquency, projections


def _p(period, ending, d30=0, d60=0, d90=0, **flows):
    return rl.PeriodFigures(period, ending, d30, d60, d90, **flows)


def test_deterioration_fires_past_x_points_not_at_x():
    before = _p(1, 1_000_000, d30=10_000)  # 100 bps
    assert rl.deterioration(5, before, _p(2, 1_000_000, d30=20_000), 100) == []  # +100 bps: not more than 100
    (alert,) = rl.deterioration(5, before, _p(2, 1_000_000, d30=20_100), 100)  # +101
    assert (alert.rule, alert.subject, alert.figures["rise_bps"]) == ("delinquency_deterioration", "period:2", 101)
    assert rl.deterioration(5, before, _p(2, 1_000_000, d30=5_000), 0) == []


def _history():
    """Four reports: a cohort rolls 30 -> 60 -> 90+ -> default, a new cohort enters 30 days each month."""
    return [_p(1, 1_000_000, d30=10_000), _p(2, 980_000, d30=10_000, d60=10_000, scheduled=20_000),
            _p(3, 960_000, d30=10_000, d60=10_000, d90=10_000, scheduled=20_000),
            _p(4, 930_000, d30=10_000, d60=10_000, d90=10_000, scheduled=20_000, defaults=10_000)]


def test_roll_rates_fitted_on_the_history():
    r = rl.fit_roll_rates(_history())
    assert r.roll_30_60 == pytest.approx(1.0) and r.roll_60_90 == pytest.approx(1.0)
    assert r.roll_90_default == pytest.approx(1.0)  # the 90+ bucket of period 3 defaulted in period 4
    assert r.current_to_30 == pytest.approx(30_000 / (990_000 + 960_000 + 930_000))
    assert r.severity == 1.0 and r.direct_default == 0.0
    assert r.matrix().shape == (5, 5)
    with pytest.raises(ValueError, match="at least 2 reports"):
        rl.fit_roll_rates(_history()[:1])


def test_early_warning_fires_within_n_periods_one_unit_under_the_projected_value():
    history = _history()
    dq = [rl.TriggerTest(0, TriggerKind.DELINQUENCY_60_PLUS, 10_000)]
    today, path = rl.trigger_path(history, TriggerKind.DELINQUENCY_60_PLUS, 1_000_000, 3)
    assert today == 215 < max(path)  # (10,000 + 10,000) / 930,000
    at = [rl.TriggerTest(1, TriggerKind.DELINQUENCY_60_PLUS, max(path))]
    assert rl.projected_breaches(history, at, 1_000_000, 3) == {}  # projected = threshold
    under = [rl.TriggerTest(1, TriggerKind.DELINQUENCY_60_PLUS, max(path) - 1)]
    assert set(rl.projected_breaches(history, under, 1_000_000, 3)) == {1}
    fired = rl.early_warning(9, history, under, 1_000_000, periods=3, min_reports=4)  # the first report evaluated
    (alert,) = fired
    assert (alert.rule, alert.severity, alert.subject) == ("trigger_early_warning", "high", "trigger:1:period:4")
    assert alert.figures["projected_bps"] == max(path) and alert.figures["value_bps"] == today
    with pytest.raises(ValueError, match="OVERCOLLATERALISATION"):
        rl.trigger_path(history, TriggerKind.OVERCOLLATERALISATION, 1_000_000, 3)
    # too few reports; a trigger the projection does not measure; a trigger already breached
    assert rl.early_warning(9, history[:2], under, 1_000_000, min_reports=3) == []
    oc = [rl.TriggerTest(2, TriggerKind.OVERCOLLATERALISATION, 100_000)]
    assert rl.early_warning(9, history, oc, 1_000_000) == []
    assert rl.early_warning(9, history, [rl.TriggerTest(3, TriggerKind.DELINQUENCY_60_PLUS, 100)], 1_000_000) == []
    assert rl.early_warning(9, history, dq, 1_000_000) == []


def test_early_warning_counts_periods_and_fires_on_the_edge():
    history = _history()
    _, values = rl.trigger_path(history, TriggerKind.CUMULATIVE_NET_LOSS, 1_000_000, 6)
    assert values == sorted(values) and values[-1] > values[0]  # losses accumulate
    k = next(i for i, v in enumerate(values) if v > values[0])  # the first period whose value exceeds period 1's
    cnl = [rl.TriggerTest(0, TriggerKind.CUMULATIVE_NET_LOSS, values[k] - 1)]
    ahead = rl.projected_breaches(history, cnl, 1_000_000, k + 1)
    assert ahead[0]["periods_to_breach"] == k + 1 and rl.projected_breaches(history, cnl, 1_000_000, k) == {}
    # projected at the previous report too: no new alert
    longer = [*history, _p(5, 900_000, d30=20_000, d60=10_000, scheduled=20_000, defaults=10_000)]
    dq = TriggerKind.DELINQUENCY_60_PLUS
    threshold = min(max(rl.trigger_path(h, dq, 1_000_000, 60)[1]) for h in (history, longer)) - 1
    assert threshold >= max(h.delinquent_60_plus_bps for h in longer)  # never breached yet
    wide = [rl.TriggerTest(0, dq, threshold)]
    assert rl.early_warning(9, history, wide, 1_000_000, periods=60, min_reports=4)
    assert rl.early_warning(10, longer, wide, 1_000_000, periods=60, min_reports=4) == []


_figures = st.builds(
    lambda ending, a, b, c, flows: rl.PeriodFigures(0, ending, min(a, ending), min(b, ending - min(a, ending)),
                                                    min(c, ending - min(a, ending) - min(b, ending - min(a, ending))),
                                                    *flows),
    st.integers(0, 10**12), st.integers(0, 10**11), st.integers(0, 10**11), st.integers(0, 10**11),
    st.tuples(st.integers(0, 10**10), st.integers(0, 10**10), st.integers(0, 10**10), st.integers(0, 10**10)))


@given(st.lists(_figures, min_size=2, max_size=8), st.integers(1, 12))
def test_fitted_rates_are_probabilities_and_projections_never_create_balance(history, periods):
    history = [rl.PeriodFigures(k + 1, *list(vars(h).values())[1:]) for k, h in enumerate(history)]
    r = rl.fit_roll_rates(history)
    assert all(0.0 <= v <= 1.0 for v in vars(r).values())
    path = rl.project(history[-1], r, periods)
    pools = [history[-1].ending, *(p for p, _, _ in path)]
    assert all(0 <= d60 <= p + 1e-6 and loss >= 0 for p, d60, loss in path)
    assert all(b <= a + 1e-6 * max(a, 1) for a, b in zip(pools, pools[1:]))
    # an early warning is never raised for a trigger already breached, and lowering a threshold never removes one
    for kind in rl.PROJECTED_KINDS:
        hi = rl.projected_breaches(history, [rl.TriggerTest(0, kind, 5_000)], 10**12, periods)
        lo = rl.projected_breaches(history, [rl.TriggerTest(0, kind, 4_999)], 10**12, periods)
        assert set(hi) <= set(lo) or (lo == {} and hi)  # lo may be empty only when already breached at 4,999
        for p in hi.values():
            assert p["value_bps"] <= 5_000 < p["projected_bps"]


@given(st.integers(0, 10**9), st.integers(1, 10**9), st.integers(0, 10**9), st.integers(0, 500))
def test_deterioration_fires_iff_the_rise_exceeds_the_points(d_before, ending, d_now, points):
    before, now = _p(1, ending, d30=min(d_before, ending)), _p(2, ending, d30=min(d_now, ending))
    fired = rl.deterioration(3, before, now, points)
    assert bool(fired) == (now.delinquent_30_plus_bps - before.delinquent_30_plus_bps > points)


# --------------------------------------------------------------------------------------------- config


def test_rules_config_defaults_and_the_deal_spec_section(tmp_path):
    c = rl.MonitorRules()
    assert (c.early_warning_periods, c.deterioration_bps, c.large_transfer) == (3, 100, Decimal(1_000_000))
    assert c.base_units(Decimal("1.5"), 6) == 1_500_000 and c.enabled("pause")
    spec = load_deal("consumer_loan")
    assert spec.monitor == rl.MonitorRules(large_transfer=Decimal(250_000))
    assert load_deal("trade_receivables").monitor == c  # no monitor: section: the defaults
    (tmp_path / "deal.yaml").write_text((spec_path := __import__("chainabs.model.spec", fromlist=["DEALS_DIR"])
                                         .DEALS_DIR / "consumer_loan.yaml").read_text()
                                        .split("\nmonitor:")[0] + "\nmonitor:\n  deterioration_bps: 250\n  disabled: [pause]\n")
    loaded = rl.load_rules(tmp_path / "deal.yaml")
    assert loaded.deterioration_bps == 250 and not loaded.enabled("pause")
    assert rl.load_rules(spec_path) == spec.monitor
    (tmp_path / "m.yaml").write_text(f"related_parties: ['{A}']\nlarge_transfer: '2500.5'\n")
    assert rl.load_rules(tmp_path / "m.yaml").large_transfer == Decimal("2500.5")


@pytest.mark.parametrize("text, message", [
    ("early_warning_periods: 0\n", "early_warning_periods"),
    ("deterioration_bps: 10001\n", "deterioration_bps"),
    ("related_parties: ['0x12']\n", r"related_parties: \[0\] '0x12' is not an address"),
    ("disabled: [concentration]\n", "'concentration' is not a rule id"),
    ("large_transfer: 0\n", "large_transfer"),
    ("no_such_rule: 1\n", "no_such_rule"),
    ("- 1\n", "expected a mapping"),
    ("a: [\n", "m.yaml"),
])
def test_bad_rules_config_is_refused_on_one_line_naming_the_field(tmp_path, text, message):
    (tmp_path / "m.yaml").write_text(text)
    with pytest.raises(rl.RulesConfigError, match=message) as err:
        rl.load_rules(tmp_path / "m.yaml")
    assert "\n" not in str(err.value)


def test_a_deal_spec_with_a_bad_monitor_section_is_refused():
    import yaml

    data = yaml.safe_load((__import__("chainabs.model.spec", fromlist=["DEALS_DIR"]).DEALS_DIR
                           / "consumer_loan.yaml").read_text())
    data["monitor"] = {"early_warning_periods": -1}
    with pytest.raises(DealSpecError, match="monitor.early_warning_periods"):
        parse_deal(data)
