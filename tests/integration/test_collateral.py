"""A secured (auto-loan) deal on a local chain: the vehicles recorded in the collateral registry (batches land
whole, a rerun resumes, only the originator of an asset records it, only its pool's servicer re-appraises),
defaulted loans worked out through recovery, repossession and sale by the disposal agent, the proceeds reaching
the deal as recoveries with chain == model, and the disposal timeline and recovery rates rebuilt from chain."""

from __future__ import annotations

import dataclasses

import pytest

from chainabs.chain import collateral as coll_client
from chainabs.chain import orchestration
from chainabs.chain.read import pool as poolread
from chainabs.chain.read.deal import read_deal
from chainabs.chain.sender import transact
from chainabs.dev.sandbox import books, onboarded_pool, roll_rate_reports, sandbox_deal, subscribe_all
from chainabs.model import collateral as cl
from chainabs.model import synthetic
from chainabs.model.assets import CLOSED_STATUSES, STATUS_CODE, asset_id, loan_id_bytes
from chainabs.model.assets import STATUSES as ASSET_STATUS
from plugins.spvtests import assert_reconciled, close, submit
from plugins.token import assert_error

RULE = {"Kind": 0, "Value": 1, "Date": 2, "Identifier": 3}


@pytest.fixture(scope="module")
def secured(accounts, currency, originator, admin, servicer, investors, tmp_path_factory):
    """The auto-loan deal closed over 500 synthetic car loans, with a collateral registry next to its asset
    registry (nothing recorded yet)."""
    from brownie import project

    proj = project.get_loaded_projects()[0]
    spec, registry, pool_id, tape = onboarded_pool(originator, admin, servicer, "auto_loan", loans=500, seed=11)
    d = sandbox_deal(spec, accounts, currency, registry, pool_id, proj, tmp_path_factory.mktemp("auto"), tape)
    subscribe_all(d, investors, admin)
    orchestration.close(d, admin)
    coll = coll_client.deploy_collateral_registry(registry, admin)
    vehicles = cl.check_collateral(synthetic.generate_collateral(tape, seed=11), list(tape["loan_id"]),
                                   cutoff=spec.dates.cut_off)
    return d, coll, vehicles


@pytest.fixture
def deal(secured):
    import copy

    d, coll, vehicles = secured
    return dataclasses.replace(d, model=copy.deepcopy(d.model), book=copy.deepcopy(d.book)), coll, vehicles


def test_vehicles_are_recorded_whole_batches_and_resumably(deal, stranger):
    d, coll, vehicles = deal
    originator, servicer = d.roles["originator"], d.roles["servicer"]
    records = cl.collateral_records(vehicles)
    ids = [loan_id_bytes(x) for x in vehicles["loan_id"]]
    # A batch with one bad record lands nothing.
    bad = list(records[:10])
    bad[7] = (bad[7][0], bad[7][1], 0, bad[7][3], bad[7][4])
    assert_error(coll.record, ids[:10], bad, sender=originator, error="InvalidCollateral(uint256,uint8)",
                 values=(asset_id(originator.address, vehicles["loan_id"].iloc[7]), RULE["Value"]))
    assert coll_client.pool_collateral(coll, d.pool_id) == (0, 0)
    # Someone else's loan ids are unknown assets for them; lengths must match.
    assert_error(coll.record, ids[:1], records[:1], sender=stranger, error="UnknownAsset(uint256)",
                 values=(asset_id(stranger.address, vehicles["loan_id"].iloc[0]),))
    assert_error(coll.record, ids[:2], records[:1], sender=originator, error="LengthMismatch(uint256,uint256)",
                 values=(2, 1))
    # A first run stops after 120 loans; the rerun records only the rest.
    first = coll_client.record_collateral(coll, originator, vehicles.iloc[:120], batch=50)
    assert len(first) == 3
    rest = coll_client.record_collateral(coll, originator, vehicles, batch=200)
    assert sum(len(r.events["CollateralRecorded"]) for r in rest) == len(vehicles) - 120
    assert coll_client.record_collateral(coll, originator, vehicles) == []
    assert coll_client.pool_collateral(coll, d.pool_id) == (len(vehicles), int(vehicles["appraised_value"].sum()))
    assert_error(coll.record, ids[:1], records[:1], sender=originator, error="CollateralExists(uint256)")
    aid = asset_id(originator.address, vehicles["loan_id"].iloc[3])
    got = coll_client.collateral_of(coll, aid)
    assert (got["kind"], got["appraised_value"]) == ("vehicle", int(vehicles["appraised_value"].iloc[3]))
    assert got["identifier_hash"] == "0x" + cl.identifier_hash(vehicles["identifier"].iloc[3]).hex()
    # Re-appraisal: the pool's servicer only, not in the future, not before the last appraisal.
    from brownie import chain

    now = chain.time() - 60
    assert_error(coll.reappraise, aid, 1, now, b"\x01" * 32, sender=stranger, error="NotPoolServicer(uint256,address)",
                 values=(d.pool_id, stranger.address))
    assert_error(coll.reappraise, aid, 1, now + 86_400, b"\x01" * 32, sender=servicer,
                 error="InvalidCollateral(uint256,uint8)", values=(aid, RULE["Date"]))
    assert_error(coll.reappraise, 12345, 1, now, b"\x01" * 32, sender=servicer, error="NoCollateral(uint256)")
    tx = coll_client.reappraise(coll, servicer, aid, 50_000_000_000, now, b"\x02" * 32)
    ev = tx.event("CollateralReappraised")
    assert (ev["assetId"], ev["servicer"], ev["value"]) == (aid, servicer.address, 50_000_000_000)
    total = int(vehicles["appraised_value"].sum()) - int(vehicles["appraised_value"].iloc[3]) + 50_000_000_000
    assert coll_client.pool_collateral(coll, d.pool_id) == (len(vehicles), total)


def test_defaults_are_repossessed_and_sold_and_the_proceeds_reach_the_deal(deal, stranger):
    d, coll, vehicles = deal
    coll_client.record_collateral(coll, d.roles["originator"], vehicles)
    assert books(d).secured
    disposal_agent = d.roles["disposal_agent"]
    for report in roll_rate_reports(d, months=8, current_to_30=0.06, severity=0.45):
        submit(d, report)
        close(d, stranger)
    assert_reconciled(d.spv, d.model, "after eight periods of a secured pool")
    from brownie import web3

    data = read_deal(web3.provider.endpoint_uri, d.spv.address, start_block=0)
    timeline = poolread.recovery_timeline(data)
    disposed = timeline[timeline["outcome"] == "Disposed"]
    assert len(disposed) > 0 and not (timeline["outcome"] == "ChargedOff").any()
    assert disposed["repossessed_at"].notna().all() and (disposed["repossessed_at"] <= disposed["disposed_at"]).all()
    assert (disposed["defaulted_at"] < disposed["disposed_at"]).all()
    values = coll_client.appraised_values(coll, d.roles["originator"].address, list(disposed["loan_id"]))
    per_loan, totals = cl.recovery_rates(timeline, values)
    # Every unit the registry recorded as recovered is a recovery the deal was paid.
    assert int(timeline["recovered"].sum()) == sum(p.report.recoveries for p in d.model.history)
    assert totals["recovered"] == int(disposed["recovered"].sum()) and 0 < totals["recovery_rate"] <= 1
    assert per_loan["proceeds_to_appraisal"].dropna().between(0, 1).all()
    # The disposal agent took every recovery step; the servicer none of them.
    steps = poolread.status_events(data)
    agent_steps = steps[steps["to"].isin(["InRecovery", "Repossessed", "Disposed"])]
    senders = {str(web3.eth.get_transaction(t)["from"]) for t in agent_steps["tx"].unique()}
    assert senders == {disposal_agent.address}
    # Audit A5: the sold vehicles and the repaid or prepaid loans' collateral stay in the pool's tally until anyone
    # releases them; then the tally is the live loans' collateral, as the last committed tape has them.
    originator = d.roles["originator"].address
    assert coll_client.pool_collateral(coll, d.pool_id) == (len(vehicles), int(vehicles["appraised_value"].sum()))
    last = books(d).last
    closed = set(last.loc[last["status"].isin(CLOSED_STATUSES), "loan_id"].astype(str))
    assert len(closed) > len(disposed) and {str(x) for x in disposed["loan_id"]} <= closed
    receipts = coll_client.release_closed(coll, stranger, originator, list(vehicles["loan_id"]))
    released = [e for r in receipts for e in r.events["CollateralReleased"]]
    assert {int(e.args["assetId"]) for e in released} == {asset_id(originator, x) for x in closed}
    assert {ASSET_STATUS[int(e.args["status"])] for e in released} <= set(CLOSED_STATUSES)
    live = vehicles[~vehicles["loan_id"].astype(str).isin(closed)]
    assert coll_client.pool_collateral(coll, d.pool_id) == (len(live), int(live["appraised_value"].sum()))
    assert coll_client.release_closed(coll, stranger, originator, list(vehicles["loan_id"])) == []


def test_collateral_of_a_loan_bought_back_is_released_from_the_pool_tally(deal, stranger):
    """Audit A5: a loan bought back out of the pool (court buy-back) no longer counts once anyone releases it;
    a live loan's collateral cannot be released, and released collateral can no longer be re-appraised."""
    from brownie import chain

    from chainabs.chain import court as courtlib
    from plugins.spvtests import fund

    d, coll, vehicles = deal
    originator, servicer = d.roles["originator"], d.roles["servicer"]
    few = vehicles.iloc[:3].reset_index(drop=True)
    coll_client.record_collateral(coll, originator, few)
    values = [int(v) for v in few["appraised_value"]]
    loan = str(few["loan_id"].iloc[0])
    aid = asset_id(originator.address, loan)
    assert not coll.releasable(aid)
    assert_error(coll.release, [aid], sender=stranger, error="AssetStillInPool(uint256,uint256,uint8)",
                 values=(aid, d.pool_id, STATUS_CODE["Performing"]))
    assert_error(coll.release, [12345], sender=stranger, error="NoCollateral(uint256)", values=(12345,))
    fund(d, originator, 10**13)
    courtlib.buy_back(d.spv, originator, loan)
    assert coll.releasable(aid) and coll_client.pool_collateral(coll, d.pool_id) == (3, sum(values))
    # Out of the pool: neither re-appraised nor recorded again; released by anyone, once.
    assert_error(coll.reappraise, aid, 1, chain.time() - 60, b"\x01" * 32, sender=servicer,
                 error="AssetNotInPool(uint256,uint256,uint8)", values=(aid, d.pool_id, STATUS_CODE["Repurchased"]))
    tx = coll_client.release(coll, stranger, [aid, aid])[0]
    ev = tx.event("CollateralReleased")
    assert (ev["assetId"], ev["poolId"], ev["caller"], ev["status"], ev["appraisedValue"]) == (
        aid, d.pool_id, stranger.address, STATUS_CODE["Repurchased"], values[0])
    assert coll_client.pool_collateral(coll, d.pool_id) == (2, sum(values[1:]))
    got = coll_client.collateral_of(coll, aid)
    assert (got["pool_id"], got["released"], got["appraised_value"]) == (d.pool_id, True, values[0])
    assert "CollateralReleased" not in coll_client.release(coll, servicer, [aid])[0].events
    assert coll_client.pool_collateral(coll, d.pool_id) == (2, sum(values[1:]))
    assert_error(coll.reappraise, aid, 1, chain.time() - 60, b"\x01" * 32, sender=servicer,
                 error="AssetNotInPool(uint256,uint256,uint8)", values=(aid, d.pool_id, STATUS_CODE["Repurchased"]))
    record = cl.collateral_records(few.iloc[:1])
    assert_error(coll.record, [loan_id_bytes(loan)], record, sender=originator,
                 error="AssetNotInPool(uint256,uint256,uint8)", values=(aid, 0, STATUS_CODE["Repurchased"]))
    # A live loan of the pool in the same batch: nothing is released.
    other = asset_id(originator.address, str(few["loan_id"].iloc[1]))
    assert_error(coll.release, [aid, other], sender=stranger, error="AssetStillInPool(uint256,uint256,uint8)",
                 values=(other, d.pool_id, STATUS_CODE["Performing"]))
