"""The servicer's side on chain: the asset registry brought in line with a period's loan-level servicing
tape (each changed loan's status and principal, with its servicing leaf as evidence), then the period
report submitted with the collections and the tape's Merkle root. The tape itself (format, commitment,
aggregation) is :mod:`chainabs.model.servicing`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from chainabs.chain import spv as spvlib
from chainabs.chain.sender import Receipt, transact
from chainabs.model.assets import asset_id
from chainabs.model.servicing import period_report, registry_updates, servicing_root
from chainabs.model.waterfall import PeriodReport


def sync_registry(registry: Any, servicer: Any, previous: pd.DataFrame, tape: pd.DataFrame, originator: str,
                  *, batch: int = 400) -> int:
    """Send the :func:`chainabs.model.servicing.registry_updates` in ``updateAssets`` batches (servicer has
    SERVICER_ROLE); returns the number of assets updated. Call it before ``submitReport`` of the same period."""
    ids = {str(lid): asset_id(originator, str(lid)) for lid in tape["loan_id"]}
    updates = registry_updates(previous, tape, ids)
    for start in range(0, len(updates), batch):
        transact(registry.updateAssets, updates[start : start + batch], sender=servicer)
    return len(updates)


def submit_period(spv: Any, registry: Any, servicer: Any, previous: pd.DataFrame, tape: pd.DataFrame,
                  originator: str, tape_uri: str) -> tuple[PeriodReport, Receipt]:
    """The servicer's period: registry in line with the tape, then the tape's aggregates and root submitted
    with the collections (``chainabs.chain.spv.submit_report``). Returns the report and the receipt."""
    report = period_report(tape)
    sync_registry(registry, servicer, previous, tape, originator)
    receipt = spvlib.submit_report(spv, servicer, report, bytes.fromhex(servicing_root(tape)[2:]), tape_uri)
    return report, receipt

