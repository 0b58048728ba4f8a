"""Tape -> chain -> proofs: onboarding in batches, resume, post-check, bad tapes, history from events."""

from __future__ import annotations

import brownie
import pytest
from chainabs.chain.sender import transact
from plugins.registry import CUTOFF, log_range_cap, relaxed_criteria

from chainabs.chain import registry as rc
from chainabs.model import synthetic
from chainabs.model import tape as tp
from chainabs.model import assets

pytestmark = pytest.mark.usefixtures("sealed_pool")

SMALL_TX = 192 * 12 + 300  # 12 assets per transaction: several batches with a small tape


@pytest.fixture(scope="module")
def raw_tape():
    """A 36-loan consumer tape as the originator hands it over (unordered, dates as datetimes)."""
    return synthetic.generate_tape(36, seed=31, prefix="IN")


def _chain_state(registry, pool_id):
    return brownie.web3.eth.block_number, dict(rc.pool_info(registry, pool_id))


def test_gas_bound_batches_fill_but_never_exceed_the_gas_budget(registry, originator, raw_tape):
    budget = 800_000  # gas, not calldata size, bounds the batches (the first one also creates bucket slots)
    pool = rc.create_pool(registry, originator, relaxed_criteria())
    result = rc.onboard(registry, pool, raw_tape, originator, today=CUTOFF, progress=False, gas_per_tx=budget)
    assert result.registered == 36 == sum(result.batch_sizes) and result.sealed and result.batches >= 2
    assert len(result.batch_gas) == result.batches and all(gas <= budget for gas in result.batch_gas)
    # each batch is the largest that fits: one more asset would have broken the budget
    for gas, n in zip(result.batch_gas, result.batch_sizes[:-1], strict=False):
        assert gas > budget - gas / n
    ordered = rc.prepare_tape(raw_tape, relaxed_criteria(), today=CUTOFF)
    assert rc.post_check(registry, pool, ordered, originator.address) == []


def test_tape_to_chain_to_proof_verified_on_chain(registry, originator, raw_tape):
    pool = rc.create_pool(registry, originator, relaxed_criteria())
    result = rc.onboard(registry, pool, raw_tape, originator, today=CUTOFF, progress=False, max_tx_bytes=SMALL_TX)
    assert result.batches == 3 and result.registered == 36 and result.skipped == 0 and result.sealed
    ordered = rc.prepare_tape(raw_tape, relaxed_criteria(), today=CUTOFF)
    tree = tp.tape_tree(ordered, originator.address)
    assert result.root == tree.root
    for i in (0, 17, 35):
        assert registry.verifyRecord(pool, tp.to_records(ordered.iloc[[i]])[0], tree.get_proof(i))
    assert rc.post_check(registry, pool, ordered, originator.address) == []
    assert rc.verify_pool_commitment(registry, pool)
    assert rc.pool_leaves(registry, pool) == tp.leaf_hashes(ordered, originator.address)


def test_interrupted_onboarding_resumes_and_rerun_is_a_no_op(registry, originator, raw_tape):
    pool = rc.create_pool(registry, originator, relaxed_criteria())
    first = rc.onboard(registry, pool, raw_tape, originator, today=CUTOFF, progress=False, max_tx_bytes=SMALL_TX,
                       max_batches=1)
    assert first.registered == 12 and not first.sealed and registry.poolInfo(pool)["registered"] == 12
    second = rc.onboard(registry, pool, raw_tape.sample(frac=1, random_state=1), originator, today=CUTOFF,
                        progress=False, max_tx_bytes=SMALL_TX)
    assert (second.skipped, second.registered, second.sealed) == (12, 24, True)
    block = brownie.web3.eth.block_number
    third = rc.onboard(registry, pool, raw_tape, originator, today=CUTOFF, progress=False)
    assert (third.skipped, third.registered, third.batches) == (36, 0, 0)
    assert brownie.web3.eth.block_number == block  # nothing sent


def test_resume_refuses_a_different_tape(registry, originator, raw_tape):
    pool = rc.create_pool(registry, originator, relaxed_criteria())
    rc.onboard(registry, pool, raw_tape, originator, today=CUTOFF, progress=False, max_tx_bytes=SMALL_TX,
               max_batches=1)
    other = raw_tape.copy()
    other.loc[:, "principal"] = other.principal - 10_000
    with pytest.raises(rc.OnboardingError, match="leaf chain differs"):
        rc.onboard(registry, pool, other, originator, today=CUTOFF, progress=False)


def test_double_pledge_is_refused_before_sending(registry, originator, sealed_pool):
    _, tape = sealed_pool
    pool = rc.create_pool(registry, originator, relaxed_criteria())
    before = _chain_state(registry, pool)
    with pytest.raises(rc.OnboardingError, match="already registered in pool"):
        rc.onboard(registry, pool, tape, originator, today=CUTOFF, progress=False)
    assert _chain_state(registry, pool) == before


BAD_TAPES = {
    "missing column": lambda t: t.drop(columns=["obligor"]),
    "wrong type": lambda t: t.astype({"rate_bps": object}).assign(rate_bps=lambda x: x.rate_bps.where(x.index != 2, "12%")),
    "negative principal": lambda t: t.assign(principal=t.principal.where(t.index != 3, -5)),
    "duplicate loan": lambda t: t.assign(loan_id=t.loan_id.where(t.index != 4, t.loan_id[5])),
    "ineligible rate": lambda t: t.assign(rate_bps=t.rate_bps.where(t.index != 6, 3000)),
    "ineligible term": lambda t: t.assign(maturity_date=t.maturity_date.where(t.index != 7, t.maturity_date[7] + __import__("pandas").DateOffset(years=4))),
    "concentration breach": "concentration",
    "future origination": lambda t: t.assign(origination_date=t.origination_date.where(t.index != 8, t.origination_date[8] + __import__("pandas").DateOffset(years=2))),
}


@pytest.mark.parametrize("case", list(BAD_TAPES))
def test_bad_tape_sends_nothing(registry, originator, raw_tape, case, capsys):
    criteria = relaxed_criteria(max_obligor_bps=200) if case == "concentration breach" else relaxed_criteria()
    pool = rc.create_pool(registry, originator, criteria)
    bad = raw_tape.copy() if case == "concentration breach" else BAD_TAPES[case](raw_tape.copy())
    before = _chain_state(registry, pool)
    with pytest.raises(tp.TapeValidationError) as err:
        rc.onboard(registry, pool, bad, originator, today=CUTOFF, progress=False)
    assert err.value.issues and "nothing was sent" in str(err.value)
    assert _chain_state(registry, pool) == before


def test_history_rebuilds_from_chain_data(registry, originator, servicer, issuer, sealed_pool):
    pool_id, tape = sealed_pool
    asset = assets.asset_id(originator.address, tape.loan_id.iloc[6])
    p = int(tape.principal.iloc[6])
    transact(registry.transferPool, pool_id, issuer, sender=originator)
    transact(registry.updateAssets, [(asset, 2, p - 500, b"\x01" * 32, 0)], sender=servicer)
    transact(registry.updateAssets, [(asset, 3, p - 900, b"\x02" * 32, 0)], sender=servicer)
    transact(registry.repurchase, asset, b"\x03" * 32, sender=issuer)
    # A public node refuses an eth_getLogs over more than a few blocks: the history and the pool's leaves are
    # read in ranges it serves, from the registry's deployment on (not from block 0).
    brownie.chain.mine(40)
    with log_range_cap(16) as served:
        events = rc.asset_history(registry, asset)
        assert rc.pool_leaves(registry, pool_id) == tp.leaf_hashes(tape, originator.address)
    assert served and all(b - a < 16 for a, b in served)
    assert max(b for _, b in served) == brownie.web3.eth.block_number  # every block up to the head is read
    names = [e.name for e in events]
    assert names == ["Registered", "PoolTransferred", "AssetStatusChanged", "AssetStatusChanged", "Transfer",
                     "AssetRepurchased"]
    state = rc.replay_history(events)
    info = registry.assetInfo(asset)
    assert state["status"] == assets.STATUSES[info["status"]] == "Repurchased"
    assert state["principal"] == info["principal"] == p - 900 and state["owner"] == info["owner"]
    assert state["changes"] == [("Delinquent30", p - 500, "0x" + "01" * 32), ("Delinquent60", p - 900, "0x" + "02" * 32)]
    assert state["leaf"] == "0x" + tp.leaf_hashes(tape.iloc[[6]], originator.address)[0].hex()


def test_receivable_and_lease_tapes_onboard(registry, originator):
    for kind in ("trade_receivable", "lease"):
        raw = synthetic.generate_tape(15, kind=kind, seed=41, prefix=kind[:2].upper())
        crit = synthetic.default_criteria(kind, max_region_bps=10_000, max_industry_bps=10_000, max_obligor_bps=10_000)
        pool = rc.create_pool(registry, originator, crit)
        result = rc.onboard(registry, pool, raw, originator, today=CUTOFF, progress=False)
        assert result.sealed and registry.poolInfo(pool)["count"] == 15


def test_rerun_on_a_serviced_pool_checks_the_sealed_cut_off(registry, originator, servicer, issuer, sealed_pool):
    """`chainabs deploy` re-run once a deal has run a period: the pool's live figures have moved since the seal
    (before, the post-check compared them with the cut-off tape and failed). The sealed cut-off still has to be
    this tape's."""
    pool_id, tape = sealed_pool
    asset = assets.asset_id(originator.address, tape.loan_id.iloc[4])
    transact(registry.transferPool, pool_id, issuer, sender=originator)  # sold: servicing opens
    transact(registry.updateAssets, [(asset, 1, int(tape.principal.iloc[4]) - 700, b"\x01" * 32, 0)], sender=servicer)
    info = rc.pool_info(registry, pool_id)
    assert rc.moved_since_seal(info) and int(info["principal"]) == int(info["cutoffPrincipal"]) - 700
    ordered = rc.prepare_tape(tape, relaxed_criteria(), today=CUTOFF)
    assert rc.post_check(registry, pool_id, ordered, originator.address) != []  # the live figures moved
    block = brownie.web3.eth.block_number
    again = rc.onboard(registry, pool_id, tape, originator, today=CUTOFF, progress=False)
    assert (again.skipped, again.registered, again.batches, again.sealed) == (len(tape), 0, 0, True)
    assert again.root == tp.tape_tree(ordered, originator.address).root
    assert brownie.web3.eth.block_number == block  # nothing sent
    other = tape.copy()
    other.loc[:, "principal"] = other.principal - 10_000
    with pytest.raises(rc.OnboardingError, match=f"pool {pool_id} was sealed with another tape:\n  root: chain 0x"):
        rc.onboard(registry, pool_id, other, originator, today=CUTOFF, progress=False)
