"""Property tests of the Python model (the specification): conservation to the unit, no class paid above its
balance, seniority respected, over random deals and collection paths."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from plugins.waterfall import deals, paths, report_from_shape

from chainabs.model import waterfall as wf


def _run(deal, path):
    p, s = deal
    for shape in path:
        r = report_from_shape(s, shape)
        res, nxt = wf.close_period(p, s, r)
        yield p, s, r, res, nxt
        s = nxt


def _all_non_negative(*groups) -> bool:
    return all(v >= 0 for g in groups for v in (g if isinstance(g, tuple) else (g,)))


@settings(max_examples=150, deadline=None)
@given(deals(), paths)
def test_conservation_and_ledger_identities_hold_every_period(deal, path):
    for _, s, r, res, nxt in _run(deal, path):
        wf.check_identities(s, r, res, nxt)
        assert _all_non_negative(
            res.fee_paid, res.interest_paid, res.principal_paid, res.write_down, res.pdl_cured,
            res.reserve_draw, res.reserve_release, res.reserve_deposit, res.residual,
            nxt.class_balances, nxt.pdl, nxt.interest_shortfalls, nxt.fee_shortfalls, nxt.reserve_balance,
        )


@settings(max_examples=150, deadline=None)
@given(deals(), paths)
def test_no_class_is_paid_above_its_balance_or_owed_interest(deal, path):
    for _, s, _, res, nxt in _run(deal, path):
        for i, paid in enumerate(res.principal_paid):
            assert paid <= s.class_balances[i]
            assert res.interest_paid[i] <= s.interest_shortfalls[i] + res.interest_due[i]
        for k, paid in enumerate(res.fee_paid):
            assert paid <= s.fee_shortfalls[k] + res.fee_due[k]
        # The reserve is drawn only as far as it holds, and never above target through a deposit.
        assert res.reserve_draw <= s.reserve_balance
        assert res.reserve_deposit == 0 or nxt.reserve_balance <= res.reserve_target


@settings(max_examples=150, deadline=None)
@given(deals(), paths)
def test_seniority_is_respected(deal, path):
    for p, s, r, res, nxt in _run(deal, path):
        n = len(p.classes)
        # Interest: a class left short means nothing was paid to any junior class.
        for i in range(n):
            if nxt.interest_shortfalls[i] > 0:
                assert all(res.interest_paid[j] == 0 for j in range(i + 1, n))
        # Fees come before any interest.
        if any(nxt.fee_shortfalls):
            assert sum(res.interest_paid) == 0 and res.reserve_deposit == 0
        # Sequential: a junior class is paid principal only once every senior class is repaid.
        if res.sequential:
            for j in range(n):
                if res.principal_paid[j] > 0:
                    assert all(nxt.class_balances[i] == 0 for i in range(j))
        # Equity gets principal only after the notes are repaid, in both modes.
        if res.principal_paid[-1] > 0:
            assert sum(nxt.class_balances[:-1]) == 0
        # Losses hit juniors first: a class written down means every junior class is fully debited.
        for i in range(n):
            if res.write_down[i] > 0:
                assert all(s.pdl[j] + res.write_down[j] == s.class_balances[j] for j in range(i + 1, n))
        # Residual only when nothing is left to cure and no reserve top-up is pending.
        if res.residual > r.principal_available:
            assert sum(nxt.pdl) == 0
            assert nxt.reserve_balance >= res.reserve_target


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 10**12),
    st.lists(st.integers(0, 10**9), min_size=1, max_size=8),
    st.booleans(),
)
def test_allocate_principal_pays_within_balances_and_keeps_every_unit(amount, balances, sequential):
    paid, left = wf.allocate_principal(amount, balances, sequential)
    assert sum(paid) + left == amount
    assert all(0 <= x <= b for x, b in zip(paid, balances))
    assert left == max(amount - sum(balances), 0)
    if not sequential and len(balances) > 1:
        debt = sum(balances[:-1])
        if 0 < amount < debt:
            for i, b in enumerate(balances[:-1]):
                # each note gets its rounded-down share, plus at most the dust (< number of notes)
                assert amount * b // debt <= paid[i] <= amount * b // debt + len(balances) - 2
            assert paid[-1] == 0


def test_accrual_is_30_360_rounded_down():
    # 1,000,000.000000 at 4.20% for one month: 1e12 * 420 / 120,000 = 3,500,000,000 (3,500.000000)
    assert wf.accrue(10**12, 420, 1) == 3_500_000_000
    # 333 at 1,000 bps for 3 months: 333 * 1,000 * 3 / 120,000 = 8.325 -> 8
    assert wf.accrue(333, 1_000, 3) == 8
    assert wf.accrue(0, 1_000, 12) == 0


def test_run_periods_and_frame_follow_the_state():
    p = wf.DealParams(1, 1_000, (wf.ClassParams(1_200, False), wf.ClassParams(0, True)), (), 0, 0, 0, 0,
                      wf.PrincipalMode.SEQUENTIAL, (), 0)
    s = wf.DealState(0, 1_000, (900, 100), (0, 0), (0, 0), (), 0, 0, 0, 0)
    reports = [wf.PeriodReport(10, 100, 0, 0, 0, 0, 0, 0, 900), wf.PeriodReport(10, 900, 0, 0, 0, 0, 0, 0, 0)]
    history = wf.run_periods(p, s, reports)
    frame = wf.periods_frame(history, ["A", "E"])
    assert list(frame.index) == [1, 2]
    assert list(frame["A_principal"]) == [100, 800]
    assert list(frame["E_principal"]) == [0, 100]
    assert list(frame["A_interest"]) == [9, 8]  # 900 * 1% ; 800 * 1%
    assert list(frame["residual"]) == [1, 2]
    assert frame.loc[2, "A_balance"] == 0 and frame.loc[2, "E_balance"] == 0
