"""The collateral registry of secured assets (``interfaces/ICollateralRegistry.sol``): deploy it next to an
asset registry, record a collateral file in batches (resumable: what is on chain is not sent again), read what
an asset or a pool carries, release from a pool's tally the collateral of assets that left the pool or closed
(bought back, prepaid, repaid, disposed of, charged off)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from chainabs.chain.connection import load_project
from chainabs.chain.contracts import contract_at
from chainabs.chain.sender import Receipt, deploy, transact
from chainabs.model.assets import asset_id, loan_id_bytes
from chainabs.model.collateral import COLLATERAL_KINDS, collateral_records

#: Records per ``record`` transaction (81k gas each, `make bench`: 3 new storage words, two registry calls, an
#: event): about 8.1M gas, within a 12M block gas limit.
RECORD_BATCH = 100
#: Assets per ``release`` transaction (~16,200 gas each, measured by the auto-loan demo: one registry call, the
#: record's word and the pool tally rewritten, an event): about 6.5M gas.
RELEASE_BATCH = 400
_KIND_NAMES = {code: name for name, code in COLLATERAL_KINDS.items()}


def deploy_collateral_registry(registry: Any, sender: Any) -> Any:
    """Deploy a ``CollateralRegistry`` for the asset registry ``registry``."""
    coll, _ = deploy(load_project().CollateralRegistry, registry, sender=sender)
    return coll


def recorded(coll: Any, originator: str, loan_ids: list[str], *, chunk: int = 500) -> set[str]:
    """The loans of ``originator`` whose collateral is on chain already (read in JSON-RPC batches of ``chunk``)."""
    from chainabs.chain.calls import Views, view_calls
    from chainabs.chain.connection import connected_web3

    w3, fn = connected_web3(), Views(coll.abi, str(coll.address))
    done: set[str] = set()
    for start in range(0, len(loan_ids), chunk):
        part = loan_ids[start : start + chunk]
        answers = view_calls(w3, [fn.collateralOf(asset_id(originator, lid)) for lid in part])
        done.update(lid for lid, c in zip(part, answers, strict=True) if int(c[0]) != 0)
    return done


def record_collateral(coll: Any, originator: Any, typed: pd.DataFrame, *, batch: int = RECORD_BATCH,
                      on_batch: Callable[[int], None] | None = None) -> list[Receipt]:
    """Record a typed collateral file (:func:`chainabs.model.collateral.check_collateral`) for ``originator``'s
    loans, in batches that each land whole; loans already recorded are skipped, so a run killed half way is
    finished by running it again."""
    done = recorded(coll, str(getattr(originator, "address", originator)), [str(x) for x in typed["loan_id"]])
    todo = typed[~typed["loan_id"].astype(str).isin(done)].reset_index(drop=True)
    records = collateral_records(todo)
    ids = [loan_id_bytes(str(x)) for x in todo["loan_id"]]
    receipts = []
    for start in range(0, len(records), batch):
        receipts.append(transact(coll.record, ids[start : start + batch], records[start : start + batch],
                                 sender=originator))
        if on_batch is not None:
            on_batch(len(records[start : start + batch]))
    return receipts


def collateral_of(coll: Any, asset: int) -> dict[str, Any]:
    """An asset's collateral: kind name, appraisal date (unix), appraised value, identifier and lien hashes, the
    pool it was recorded in (0: none recorded) and whether it was released from that pool's tally."""
    c = coll.collateralOf(asset)
    pool_id, released = coll.recordedPool(asset)
    return {"kind": _KIND_NAMES.get(int(c[0]), "none"), "appraisal_date": int(c[1]), "appraised_value": int(c[2]),
            "identifier_hash": "0x" + bytes(c[3]).hex(), "lien_hash": "0x" + bytes(c[4]).hex(),
            "pool_id": int(pool_id), "released": bool(released)}


def releasable(coll: Any, assets: list[int], *, chunk: int = 500) -> list[int]:
    """The assets among ``assets`` whose collateral is still counted in its recorded pool's tally although the
    asset registry shows the asset out of that pool or closed (read in JSON-RPC batches of ``chunk``)."""
    from chainabs.chain.calls import Views, view_calls
    from chainabs.chain.connection import connected_web3

    w3, fn = connected_web3(), Views(coll.abi, str(coll.address))
    out: list[int] = []
    for start in range(0, len(assets), chunk):
        part = assets[start : start + chunk]
        out += [a for a, ok in zip(part, view_calls(w3, [fn.releasable(a) for a in part]), strict=True) if ok]
    return out


def release(coll: Any, sender: Any, assets: list[int], *, batch: int = RELEASE_BATCH) -> list[Receipt]:
    """Release the collateral of ``assets`` (each out of its recorded pool or closed) from their pools' tallies,
    in batches that each land whole; anyone may send them."""
    return [transact(coll.release, assets[start : start + batch], sender=sender)
            for start in range(0, len(assets), batch)]


def release_closed(coll: Any, sender: Any, originator: str, loan_ids: list[str]) -> list[Receipt]:
    """Release the collateral of those of ``originator``'s loans that left their pool or closed (the rest stay
    counted); returns the receipts (none when nothing is to release)."""
    return release(coll, sender, releasable(coll, [asset_id(originator, str(x)) for x in loan_ids]))


def pool_collateral(coll: Any, pool_id: int) -> tuple[int, int]:
    """(assets with collateral counted, their appraised value) of a pool: released collateral (assets bought back
    or closed) is out of it, collateral not released yet of such assets still in it (:func:`release_closed`)."""
    count, value = coll.poolCollateral(pool_id)
    return int(count), int(value)


def appraised_values(coll: Any, originator: str, loan_ids: list[str]) -> pd.DataFrame:
    """``asset_id`` and ``appraised_value`` of the given loans (for recovery rates against the appraisal)."""
    ids = [asset_id(originator, str(x)) for x in loan_ids]
    return pd.DataFrame({"asset_id": ids, "appraised_value": [int(coll.collateralOf(a)[2]) for a in ids]})


def reappraise(coll: Any, servicer: Any, asset: int, value: int, date: int, evidence: bytes) -> Receipt:
    """The pool's servicer records a new appraisal of ``asset``'s collateral."""
    return transact(coll.reappraise, asset, value, date, evidence, sender=servicer)


def at(address: str) -> Any:
    """The ``CollateralRegistry`` at ``address``."""
    return contract_at("CollateralRegistry", address)
