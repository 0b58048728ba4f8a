"""Resumable, manifest-backed deployments (chainabs.chain.deploy) on the local chain."""

from __future__ import annotations

import json

import pytest
from brownie import chain, web3

import chainabs.chain.deploy as deploy_mod
from chainabs.chain.deploy import CallStep, DeployStep, Deployer, DeploymentError, Manifest, Ref


def _plan(admin, investors):
    return [
        DeployStep("currency", "TestStablecoin", ("Test USD", "tUSD", 6)),
        DeployStep("currency2", "TestStablecoin", ("Other USD", "oUSD", 6)),
        CallStep(
            "fund-investor",
            "currency",
            "mint",
            (investors[0], 5_000_000),
            done=lambda c, args: c.balanceOf(args[0]) >= args[1],
        ),
    ]


@pytest.fixture
def proj():
    from brownie import project

    return project.get_loaded_projects()[0]


def test_plan_runs_once_and_rerun_resumes_without_resending(tmp_path, admin, investors, proj):
    plan = _plan(admin, investors)
    manifest = Deployer("demo-deal", admin, project=proj, manifest_root=tmp_path).run(plan)
    data = json.loads(manifest.path.read_text())
    assert manifest.path == tmp_path / str(chain.id) / "demo-deal.json"
    assert set(data["contracts"]) == {"currency", "currency2"}
    assert set(data["steps"]) == {"fund-investor"}
    currency = proj.TestStablecoin.at(data["contracts"]["currency"]["address"])
    assert currency.balanceOf(investors[0]) == 5_000_000

    nonce = web3.eth.get_transaction_count(admin.address)
    again = Deployer("demo-deal", admin, project=proj, manifest_root=tmp_path).run(plan)
    assert web3.eth.get_transaction_count(admin.address) == nonce  # nothing sent twice
    assert again.contracts == manifest.contracts


def test_interrupted_run_continues_where_it_stopped(tmp_path, admin, investors, proj):
    plan = _plan(admin, investors)
    Deployer("d", admin, project=proj, manifest_root=tmp_path).run(plan[:1])  # "killed" after step 1
    first = Manifest.load("d", chain.id, tmp_path).address("currency")
    nonce = web3.eth.get_transaction_count(admin.address)
    manifest = Deployer("d", admin, project=proj, manifest_root=tmp_path).run(plan)
    assert manifest.address("currency") == first
    assert web3.eth.get_transaction_count(admin.address) == nonce + 2  # currency2 + mint only


def test_call_step_already_effective_on_chain_is_not_resent(tmp_path, admin, investors, proj):
    plan = _plan(admin, investors)
    d = Deployer("d", admin, project=proj, manifest_root=tmp_path)
    d.run(plan[:2])
    d.at("currency").mint(investors[0], 5_000_000, {"from": admin})  # sent, but the process died before recording
    nonce = web3.eth.get_transaction_count(admin.address)
    Deployer("d", admin, project=proj, manifest_root=tmp_path).run(plan)
    assert web3.eth.get_transaction_count(admin.address) == nonce
    assert d.at("currency").balanceOf(investors[0]) == 5_000_000


def test_refs_resolve_to_earlier_deployments(tmp_path, admin, investors, proj):
    plan = [
        DeployStep("currency", "TestStablecoin", ("Test USD", "tUSD", 6)),
        CallStep("mint-to-self", "currency", "mint", (Ref("currency"), 7)),
    ]
    m = Deployer("refs", admin, project=proj, manifest_root=tmp_path).run(plan)
    c = proj.TestStablecoin.at(m.address("currency"))
    assert c.balanceOf(c.address) == 7


def test_live_network_asks_before_sending_and_sends_nothing_when_declined(tmp_path, admin, investors, proj, monkeypatch):
    monkeypatch.setattr(deploy_mod, "is_local", lambda: False)
    asked = []
    nonce = web3.eth.get_transaction_count(admin.address)
    d = Deployer("live", admin, project=proj, manifest_root=tmp_path, confirm=lambda msg: asked.append(msg) or False)
    with pytest.raises(DeploymentError, match="cancelled"):
        d.run(_plan(admin, investors))
    assert web3.eth.get_transaction_count(admin.address) == nonce
    assert "3 transactions" in asked[0] and "gas" in asked[0]
    rows = d.estimate(_plan(admin, investors))
    assert rows[0][2] is True and rows[0][1] > 500_000  # the first deploy is estimated exactly
    assert rows[2][2] is False  # the mint needs the currency deployed first


def test_manifest_of_another_chain_or_deal_is_refused(tmp_path):
    path = tmp_path / "1" / "x.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"deal": "y", "chain_id": 1}))
    with pytest.raises(DeploymentError, match="manifest is for deal 'y'"):
        Manifest.load("x", 1, tmp_path)


def test_recorded_address_without_code_is_an_error(tmp_path, admin, proj):
    m = Manifest.load("gone", chain.id, tmp_path)
    m.contracts["currency"] = {"contract": "TestStablecoin", "address": "0x" + "11" * 20}
    m.save()
    d = Deployer("gone", admin, project=proj, manifest_root=tmp_path)
    with pytest.raises(DeploymentError, match="no code there"):
        d.run([DeployStep("currency", "TestStablecoin", ("a", "b", 6))])


def test_duplicate_step_keys_are_rejected(tmp_path, admin, proj):
    d = Deployer("dup", admin, project=proj, manifest_root=tmp_path)
    step = DeployStep("currency", "TestStablecoin", ("a", "b", 6))
    with pytest.raises(DeploymentError, match="duplicate step keys"):
        d.run([step, step])
