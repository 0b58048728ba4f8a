"""``chainabs onboard``: put a loan tape into an asset registry pool, at scale and resumably.

Loads the tape (CSV / Parquet, or ``synthetic:<n>``) and validates the whole of it against the pool's criteria
(the default criteria of the asset kind for a new pool) first: a bad tape prints every bad row and sends
nothing, not even a registry or a pool. Then it deploys a registry if no address is given (the signer gets
ORIGINATOR_ROLE), creates a pool unless an existing pool id is given, onboards the tape in gas-sized batches,
seals the pool and checks that the chain holds exactly the tape (:func:`chainabs.chain.registry.onboard`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.console import Console

from chainabs.chain import connection, signers
from chainabs.chain.registry import (
    MAX_TRACKED_OBLIGORS, OnboardResult, create_pool, deploy_registry, onboard, pool_criteria, prepare_tape,
)
from chainabs.model import synthetic
from chainabs.model.tape import TapeValidationError


def run_onboarding(
    tape: str,
    registry_address: str | None = None,
    pool: str = "new",
    kind: str = "consumer_loan",
    today: str | None = None,
    console: Console | None = None,
    keystore: str | None = None,
    account: str | None = None,
    track_obligors: bool = False,
) -> OnboardResult:
    """Onboard ``tape`` (see the module doc) on the connected network; the arranger signs
    (:func:`chainabs.chain.signers.deployer`: ``keystore``, brownie ``account`` or the environment's key).
    ``track_obligors``: a new pool keeps its obligors' live exposures (a revolving pool with an obligor limit
    needs it)."""
    console = console or Console()
    proj = connection.load_project()
    signer = signers.deployer(keystore=keystore, account=account)
    try:
        day = dt.date.fromisoformat(today) if today else None
    except ValueError:
        raise ValueError(f"--today: {today!r} is not a date (YYYY-MM-DD)") from None
    frame = synthetic.tape_argument(tape, kind=kind)
    if pool != "new" and not registry_address:
        raise ValueError(f"--pool {pool}: an existing pool needs its registry (--registry ADDRESS)")
    if pool != "new" and track_obligors:
        raise ValueError(f"--track-obligors: only a new pool can start tracking its obligors, not pool {pool}")
    registry = proj.AssetRegistry.at(registry_address, persist=False) if registry_address else None
    # The whole tape is validated against the pool's criteria before anything is sent: a bad tape leaves no
    # registry and no pool behind.
    if pool == "new":
        criteria = synthetic.default_criteria(kind)
        pool_id = None
        check_day = day or max(dt.datetime.now(dt.UTC).date(), criteria.cutoff_date)
    else:
        try:
            pool_id = int(pool)
        except ValueError:
            raise ValueError(f"--pool: {pool!r} is not a pool id (a whole number, or new)") from None
        criteria = pool_criteria(registry, pool_id)
        check_day = day or validation_day(registry, pool_id)
    try:
        prepare_tape(frame, criteria, today=check_day)
    except TapeValidationError as err:
        console.print(f"[bold red]{len(err.issues)} tape issue(s); nothing was sent:[/]")
        for issue in err.issues:
            console.print(f"  {issue}")
        raise
    distinct = frame["obligor"].nunique()
    if track_obligors and distinct > MAX_TRACKED_OBLIGORS:  # the registry's lifetime cap: refused before sending
        raise ValueError(f"--track-obligors: the tape has {distinct:,} distinct obligors; a tracked pool takes "
                         f"at most {MAX_TRACKED_OBLIGORS:,} over its life (TooManyObligors); nothing was sent")
    if registry is None:
        registry = deploy_registry(signer, originators=(signer,))
        console.print(f"deployed AssetRegistry at {registry.address}")
    if pool_id is None:
        pool_id = create_pool(registry, signer, criteria, track_obligors=track_obligors)
        tracked = ", tracking its obligors" if track_obligors else ""
        console.print(f"created pool {pool_id} (cut-off {criteria.cutoff_date}{tracked})")
    result = onboard(registry, pool_id, frame, signer, today=check_day, console=console)
    console.print(
        f"pool {pool_id}: {result.assets} assets ({result.skipped} already on chain, {result.registered} sent in "
        f"{result.batches} batches, {result.gas_per_asset:,.0f} gas/asset), root {result.root}, post-check ok"
    )
    return result


def validation_day(registry: Any, pool_id: int) -> dt.date:
    """The validation date: today, or the pool's cut-off if today is earlier (a historical demo pool)."""
    now = dt.datetime.now(dt.UTC).date()
    return max(now, pool_criteria(registry, pool_id).cutoff_date)
