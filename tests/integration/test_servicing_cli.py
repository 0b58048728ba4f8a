"""`chainabs service` and `chainabs challenge` on a local deal: the servicer's period from a tape file in one
resumable step (a run killed after some registry updates is finished by the same command, nothing sent twice),
and anyone's audit of the pending report's published tape, with the proof sent to the court on request."""

from __future__ import annotations

import pytest

from chainabs.apps import cli
from chainabs.chain import spv as spvlib
from chainabs.chain.servicing import send_updates
from chainabs.chain.read import pool as poolread
from chainabs.chain.read.deal import read_deal
from chainabs.chain.sender import TxError
from chainabs.dev.sandbox import books, roll_rate_reports, serve_tape
from chainabs.model import servicing as sv
from chainabs.model.assets import asset_id
from chainabs.model.numbers import format_amount
from plugins.spvtests import assert_reconciled, close, fund, sleep_to_payment_date
from plugins.token import assert_error


def _period_tape(d, tmp_path, name="period-001.csv"):
    tape = books(d).next_period(roll_rate_reports(d, months=1)[0])
    return tape, sv.write_servicing_tape(tape, tmp_path / name)


def test_service_is_one_resumable_step(deal, stranger, tmp_path, capsys):
    d = deal
    tape, path = _period_tape(d, tmp_path)
    committed = sv.commit_tape(tape, d.roles["originator"].address, 1)
    updates = sv.registry_updates(books(d).registry, committed)
    assert len(updates) > 4
    fund(d, d.roles["servicer"], committed.report.cash_in)
    # A run killed after its first registry batch: the servicer's first updates are on chain, no report.
    first = [u for u in updates if not u.recovery][:3]
    send_updates(d.registry, first, d.roles["servicer"])
    assert int(d.spv.pendingServicingPeriod()) == 0
    assert cli.main(["service", d.spv.address, str(path)]) == 0
    out = capsys.readouterr().out
    assert f"period 1: {len(updates) - len(first)} registry updates, report submitted" in out
    assert int(d.spv.pendingServicingPeriod()) == 1
    # Again: nothing is sent.
    assert cli.main(["service", d.spv.address, str(path)]) == 0
    assert "period 1: 0 registry updates, report already pending (nothing sent)" in capsys.readouterr().out
    books(d).registry = sv.apply_updates(books(d).registry, updates)
    d.model.submit(committed.report)
    close(d, stranger)
    assert_reconciled(d.spv, d.model, "after a period served by the command")
    # A tape that breaks a rule: one line naming row, field and rule; nothing sent.
    bad = sv.quiet_period(books(d).last, 2)
    bad.loc[0, "ending_principal"] += 1
    assert cli.main(["service", d.spv.address, str(sv.write_servicing_tape(bad, tmp_path / "bad.csv"))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("chainabs service: error: 1 tape issue(s), nothing was sent")
    assert "row 1" in err[1] and "ending_principal: balance_identity" in err[1]
    assert int(d.spv.pendingServicingPeriod()) == 0


def test_a_tape_that_leaves_out_a_live_loan_is_refused_before_anything_is_sent(deal, tmp_path, capsys):
    """Usability review (session 29): a period tape without one of the pool's live loans sent every registry update
    and was then refused at the report (``PoolBalanceMismatch`` in base units), leaving the registry half-updated.
    Now it is refused first, in one line naming the missing loan, and nothing is sent."""
    d = deal
    tape, _ = _period_tape(d, tmp_path)
    left_out = str(tape["loan_id"].iloc[0])
    path = sv.write_servicing_tape(tape.iloc[1:].reset_index(drop=True), tmp_path / "missing.csv")
    servicer = d.roles["servicer"]
    nonce = servicer.nonce
    assert cli.main(["service", d.spv.address, str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    aid = asset_id(d.roles["originator"].address, left_out)
    assert len(err) == 1 and err[0] == (
        f"chainabs service: error: period 1: 1 loan(s) of pool {d.pool_id} with principal outstanding in the registry "
        f"are not on the tape (asset ids 0x{aid:064x}): every live loan of the pool must be on the period's tape; "
        "nothing was sent"), err
    assert servicer.nonce == nonce and int(d.spv.pendingServicingPeriod()) == 0


def test_challenge_finds_and_proves_a_false_tape(deal, stranger, tmp_path, capsys):
    d = deal
    assert cli.main(["challenge", d.spv.address, str(tmp_path / "none.csv")]) == 2
    assert "no report is pending" in capsys.readouterr().err
    tape = sv.quiet_period(books(d).last, 1)
    performing = list(tape.index[tape["status"] == "Performing"][:2])
    tape.loc[performing[0], ["beginning_principal", "ending_principal"]] += 2_500
    tape.loc[performing[1], ["beginning_principal", "ending_principal"]] -= 2_500
    committed = sv.commit_tape(tape, d.roles["originator"].address, 1)
    fund(d, d.roles["servicer"], committed.report.cash_in)
    spvlib.submit_report(d.spv, d.roles["servicer"], committed.report, committed.commitment, "period-001.csv")
    path = sv.write_servicing_tape(tape, tmp_path / "period-001.csv")
    # An honest copy of another tape is not the committed one.
    other = sv.write_servicing_tape(sv.quiet_period(books(d).last, 1), tmp_path / "honest.csv")
    assert cli.main(["challenge", d.spv.address, str(other)]) == 2
    assert "not the one the SPV's report committed" in capsys.readouterr().err
    assert cli.main(["challenge", d.spv.address, str(path)]) == 1
    out = capsys.readouterr().out
    first, second = (str(tape.at[i, "loan_id"]) for i in performing)
    assert f"PrincipalMismatch: loan {first}" in out and f"Discontinuity: loan {second}" in out
    status = cli.main(["challenge", d.spv.address, str(path), "--prove"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "proven: PrincipalMismatch" in out
    sleep_to_payment_date(d, 1)
    assert_error(d.spv.closePeriod, committed.report.as_abi(), sender=stranger, error="ReportDisputed(uint256)",
                 values=(1,))


@pytest.mark.parametrize("command", ["service", "challenge"])
def test_scripts_words_reach_the_command(command):
    assert cli.brownie_script_args(["prove", "tape-uri=ipfs://x"]) == ["--prove", "--tape-uri=ipfs://x"]


def _recoveries_on_chain(d) -> int:
    return int(d.registry.servicingFigures(d.pool_id)["flows"]["recoveries"])


def test_a_rerun_of_service_with_a_corrected_tape_does_not_record_a_recovery_twice(deal, tmp_path, capsys):
    """`chainabs service` promises: a re-run after a failure sends only what is missing. It recognises a recovery
    already on chain only by its evidence, the loan's leaf hash in *this* tape (`recorded_recoveries`), and the
    leaf hash includes the leaf's index. The servicer's first run leaves one loan out by mistake: the registry
    updates go through (a defaulted loan's recovery R among them), the report is refused (LoanCount). The
    servicer adds the loan and runs again: every leaf after it moves one index, so the recovery is not
    recognised and is recorded a second time. The registry's cumulative recoveries can never go down, so the
    true report is refused for ever (RecoveriesOnChain): the period cannot close unless the servicer reports and
    pays R of recoveries that never came."""
    d = deal
    originator = d.roles["originator"].address
    tape = sv.quiet_period(books(d).last, 1)
    ids = [asset_id(originator, str(lid)) for lid in tape["loan_id"]]
    order = sorted(range(len(tape)), key=ids.__getitem__)
    omitted = order[0]  # the lowest asset id: every leaf after it moves when it is added back
    loan = next(i for i in order[10:] if tape.at[i, "status"] == "Performing")
    begin = int(tape.at[loan, "beginning_principal"])
    recovered = begin // 4
    tape.loc[loan, ["status", "days_delinquent", "defaulted_principal", "ending_principal", "recoveries"]] = [
        "Defaulted", 120, begin, begin - recovered, recovered]
    full = sv.commit_tape(tape, originator, 1)
    fund(d, d.roles["servicer"], full.report.cash_in)
    before = _recoveries_on_chain(d)

    short = tape.drop(index=omitted).reset_index(drop=True)
    first = sv.write_servicing_tape(short, tmp_path / "period-001-first.csv")
    assert cli.main(["service", d.spv.address, str(first)]) != 0  # refused: a live loan is missing
    assert "not on the tape" in capsys.readouterr().err
    assert int(d.spv.pendingServicingPeriod()) == 0
    # Since session 29 the short tape is refused before anything is sent (it used to record the recovery, then
    # fail at the report): the corrected tape's run below must record it exactly once either way.
    assert _recoveries_on_chain(d) - before == 0

    fixed = sv.write_servicing_tape(tape, tmp_path / "period-001.csv")
    status = cli.main(["service", d.spv.address, str(fixed)])
    out, err = capsys.readouterr()
    again = cli.main(["service", d.spv.address, str(fixed)])  # and again: still refused, nothing can undo it
    err += capsys.readouterr()[1]
    # The fault: the corrected tape's run recorded the same recovery again, and the true report is refused.
    assert _recoveries_on_chain(d) - before == recovered, (
        f"recovery recorded twice: registry flows {_recoveries_on_chain(d) - before} for {recovered} recovered; "
        f"service exit {status}, then {again}: {err.strip()[-400:]}")
    assert status == 0 and int(d.spv.pendingServicingPeriod()) == 1, err
    assert spvlib.read_ledger(d.spv).pending_collections == full.report.cash_in


def test_the_same_tape_submitted_again_after_a_cancel_does_not_record_its_recovery_twice(deal):
    """The same fault through the library path a caller that tracks the registry's state uses
    (`service_period(..., state=...)`, as `chainabs.dev.sandbox.serve_tape` documents for "their last one again
    after a cancelled report", and the demo and the REIT app): with `state` given, `recorded` is empty, so a
    loan whose recovery is already on chain (state: same status, same claim) gets its recovery sent again. The
    trustee cancels a true report (say its close could not run); the servicer submits the same tape again: the
    recovery is recorded twice and the report is refused for ever (RecoveriesOnChain)."""
    d = deal
    tape = sv.quiet_period(books(d).last, 1)
    i = tape.index[tape["status"] == "Performing"][5]
    begin = int(tape.at[i, "beginning_principal"])
    tape.loc[i, ["status", "days_delinquent", "defaulted_principal", "ending_principal", "recoveries"]] = [
        "Defaulted", 120, begin, begin - begin // 4, begin // 4]
    before = _recoveries_on_chain(d)
    serve_tape(d, tape)
    spvlib.cancel_report(d.spv, d.roles["trustee"])
    refused = ""
    try:
        serve_tape(d, tape)
    except TxError as e:
        refused = str(e)
    assert _recoveries_on_chain(d) - before == begin // 4 and not refused, (
        f"recovered {format_amount(begin // 4, 6, 'USDC')} once; the registry now holds "
        f"{format_amount(_recoveries_on_chain(d) - before, 6, 'USDC')}; the same true report again: {refused}")


def test_the_pool_report_counts_a_cancelled_report_once(deal, stranger):
    """`chainabs.chain.read.pool.pool_report` (`chainabs reports`' "pool_performance" table, the explorer's
    performance view, the demo's pool table) takes every `ReportSubmitted` event as a period, cancelled
    ones included (`_pool_report`: `for e in d.of("ReportSubmitted")`; `rulefigures.reports` keeps the latest
    per period, this one does not). A report the trustee cancels and the servicer submits again therefore shows
    as two rows of period 1: the second row's beginning balance is the first's ending, and the cumulative
    defaults, net loss and severity count the period twice. Anyone whose report gets cancelled (a servicer
    filing a false report, a close that cannot run) doubles the deal's published losses."""
    from brownie import web3

    d = deal
    tape = sv.quiet_period(books(d).last, 1)
    i = tape.index[tape["status"] == "Performing"][3]
    begin = int(tape.at[i, "beginning_principal"])
    tape.loc[i, ["status", "days_delinquent", "defaulted_principal", "ending_principal"]] = [
        "Defaulted", 120, begin, begin // 2]
    served = serve_tape(d, tape)
    report = served.report
    spvlib.cancel_report(d.spv, d.roles["trustee"])
    serve_tape(d, tape)  # the same true tape, submitted again
    sleep_to_payment_date(d, 1)
    spvlib.close_period(d.spv, stranger, report)
    pool = poolread.pool_report(read_deal(web3.provider.endpoint_uri, d.spv.address))
    money = ["beginning_balance", "defaults", "ending_balance", "cumulative_net_loss"]
    rows = pool[["period", *money]].copy()
    for c in money:
        rows[c] = [format_amount(int(v), 6, "USDC") for v in rows[c]]
    assert list(pool["period"]) == [1] and int(pool["cumulative_net_loss"].iloc[-1]) == report.defaults, (
        f"one period closed with defaults of {format_amount(report.defaults, 6, 'USDC')}; the pool report says:\n"
        f"{rows.to_string(index=False)}")
