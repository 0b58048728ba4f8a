"""The servicer's side on chain: the asset registry brought in line with a period's loan-level servicing
tape (each changed loan's status and principal, with its servicing leaf as evidence), then the period
report submitted with the collections and the tape's Merkle root. The tape itself (format, commitment,
aggregation) is :mod:`chainabs.model.servicing`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from chainabs.chain import connection as chain
from chainabs.chain import spv as spvlib
from chainabs.model.servicing import ServicingError, period_report, registry_updates, servicing_root
from chainabs.model.assets import asset_id
from chainabs.model.waterfall import PeriodReport

def sync_registry(registry: Any, servicer: Any, previous: pd.DataFrame, tape: pd.DataFrame, originator: str,
                  *, batch: int = 400) -> int:
    """Send the :func:`registry_updates` in ``updateAssets`` batches (servicer has SERVICER_ROLE); returns
    the number of assets updated. Call it before ``submitReport`` of the same period."""

    from brownie import web3

    ids = {str(lid): asset_id(originator, str(lid)) for lid in tape["loan_id"]}
    updates = registry_updates(previous, tape, ids)
    for start in range(0, len(updates), batch):
        # Large batches take the node a moment to mine: brownie's own wait can then report the transaction
        # "dropped" (a race in its confirmation thread), so wait for the receipt through web3.
        sent = registry.updateAssets(updates[start : start + batch], chain.tx(servicer, required_confs=0))
        receipt = web3.eth.wait_for_transaction_receipt(sent.txid, timeout=300)
        if receipt["status"] != 1:
            raise ServicingError(f"updateAssets batch at update {start} reverted (tx {sent.txid})")
    return len(updates)

def submit_period(spv: Any, registry: Any, servicer: Any, previous: pd.DataFrame, tape: pd.DataFrame,
                  originator: str, tape_uri: str) -> tuple[PeriodReport, Any]:
    """The servicer's period: registry in line with the tape, then the tape's aggregates and root submitted
    with the collections (``chainabs.chain.spv.submit_report``). Returns the report and the receipt."""

    report = period_report(tape)
    sync_registry(registry, servicer, previous, tape, originator)
    receipt = spvlib.submit_report(spv, servicer, report, bytes.fromhex(servicing_root(tape)[2:]), tape_uri)
    return report, receipt

