"""`deploy_deal` on the local chain: test currency, registry, pool, tape, deal and test investors in one
resumable run; the deal it leaves behind can be subscribed and closed."""

from __future__ import annotations

import io

import pytest
from brownie import accounts, web3
from rich.console import Console

from chainabs.chain.sender import transact
from chainabs.chain import deployment
from chainabs.chain import registry as registrylib
from chainabs.chain import spv as spvlib
from chainabs.chain.deploy import Manifest
from chainabs.model import terms

TAPE = "synthetic:800"
ENV_SETTINGS = ("DEPLOYER_PRIVATE_KEY", "DEPLOYER_ACCOUNT", "CURRENCY_ADDRESS", "REGISTRY_ADDRESS", "POOL_ID",
                "ETHERSCAN_TOKEN", "ORIGINATOR_PRIVATE_KEY", *(f"ROLE_{r.upper()}" for r in deployment.ROLES))


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """The consumer-loan deal deployed by `deploy_deal` with a synthetic tape (no developer settings)."""
    root = tmp_path_factory.mktemp("deployments")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for name in ENV_SETTINGS:
            mp.delenv(name, raising=False)
        result = deployment.deploy_deal("consumer_loan", tape=TAPE, manifest_root=root,
                                        out=Console(file=out, width=160))
    return result, root, out.getvalue()


def _contracts(result):
    from brownie import project

    proj = project.get_loaded_projects()[0]
    a = result.addresses
    return (proj.TestStablecoin.at(a["currency"]), proj.AssetRegistry.at(a["registry"]),
            proj.IdentityRegistry.at(a["identity"]), proj.SPV.at(a["spv"]),
            [proj.TrancheToken.at(a[f"class{i}"]) for i in range(3)])


def test_local_deploy_creates_the_whole_deal(deployed, admin):
    result, root, out = deployed
    currency, registry, identity, spv, tokens = _contracts(result)
    assert set(result.addresses) == {"currency", "registry", "identity", "class0", "class1", "class2", "spv",
                                     "TrancheOps", "SPVOffering", "SPVSettlement", "SPVServicing", "court"}
    assert result.manifest_path == root / "31337" / "consumer_loan.json"
    assert (currency.symbol(), currency.decimals()) == ("CNHT", 6)
    # pool: created by the originator (the deployer), the tape onboarded and sealed, approved to the SPV
    info = registrylib.pool_info(registry, result.pool_id)
    assert info["isSealed"] and info["originator"] == admin.address and info["cutoffCount"] == 741
    assert registry.poolApproved(result.pool_id) == spv.address
    # deal sized to the pool, offering open, wired to the SPV
    assert int(info["cutoffPrincipal"]) == result.deal_units == sum(terms.class_sizes(result.spec))
    assert result.deal_units != result.spec.units(500_000_000)  # the spec's nominal size was replaced
    assert spv.phase() == 0 and list(spv.classTokens()) == [t.address for t in tokens]
    on_chain = spv.terms()
    assert (on_chain[0], on_chain[1], int(on_chain[2])) == (currency.address, registry.address, result.pool_id)
    for token in tokens:  # bound to the SPV: nobody else can issue, distribute or write down
        assert token.deal() == spv.address
    # test investors: KYC-registered, funded with test currency
    assert result.investors == [a.address for a in accounts[10:15]]
    for investor in result.investors:
        assert identity.isEligible(investor) and currency.balanceOf(investor) == result.deal_units
    assert "consumer_loan on chain 31337" in out and result.addresses["spv"] in out


def test_rerun_resumes_and_sends_nothing(deployed, admin):
    result, root, _ = deployed
    nonce = admin.nonce
    again = deployment.deploy_deal("consumer_loan", tape=TAPE, manifest_root=root, out=Console(file=io.StringIO()))
    assert admin.nonce == nonce
    assert again.addresses == result.addresses and again.pool_id == result.pool_id
    assert Manifest.load("consumer_loan", 31337, root).meta["pool_id"] == result.pool_id


def test_deployed_deal_can_be_subscribed_and_closed(deployed, admin):
    result, _, _ = deployed
    currency, registry, _, spv, _ = _contracts(result)
    investors = [accounts.at(a, force=True) for a in result.investors]
    for i, size in enumerate(terms.class_sizes(result.spec)):
        spvlib.subscribe(spv, investors[i], i, size)
    transact(currency.mint, admin, result.spec.units(result.spec.reserve.initial), sender=admin)
    paid_before = currency.balanceOf(admin)
    spvlib.close_deal(spv, admin)
    assert spv.phase() == 1
    assert registry.poolOwner(result.pool_id) == spv.address
    reserve = result.spec.units(result.spec.reserve.initial)
    assert currency.balanceOf(admin) == paid_before - reserve + result.deal_units  # the originator was paid


def test_a_reset_local_chain_gets_a_fresh_manifest(deployed, tmp_path):
    result, root, _ = deployed
    stale = Manifest.load("consumer_loan", 31337, tmp_path)
    stale.contracts["registry"] = {"contract": "AssetRegistry", "address": "0x" + "22" * 20}
    stale.save()
    deployment._retire_stale_local_manifest("consumer_loan", 31337, tmp_path)
    assert not stale.path.exists()
    assert len(list(stale.path.parent.glob("consumer_loan.stale-*.json"))) == 1
    live = Manifest.load("consumer_loan", 31337, root)  # contracts with code: kept
    deployment._retire_stale_local_manifest("consumer_loan", 31337, root)
    assert live.path.exists()
    assert web3.eth.get_code(result.addresses["spv"])
