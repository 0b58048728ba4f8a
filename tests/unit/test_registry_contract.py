"""AssetRegistry unit tests: eligibility rules, registration, sealing, pool ownership, servicing, ERC-721."""

from __future__ import annotations

import brownie
import pytest
from plugins.registry import CUTOFF, relaxed_criteria, reverts_with

from eth_abi import encode as abi_encode
from web3 import Web3

from chainabs.chain import registry as rc
from chainabs.model import tape as tp
from chainabs.model.merkle import MerkleTree
from chainabs.model import assets

# The pool used by most tests is built before any test can leave state behind (brownie reverts at the
# start of each test, after module fixtures are set up).
pytestmark = pytest.mark.usefixtures("sealed_pool")

DAY = 86_400
ST = assets.STATUS_CODE


def packed(tape, i, **changes):
    """PackedRecord of row ``i`` with AssetRecord fields replaced by ``changes``."""
    rec = dict(zip(assets.TAPE_COLUMNS, tp.to_records(tape.iloc[[i]])[0], strict=True))
    rec.update(changes)
    return assets.pack_record([rec[c] for c in assets.TAPE_COLUMNS])


@pytest.fixture
def open_pool(registry, originator):
    return rc.create_pool(registry, originator, relaxed_criteria())


RULES = [
    ("AssetType", dict(asset_type=1)),
    ("ZeroPrincipal", dict(principal=0)),
    ("PrincipalAboveOriginal", "above"),
    ("PrincipalCap", "cap"),
    ("RateRange", dict(rate_bps=100)),
    ("RateRange", dict(rate_bps=2500)),
    ("Term", dict(term_months=0)),
    ("OriginationAfterCutoff", dict(origination_date=tp.date_to_unix(CUTOFF))),
    ("MaturedAtCutoff", dict(maturity_date=tp.date_to_unix(CUTOFF))),
    ("MaturityAfterLegalFinal", "legal"),
    ("RemainingTerm", "remaining"),
    ("Delinquency", dict(days_delinquent=30)),
]


@pytest.mark.parametrize("rule,change", RULES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(RULES)])
def test_each_eligibility_rule_reverts_the_whole_batch(registry, originator, fresh_tape, open_pool, rule, change):
    c = relaxed_criteria()
    row = tp.to_records(fresh_tape.iloc[[1]])[0]
    if change == "above":
        change = dict(principal=row[2] + 1)
    elif change == "cap":
        change = dict(principal=c.max_principal_per_asset + 1, original_principal=c.max_principal_per_asset + 1)
    elif change == "legal":
        change = dict(maturity_date=tp.date_to_unix(c.legal_final_date) + DAY)
    elif change == "remaining":
        change = dict(maturity_date=tp.date_to_unix(CUTOFF) + (c.max_remaining_term_days + 1) * DAY)
    batch = [packed(fresh_tape, 0), packed(fresh_tape, 1, **change)]
    with reverts_with("IneligibleAsset(uint256,uint8)", 1, rc_rule(rule)):
        registry.registerAndPool(open_pool, batch, {"from": originator})
    assert registry.poolInfo(open_pool)["registered"] == 0


def rc_rule(name):
    names = ["AssetType", "ZeroPrincipal", "PrincipalAboveOriginal", "PrincipalCap", "RateRange", "Term",
             "OriginationAfterCutoff", "MaturedAtCutoff", "MaturityAfterLegalFinal", "RemainingTerm",
             "Delinquency", "ObligorOrder", "Encoding"]
    return names.index(name)


def test_obligor_order_and_encoding_rules(registry, originator, fresh_tape, open_pool):
    with reverts_with("IneligibleAsset(uint256,uint8)", 1, rc_rule("ObligorOrder")):
        registry.registerAndPool(open_pool, [packed(fresh_tape, 1), packed(fresh_tape, 0)], {"from": originator})
    bad = list(packed(fresh_tape, 0))
    bad[1] |= 1 << 240
    with reverts_with("IneligibleAsset(uint256,uint8)", 0, rc_rule("Encoding")):
        registry.registerAndPool(open_pool, [bad], {"from": originator})


def test_same_loan_cannot_be_registered_twice(registry, originator, fresh_tape, open_pool):
    registry.registerAndPool(open_pool, [packed(fresh_tape, 0)], {"from": originator})
    other = rc.create_pool(registry, originator, relaxed_criteria())
    asset = assets.asset_id(originator.address, fresh_tape.loan_id.iloc[0])
    with reverts_with("AssetAlreadyRegistered(uint256,uint256)", 0, asset):
        registry.registerAndPool(other, [packed(fresh_tape, 0), packed(fresh_tape, 1)], {"from": originator})
    dup = packed(fresh_tape, 2)
    with reverts_with("AssetAlreadyRegistered(uint256,uint256)", 1, assets.asset_id(originator.address, fresh_tape.loan_id.iloc[2])):
        registry.registerAndPool(other, [dup, dup], {"from": originator})


def test_registration_events_aggregates_and_ownership(registry, originator, fresh_tape, open_pool):
    part = fresh_tape.iloc[:5]
    tx = registry.registerAndPool(open_pool, tp.pack_records(part), {"from": originator})
    leaves = tp.leaf_hashes(part, originator.address)
    ev = tx.events["AssetsRegistered"]
    assert [bytes(x) for x in ev["leaves"]] == leaves
    assert bytes(ev["leafChain"]) == tp.leaf_chain(leaves)
    # The batch's one event is the certificates' mint: their ids, no per-asset ERC-721 Transfer.
    ids = tp.asset_ids(part, originator.address)
    assert [int(x) for x in ev["assetIds"]] == ids and "Transfer" not in tx.events
    info = registry.poolInfo(open_pool)
    agg = tp.aggregates(part)
    got = [int(info[k]) for k in ("count", "principal", "waRateBps", "waMaturityDate")]
    assert got == [5, agg.principal, agg.wa_rate_bps, agg.wa_maturity_date]
    assert registry.ownerOf(ids[0]) == originator
    a = registry.assetInfo(ids[0])
    assert a["status"] == ST["Performing"] and a["principal"] == int(part.principal.iloc[0]) and a["poolId"] == open_pool


def test_strangers_are_refused_everywhere(registry, originator, issuer, stranger, fresh_tape, open_pool, sealed_pool):
    role = registry.ORIGINATOR_ROLE()
    with reverts_with("AccessControlUnauthorizedAccount(address,bytes32)", stranger.address, role):
        registry.createPool(relaxed_criteria().to_chain(), {"from": stranger})
    with reverts_with("AccessControlUnauthorizedAccount(address,bytes32)", stranger.address, role):
        registry.registerAndPool(open_pool, [packed(fresh_tape, 0)], {"from": stranger})
    with reverts_with("AccessControlUnauthorizedAccount(address,bytes32)", stranger.address, role):
        registry.seal(open_pool, b"\x01" * 32, b"\x00" * 32, {"from": stranger})
    with reverts_with("AccessControlUnauthorizedAccount(address,bytes32)", stranger.address, b"\x00" * 32):
        registry.grantRole(role, stranger, {"from": stranger})
    pool_id, tape = sealed_pool
    with reverts_with("NotPoolOperator(uint256,address)", pool_id, stranger.address):
        registry.transferPool(pool_id, stranger, {"from": stranger})
    with reverts_with("NotPoolOperator(uint256,address)", pool_id, stranger.address):
        registry.approvePool(pool_id, stranger, {"from": stranger})
    asset = assets.asset_id(originator.address, tape.loan_id.iloc[0])
    with reverts_with("NotPoolOperator(uint256,address)", pool_id, stranger.address):
        registry.setPoolServicers(pool_id, stranger, stranger, {"from": stranger})
    registry.transferPool(pool_id, issuer, {"from": originator})
    with reverts_with("NotPoolOperator(uint256,address)", pool_id, stranger.address):
        registry.repurchase(asset, b"\x00" * 32, {"from": stranger})
    with reverts_with("NotPoolServicer(uint256,address)", pool_id, stranger.address):
        registry.updateAssets([(asset, ST["Delinquent30"], 1, b"\x00" * 32, 0)], {"from": stranger})


def test_only_the_pool_originator_adds_and_seals(registry, admin, originator, issuer, fresh_tape, open_pool):
    registry.grantRole(registry.ORIGINATOR_ROLE(), issuer, {"from": admin})
    with reverts_with("NotPoolOriginator(uint256,address)", open_pool, issuer.address):
        registry.registerAndPool(open_pool, [packed(fresh_tape, 0)], {"from": issuer})
    with reverts_with("NotPoolOriginator(uint256,address)", open_pool, issuer.address):
        registry.seal(open_pool, b"\x01" * 32, b"\x00" * 32, {"from": issuer})
    with reverts_with("UnknownPool(uint256)", 99):
        registry.registerAndPool(99, [packed(fresh_tape, 0)], {"from": originator})
    with reverts_with("EmptyBatch(uint256)", open_pool):
        registry.registerAndPool(open_pool, [], {"from": originator})
    with reverts_with("EmptyPool(uint256)", open_pool):
        registry.seal(open_pool, b"\x01" * 32, b"\x00" * 32, {"from": originator})


def test_invalid_criteria(registry, originator):
    cases = [
        (dict(allowed_asset_types=()), 0), (dict(min_rate_bps=900, max_rate_bps=800), 1),
        (dict(legal_final_date=CUTOFF), 2), (dict(max_principal_per_asset=0), 3), (dict(max_obligor_bps=10_001), 4),
    ]
    for change, code in cases:
        with reverts_with("InvalidCriteria(uint8)", code):
            registry.createPool(relaxed_criteria(**change).to_chain(), {"from": originator})


def test_seal_binds_root_to_registered_leaves(registry, originator, fresh_tape, open_pool):
    part = fresh_tape.iloc[:6]
    registry.registerAndPool(open_pool, tp.pack_records(part), {"from": originator})
    chain_hash = tp.leaf_chain(tp.leaf_hashes(part, originator.address))
    wrong = tp.leaf_chain(tp.leaf_hashes(part.iloc[:5], originator.address))
    with reverts_with("LeafChainMismatch(uint256,bytes32,bytes32)", open_pool, chain_hash, wrong):
        registry.seal(open_pool, b"\x01" * 32, wrong, {"from": originator})
    with reverts_with("InvalidRoot(uint256)", open_pool):
        registry.seal(open_pool, b"\x00" * 32, chain_hash, {"from": originator})
    with reverts_with("PoolNotSealed(uint256)", open_pool):
        registry.transferPool(open_pool, originator, {"from": originator})
    tree = tp.tape_tree(part, originator.address)
    tx = registry.seal(open_pool, tree.root, chain_hash, {"from": originator})
    assert tx.events["PoolSealed"]["count"] == 6
    with reverts_with("PoolAlreadySealed(uint256)", open_pool):
        registry.registerAndPool(open_pool, [packed(fresh_tape, 7)], {"from": originator})
    for i in range(6):
        rec = tp.to_records(part.iloc[[i]])[0]
        assert registry.verifyRecord(open_pool, rec, tree.get_proof(i))
        assert registry.verifyRecordHash(open_pool, record_hash(part, originator, i), tree.get_proof(i))
    assert not registry.verifyRecord(open_pool, tp.to_records(fresh_tape.iloc[[7]])[0], tree.get_proof(0))


@pytest.mark.parametrize("kind,field", [(0, "region"), (1, "industry"), (2, "obligor")])
def test_concentration_limits_checked_at_seal(registry, originator, fresh_tape, kind, field):
    part = fresh_tape.iloc[:8]
    sums = part.groupby(field)["principal"].sum()
    total = int(part.principal.sum())
    top_bucket, top = sums.idxmax(), int(sums.max())
    limit = top * 10_000 // total - 1
    pool = rc.create_pool(registry, originator, relaxed_criteria(**{f"max_{field}_bps": limit}))
    registry.registerAndPool(pool, tp.pack_records(part), {"from": originator})
    chain_hash = tp.leaf_chain(tp.leaf_hashes(part, originator.address))
    bucket = bytes.fromhex(top_bucket[2:]) if field == "obligor" else int(top_bucket).to_bytes(32, "big")
    with reverts_with("ConcentrationBreached(uint256,uint8,bytes32,uint256,uint256,uint16)",
                      pool, kind, bucket, top, total, limit):
        registry.seal(pool, b"\x01" * 32, chain_hash, {"from": originator})


def test_true_sale_moves_the_whole_pool_in_one_transaction(registry, originator, trustee, issuer, sealed_pool):
    pool_id, tape = sealed_pool
    ids = tp.asset_ids(tape, originator.address)
    tx = registry.approvePool(pool_id, trustee, {"from": originator})
    assert tx.events["PoolApproved"]["operator"] == trustee
    tx = registry.transferPool(pool_id, issuer, {"from": trustee})
    ev = tx.events["PoolTransferred"]
    assert (ev["poolId"], ev["from"], ev["to"], ev["assetCount"]) == (pool_id, originator, issuer, len(tape))
    assert "Transfer" not in tx.events
    assert registry.poolOwner(pool_id) == issuer and registry.poolApproved(pool_id) == brownie.ZERO_ADDRESS
    assert all(registry.ownerOf(i) == issuer for i in ids[:5])
    assert registry.balanceOf(issuer) == len(tape)
    with reverts_with("NotPoolOperator(uint256,address)", pool_id, trustee.address):
        registry.transferPool(pool_id, trustee, {"from": trustee})
    with reverts_with("InvalidPoolReceiver(uint256,address)", pool_id, brownie.ZERO_ADDRESS):
        registry.transferPool(pool_id, brownie.ZERO_ADDRESS, {"from": issuer})
    registry.transferPool(pool_id, originator, {"from": issuer})  # clean-up call
    assert registry.ownerOf(ids[0]) == originator


def test_pooled_asset_cannot_move_alone(registry, originator, issuer, sealed_pool):
    pool_id, tape = sealed_pool
    asset = assets.asset_id(originator.address, tape.loan_id.iloc[0])
    with reverts_with("AssetInPool(uint256,uint256)", asset, pool_id):
        registry.transferFrom(originator, issuer, asset, {"from": originator})


LEGAL = [("Performing", "Delinquent30"), ("Delinquent30", "Delinquent60"), ("Delinquent60", "Delinquent90"),
         ("Delinquent90", "Performing"), ("Delinquent60", "Delinquent30"), ("Delinquent90", "Defaulted"),
         ("Performing", "Prepaid"), ("Delinquent30", "Repaid"), ("Defaulted", "Defaulted"),
         ("Defaulted", "InRecovery"), ("Defaulted", "Repossessed"), ("Repossessed", "Disposed"),
         ("Defaulted", "ChargedOff")]
ILLEGAL = [("Performing", "Delinquent60"), ("Performing", "Delinquent90"), ("Delinquent30", "Delinquent90"),
           ("Defaulted", "Performing"), ("Prepaid", "Performing"), ("Repaid", "Delinquent30"),
           ("Performing", "Repurchased"), ("Performing", "None"),
           # a disposal, repossession or charge-off only follows a default
           ("Performing", "Disposed"), ("Delinquent90", "Repossessed"), ("Delinquent30", "ChargedOff"),
           ("Performing", "InRecovery"), ("Disposed", "InRecovery"), ("Repossessed", "Defaulted")]
PATH = {"Performing": [], "Delinquent30": ["Delinquent30"], "Delinquent60": ["Delinquent30", "Delinquent60"],
        "Delinquent90": ["Delinquent30", "Delinquent60", "Delinquent90"], "Defaulted": ["Defaulted"],
        "Prepaid": ["Prepaid"], "Repaid": ["Repaid"], "Repossessed": ["Defaulted", "Repossessed"],
        "Disposed": ["Defaulted", "Disposed"]}


def _walk(registry, servicer, asset, statuses):
    for s in statuses:
        principal = 0 if s in ("Prepaid", "Repaid", "Disposed", "ChargedOff") else registry.assetInfo(asset)["principal"]
        registry.updateAssets([(asset, ST[s], principal, b"\x11" * 32, 0)], {"from": servicer})


@pytest.mark.parametrize("frm,to", LEGAL)
def test_legal_transitions(registry, originator, servicer, sold_pool, frm, to):
    pool_id, tape = sold_pool
    asset = assets.asset_id(originator.address, tape.loan_id.iloc[3])
    _walk(registry, servicer, asset, PATH[frm])
    principal = 0 if to in ("Prepaid", "Repaid", "Disposed", "ChargedOff") else registry.assetInfo(asset)["principal"] - 1
    tx = registry.updateAssets([(asset, ST[to], principal, b"\x22" * 32, 0)], {"from": servicer})
    ev = tx.events["AssetStatusChanged"]
    assert (ev["from"], ev["to"], ev["principal"], bytes(ev["evidence"])) == (ST[frm], ST[to], principal, b"\x22" * 32)
    assert registry.assetInfo(asset)["status"] == ST[to]


@pytest.mark.parametrize("frm,to", ILLEGAL)
def test_illegal_transitions(registry, originator, servicer, sold_pool, frm, to):
    pool_id, tape = sold_pool
    asset = assets.asset_id(originator.address, tape.loan_id.iloc[4])
    _walk(registry, servicer, asset, PATH[frm])
    with reverts_with("IllegalTransition(uint256,uint8,uint8)", asset, ST[frm], ST[to]):
        registry.updateAssets([(asset, ST[to], 0, b"\x00" * 32, 0)], {"from": servicer})


def test_principal_rules_and_unknown_assets(registry, originator, servicer, sold_pool, fresh_tape, open_pool):
    pool_id, tape = sold_pool
    asset = assets.asset_id(originator.address, tape.loan_id.iloc[5])
    p = registry.assetInfo(asset)["principal"]
    with reverts_with("PrincipalIncrease(uint256,uint256,uint256)", asset, p, p + 1):
        registry.updateAssets([(asset, ST["Performing"], p + 1, b"\x00" * 32, 0)], {"from": servicer})
    with reverts_with("PrincipalNotZero(uint256,uint8,uint256)", asset, ST["Prepaid"], 1):
        registry.updateAssets([(asset, ST["Prepaid"], 1, b"\x00" * 32, 0)], {"from": servicer})
    with reverts_with("UnknownAsset(uint256)", 12345):
        registry.updateAssets([(12345, ST["Performing"], 0, b"\x00" * 32, 0)], {"from": servicer})
    registry.registerAndPool(open_pool, [packed(fresh_tape, 0)], {"from": originator})
    unsealed = assets.asset_id(originator.address, fresh_tape.loan_id.iloc[0])
    with reverts_with("PoolNotSealed(uint256)", open_pool):
        registry.updateAssets([(unsealed, ST["Delinquent30"], 1, b"\x00" * 32, 0)], {"from": servicer})


def test_servicing_keeps_aggregates_and_tallies(registry, originator, servicer, sold_pool):
    pool_id, tape = sold_pool
    ids = tp.asset_ids(tape, originator.address)
    before = registry.poolInfo(pool_id)
    p0 = int(tape.principal.iloc[0])
    region = int(tape.region.iloc[0])
    performing = [int(x) for x in registry.statusTally(pool_id, ST["Performing"])]  # derived, not stored
    assert tape.days_delinquent.iloc[:2].max() < 30 and performing[0] == int((tape.days_delinquent < 30).sum())
    registry.updateAssets([(ids[0], ST["Delinquent30"], p0 - 1000, b"\x01" * 32, 0),
                           (ids[1], ST["Prepaid"], 0, b"\x02" * 32, 0)], {"from": servicer})
    after = registry.poolInfo(pool_id)
    drop = 1000 + int(tape.principal.iloc[1])
    assert after["principal"] == before["principal"] - drop
    assert after["cutoffPrincipal"] == before["principal"]
    assert [int(x) for x in registry.statusTally(pool_id, ST["Delinquent30"])] == [1, p0 - 1000]
    assert [int(x) for x in registry.statusTally(pool_id, ST["Prepaid"])] == [1, 0]
    assert [int(x) for x in registry.statusTally(pool_id, ST["Performing"])] == [
        performing[0] - 2, performing[1] - p0 - int(tape.principal.iloc[1])]
    tallies = [registry.statusTally(pool_id, code) for code in range(1, 8)]
    assert sum(int(c) for c, _ in tallies) == after["count"] and sum(int(p) for _, p in tallies) == after["principal"]
    codes, sums = registry.concentration(pool_id, 0)
    expected = tape.groupby("region")["principal"].sum().to_dict()
    expected[region] -= 1000
    expected[int(tape.region.iloc[1])] -= int(tape.principal.iloc[1])
    assert {int(c): int(v) for c, v in zip(codes, sums, strict=True)} == {int(k): int(v) for k, v in expected.items()}


def test_repurchase_releases_the_asset_to_the_originator(registry, originator, issuer, servicer, stranger, sealed_pool):
    pool_id, tape = sealed_pool
    registry.transferPool(pool_id, issuer, {"from": originator})
    asset = assets.asset_id(originator.address, tape.loan_id.iloc[2])
    principal = int(tape.principal.iloc[2])
    before = registry.poolInfo(pool_id)
    tx = registry.repurchase(asset, b"\x33" * 32, {"from": issuer})
    ev = tx.events["Transfer"]
    assert (ev["from"], ev["to"], ev["tokenId"]) == (issuer, originator, asset)
    assert tx.events["AssetRepurchased"]["principal"] == principal
    info = registry.assetInfo(asset)
    assert info["status"] == ST["Repurchased"] and info["poolId"] == 0 and info["owner"] == originator
    after = registry.poolInfo(pool_id)
    assert after["count"] == before["count"] - 1 and after["principal"] == before["principal"] - principal
    assert registry.balanceOf(issuer) == len(tape) - 1
    with reverts_with("AssetNotPooled(uint256)", asset):
        registry.repurchase(asset, b"\x00" * 32, {"from": issuer})
    with reverts_with("AssetNotPooled(uint256)", asset):
        registry.updateAssets([(asset, ST["Performing"], 0, b"\x00" * 32, 0)], {"from": servicer})
    registry.transferFrom(originator, stranger, asset, {"from": originator})  # a released certificate is a plain NFT
    assert registry.ownerOf(asset) == stranger and registry.balanceOf(stranger) == 1


def test_erc721_and_interfaces(registry):
    assert registry.name() == "ChainABS Asset Certificate"
    assert registry.supportsInterface("0x80ac58cd") and registry.supportsInterface("0x7965db0b")
    with reverts_with("ERC721NonexistentToken(uint256)", 7):
        registry.ownerOf(7)


def test_tree_of_whole_pool_matches_chain(registry, originator, sealed_pool):
    pool_id, tape = sealed_pool
    tree = MerkleTree.of(tp.leaf_values(tape, originator.address), assets.LEAF_TYPES)
    assert "0x" + bytes(registry.poolInfo(pool_id)["root"]).hex() == tree.root


def test_every_onboarding_batch_leaves_a_checkpoint_of_its_leaf_chain(registry, originator, sealed_pool):
    """Each ``registerAndPool`` batch (the sealed pool was onboarded in several) leaves keccak256(abi.encode(leaf
    chain before, leaf chain after, 0)) at its first index, the chain the registry computed itself: what the
    court proves a cut-off record against, whatever root the pool was sealed with. No other index has one."""
    from eth_utils import keccak

    pool_id, tape = sealed_pool
    logs = rc.pool_registrations(registry, pool_id)
    assert len(logs) > 2
    before = bytes(32)
    for log in logs:
        first, after = int(log["args"]["firstIndex"]), bytes(log["args"]["leafChain"])
        assert bytes(registry.purchaseCheckpoint(pool_id, first)) == keccak(
            abi_encode(["bytes32", "bytes32", "uint256"], [before, after, 0]))
        if len(log["args"]["leaves"]) > 1:
            assert int.from_bytes(bytes(registry.purchaseCheckpoint(pool_id, first + 1)), "big") == 0
        before = after
    assert before == bytes(registry.poolInfo(pool_id)["leafChain"])
    assert tp.leaf_chain(tp.leaf_hashes(tape, originator.address)) == before


def test_buckets_packed_by_first_appearance_across_batches_and_order_slots(
    registry, originator, servicer, fresh_tape, open_pool
):
    """40 distinct region and industry codes (0 and 234 among them), first seen across three batches and in
    no code order: more buckets than one order slot holds (32); sums stay exact per code, also after a
    servicer update of an asset whose buckets have dense indices above 32."""
    n = len(fresh_tape)
    regions = [(i * 7 % n) * 6 for i in range(n)]  # 0 .. 234, all distinct
    industries = [255 - r for r in regions]
    records = [packed(fresh_tape, i, region=regions[i], industry=industries[i]) for i in range(n)]
    for start, stop in ((0, 13), (13, 26), (26, n)):
        registry.registerAndPool(open_pool, records[start:stop], {"from": originator})
    principals = [int(p) for p in fresh_tape.principal]
    for kind, codes in ((0, regions), (1, industries)):
        got_codes, got_sums = registry.concentration(open_pool, kind)
        assert [int(c) for c in got_codes] == sorted(codes)  # ascending code order
        assert {int(c): int(v) for c, v in zip(got_codes, got_sums, strict=True)} == dict(zip(codes, principals))
    info = registry.poolInfo(open_pool)
    registry.seal(open_pool, b"\x01" * 32, info["leafChain"], {"from": originator})
    registry.setPoolServicers(open_pool, servicer, servicer, {"from": originator})
    registry.transferPool(open_pool, servicer, {"from": originator})  # sold: servicing opens
    last = n - 1
    asset = assets.asset_id(originator.address, fresh_tape.loan_id.iloc[last])
    registry.updateAssets([(asset, ST["Performing"], principals[last] - 1_000, b"\x03" * 32, 0)], {"from": servicer})
    for kind, code in ((0, regions[last]), (1, industries[last])):
        got_codes, got_sums = registry.concentration(open_pool, kind)
        sums = {int(c): int(v) for c, v in zip(got_codes, got_sums, strict=True)}
        assert sums[code] == principals[last] - 1_000
        assert sum(sums.values()) == sum(principals) - 1_000
    a = registry.assetInfo(asset)
    assert (a["region"], a["industry"]) == (regions[last], industries[last])


def record_hash(tape, originator, i: int) -> bytes:
    """keccak256(abi.encode(originator, record)) of row ``i``: the leaf before its second hash."""
    return bytes(Web3.keccak(abi_encode(list(tp.LEAF_TYPES), list(tp.leaf_values(tape, originator.address)[i]))))


def test_internal_node_never_passes_for_a_record(registry, originator, fresh_tape, open_pool):
    """Finding 6: verifyLeaf accepted an internal node of the tree with a shortened proof. The registry now
    takes the record hash and hashes the leaf itself, so a node (a hash of 64 bytes) cannot pass for a leaf."""
    part = fresh_tape.iloc[:8]
    registry.registerAndPool(open_pool, tp.pack_records(part), {"from": originator})
    tree = tp.tape_tree(part, originator.address)
    registry.seal(open_pool, tree.root, registry.poolInfo(open_pool)["leafChain"], {"from": originator})
    proof = tree.get_proof(0)
    # The parent of leaf 0 and its sibling, with the proof shortened by one: what fooled verifyLeaf.
    leaf, sibling = bytes.fromhex(tree.leaf(0)[2:]), bytes.fromhex(proof[0][2:])
    node = Web3.keccak(b"".join(sorted([leaf, sibling])))
    assert MerkleTree.verify_leaf(tree.root, "0x" + bytes(node).hex(), proof[1:])  # the tree itself accepts it
    assert not registry.verifyRecordHash(open_pool, node, proof[1:])
    assert registry.verifyRecordHash(open_pool, record_hash(part, originator, 0), proof)


def test_sealed_pool_is_frozen_until_its_sale(registry, originator, servicer, issuer, sealed_pool):
    """Finding 2: after seal the originator could repurchase loans out of its own sealed pool and the servicer
    could default or zero them, and the SPV paid full price for less. Until its first sale a sealed pool is
    frozen: no repurchase, no status or principal update; its count and principal stay the cut-off's."""
    pool_id, tape = sealed_pool
    asset = assets.asset_id(originator.address, tape.loan_id.iloc[1])
    cutoff = registry.poolInfo(pool_id)
    with reverts_with("PoolAwaitingSale(uint256)", pool_id):
        registry.repurchase(asset, b"\x00" * 32, {"from": originator})
    with reverts_with("PoolAwaitingSale(uint256)", pool_id):
        registry.updateAssets([(asset, ST["Defaulted"], 0, b"\x00" * 32, 0)], {"from": servicer})
    info = registry.poolInfo(pool_id)
    assert (info["count"], info["principal"]) == (cutoff["cutoffCount"], cutoff["cutoffPrincipal"])
    registry.transferPool(pool_id, issuer, {"from": originator})
    registry.updateAssets([(asset, ST["Delinquent30"], registry.assetInfo(asset)["principal"], b"\x01" * 32, 0)],
                          {"from": servicer})
    registry.repurchase(asset, b"\x02" * 32, {"from": issuer})
    assert registry.poolInfo(pool_id)["count"] == cutoff["cutoffCount"] - 1


def test_pooled_assets_cannot_be_approved_one_by_one(registry, originator, issuer, stranger, sealed_pool):
    """Finding 6: an ERC-721 approval granted on a pooled asset survived the pool's sale and a repurchase.
    Pooled assets move only with their pool, so they cannot be approved; released ones can."""
    pool_id, tape = sealed_pool
    asset = assets.asset_id(originator.address, tape.loan_id.iloc[2])
    with reverts_with("AssetInPool(uint256,uint256)", asset, pool_id):
        registry.approve(stranger, asset, {"from": originator})
    registry.transferPool(pool_id, issuer, {"from": originator})
    with reverts_with("AssetInPool(uint256,uint256)", asset, pool_id):
        registry.approve(stranger, asset, {"from": issuer})
    registry.repurchase(asset, b"\x00" * 32, {"from": issuer})
    assert registry.getApproved(asset) == brownie.ZERO_ADDRESS
    registry.approve(stranger, asset, {"from": originator})
    assert registry.getApproved(asset) == stranger


def test_servicers_are_per_pool_and_the_disposal_agent_only_works_recoveries(
    registry, originator, servicer, disposal_agent, issuer, stranger, sold_pool
):
    """The pool's owner names its servicer and disposal agent (an event); the servicer moves any loan of that
    pool only; the disposal agent only the recovery of a defaulted loan, recording the cash it recovers."""
    pool_id, tape = sold_pool
    ids = tp.asset_ids(tape, originator.address)
    loan, late = ids[6], ids[7]
    p = int(registry.assetInfo(loan)["principal"])
    assert registry.assetInfo(loan)["status"] == ST["Performing"]
    with reverts_with("NotPoolServicer(uint256,address)", pool_id, disposal_agent.address):
        registry.updateAssets([(loan, ST["Delinquent30"], p, b"\x00" * 32, 0)], {"from": disposal_agent})
    with reverts_with("RecoveryNotAllowed(uint256,uint8)", loan, ST["Performing"]):
        registry.updateAssets([(loan, ST["Performing"], p, b"\x00" * 32, 5)], {"from": servicer})
    tx = registry.updateAssets([(loan, ST["Defaulted"], p - 100, b"\x01" * 32, 0)], {"from": servicer})
    assert tx.events["AssetStatusChanged"]["to"] == ST["Defaulted"]
    figures = rc.servicing_figures(registry, pool_id)
    assert figures["flows"]["defaulted"] == p and figures["defaulted_claims"] == p - 100
    tx = registry.updateAssets([(loan, ST["InRecovery"], p - 400, b"\x02" * 32, 250)], {"from": disposal_agent})
    ev = tx.events["RecoveryRecorded"]
    assert (ev["assetId"], ev["poolId"], ev["amount"], bytes(ev["evidence"])) == (loan, pool_id, 250, b"\x02" * 32)
    with reverts_with("PrincipalNotZero(uint256,uint8,uint256)", loan, ST["Disposed"], 1):
        registry.updateAssets([(loan, ST["Disposed"], 1, b"\x00" * 32, 0)], {"from": disposal_agent})
    with reverts_with("IllegalTransition(uint256,uint8,uint8)", loan, ST["InRecovery"], ST["Performing"]):
        registry.updateAssets([(loan, ST["Performing"], 0, b"\x00" * 32, 0)], {"from": disposal_agent})
    registry.updateAssets([(loan, ST["Repossessed"], p - 400, b"\x03" * 32, 0),
                           (loan, ST["Disposed"], 0, b"\x04" * 32, p - 600)], {"from": disposal_agent})
    figures = rc.servicing_figures(registry, pool_id)
    assert figures["flows"]["recoveries"] == 250 + p - 600 and figures["defaulted_claims"] == 0
    assert registry.assetInfo(loan)["status"] == ST["Disposed"]
    # The owner (here the buyer) names others: the old servicer is refused from then on.
    tx = registry.setPoolServicers(pool_id, stranger, stranger, {"from": issuer})
    ev = tx.events["PoolServicersSet"]
    assert (ev["poolId"], ev["servicer"], ev["disposalAgent"]) == (pool_id, stranger.address, stranger.address)
    q = int(registry.assetInfo(late)["principal"])
    with reverts_with("NotPoolServicer(uint256,address)", pool_id, servicer.address):
        registry.updateAssets([(late, ST["Delinquent30"], q, b"\x00" * 32, 0)], {"from": servicer})
    registry.updateAssets([(late, ST["Delinquent30"], q, b"\x05" * 32, 0)], {"from": stranger})
