"""Reports of a real deal driven through known loan-level collections, checked against figures computed
here by hand from the tapes and the deal's terms; servicing tapes verified and tampered; reports rebuilt by a
fresh process that knows only the RPC URL and the SPV address; the monitor killed and restarted mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from brownie import web3

from chainabs.chain.sender import transact
from chainabs.apps import reports, verify
from chainabs.chain.read import pool as poolread
from chainabs.chain.read import tables
from chainabs.chain.read.deal import read_deal
from chainabs.model import servicing
from chainabs.chain.abis import load_abi
from chainabs.chain.events import EventDecoder, read_events
from chainabs.apps.monitor import deal_watch, read_jsonl
from plugins.reports import CURTAILMENT, RECOVERY_PCT, amortising_tape, balance_at_cutoff, run_period

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(served):
    """The deal as a fresh reader sees it (chain data only), loaded once for the module."""
    return read_deal(served.url, served.deal.spv.address)


def _sum(tape: pd.DataFrame, col: str) -> int:
    return sum(int(x) for x in tape[col])


def test_cutoff_tape_is_rebuilt_from_registration_calldata(served, data):
    rebuilt = poolread.pool_tape(data)
    cut = served.cutoff
    assert list(rebuilt["loan_id"]) == list(cut["loan_id"])
    for col in ("principal", "original_principal", "rate_bps", "term_months", "region", "industry"):
        assert [int(x) for x in rebuilt[col]] == [int(x) for x in cut[col]], col
    assert list(rebuilt["obligor"]) == list(cut["obligor"])
    assert (rebuilt["maturity_date"].dt.date == cut["maturity_date"].dt.date).all()


def test_pool_performance_matches_hand_computed_figures(served, data):
    cut, tapes, named = served.cutoff, served.tapes, served.named
    pool = poolread.pool_report(data).set_index("period")
    a, b, dq = (balance_at_cutoff(cut, named[k]) for k in ("A", "B", "D"))
    original = _sum(cut, "principal")
    begin = original
    for period, tape in enumerate(tapes, start=1):
        row = pool.loc[period]
        assert row["beginning_balance"] == begin
        for col, tcol in (("interest_collected", "interest_collected"), ("scheduled_principal", "scheduled_principal"),
                          ("prepayments", "prepaid_principal"), ("defaults", "defaulted_principal"),
                          ("recoveries", "recoveries")):
            assert row[col] == _sum(tape, tcol), (period, col)
        active = tape[tape["status"].isin(("Performing", "Delinquent30", "Delinquent60", "Delinquent90"))]
        assert row["ending_balance"] == _sum(active, "ending_principal")  # claims on defaulted loans are not pool
        assert row["registry_matches_report"] and row["tape_loans"] == len(tape)
        begin = row["ending_balance"]
    p1, p2, p3 = (pool.loc[k] for k in (1, 2, 3))
    # period 1: A prepaid in full, B defaulted in full, D 30 days late
    assert p1["prepayments"] == a and p1["defaults"] == b and p1["delinquent_30"] == dq
    smm = a / (original - p1["scheduled_principal"])
    assert p1["cpr_pct"] == pytest.approx(100 * (1 - (1 - smm) ** 12))
    assert p1["cdr_pct"] == pytest.approx(100 * (1 - (1 - b / original) ** 12))
    assert p1["severity_pct"] == pytest.approx(100.0)
    # period 2: B recovers 40 %, C curtails one unit, D 60 days late
    recovered = b * RECOVERY_PCT // 100
    assert p2["recoveries"] == recovered and p2["prepayments"] == CURTAILMENT
    assert p2["delinquent_60"] == dq and p2["delinquent_30"] == 0
    assert p2["delinquent_60_plus_pct"] == pytest.approx(100 * dq / p2["ending_balance"])
    assert p2["cumulative_net_loss"] == b - recovered
    # period 3: D defaults
    assert p3["defaults"] == dq
    loss = b - recovered + dq
    assert p3["cumulative_net_loss"] == loss
    assert p3["cumulative_net_loss_pct"] == pytest.approx(100 * loss / original)
    assert p3["severity_pct"] == pytest.approx(100 * loss / (b + dq))
    # registry columns, by hand: loans with principal or a claim left (A prepaid, B charged off in period 2, D
    # in recovery with its claim), and the rate weighted by the registry's principal: performing loans are
    # updated there only when their status changes, so they weigh their cut-off principal here.
    n = len(cut)
    assert [p1["loans_outstanding"], p2["loans_outstanding"], p3["loans_outstanding"]] == [n - 1, n - 2, n - 2]
    rate = dict(zip(cut["loan_id"], cut["rate_bps"].astype(int), strict=True))
    last = tapes[-1]
    live = [(int(p), rate[lid]) for lid, p in zip(cut["loan_id"], cut["principal"], strict=True)
            if lid not in (named["A"], named["B"])]
    assert p3["wa_rate_bps"] == sum(e * r for e, r in live) // sum(e for e, _ in live)
    info = poolread.registry_contract(data).functions.poolInfo(data.pool_id).call()
    assert p3["wa_rate_bps"] == info[9]  # the registry's own view agrees
    assert p3["tape_root"] == "0x" + servicing.commit_tape(last, served.deal.roles["originator"].address).tree.root.hex()
    assert p3["tape_uri"] == "ipfs://servicing-tape/3"


def test_investor_report_matches_the_terms(served, data):
    d = served.deal
    inv = tables.investor_report(data)
    sizes = d.sizes()
    coupons = [t.coupon_bps for t in d.spec.tranches_by_seniority()]
    senior = inv[inv["class"] == data.token_symbols[0]].set_index("period")
    # 30/360 monthly coupon on the beginning balance, rounded down
    assert senior.loc[1, "beginning_balance"] == sizes[0]
    assert senior.loc[1, "interest_due"] == sizes[0] * coupons[0] // 120_000
    for p in (2, 3):
        assert senior.loc[p, "beginning_balance"] == senior.loc[p - 1, "ending_balance"]
        assert senior.loc[p, "interest_due"] == senior.loc[p, "beginning_balance"] * coupons[0] // 120_000
    assert (inv["interest_shortfall"] == 0).all() and (inv["interest_paid"] == inv["interest_due"]).all()
    # excess spread cures every loss: principal paid = pool reduction + recoveries; losses hit equity first
    for period, tape in enumerate(served.tapes, start=1):
        rows = inv[inv["period"] == period]
        reduction = sum(_sum(tape, c) for c in ("scheduled_principal", "prepaid_principal", "defaulted_principal",
                                                 "recoveries"))
        assert rows["principal_paid"].sum() == reduction
        equity = rows[rows["class"] == data.token_symbols[-1]].iloc[0]
        assert equity["write_down"] == _sum(tape, "defaulted_principal")
        assert (rows["principal_deficiency"] == 0).all()
    end = inv[inv["period"] == 3].reset_index(drop=True)
    for i, token in enumerate(d.tokens):
        assert end.loc[i, "ending_balance"] == token.currentPrincipal()
        assert end.loc[i, "factor"] == pytest.approx(token.currentPrincipal() / sizes[i])
    statements = tables.holder_statements(data, tables.token_holders(data))
    for i, token in enumerate(d.tokens):
        mine = statements[statements["class"] == data.token_symbols[i]]
        assert mine["balance"].sum() == sizes[i]
        claimable = sum(mine["interest_claimable"]) + sum(mine["principal_claimable"])
        assert token.totalInterestDistributed() + token.totalPrincipalDistributed() - claimable <= len(mine)


def test_each_closed_periods_investor_report_is_attached_by_its_hash(served, admin, stranger, tmp_path):
    from chainabs.chain import documents as documentlib
    from chainabs.chain.contracts import role_id

    tokens = served.deal.tokens
    reader = read_deal(served.url, served.deal.spv.address)
    with pytest.raises(documentlib.DocumentError, match="does not hold DOCUMENT_ROLE"):
        documentlib.attach_period_report(reader, 2, tokens, sender=stranger, out_dir=tmp_path)
    for token in tokens:  # the deployment grants the arranger DOCUMENT_ROLE; this sandbox deal has no documents
        transact(token.grantRole, role_id("DOCUMENT_ROLE"), admin, sender=admin)
    with pytest.raises(documentlib.DocumentError, match="period 4 is not closed yet"):
        documentlib.attach_period_report(reader, 4, tokens, sender=admin, out_dir=tmp_path)
    path, digest, receipts = documentlib.attach_period_report(reader, 2, tokens, sender=admin, out_dir=tmp_path,
                                                              base_uri="https://reports.example/clt/")
    assert len(receipts) == len(tokens) and path.name == "investor-report-2.csv"
    rows = pd.read_csv(path)
    assert set(rows["period"]) == {2} and list(rows["class"]) == reader.token_symbols
    # anyone rebuilds the same bytes from chain data alone, and finds them on every tranche
    again = read_deal(served.url, served.deal.spv.address)
    assert documentlib.period_report(again, 2) == path.read_bytes()
    attached = documentlib.read_documents(again.w3, again.tokens)
    assert set(attached["hash"]) == {digest} and set(attached["uri"]) == {"https://reports.example/clt/investor-report-2.csv"}
    assert documentlib.check_documents(attached, tmp_path)["local"].eq("match").all()
    listed = reports.documents_table(again)  # the reports list them with their hashes
    assert set(listed["name"]) == {"investor-report-2"} and set(listed["hash"]) == {digest}
    _, _, none = documentlib.attach_period_report(again, 2, tokens, sender=admin, out_dir=tmp_path,
                                                  base_uri="https://reports.example/clt/")
    assert none == []  # already attached: nothing sent


def test_triggers_currency_and_conservation(served, data):
    cut, named = served.cutoff, served.named
    original = _sum(cut, "principal")
    trig = tables.trigger_report(data)
    cnl = trig[trig["test"] == "cumulative net loss"].set_index("period")
    b = balance_at_cutoff(cut, named["B"])
    assert cnl.loc[1, "value_bps"] == b * 10_000 // original
    assert cnl.loc[1, "threshold_bps"] == 400 and not cnl["breached"].any()
    moves = tables.currency_movements(data)
    from_servicer = moves[(moves["direction"] == "in") & (moves["counterparty"] == served.deal.roles["servicer"].address)]
    collected = sum(_sum(t, c) for t in served.tapes for c in ("interest_collected", "scheduled_principal",
                                                              "prepaid_principal", "recoveries"))
    assert from_servicer["amount"].sum() == collected
    net = moves.loc[moves["direction"] == "in", "amount"].sum() - moves.loc[moves["direction"] == "out", "amount"].sum()
    assert net == served.deal.currency.balanceOf(served.deal.spv)
    assert tables.conservation(data)["balanced"] == 1


def test_stratification_and_concentration(served, data):
    cut = served.cutoff
    original = _sum(cut, "principal")
    # By the registry's principal: performing loans at the balance of their last status change (here the
    # cut-off), D's claim at its default; A prepaid and B's recovery closed.
    n = served.named
    now = original - balance_at_cutoff(cut, n["A"]) - balance_at_cutoff(cut, n["B"])
    strata = poolread.stratification(data)
    assert set(strata) == {"rate", "original_term", "remaining_term_at_cutoff", "region", "industry", "size"}
    for name, table in strata.items():
        assert table["cutoff_principal"].sum() == original, name
        assert table["principal"].sum() == now, name
        assert table["cutoff_loans"].sum() == len(cut), name
    band = strata["rate"].set_index("bucket").loc["1200-1499 bps"]
    mask = (cut["rate_bps"] >= 1200) & (cut["rate_bps"] < 1500)
    assert band["cutoff_loans"] == int(mask.sum())
    assert band["cutoff_principal"] == sum(int(x) for x in cut.loc[mask, "principal"])
    region = strata["region"].set_index("bucket")
    by_region = cut.groupby("region")["principal"].sum()
    assert {int(k): int(v) for k, v in region["cutoff_principal"].items()} == {int(k): int(v) for k, v in by_region.items()}
    conc = poolread.concentration_report(data).set_index("kind")
    top = by_region.idxmax()
    assert conc.loc["region", "cutoff_bps"] == int(by_region.max()) * 10_000 // original
    assert int(conc.loc["region", "bucket"]) == int(top)
    limits = data.w3.eth.contract(address=data.registry, abi=load_abi("AssetRegistry")).functions.poolCriteria(data.pool_id).call()
    assert conc.loc["region", "limit_bps"] == 2000 == limits[8]
    assert conc.loc["obligor", "limit_bps"] == 50
    assert not conc["breached_at_cutoff"].any()  # the registry refused to seal a pool over its limits


def test_regulator_report_lists_status_changes_roles_pauses_and_forced_transfers(served, admin, trustee, investors):
    d = served.deal
    token = d.tokens[0]
    for role in ("CONTROLLER_ROLE", "PAUSER_ROLE"):
        transact(token.grantRole, web3.keccak(text=role), trustee, sender=admin)
    transact(token.controllerTransfer, investors[0], investors[5], 1_000, b"", b"court order 42", sender=trustee)
    transact(token.pause, sender=trustee)
    transact(token.unpause, sender=trustee)
    data = read_deal(served.url, d.spv.address)
    changes = poolread.asset_status_changes(data)
    got = [(r["loan_id"], r["from"], r["to"]) for _, r in changes.iterrows()]
    n = served.named
    assert got == [(n["A"], "Performing", "Prepaid"), (n["B"], "Performing", "Defaulted"),
                   (n["D"], "Performing", "Delinquent30"), (n["D"], "Delinquent30", "Delinquent60"),
                   (n["B"], "Defaulted", "ChargedOff"),  # the disposal agent's step, after the servicer's batch
                   (n["D"], "Delinquent60", "Defaulted")]
    events = tables.regulator_events(data)
    alerts = events[events["kind"] == "alert"]
    assert list(alerts["event"]).count("AssetStatusChanged") == 4  # B defaulted, D late, later, defaulted
    privileged = events[events["kind"] == "privileged"]
    tok = privileged[privileged["address"] == token.address]
    assert ["RoleGranted", "RoleGranted", "ControllerTransfer", "TransfersPaused", "TransfersUnpaused"] == \
        [e for e in tok["event"] if e in ("RoleGranted", "ControllerTransfer", "TransfersPaused", "TransfersUnpaused")][-5:]
    forced = tok[tok["event"] == "ControllerTransfer"].iloc[0]["args"]
    assert forced["from"] == investors[0].address and forced["to"] == investors[5].address and forced["value"] == 1_000
    assert list(privileged.loc[privileged["event"] == "ReportSubmitted", "event"]).count("ReportSubmitted") == 3
    assert "DealClosed" in set(privileged["event"]) and "PoolSealed" in set(privileged["event"])
    assert (events["event"] == "AssetStatusChanged").sum() == 6  # principal-only servicing updates left out
    # the regulator report lists the rule alerts by rule: the forced transfer, the pause, loan B's recovery
    alerts = reports.rule_alerts(data)
    by_rule = reports.alerts_by_rule(alerts).set_index("rule")
    assert list(by_rule.index) == list(__import__("chainabs.model.rules", fromlist=["RULES"]).RULES)
    assert [by_rule.loc[r, "alerts"] for r in ("forced_transfer", "pause", "recovery_recorded", "challenge_proven")] \
        == [1, 2, 1, 0]
    forced = alerts[alerts["rule"] == "forced_transfer"].iloc[0]
    assert forced["figures"]["value"] == "0.001" and forced["severity"] == "high"
    assert list(alerts["rule"]) == sorted(alerts["rule"], key=list(by_rule.index).index)


def test_honest_tapes_verify_and_tampered_ones_are_caught_per_loan(served, data):
    for period, tape in enumerate(served.tapes, start=1):
        bad = verify.verify_servicing_tape(data, data.spv_address, period, tape)
        assert bad.empty, bad.to_string()
    tape = served.tapes[1].copy()
    victim = tape.index[(tape["interest_collected"] > 0)][10]
    lid = tape.loc[victim, "loan_id"]
    tape.loc[victim, "interest_collected"] += 7
    bad = verify.verify_servicing_tape(data, data.spv_address, 2, tape)
    # A performing loan's flows are in the committed tree only (the registry holds its balance as of its last
    # status change): the commitment and the aggregate disagree.
    assert set(bad["check"]) == {"commitment", "aggregate"} and set(bad["field"]) == {"root", "sums",
                                                                                    "interest_collections"}
    agg = bad[bad["scope"] == "aggregate"].iloc[0]
    assert agg["tape"] - agg["chain"] == 7
    # A late loan's balance is in the registry too: an understated one is named, loan by loan.
    tape = served.tapes[1].copy()
    lid = served.named["D"]
    victim = tape.index[tape["loan_id"] == lid][0]
    tape.loc[victim, "scheduled_principal"] += 500
    tape.loc[victim, "ending_principal"] -= 500
    bad = verify.verify_servicing_tape(data, data.spv_address, 2, tape)
    loans = bad[bad["scope"] == "loan"]
    assert set(loans["loan_id"]) == {lid}
    registry = loans[loans["check"] == "registry"].iloc[0]
    assert registry["field"] == "ending_principal" and registry["chain"] - registry["tape"] == 500
    assert {"scheduled_principal", "pool_ending_balance", "delinquent_60"} <= set(
        bad.loc[bad["scope"] == "aggregate", "field"])
    # a loan dropped, and a tape of the wrong period
    short = served.tapes[0].drop(index=5)
    bad = verify.verify_servicing_tape(data, data.spv_address, 1, short)
    assert ("membership", served.tapes[0].loc[5, "loan_id"]) in set(zip(bad["check"], bad["loan_id"]))
    bad = verify.verify_servicing_tape(data, data.spv_address, 3, served.tapes[1])
    assert "period" in set(bad.loc[bad["check"] == "format", "field"])
    assert "commitment" in set(bad["check"])  # the format error does not hide the other checks


def test_a_format_error_does_not_hide_the_other_checks_and_lines_fit_80_columns(served, data, tmp_path):
    import io

    from rich.console import Console

    import importlib.util

    loader = importlib.util.spec_from_file_location("verify_tape_script", ROOT / "scripts" / "verify_tape.py")
    script = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(script)
    tape = served.tapes[1].copy().astype({"interest_collected": object})
    lid = served.named["D"]
    victim = tape.index[tape["loan_id"] == lid][0]
    broken = tape.index[tape["loan_id"] != lid][0]
    tape.loc[broken, "interest_collected"] = "12x"  # an unreadable row
    tape.loc[victim, "scheduled_principal"] += 500
    tape.loc[victim, "ending_principal"] -= 500
    path = tmp_path / "p2.csv"
    tape.to_csv(path, index=False)
    out = io.StringIO()
    bad = verify.verify_file(data, data.spv_address, 2, path, console=Console(file=out, width=80))
    fmt = bad[bad["check"] == "format"]
    assert list(fmt["loan_id"]) == [tape.loc[broken, "loan_id"]] and list(fmt["field"]) == ["interest_collected"]
    assert "not checked" in bad.loc[bad["check"] == "commitment", "message"].iloc[0]
    registry = bad[(bad["check"] == "registry") & (bad["loan_id"] == lid)]  # the other loan is still checked
    assert list(registry["field"]) == ["ending_principal"]
    assert tape.loc[broken, "loan_id"] not in set(bad.loc[bad["check"] == "membership", "loan_id"])
    text = out.getvalue()  # what the terminal shows: short lines, no table cut at 80 columns
    assert all(len(line) <= 80 for line in text.splitlines())
    assert lid in text and "tape 12x" not in text and "interest_collected" in text
    # the brownie entry point ends with the command's exit status: 1 on a mismatch (brownie passes it on)
    with pytest.raises(SystemExit) as ended:
        script.main(data.spv_address, "2", str(path))
    assert ended.value.code == 1


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_a_fresh_process_rebuilds_the_reports_from_url_and_address(served, data, tmp_path):
    out = tmp_path / "fresh"
    proc = _run(["-m", "chainabs", "report", data.spv_address, "--rpc", served.url, "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    here = tmp_path / "here"
    reports.write_reports(data, here)
    for name in ("investor_report", "pool_performance", "triggers", "stratification", "concentration",
                 "asset_status_changes", "currency_movements", "regulator_events", "holder_statements",
                 "regulator_alerts", "regulator_alerts_by_rule"):
        assert (out / f"{name}.csv").read_text() == (here / f"{name}.csv").read_text(), name
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "Stratification" in page
    # the verification CLI, from a file, in a fresh process: a forged tape fails, naming the loan
    tape = served.tapes[0]
    forged = tape.copy()
    forged.loc[0, "recoveries"] = 1
    servicing.write_servicing_tape(forged, tmp_path / "p1-forged.csv")
    bad = _run(["-m", "chainabs", "verify-tape", data.spv_address, "1", str(tmp_path / "p1-forged.csv"), "--rpc",
                served.url, "--out", str(tmp_path / "mismatches.csv")])
    assert bad.returncode == 1
    mismatches = pd.read_csv(tmp_path / "mismatches.csv")
    # recoveries on a loan that never defaulted: refused by the tape's own rules, naming the loan and the rule;
    # the other checks still run (the forged recoveries are not what the servicer committed)
    rules = mismatches[mismatches["check"] == "format"]
    assert set(rules["loan_id"]) == {tape.loc[0, "loan_id"]}
    assert "recovery_without_default" in rules["message"].iloc[0]
    assert "commitment" in set(mismatches["check"])


def _own_model(deal):
    """The served deal with a copy of its model this test may advance (the chain is reverted after each test)."""
    import copy
    import dataclasses

    return dataclasses.replace(deal, model=copy.deepcopy(deal.model))


def _spawn_monitor(url: str, spv: str, state: Path) -> subprocess.Popen:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.Popen([sys.executable, "-m", "chainabs", "monitor", spv, "--rpc", url, "--state", str(state),
                             "--interval", "0.05", "--quiet"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _wait(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _caught_up(state: Path) -> bool:
    path = state / "checkpoint.json"
    return path.exists() and __import__("json").loads(path.read_text())["last_block"] >= web3.eth.block_number


def _lines(state: Path) -> list[dict]:
    path = state / "events.jsonl"
    return read_jsonl(path) if path.exists() else []


def test_monitor_of_the_deal_killed_and_restarted_has_no_gap_and_no_duplicate(served, admin, trustee, investors,
                                                                            stranger, tmp_path):
    d, cut = _own_model(served.deal), served.cutoff
    spv = d.spv.address
    state = tmp_path / "monitor"
    late = tuple(sorted(cut["loan_id"])[10:12])
    proc = _spawn_monitor(served.url, spv, state)
    try:
        assert _wait(lambda: _caught_up(state)), proc.stderr.read1().decode() if proc.poll() is not None else "slow"
        period4 = amortising_tape(served.tapes[-1], cut, late=late)
        run_period(d, served.tapes[-1], period4, stranger)
        assert _wait(lambda: any(r["event"] == "ReportSubmitted" and r["args"]["period"] == 4 for r in _lines(state)))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # while the monitor is down: a pause, a forced transfer, another period with loans falling further behind
    transact(d.tokens[1].grantRole, web3.keccak(text="PAUSER_ROLE"), trustee, sender=admin)
    transact(d.tokens[1].pause, sender=trustee)
    transact(d.tokens[1].unpause, sender=trustee)
    period5 = amortising_tape(period4, cut, late=late)
    run_period(d, period4, period5, stranger)
    proc = _spawn_monitor(served.url, spv, state)
    try:
        assert _wait(lambda: _caught_up(state))
    finally:
        proc.terminate()
        proc.wait()
    records = _lines(state)
    keys = [(r["block"], r["tx"], r["log_index"]) for r in records]
    assert len(keys) == len(set(keys)), "an event was written twice"
    watch, start, classifier = deal_watch(served.url, spv)
    decoder = EventDecoder(web3, {a: (n, load_abi(n)) for a, n in watch.items()})
    expected = [e for e in read_events(web3, decoder, start) if classifier(e)]
    assert sorted(keys) == sorted(e.key for e in expected), "an event was lost"
    lates = [r for r in records if r["event"] == "AssetStatusChanged" and r["kind"] == "alert"
             and r["args"]["to"] in (2, 3)]
    assert len(lates) >= 4  # both late loans, 30 then 60 days
    assert {"TransfersPaused", "TransfersUnpaused", "RoleGranted"} <= {r["event"] for r in records}
    assert [r["args"]["period"] for r in records if r["event"] == "ReportSubmitted"] == [1, 2, 3, 4, 5]


def _alerts(state: Path) -> list[dict]:
    path = state / "alerts.jsonl"
    return read_jsonl(path) if path.exists() else []


def _spawn_rules_monitor(url: str, spv: str, state: Path, rules: Path) -> subprocess.Popen:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.Popen([sys.executable, "-m", "chainabs", "monitor", spv, "--rpc", url, "--state", str(state),
                             "--interval", "0.05", "--quiet", "--rules", str(rules)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_every_rule_alerts_once_across_a_kill_and_restart_of_the_monitor(served, admin, trustee, investors,
                                                                         stranger, tmp_path):
    """Each regulator rule fires on the deal, once: a prepayment pushes a region over its (configured) limit, a
    cohort of loans falls behind (deterioration, early warning of the 60+ trigger), two reports are refused (the
    registry disagrees; a stranger), and while the monitor is down: roles, a pause, a forced transfer, senior units
    to a related party, a false report proven at the court. The alerts equal a one-shot evaluation of the chain."""
    from chainabs.apps.monitor import Monitor
    from chainabs.chain import court as courtlib
    from chainabs.chain import servicing as servicer_side
    from chainabs.chain.rulefigures import DealRules, _after
    from chainabs.chain.sender import TxError
    from chainabs.model import rules as rl

    d, cut = _own_model(served.deal), served.cutoff
    spv, servicer = d.spv.address, d.roles["servicer"]
    ids = sorted(cut["loan_id"])
    late = tuple(ids[20:50])
    prepaid = ids[60]
    # The region limit is set so that the prepayment of one loan of another region lifts the largest region over it.
    probe = DealRules(web3, spv)
    exposures = probe.exposures(_after(web3.eth.block_number))
    # the replayed registry state is the registry's: its region sums (which also hold defaulted claims)
    state = probe._state(_after(web3.eth.block_number))
    codes, sums = d.registry.concentration(probe.d.pool_id, 0)
    replayed = state.groupby("region")["principal"].sum()
    assert {int(c): int(v) for c, v in zip(codes, sums, strict=True) if v} == \
        {int(r): int(v) for r, v in replayed.items() if v}
    region_of = dict(zip(cut["loan_id"], cut["region"].astype(int), strict=True))
    others = {r: p for r, p in exposures.by_kind["region"].items() if r != region_of[prepaid]}
    region = max(others, key=others.get)
    limit = others[region] * 10_000 // exposures.total
    related = investors[6]
    config = {"region_limit_bps": limit, "related_parties": [related.address], "large_transfer": 5_000}
    rules_file = tmp_path / "monitor.yaml"
    rules_file.write_text(__import__("yaml").safe_dump(config))
    state = tmp_path / "monitor"
    proc = _spawn_rules_monitor(served.url, spv, state, rules_file)
    try:
        tape4 = amortising_tape(served.tapes[-1], cut, late=late)
        row = tape4.index[tape4["loan_id"] == prepaid][0]
        tape4.loc[row, ["status", "scheduled_principal", "prepaid_principal", "ending_principal"]] = [
            "Prepaid", 0, tape4.at[row, "beginning_principal"], 0]
        run_period(d, served.tapes[-1], tape4, stranger)
        # Period 5 reported without the late loans' registry updates: refused, the registry's 30-day bucket named.
        tape5 = amortising_tape(tape4, cut)
        committed = servicing.commit_tape(tape5, d.roles["originator"].address, 5)
        for who in (servicer, stranger):
            with pytest.raises(TxError, match="reverted"):
                transact(d.spv.submitReport, committed.report.as_abi(), committed.commitment, "ipfs://5", sender=who,
                         gas=3_000_000)
        assert _wait(lambda: _caught_up(state)), proc.stderr.read1().decode() if proc.poll() is not None else "slow"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    first_run = {r["id"] for r in _alerts(state)}
    # while the monitor is down
    token = d.tokens[1]
    for role in ("CONTROLLER_ROLE", "PAUSER_ROLE"):
        transact(token.grantRole, web3.keccak(text=role), trustee, sender=admin)
    transact(token.pause, sender=trustee)
    transact(token.unpause, sender=trustee)
    transact(token.controllerTransfer, investors[0], investors[5], 1_000, b"", b"court order 7", sender=trustee)
    transact(d.tokens[0].transfer, related, 5_000 * 10**6, sender=investors[0])
    # a false period 5: a balance moved between two performing loans, proven at the court
    tape5 = amortising_tape(tape4, cut, late=late)
    a, b = (tape5.index[(tape5["status"] == "Performing") & (tape5["loan_id"] == lid)][0] for lid in ids[100:102])
    tape5.loc[a, ["beginning_principal", "ending_principal"]] += 1_000
    tape5.loc[b, ["beginning_principal", "ending_principal"]] -= 1_000
    transact(d.currency.mint, servicer, servicing.period_report(tape5).cash_in, sender=d.roles["arranger"])
    done = servicer_side.service_period(d.spv, tape5, servicer, disposal_agent=d.roles["disposal_agent"])
    previous = servicing.commit_tape(tape4, d.roles["originator"].address, 4)
    fault = next(f for f in courtlib.audit(d.spv, done.committed, previous=previous) if f.kind == "Discontinuity")
    courtlib.prove(d.spv, done.committed, fault, stranger, previous=previous)
    proc = _spawn_rules_monitor(served.url, spv, state, rules_file)
    try:
        assert _wait(lambda: _caught_up(state)), proc.stderr.read1().decode() if proc.poll() is not None else "slow"
    finally:
        proc.terminate()
        proc.wait()
    records = _alerts(state)
    got = [r["id"] for r in records]
    assert len(got) == len(set(got)), "an alert was written twice"
    assert first_run < set(got)
    # Nothing lost: the same alerts as one evaluation of the whole chain.
    oneshot = DealRules(web3, spv, rl.load_rules(rules_file), reader=probe.d)
    head = web3.eth.block_number
    start = deal_watch(served.url, spv)[1]
    expected = oneshot.evaluate(0, head)
    assert sorted(got) == sorted(a.id for a in expected if a.block >= start)
    by_rule: dict[str, list[dict]] = {}
    for r in records:
        by_rule.setdefault(r["rule"], []).append(r)
        assert r["severity"] == rl.RULES[r["rule"]].severity
    # every rule of a deal (green_allocation_overdue needs a green deal's ledger: tests/integration/test_green.py)
    deal_rules = set(rl.RULES) - {"green_allocation_overdue"}
    assert set(by_rule) == deal_rules, deal_rules - set(by_rule)
    (mismatch,) = by_rule["registry_report_mismatch"]
    assert mismatch["figures"]["figure"] == "Delinquent30" and mismatch["figures"]["servicer"] == servicer.address
    (refused,) = by_rule["report_refused"]
    assert refused["figures"]["servicer"] == stranger.address and "AccessControl" in refused["figures"]["error"]
    (proven,) = by_rule["challenge_proven"]
    assert proven["figures"]["period"] == 5 and proven["figures"]["kind"] == "Discontinuity"
    (holding,) = by_rule["related_party_holding"]
    assert holding["figures"]["excess"] == "5,000.00" and holding["id"] not in first_run
    (large,) = by_rule["large_transfer"]
    assert large["figures"]["units"] == "5,000.00" and large["figures"]["to"] == related.address
    (forced,) = by_rule["forced_transfer"]
    assert forced["figures"]["event"] == "ControllerTransfer"
    assert [r["figures"]["event"] for r in by_rule["pause"]] == ["TransfersPaused", "TransfersUnpaused"]
    (warning,) = by_rule["trigger_early_warning"]
    assert warning["figures"]["trigger"] == "delinquency_60_plus" and warning["figures"]["period"] == 4
    assert warning["figures"]["periods_to_breach"] == 1 and warning["id"] in first_run
    (worse,) = by_rule["delinquency_deterioration"]
    assert worse["figures"]["period"] == 4 and worse["figures"]["rise_bps"] > 100
    drift = [r for r in by_rule["concentration_drift"] if r["subject"] == f"region:{region}"]
    assert len(drift) == 1 and drift[0]["figures"]["limit_bps"] == limit
    assert len(by_rule["recovery_recorded"]) == 1  # loan B's recovery, period 2
    # A run that died after writing alerts but before its checkpoint: the same blocks again write nothing.
    checkpoint = state / "checkpoint.json"
    checkpoint.write_text('{"last_block": %d}' % (head - 25))
    decoder = EventDecoder(web3, {})
    again = Monitor(web3, decoder, state, rules=oneshot)
    assert again.poll_once() == [] and [r["id"] for r in _alerts(state)] == got
