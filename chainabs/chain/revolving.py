"""Revolving purchases on chain: the originator sells new receivables into its deal's (sold) pool.

``AssetRegistry.sellIntoPool`` registers the receivables into the pool, checks the live pool's concentration
limits and calls the pool's owner (the SPV, ``IPoolPurchaser.onPoolPurchase``), which pays them at par from the
pending report's principal collections, in the same transaction; the period's close nets them out of the
principal paid to the notes (``chainabs.model.deal.DealModel.net_purchases``). Dilutions (credit notes,
disputes) are recorded by the deal's servicing court (:func:`dilute`). See ``docs/receivables.md``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from chainabs.chain.contracts import contract_at
from chainabs.chain.sender import Receipt, transact
from chainabs.model.tape import onboarding_order, pack_records


def sell_into_pool(registry: Any, pool_id: int, tape: pd.DataFrame, originator: Any) -> Receipt:
    """Sell the receivables of a typed ``tape`` (one batch, sorted by obligor here) into sold pool ``pool_id``;
    returns the receipt (events ``ReceivablesSold``, ``ReceivablesPurchased``, ``AssetsRegistered``)."""
    if tape.empty:
        raise ValueError("a purchase needs at least one receivable")
    return transact(registry.sellIntoPool, pool_id, pack_records(onboarding_order(tape)), sender=originator)



def court_of(spv: Any) -> Any:
    """The deal's servicing court (``SPVTerms.court``), which records its dilutions."""
    return contract_at("ServicingCourt", spv.terms()[9])


def dilute(spv: Any, asset_id: int, amount: int, evidence: bytes | str, sender: Any, *,
           currency: Any | None = None) -> Receipt:
    """Record a credit note or a dispute that reduces receivable ``asset_id`` of ``spv``'s pool by ``amount``
    (base units), with the 32-byte hash of its ``evidence``, in the deal's current period (no report pending).

    As the deal's dilution terms say: a **loss** (``sender`` holds the SPV's SERVICER_ROLE; the period's report
    must count it in its defaults) or a **repurchase** (``sender`` is the originator, who pays ``amount`` now:
    with ``currency``, the court is approved for it first; the report must count it in its prepayments, and the
    court pays it to the SPV with the report). Event ``ReceivableDiluted``."""
    court = court_of(spv)
    if currency is not None and court.dilutionTerms(spv)[1]:
        transact(currency.approve, court, amount, sender=sender)
    return transact(court.dilute, spv, asset_id, amount, evidence, sender=sender)
