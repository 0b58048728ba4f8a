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
from chainabs.chain.deploy import DeploymentError, Manifest
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
        assert token.identityCache()[0]  # the registry keeps its cache of clearances current
    assert sorted(identity.identityListeners()) == sorted(t.address for t in tokens)
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


# ------------------------------------------------------------------------------------------------ documents


def _spec_copy(folder, edit=None):
    """deals/consumer_loan.yaml copied into ``folder`` with its documents copied beside it (relative paths kept),
    ``edit`` applied to the parsed YAML."""
    import shutil

    import yaml

    from chainabs.model.spec import DEALS_DIR

    data = yaml.safe_load((DEALS_DIR / "consumer_loan.yaml").read_text())
    shutil.copytree(DEALS_DIR / "documents" / "consumer_loan", folder / "documents" / "consumer_loan")
    if edit:
        edit(data)
    path = folder / "consumer_loan.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_documents_are_on_every_tranche_and_a_changed_byte_fails_the_check(deployed, tmp_path, capsys):
    import hashlib
    import json
    import shutil

    from chainabs.apps import cli
    from chainabs.chain import documents as documentlib
    from chainabs.model.spec import load_deal

    result, _, _ = deployed
    tokens = [result.addresses[f"class{i}"] for i in range(3)]
    frame = documentlib.read_documents(web3, tokens)
    files = load_deal("consumer_loan").document_files()
    assert len(frame) == 6 and set(frame["name"]) == {"offering_circular", "trust_deed"}
    for row in frame.itertuples():  # the on-chain hash is the file's SHA-256 (what sha256sum prints)
        assert row.hash == "0x" + hashlib.sha256(files[row.name].read_bytes()).hexdigest()
        assert row.uri == f"https://chainabs.example/deals/consumer_loan/{row.name}.md"
    abi = documentlib.load_abi("TrancheToken")
    for address in tokens:  # each attachment emitted DocumentUpdated
        logs = web3.eth.contract(address=address, abi=abi).events.DocumentUpdated.get_logs(from_block=0)
        assert sorted(documentlib.decode_name(log["args"]["name"]) for log in logs) == ["offering_circular",
                                                                                       "trust_deed"]
    copies = tmp_path / "copies"
    copies.mkdir()
    for path in files.values():
        shutil.copy(path, copies / path.name)
    argv = ["documents", "list", "--spv", result.addresses["spv"], "--rpc", web3.provider.endpoint_uri]
    assert cli.main([*argv, "--check", str(copies)]) == 0
    # Copies in two folders (the deal's documents and, say, its reports'): each found in the one holding it.
    other = tmp_path / "other folder"
    other.mkdir()
    (copies / "trust_deed.md").rename(other / "trust_deed.md")
    capsys.readouterr()
    assert cli.main([*argv, "--check", str(copies), "--json"]) == 1  # the trust deed is missing from one folder
    assert {d["name"]: d["local"] for d in json.loads(capsys.readouterr().out)["documents"]}["trust_deed"] == "missing"
    assert cli.main([*argv, "--check", str(copies), "--check", str(other)]) == 0
    (other / "trust_deed.md").rename(copies / "trust_deed.md")
    changed = bytearray((copies / "trust_deed.md").read_bytes())
    changed[100] ^= 0x01  # one byte of the trust deed
    (copies / "trust_deed.md").write_bytes(bytes(changed))
    capsys.readouterr()
    assert cli.main([*argv, "--check", str(copies), "--json"]) == 1
    listed = json.loads(capsys.readouterr().out)
    assert {d["name"]: d["local"] for d in listed["documents"]} == {"offering_circular": "match",
                                                                    "trust_deed": "MISMATCH"}
    assert all(d["tokens"] == "CLT25A, CLT25B, CLT25SUB" for d in listed["documents"])


def test_a_stranger_cannot_set_a_document_and_the_arranger_can_from_the_command_line(deployed, tmp_path, capsys,
                                                                                     monkeypatch):
    import json

    from chainabs.apps import cli
    from chainabs.chain import documents as documentlib
    from chainabs.chain.sender import TxError

    result, _, _ = deployed
    _, _, _, _, tokens = _contracts(result)
    stranger = accounts[9]
    nonce = stranger.nonce
    with pytest.raises(documentlib.DocumentError, match="does not hold DOCUMENT_ROLE on CLT25A"):
        documentlib.set_document(tokens, "trust_deed", "ipfs://forged", "0x" + "00" * 32, sender=stranger)
    assert stranger.nonce == nonce  # refused before sending
    with pytest.raises(TxError, match="AccessControlUnauthorizedAccount"):
        transact(tokens[0].setDocument, documentlib.encode_name("trust_deed"), "ipfs://forged", "0x" + "00" * 32,
                 sender=stranger)
    notice = tmp_path / "notice.txt"
    notice.write_text("Notice to noteholders: the servicer's address changed.\n")
    assert cli.main(["documents", "set", "notice-1", str(notice), "--uri", "ipfs://notice-1", "--spv",
                     result.addresses["spv"]]) == 0
    capsys.readouterr()
    monkeypatch.setenv("CHAINABS_DEPLOYMENTS_DIR", str(tmp_path / "elsewhere"))
    assert cli.main(["documents", "list", "--deal", "consumer_loan", "--rpc", web3.provider.endpoint_uri]) == 2
    assert "no deal 'consumer_loan' deployed on chain 31337" in capsys.readouterr().err
    monkeypatch.setenv("CHAINABS_DEPLOYMENTS_DIR", str(result.manifest_path.parents[1]))  # the deal by its name
    assert cli.main(["documents", "list", "--deal", "consumer_loan", "--rpc", web3.provider.endpoint_uri,
                     "--json"]) == 0
    listed = {d["name"]: d for d in json.loads(capsys.readouterr().out)["documents"]}
    assert set(listed) == {"offering_circular", "trust_deed", "notice-1"}
    assert listed["notice-1"]["hash"] == documentlib.file_hash(notice) and listed["notice-1"]["uri"] == "ipfs://notice-1"
    # the reports list them too (CSV and the HTML page), with their hashes
    out = tmp_path / "reports"
    assert cli.main(["report", result.addresses["spv"], "--rpc", web3.provider.endpoint_uri, "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "notice-1" in page and "trust_deed" in page and listed["notice-1"]["hash"][:10] in page
    assert tokens[0].getDocument(documentlib.encode_name("trust_deed"))[0].startswith("https:")  # untouched


def test_an_edited_spec_is_refused_and_an_edited_document_is_attached_again(deployed, tmp_path):
    import shutil

    from chainabs.chain import documents as documentlib

    result, root, _ = deployed
    copy_root = tmp_path / "manifests"
    shutil.copytree(root, copy_root)

    def cheaper_senior(data):
        data["tranches"][0]["coupon_bps"] = 400

    edited = _spec_copy(tmp_path / "edited", cheaper_senior)
    with pytest.raises(DeploymentError, match="changed since deal 'consumer_loan' was deployed to chain 31337.*new "
                                              "`name:`"):
        deployment.deploy_deal(str(edited), manifest_root=copy_root, out=Console(file=io.StringIO()))
    same = _spec_copy(tmp_path / "same")
    deed = same.parent / "documents" / "consumer_loan" / "trust_deed.md"
    deed.write_text(deed.read_text() + "\n8. **Amendment.** Notices are published as deal documents.\n")
    again = deployment.deploy_deal(str(same), manifest_root=copy_root, out=Console(file=io.StringIO()))
    assert again.addresses == result.addresses
    frame = documentlib.read_documents(web3, [result.addresses[f"class{i}"] for i in range(3)])
    assert set(frame[frame["name"] == "trust_deed"]["hash"]) == {documentlib.file_hash(deed)}


def test_a_stale_manifest_on_a_live_network_is_one_line(tmp_path):
    stale = Manifest.load("consumer_loan", 31337, tmp_path)
    stale.contracts["registry"] = {"contract": "AssetRegistry", "address": "0x" + "23" * 20}
    stale.save()
    with pytest.raises(DeploymentError, match="none of them has code .* the chain was restarted"):
        deployment._refuse_stale_manifest("consumer_loan", 31337, tmp_path)
