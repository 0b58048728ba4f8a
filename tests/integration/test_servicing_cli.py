"""`chainabs service` and `chainabs challenge` on a local deal: the servicer's period from a tape file in one
resumable step (a run killed after some registry updates is finished by the same command, nothing sent twice),
and anyone's audit of the pending report's published tape, with the proof sent to the court on request."""

from __future__ import annotations

import pytest

from chainabs.apps import cli
from chainabs.chain import spv as spvlib
from chainabs.chain.servicing import send_updates
from chainabs.dev.sandbox import books, roll_rate_reports
from chainabs.model import servicing as sv
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
