"""``chainabs onboard``: an interrupted run says how to resume and the same command resumes (the registry and pool
recorded under deployments/<chainid>/); a restarted local chain starts over; a tape already registered is refused
before a pool is created, in one line; a bad tape's rows are printed once."""

from __future__ import annotations

import io
import json
import re

import brownie
import pytest
from rich.console import Console

from chainabs.apps import cli
from chainabs.apps import onboard as onboard_app
from chainabs.chain import registry as rc
from chainabs.model import synthetic

TAPE = "synthetic:120"  # the smallest synthetic tape within the default obligor limit
SIZE = 120
PER_BATCH = 40  # assets per registerAndPool: three batches


def quiet() -> Console:
    return Console(file=io.StringIO(), width=160)


@pytest.fixture(autouse=True)
def records(tmp_path, monkeypatch):
    """Onboarding records in a temporary manifest root; small batches."""
    root = tmp_path / "deployments"
    monkeypatch.setenv("CHAINABS_DEPLOYMENTS_DIR", str(root))
    monkeypatch.setattr(rc, "records_per_tx", lambda *_: PER_BATCH)
    return root


class CtrlC:
    """Ctrl-C after the first batch: while ``armed``, the second registerAndPool of a run raises
    KeyboardInterrupt before it is sent."""

    def __init__(self, real):
        self.real, self.armed, self.sent = real, True, 0

    def __call__(self, fn, *args, **kwargs):
        if self.armed and getattr(fn, "abi", {}).get("name") == "registerAndPool":
            if self.sent:
                raise KeyboardInterrupt
            self.sent += 1
        return self.real(fn, *args, **kwargs)


@pytest.fixture
def ctrl_c(monkeypatch):
    patched = CtrlC(rc.transact)
    monkeypatch.setattr(rc, "transact", patched)
    return patched


def _resume_options(out: str) -> tuple[str, int]:
    found = re.search(r"--registry (0x[0-9a-fA-F]{40}) --pool (\d+)", out)
    assert found, out
    return found.group(1), int(found.group(2))


def test_interrupted_run_prints_its_resume_options_and_the_same_command_resumes(
        ctrl_c, capsys, records, admin):
    assert cli.main(["onboard", TAPE]) == 130
    out = capsys.readouterr().out
    assert "chainabs onboard: interrupted" in out
    address, pool_id = _resume_options(out)  # the exact options are printed, and where the run is recorded
    assert f"chainabs onboard {TAPE} --registry {address} --pool {pool_id}" in " ".join(out.split())
    registry = brownie.project.get_loaded_projects()[0].AssetRegistry.at(address)
    assert rc.pool_info(registry, pool_id)["registered"] == PER_BATCH
    (record,) = records.glob(f"{brownie.chain.id}/onboard-synthetic-120-*.json")
    saved = json.loads(record.read_text())
    assert saved["contracts"]["registry"]["address"] == address and saved["meta"]["pool_id"] == pool_id
    ctrl_c.armed = False
    nonce = admin.nonce
    assert cli.main(["onboard", TAPE]) == 0  # the same command
    out = " ".join(capsys.readouterr().out.split())
    assert f"resuming pool {pool_id} of registry {address}" in out
    assert "deployed" not in out and "created pool" not in out
    assert f"pool {pool_id}: {SIZE} assets ({PER_BATCH} already on chain, {SIZE - PER_BATCH} sent in 2 batches" in out
    assert int(registry.poolCount()) == pool_id and rc.pool_info(registry, pool_id)["isSealed"]
    assert admin.nonce == nonce + 3  # two batches and the seal: no registry, no pool
    block = brownie.web3.eth.block_number
    again = onboard_app.run_onboarding(TAPE, console=quiet())  # done: a re-run sends nothing
    assert (again.pool_id, again.skipped, again.registered) == (pool_id, SIZE, 0)
    assert brownie.web3.eth.block_number == block


def test_an_existing_registry_with_a_new_pool_is_recorded_and_resumed(ctrl_c, admin):
    registry = rc.deploy_registry(admin, originators=(admin,))
    console = quiet()
    with pytest.raises(KeyboardInterrupt):
        onboard_app.run_onboarding(TAPE, str(registry.address), console=console)
    assert _resume_options(console.file.getvalue()) == (registry.address, 1)
    ctrl_c.armed = False
    console = quiet()
    result = onboard_app.run_onboarding(TAPE, str(registry.address), console=console)
    assert "resuming pool 1" in console.file.getvalue()
    assert (result.pool_id, result.skipped, result.sealed) == (1, PER_BATCH, True) and registry.poolCount() == 1


def test_a_restarted_local_chain_starts_over_and_says_so(records, admin):
    brownie.chain.snapshot()
    first = onboard_app.run_onboarding(TAPE, console=quiet())
    brownie.chain.revert()  # the chain is back to before the run, as a restarted local chain: the record stays
    console = quiet()
    again = onboard_app.run_onboarding(TAPE, console=console)
    out = " ".join(console.file.getvalue().split())
    assert "the local chain was restarted; starting over" in out and "created pool" in out
    assert (again.skipped, again.registered, again.sealed) == (0, SIZE, True) and again.pool_id == first.pool_id
    assert len(list(records.glob(f"{brownie.chain.id}/onboard-synthetic-120-*.stale-*.json"))) == 1


def test_a_tape_already_registered_is_refused_before_a_new_pool_is_created(records, admin, capsys, monkeypatch):
    first = onboard_app.run_onboarding(TAPE, console=quiet())
    registry = brownie.project.get_loaded_projects()[0].AssetRegistry[-1]
    monkeypatch.setenv("CHAINABS_DEPLOYMENTS_DIR", str(records.parent / "elsewhere"))  # no record of the run
    nonce = admin.nonce
    for _ in range(2):  # every attempt: nothing created
        assert cli.main(["onboard", TAPE, "--registry", registry.address, "--pool", "new"]) == 2
    err = capsys.readouterr().err.strip()
    assert admin.nonce == nonce and int(registry.poolCount()) == first.pool_id == 1
    lines = err.splitlines()
    loans = sorted(synthetic.tape_argument(TAPE)["loan_id"])
    assert len(lines) == 2 and lines[0] == lines[1] and len(lines[0]) < 400
    assert lines[0].startswith(f"chainabs onboard: error: {SIZE} loans of the tape are already registered in pool 1 (")
    assert f"and {SIZE - 3} more)" in lines[0] and sum(loan in lines[0] for loan in loans) == 3
    assert f"--registry {registry.address} --pool 1" in lines[0] and lines[0].endswith("nothing was sent")


def test_a_bad_tape_prints_every_bad_row_once(tmp_path, admin, capsys):
    tape = synthetic.generate_tape(40, kind="consumer_loan", seed=3)
    tape.loc[[4, 7, 9], "rate_bps"] = 99_999  # above the pool's rate cap
    path = tmp_path / "bad.csv"
    tape.to_csv(path, index=False)
    nonce = admin.nonce
    with pytest.raises(ValueError) as refused:  # onboard_app.TapeRefused: every issue printed, carried too
        onboard_app.run_onboarding(str(path), console=quiet())
    issues = [str(issue) for issue in refused.value.issues]
    assert len(issues) >= 3
    assert cli.main(["onboard", str(path)]) == 2
    captured = capsys.readouterr()
    for issue in issues:
        assert (captured.out + captured.err).count(issue) == 1, issue
    assert captured.err.strip() == (f"chainabs onboard: error: {len(issues)} tape issue(s), every one listed above; nothing was "
                                    "sent")
    assert admin.nonce == nonce
