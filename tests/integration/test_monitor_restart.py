"""The monitor, killed and restarted in the middle of a run, loses and repeats no event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from brownie import web3

from chainabs.chain.sender import transact
from chainabs.chain.abis import load_abi
from chainabs.chain.events import EventDecoder, read_events
from chainabs.apps.monitor import Monitor, read_jsonl
from chainabs.chain.alerts import classify

ROOT = Path(__file__).resolve().parents[2]


def _spawn(url: str, address: str, state: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "chainabs", "monitor", "--rpc", url, "--watch", f"TestStablecoin:{address}",
         "--state", str(state), "--interval", "0.05"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_monitor_killed_and_restarted_has_no_gap_and_no_duplicate(currency, admin, investors, tmp_path):
    url = web3.provider.endpoint_uri
    start = web3.eth.block_number
    state = tmp_path / "monitor"
    proc = _spawn(url, currency.address, state)
    try:
        for i in range(12):
            transact(currency.mint, investors[i % len(investors)], 1_000 + i, sender=admin)
        assert _wait_for(lambda: len(read_jsonl(state / "events.jsonl")) >= 4 if (state / "events.jsonl").exists() else False)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    for i in range(12, 20):  # while the monitor is down
        transact(currency.mint, investors[i % len(investors)], 1_000 + i, sender=admin)
    proc = _spawn(url, currency.address, state)
    try:
        transact(currency.transferOwnership, investors[0], sender=admin)
        assert _wait_for(lambda: len(read_jsonl(state / "events.jsonl")) >= 21, timeout=60)
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait()
    records = read_jsonl(state / "events.jsonl")
    keys = [(r["block"], r["tx"], r["log_index"]) for r in records]
    assert len(keys) == len(set(keys)), "an event was written twice"
    minted = sorted(r["args"]["amount"] for r in records if r["event"] == "Minted")
    assert minted == [1_000 + i for i in range(20)], "an event was lost"
    owners = [r for r in records if r["event"] == "OwnershipTransferred"]  # at deployment, then the transfer
    assert [r["kind"] for r in owners] == ["privileged", "privileged"]
    assert owners[-1]["args"]["newOwner"] == investors[0].address
    # Same set as a one-shot read of the chain.
    decoder = EventDecoder(web3, {currency.address: ("TestStablecoin", load_abi("TestStablecoin"))})
    expected = [e for e in read_events(web3, decoder, start) if classify(e.event)]
    assert sorted(keys) == sorted(e.key for e in expected)


def test_lines_written_after_the_checkpoint_by_a_dead_run_are_not_repeated(currency, admin, investors, tmp_path):
    decoder = EventDecoder(web3, {currency.address: ("TestStablecoin", load_abi("TestStablecoin"))})
    start = web3.eth.block_number + 1
    transact(currency.mint, investors[0], 1, sender=admin)
    m = Monitor(web3, decoder, tmp_path, start_block=start)
    assert len(m.poll_once()) == 1
    transact(currency.mint, investors[0], 2, sender=admin)
    m.poll_once()
    # Simulate a crash after appending but before the checkpoint: roll the checkpoint back one block,
    # and leave a half-written line at the end.
    (tmp_path / "checkpoint.json").write_text('{"last_block": %d}' % (web3.eth.block_number - 1))
    with (tmp_path / "events.jsonl").open("a") as fh:
        fh.write('{"kind": "privileged", "blo')
    again = Monitor(web3, decoder, tmp_path, start_block=start)
    assert again.poll_once() == []
    amounts = [r["args"]["amount"] for r in read_jsonl(tmp_path / "events.jsonl") if r["event"] == "Minted"]
    assert amounts == [1, 2]


def test_block_ranges_respect_the_chunk_size():
    from chainabs.chain.events import block_ranges

    assert list(block_ranges(0, 4, 2)) == [(0, 1), (2, 3), (4, 4)]
    assert list(block_ranges(5, 4, 2)) == []


class _FlakyRules:
    """Rules whose first evaluation fails (the node went away mid-range), then one alert per block."""

    def __init__(self) -> None:
        self.calls = 0

    def evaluate(self, start: int, end: int) -> list:
        from chainabs.model.rules import Alert

        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("node went away")
        return [Alert("large_transfer", b, "test", "a block") for b in range(start, end + 1)]


def test_a_rule_evaluation_that_fails_leaves_nothing_of_its_range_written(currency, admin, investors, tmp_path):
    import pytest

    decoder = EventDecoder(web3, {currency.address: ("TestStablecoin", load_abi("TestStablecoin"))})
    start = web3.eth.block_number + 1
    transact(currency.mint, investors[0], 1, sender=admin)
    transact(currency.mint, investors[0], 2, sender=admin)
    m = Monitor(web3, decoder, tmp_path, start_block=start, rules=_FlakyRules())
    with pytest.raises(ConnectionError):
        m.poll_once()
    assert not (tmp_path / "events.jsonl").exists() and not (tmp_path / "alerts.jsonl").exists()
    assert len(m.poll_once()) == 2  # the retry from the checkpoint writes the range once
    assert [r["args"]["amount"] for r in read_jsonl(tmp_path / "events.jsonl")] == [1, 2]
    assert [r["block"] for r in read_jsonl(tmp_path / "alerts.jsonl")] == [start, start + 1]
    (tmp_path / "checkpoint.json").write_text('{"last_block": %d}' % (start - 1))  # a dead run's checkpoint
    steady = _FlakyRules()
    steady.calls = 1
    again = Monitor(web3, decoder, tmp_path, start_block=start, rules=steady)
    assert again.poll_once() == [] and len(read_jsonl(tmp_path / "alerts.jsonl")) == 2
