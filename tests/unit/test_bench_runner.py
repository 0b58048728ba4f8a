"""``make bench``'s runner: every chain benchmark starts from the chain as it was, its clock included (one that
lived a deal for years left the next one's deal past its dates, and `make bench` stopped at revolving_purchase)."""

from __future__ import annotations

import json

from chainabs.dev import bench

YEARS = 10 * 365 * 86_400


def test_each_chain_benchmark_starts_from_the_same_chain(chain, web3, tmp_path, monkeypatch):
    seen: list[tuple[int, int]] = []

    def state() -> tuple[int, int]:
        block = web3.eth.get_block("latest")
        return int(block["number"]), int(block["timestamp"])

    def lives_a_deal() -> dict[str, float]:
        seen.append(state())
        chain.sleep(YEARS)
        chain.mine(3)
        return {"test_first": 1}

    def reads_the_clock() -> dict[str, float]:
        seen.append(state())
        return {"test_second": 2}

    monkeypatch.setattr(bench, "_discover", lambda: None)
    monkeypatch.setattr(bench, "REGISTRY", [("t1", lives_a_deal, True), ("t2", reads_the_clock, True)])
    out = tmp_path / "bench.json"
    metrics = bench.run(["t1", "t2"], out=out)
    assert metrics == {"test_first": 1, "test_second": 2}
    assert json.loads(out.read_text())["test_second"] == 2
    (block1, time1), (block2, time2) = seen
    assert block2 == block1 and time2 < time1 + YEARS  # the second saw the chain before the first's years
