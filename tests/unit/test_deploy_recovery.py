"""A run killed between sending a transaction and recording it: the next run adopts what was sent (contract
creations by their predicted address, the pool by its creation nonce) and never sends it twice."""

from __future__ import annotations

import pytest
from brownie import chain, web3

from chainabs.chain import registry as registrylib
from chainabs.chain.deploy import Deployer, DeploymentError, DeployStep, Manifest, deployments_root
from chainabs.chain.deployment import ensure_pool
from chainabs.model.spec import load_deal
from chainabs.model import terms

STEP = DeployStep("coin", "TestStablecoin", ("Test USD", "tUSD", 6))


@pytest.fixture
def proj():
    from brownie import project

    return project.get_loaded_projects()[0]


def _pending(tmp_path, admin, key="coin", contract="TestStablecoin"):
    """What a run leaves when it dies right after recording a creation as pending."""
    m = Manifest.load("d", chain.id, tmp_path)
    nonce = admin.nonce
    m.pending[key] = {"contract": contract, "sender": admin.address, "nonce": nonce,
                      "address": str(admin.get_deployment_address(nonce))}
    m.save()
    return m.pending[key]


def test_creation_sent_but_not_recorded_is_adopted(tmp_path, admin, proj):
    pending = _pending(tmp_path, admin)
    sent = proj.TestStablecoin.deploy("Test USD", "tUSD", 6, {"from": admin, "nonce": pending["nonce"]})
    nonce = admin.nonce
    manifest = Deployer("d", admin, project=proj, manifest_root=tmp_path).run([STEP])
    assert admin.nonce == nonce  # not deployed a second time
    assert manifest.address("coin") == sent.address == pending["address"]
    assert manifest.contracts["coin"]["recovered"] and manifest.pending == {}
    assert Manifest.load("d", chain.id, tmp_path).pending == {}


def test_creation_recorded_but_never_sent_is_sent_once(tmp_path, admin, proj):
    pending = _pending(tmp_path, admin)
    nonce = admin.nonce
    manifest = Deployer("d", admin, project=proj, manifest_root=tmp_path).run([STEP])
    assert admin.nonce == nonce + 1
    assert manifest.address("coin") == pending["address"]  # sent with the recorded nonce
    assert "recovered" not in manifest.contracts["coin"] and manifest.pending == {}


def test_other_code_at_the_predicted_address_is_refused(tmp_path, admin, proj):
    pending = _pending(tmp_path, admin)
    proj.IdentityRegistry.deploy(admin, {"from": admin, "nonce": pending["nonce"]})
    with pytest.raises(DeploymentError, match="not a TestStablecoin"):
        Deployer("d", admin, project=proj, manifest_root=tmp_path).run([STEP])


def test_interrupted_pool_creation_is_found_not_repeated(tmp_path, admin, proj):
    spec = load_deal("consumer_loan")
    criteria = terms.criteria_from_spec(spec)
    registry = registrylib.deploy_registry(admin, originators=(admin,))
    d = Deployer("d", admin, project=proj, manifest_root=tmp_path)
    registrylib.create_pool(registry, admin, criteria)  # someone's earlier pool: not ours
    nonce = admin.nonce
    d.manifest.meta["pool_request"] = {"sender": admin.address, "nonce": nonce, "from_block": web3.eth.block_number}
    d.manifest.save()
    registry.createPool(criteria.to_chain(), {"from": admin, "nonce": nonce})  # sent, then the run died
    assert ensure_pool(d, registry, admin, criteria) == 2
    assert admin.nonce == nonce + 1 and registry.poolCount() == 2
    again = Deployer("d", admin, project=proj, manifest_root=tmp_path)
    assert again.manifest.meta["pool_id"] == 2 and "pool_request" not in again.manifest.meta
    assert ensure_pool(again, registry, admin, criteria) == 2 and registry.poolCount() == 2


def test_pool_request_never_mined_creates_the_pool_once(tmp_path, admin, proj):
    criteria = terms.criteria_from_spec(load_deal("consumer_loan"))
    registry = registrylib.deploy_registry(admin, originators=(admin,))
    d = Deployer("d", admin, project=proj, manifest_root=tmp_path)
    d.manifest.meta["pool_request"] = {"sender": admin.address, "nonce": admin.nonce,
                                       "from_block": web3.eth.block_number}
    assert ensure_pool(d, registry, admin, criteria) == 1
    assert registry.poolCount() == 1 and d.manifest.meta["pool_tx"]


def test_manifest_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINABS_DEPLOYMENTS_DIR", str(tmp_path / "elsewhere"))
    assert deployments_root() == tmp_path / "elsewhere"
    assert Manifest.load("x", 5).path == tmp_path / "elsewhere" / "5" / "x.json"
    monkeypatch.setenv("CHAINABS_DEPLOYMENTS_DIR", " ")
    assert deployments_root().name == "deployments"
