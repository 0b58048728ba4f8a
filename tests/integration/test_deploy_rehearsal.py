"""Rehearsal of a live-network deployment: `chainabs deploy` against a separately started anvil
with Sepolia's chain id (no unlocked account used, raw signed transactions, the manifest), killed half way
and resumed."""

from __future__ import annotations

import time

from plugins.deploy import read_manifest, run_until

from chainabs.chain.abis import decode_deal_params
from chainabs.chain.contracts import role_id

SPEC = "deals/consumer_loan.yaml"
#: The consumer-loan criteria cap one obligor at 0.5% of the pool: a synthetic book needs ~700+ loans.
TAPE = "synthetic:800"
DEPLOYED = ("registry", "TrancheOps", "SPVOffering", "SPVSettlement", "SPVServicing", "court", "identity", "class0",
            "class1", "class2", "spv")  # created by the deployer


def _deploy_cmd(*options: str) -> tuple[str, ...]:
    return ("deploy", SPEC, "--network", "rehearsal", "--tape", TAPE, *options)


def _setup(rehearsal, tmp_path):
    """A stablecoin already on the 'live' network (someone else's) and a fresh funded deployer key."""
    issuer = rehearsal.account()
    currency = rehearsal.deploy(issuer, "TestStablecoin", "Test CNHT", "CNHT", 6)
    deployer = rehearsal.account()
    env = rehearsal.env(DEPLOYER_PRIVATE_KEY=deployer.key.hex(), CURRENCY_ADDRESS=currency.address,
                        CHAINABS_DEPLOYMENTS_DIR=str(tmp_path / "deployments"))
    return deployer, currency, env, tmp_path / "deployments" / "11155111" / "consumer_loan.json"


def test_without_yes_and_without_stdin_nothing_is_sent(rehearsal, tmp_path):
    deployer, _, env, manifest = _setup(rehearsal, tmp_path)
    log = tmp_path / "refused.log"
    proc = rehearsal.chainabs(*_deploy_cmd(), env=env, log=log)
    assert proc.wait(timeout=120) == 2, log.read_text()
    out = log.read_text()
    assert "Send? [y/N]" in out and "cancelled before sending anything" in out
    assert "onboard 741 assets" in out and "spv" in out  # the estimate covers the whole deployment
    assert rehearsal.w3.eth.get_transaction_count(deployer.address) == 0
    data = read_manifest(manifest)
    assert data is None or set(data["contracts"]) <= {"currency"}


def test_killed_half_way_then_resumed_deploys_everything_once(rehearsal, tmp_path):
    w3 = rehearsal.w3
    deployer, currency, env, manifest = _setup(rehearsal, tmp_path)
    first_block = w3.eth.block_number + 1
    started = time.monotonic()

    # 1. Kill the run while a tranche token's creation is in flight (recorded as pending, maybe sent).
    def mid_deal() -> bool:
        data = read_manifest(manifest)
        return bool(data) and ("class1" in data["pending"] or "class1" in data["contracts"])

    killed_log = tmp_path / "killed.log"
    proc = rehearsal.chainabs(*_deploy_cmd("--yes"), env=env, log=killed_log)
    assert run_until(proc, mid_deal, timeout=120), "the run ended before it could be killed:\n" + killed_log.read_text()
    at_kill = read_manifest(manifest)
    assert "spv" not in at_kill["contracts"] and at_kill["meta"]["pool_id"] == 1
    assert {"registry", "identity", "class0"} <= set(at_kill["contracts"])
    killed_at = time.monotonic()

    # 2. The same command again completes.
    log = tmp_path / "resumed.log"
    proc = rehearsal.chainabs(*_deploy_cmd("--yes"), env=env, log=log)
    assert proc.wait(timeout=120) == 0, log.read_text()
    out = log.read_text()
    resumed_at = time.monotonic()
    final = read_manifest(manifest)
    assert final["pending"] == {}
    assert set(final["contracts"]) == {"currency", *DEPLOYED}
    assert final["contracts"]["currency"]["address"] == currency.address and final["contracts"]["currency"]["external"]
    for key, record in at_kill["contracts"].items():  # nothing deployed before the kill was replaced
        assert final["contracts"][key]["address"] == record["address"], key
    for key, record in final["contracts"].items():
        assert len(w3.eth.get_code(record["address"])) > 0, key
    assert "already on chain" in out and "source verification skipped" in out

    # 3. Every transaction of the deployer, from the chain: one creation per contract, one pool, nothing twice.
    sent = [tx for n in range(first_block, w3.eth.block_number + 1)
            for tx in w3.eth.get_block(n, full_transactions=True)["transactions"] if tx["from"] == deployer.address]
    assert [tx["nonce"] for tx in sent] == list(range(len(sent)))
    assert w3.eth.get_transaction_count(deployer.address) == len(sent)
    created = {w3.eth.get_transaction_receipt(tx["hash"])["contractAddress"] for tx in sent if tx["to"] is None}
    assert created == {final["contracts"][k]["address"] for k in DEPLOYED}
    assert sum(tx["to"] is None for tx in sent) == len(DEPLOYED)
    registry = rehearsal.contract("AssetRegistry", final["contracts"]["registry"]["address"])
    create_pool = [tx for tx in sent if tx["to"] == registry.address
                   and registry.decode_function_input(tx["input"])[0].fn_name == "createPool"]
    assert len(create_pool) == 1
    grants = [tx for tx in sent if tx["to"] is not None and tx["to"] != registry.address]
    # kyc agent, each class bound to the SPV, each class made an identity listener, servicer, trustee; DOCUMENT_ROLE
    # on each class, then the spec's two documents (offering circular, trust deed) on each class
    assert len(grants) == 1 + 3 + 3 + 2 + 3 + 2 * 3
    token = rehearsal.contract("TrancheToken", final["contracts"]["class0"]["address"])
    assert len(token.functions.getAllDocuments().call()) == 2
    unlocked = w3.eth.accounts  # anvil's own keys: never used
    assert all(w3.eth.get_transaction_count(a) == 0 for a in unlocked)

    # 4. The deal is usable: offering open, tokens wired to the SPV, the pool sealed and approved to it.
    spv = rehearsal.contract("SPV", final["contracts"]["spv"]["address"])
    assert spv.functions.phase().call() == 0  # Offering
    tokens = [final["contracts"][f"class{i}"]["address"] for i in range(3)]
    assert spv.functions.classTokens().call() == tokens
    for address in tokens:
        token = rehearsal.contract("TrancheToken", address)
        assert token.functions.deal().call() == spv.address
        assert token.functions.identityCache().call()[0]  # a listener of the deal's identity registry
    assert spv.functions.hasRole(role_id("SERVICER_ROLE"), deployer.address).call()
    assert spv.functions.hasRole(role_id("TRUSTEE_ROLE"), deployer.address).call()
    terms = spv.functions.terms().call()
    assert terms[0] == currency.address and terms[1] == registry.address and terms[2] == 1
    info = registry.functions.poolInfo(1).call()
    assert info[3] is True  # sealed
    assert registry.functions.poolApproved(1).call() == spv.address
    pool_balance = decode_deal_params(spv.functions.dealParamsEncoded().call())[1]  # originalPoolBalance = sum of the class sizes
    assert pool_balance == info[7] == final["meta"]["deal_units"]  # sized to the pool's cut-off principal
    print(f"rehearsal: killed after {killed_at - started:.1f} s, resumed run {resumed_at - killed_at:.1f} s, "
          f"{len(sent)} transactions")
