"""The obligor limit of a live pool (issue 18): a pool that tracks its obligors (``trackObligors``) keeps each
obligor's outstanding principal on chain through onboarding, purchases, servicing updates and repurchases, and a
purchase (``sellIntoPool``) is checked on every bought obligor's live exposure, the receivables it already has
in the pool included. A pool with an obligor limit that does not track obligors cannot take purchases.
The pool's owner is a mock purchaser (the SPV's payment is tested in test_revolving_chain.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak

from chainabs.chain import registry as rc
from chainabs.model import synthetic
from chainabs.model import tape as tp
from tests.plugins.registry import relaxed_criteria
from tests.plugins.token import assert_error

BPS = 10_000
BREACH = "ConcentrationBreached(uint256,uint8,bytes32,uint256,uint256,uint16)"


def _today() -> dt.date:
    from brownie import chain

    return dt.datetime.fromtimestamp(chain.time(), dt.UTC).date()


@pytest.fixture(scope="module")
def book(registry, originator, servicer, PoolPurchaserMock, admin) -> dict[str, Any]:
    """A tracked pool of 20 consumer loans (cut-off a month ago) whose obligor limit is 1% above its largest
    obligor's share, sold to a buyer (who names ``servicer``) and then to a mock purchaser; plus fresh
    receivables to buy (originated before today)."""
    cut = _today() - dt.timedelta(days=30)
    tape = synthetic.generate_tape(20, seed=31, cutoff=cut, prefix="OB")
    # two loans of the same obligor: the largest exposure is an obligor with several assets
    tape.loc[1, "obligor"] = tape.loc[0, "obligor"]
    criteria = relaxed_criteria(cutoff_date=cut, legal_final_date=dt.date(cut.year + 8, 1, 1))
    ordered = rc.prepare_tape(tape, criteria, today=cut)
    principal = ordered["principal"].astype("int64")
    total = int(principal.sum())
    sums = principal.groupby(ordered["obligor"]).sum()
    top = str(sums.idxmax())
    limit = -(-int(sums.max()) * BPS // total) + 100
    criteria = dataclasses.replace(criteria, max_obligor_bps=limit)
    pool = rc.create_pool(registry, originator, criteria, track_obligors=True)
    rc.onboard(registry, pool, ordered, originator, today=cut, progress=False)
    buyer = PoolPurchaserMock.deploy({"from": admin})
    owner = servicer  # an account owning the pool between the sale and the purchaser (names its servicer)
    registry.transferPool(pool, owner, {"from": originator})
    rc.set_pool_servicers(registry, owner, pool, servicer, servicer)
    registry.transferPool(pool, buyer, {"from": owner})
    fresh = rc.prepare_tape(synthetic.generate_tape(5, seed=32, cutoff=_today(), prefix="OBN"),
                            dataclasses.replace(criteria, cutoff_date=_today(), max_obligor_bps=BPS), today=_today())
    other = rc.prepare_tape(synthetic.generate_tape(3, seed=33, cutoff=cut, prefix="OBU"),
                            dataclasses.replace(criteria, max_obligor_bps=BPS - 1), today=cut)
    return {"pool": pool, "tape": ordered, "total": total, "sums": sums, "top": top, "limit": limit,
            "buyer": buyer, "fresh": fresh, "other": other}


def _receivable(book: dict[str, Any], obligor: str, principal: int, row: int = 0) -> list[tuple]:
    """One fresh receivable of ``obligor`` with ``principal`` outstanding, packed."""
    one = book["fresh"].iloc[[row]].copy()
    one["obligor"] = obligor
    one["principal"] = principal
    one["original_principal"] = max(principal, int(one["original_principal"].iloc[0]))
    return tp.pack_records(one)


def test_onboarding_keeps_every_obligors_live_sum(registry, originator, book):
    pool = book["pool"]
    for obligor, held in book["sums"].items():
        assert rc.obligor_exposure(registry, pool, obligor) == int(held)
    assert rc.obligor_exposure(registry, pool, "0x" + "ab" * 32) == 0
    # a repurchase takes the asset's principal out of its obligor's sum
    loans = book["tape"][book["tape"]["obligor"] == book["top"]]
    book["buyer"].repurchase(registry, tp.asset_ids(loans.iloc[[1]], originator.address)[0], {"from": originator})
    assert rc.obligor_exposure(registry, pool, book["top"]) == int(loans["principal"].iloc[0])


def test_a_purchase_is_checked_on_the_obligors_live_exposure(registry, originator, servicer, book):
    """An obligor already in the pool tipped over its limit by a purchase is refused (its exposure is what it
    held plus the purchase); the same purchase one unit smaller passes; at the limit, amortization frees room."""
    pool, top, limit, total = book["pool"], book["top"], book["limit"], book["total"]
    held = int(book["sums"][top])
    room = (limit * total - BPS * held) // (BPS - limit)  # the largest purchase of `top` within the limit
    assert room > 0 and held > 0
    over = _receivable(book, top, room + 1)
    assert_error(registry.sellIntoPool, pool, over, sender=originator, error=BREACH,
                 values=(pool, 2, bytes.fromhex(top[2:]), held + room + 1, total + room + 1, limit))
    before = rc.pool_info(registry, pool)
    tx = registry.sellIntoPool(pool, _receivable(book, top, room), {"from": originator})
    assert rc.obligor_exposure(registry, pool, top) == held + room
    # The batch's purchase checkpoint: the leaf chain before and after it, and the owner's pending servicing
    # period (this owner has no such view: 0); an index that starts no batch has none.
    first, after = tx.events["AssetsRegistered"]["firstIndex"], tx.events["AssetsRegistered"]["leafChain"]
    assert first == before["registered"]
    assert bytes(registry.purchaseCheckpoint(pool, first)) == keccak(
        encode(["bytes32", "bytes32", "uint256"], [bytes(before["leafChain"]), bytes(after), 0]))
    assert int.from_bytes(bytes(registry.purchaseCheckpoint(pool, first + 1)), "big") == 0
    assert book["buyer"].principalBought() == room
    # at the limit: one more unit of the same obligor is refused ...
    assert_error(registry.sellIntoPool, pool, _receivable(book, top, 1, row=1), sender=originator, error=BREACH)
    # ... until one of its loans amortizes (the servicer's update reduces the obligor's sum and the pool's)
    loans = book["tape"][book["tape"]["obligor"] == top]
    asset = tp.asset_ids(loans.iloc[[0]], originator.address)[0]
    paid = int(loans["principal"].iloc[0]) // 2
    registry.updateAssets([(asset, 1, int(loans["principal"].iloc[0]) - paid, b"\x01" * 32, 0)], {"from": servicer})
    assert rc.obligor_exposure(registry, pool, top) == held + room - paid
    registry.sellIntoPool(pool, _receivable(book, top, 1, row=1), {"from": originator})
    assert rc.obligor_exposure(registry, pool, top) == held + room - paid + 1
    # a loan prepaid in full leaves its obligor's sum
    registry.updateAssets([(asset, 6, 0, b"\x02" * 32, 0)], {"from": servicer})
    assert rc.obligor_exposure(registry, pool, top) == held + room - int(loans["principal"].iloc[0]) + 1


def test_untracked_pools_with_an_obligor_limit_refuse_purchases(registry, originator, admin, stranger, book,
                                                                 PoolPurchaserMock):
    criteria = dataclasses.replace(rc.pool_criteria(registry, book["pool"]), max_obligor_bps=BPS - 1)
    pool = rc.create_pool(registry, originator, criteria)  # an obligor limit (99.99%), obligors not tracked
    assert_error(registry.obligorExposure, pool, b"\x00" * 32, sender=stranger,
                 error="ObligorsNotTracked(uint256)", values=(pool,))
    assert_error(registry.trackObligors, pool, sender=stranger,
                 error="AccessControlUnauthorizedAccount(address,bytes32)")
    part = book["other"]
    registry.registerAndPool(pool, tp.pack_records(part), {"from": originator})
    assert_error(registry.trackObligors, pool, sender=originator, error="PoolNotEmpty(uint256)", values=(pool,))
    chain_hash = tp.leaf_chain(tp.leaf_hashes(part, originator.address))
    registry.seal(pool, tp.tape_tree(part, originator.address).root, chain_hash, {"from": originator})
    registry.transferPool(pool, PoolPurchaserMock.deploy({"from": admin}), {"from": originator})
    assert_error(registry.sellIntoPool, pool, _receivable(book, book["top"], 1), sender=originator,
                 error="ObligorsNotTracked(uint256)", values=(pool,))


def test_track_obligors_is_the_originators_and_logged(registry, originator, stranger):
    pool = rc.create_pool(registry, originator, relaxed_criteria())
    assert_error(registry.trackObligors, pool, sender=stranger,
                 error="AccessControlUnauthorizedAccount(address,bytes32)")
    tx = registry.trackObligors(pool, {"from": originator})
    assert tx.events["ObligorsTracked"]["poolId"] == pool


def test_onboard_command_creates_a_tracked_pool(AssetRegistry, tmp_path, monkeypatch):
    """``chainabs onboard synthetic:200 --track-obligors``: the new pool's obligor sums add up to its principal;
    an existing pool cannot start tracking (refused before anything is sent)."""
    import io

    from rich.console import Console

    from chainabs.apps.onboard import run_onboarding

    quiet = Console(file=io.StringIO(), width=160)
    monkeypatch.setenv("CHAINABS_DEPLOYMENTS_DIR", str(tmp_path))  # the onboarding record
    result = run_onboarding("synthetic:200", console=quiet, track_obligors=True)
    registry = AssetRegistry[-1]
    obligors = sorted(set(synthetic.tape_argument("synthetic:200")["obligor"]))
    total = int(rc.pool_info(registry, result.pool_id)["principal"])
    assert sum(rc.obligor_exposures(registry, result.pool_id, obligors)) == total > 0
    with pytest.raises(ValueError, match="--track-obligors: only a new pool"):
        run_onboarding("synthetic:200", str(registry.address), str(result.pool_id), console=quiet, track_obligors=True)
