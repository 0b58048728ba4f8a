"""Revolving purchases on chain: the originator sells new receivables into its deal's (sold) pool.

``AssetRegistry.sellIntoPool`` registers the receivables into the pool, checks the live pool's concentration
limits and calls the pool's owner (the SPV, ``IPoolPurchaser.onPoolPurchase``), which pays them at par from the
pending report's principal collections, in the same transaction; the period's close nets them out of the
principal paid to the notes (``chainabs.model.deal.DealModel.net_purchases``). See ``docs/receivables.md``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from chainabs.chain.sender import Receipt, transact
from chainabs.model.tape import onboarding_order, pack_records


def sell_into_pool(registry: Any, pool_id: int, tape: pd.DataFrame, originator: Any) -> Receipt:
    """Sell the receivables of a typed ``tape`` (one batch, sorted by obligor here) into sold pool ``pool_id``;
    returns the receipt (events ``ReceivablesSold``, ``ReceivablesPurchased``, ``AssetsRegistered``)."""
    if tape.empty:
        raise ValueError("a purchase needs at least one receivable")
    return transact(registry.sellIntoPool, pool_id, pack_records(onboarding_order(tape)), sender=originator)

