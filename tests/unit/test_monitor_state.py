"""The monitor's state folder belongs to one chain and one deal: keyed by chain id and SPV by default, and a
checkpoint of another chain or deal is refused (never resumed at that deal's block)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from brownie import web3

from chainabs.apps import cli
from chainabs.apps import monitor
from chainabs.chain.events import EventDecoder


@pytest.fixture(scope="module")
def registries(admin):
    from brownie import project

    proj = project.get_loaded_projects()[0]
    return [proj.IdentityRegistry.deploy(admin, {"from": admin}).address for _ in range(2)]


def test_default_state_folders_differ_by_chain_and_deal():
    spv_a, spv_b = "0x" + "a1" * 20, "0x" + "b2" * 20
    a = monitor.default_state_dir(31337, spv_a, {})
    assert a == Path("reports/monitor/31337") / web3.to_checksum_address(spv_a)
    assert len({a, monitor.default_state_dir(31337, spv_b, {}), monitor.default_state_dir(11155111, spv_a, {})}) == 3
    watched = monitor.default_state_dir(31337, None, {spv_a: "SPV"})
    assert watched.parent == Path("reports/monitor/31337") and watched.name.startswith("contracts-")


def test_a_checkpoint_of_another_deal_or_chain_is_refused(registries, tmp_path, monkeypatch, capsys):
    url = web3.provider.endpoint_uri
    first, second = registries
    monkeypatch.chdir(tmp_path)  # the default folder is relative to where the command runs
    follower = monitor.follow(url, {first: "IdentityRegistry"}, None, max_polls=1, quiet=True)
    state = follower.state_dir
    assert state == monitor.default_state_dir(web3.eth.chain_id, None, {first: "IdentityRegistry"})
    recorded = json.loads((state / "checkpoint.json").read_text())
    assert recorded["follows"] == {"chain_id": web3.eth.chain_id, "spv": None, "contracts": [first]}
    # the same contracts resume; others pointed at this folder are refused, on one line, before anything is read
    assert monitor.follow(url, {first: "IdentityRegistry"}, state, max_polls=1, quiet=True).last_block >= \
        recorded["last_block"]
    with pytest.raises(monitor.MonitorStateError, match=f"checkpoint of 1 contract\\(s\\) on chain {web3.eth.chain_id}"):
        monitor.follow(url, {second: "IdentityRegistry"}, state, max_polls=1, quiet=True)
    assert cli.main(["monitor", "--watch", f"IdentityRegistry:{second}", "--rpc", url, "--state", str(state),
                     "--max-polls", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "give this deal its own --state folder" in err[0]
    # a checkpoint written before checkpoints recorded what they follow is refused too
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "checkpoint.json").write_text(json.dumps({"last_block": 3}))
    with pytest.raises(monitor.MonitorStateError, match="unknown chain and deal"):
        monitor.Monitor(web3, EventDecoder(web3, {}), legacy,
                        identity=monitor.identity_of(web3.eth.chain_id, None, {first: "IdentityRegistry"}))
