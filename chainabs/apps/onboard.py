"""``chainabs onboard``: put a loan tape into an asset registry pool, at scale and resumably.

Loads the tape (CSV / Parquet, or ``synthetic:<n>``) and validates the whole of it against the pool's criteria
(the default criteria of the asset kind for a new pool) first: a bad tape prints every bad row (once) and sends
nothing, not even a registry or a pool. Then it deploys a registry if no address is given (the signer gets
ORIGINATOR_ROLE), creates a pool unless an existing pool id is given, onboards the tape in gas-sized batches,
seals the pool and checks that the chain holds exactly the tape (:func:`chainabs.chain.registry.onboard`).

Re-running the same command resumes. The registry and the pool a run makes for a new pool (``--pool new``)
are recorded before the first batch is sent, in a deployment manifest (:class:`chainabs.chain.deploy.Manifest`)
``deployments/<chainid>/onboard-<tape>-<key>.json`` keyed by the tape's content, its kind and the signer
(:func:`record_name`): the registry deployed and its role granted as steps of a
:class:`chainabs.chain.deploy.Deployer` plan, the pool created by :func:`chainabs.chain.deployment.ensure_pool`
(an interrupted creation is found again, never repeated). A later run of the same tape without ``--pool`` reuses
them, after checking that they are still on this chain (the registry has code, the pool exists and is the
signer's, the block recorded after the pool was created is still in the chain); a restarted local chain starts
over (the record moved aside), a live one is refused. Before a new pool is created in an existing registry the
tape is checked against it: loans already registered are refused with nothing sent. An interrupted run prints
the options that resume it (``--registry ADDR --pool N``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shlex
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from chainabs.chain import connection, signers
from chainabs.chain.deploy import ONBOARD_RECORD_PREFIX, Deployer, DeploymentError, DeployStep, Manifest, move_aside
from chainabs.chain.deployment import ensure_pool
from chainabs.chain.orchestration import grant_step
from chainabs.chain.registry import (
    MAX_TRACKED_OBLIGORS, OnboardResult, onboard, pool_criteria, pool_info, prepare_tape, refuse_registered,
    tracks_obligors,
)
from chainabs.model import synthetic
from chainabs.model.tape import TapeValidationError, asset_ids

#: Prefix of an onboarding record's name in ``deployments/<chainid>/``.
RECORD_PREFIX = ONBOARD_RECORD_PREFIX


class TapeRefused(ValueError):
    """A bad tape whose every issue :func:`run_onboarding` has already printed: the error names only their
    count. ``issues`` holds them all (the :class:`chainabs.model.tape.TapeValidationError` is its cause)."""

    def __init__(self, error: TapeValidationError):
        self.issues = list(error.issues)
        super().__init__(f"{len(self.issues)} tape issue(s), every one listed above; nothing was sent")


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
    needs it). Raises :class:`TapeRefused` for a bad tape (every issue printed on ``console``)."""
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
        ordered = prepare_tape(frame, criteria, today=check_day)
    except TapeValidationError as err:
        console.print(f"[bold red]{len(err.issues)} tape issue(s); nothing was sent:[/]")
        for issue in err.issues:
            console.print(f"  {issue}", highlight=False, soft_wrap=True)
        raise TapeRefused(err) from err
    distinct = frame["obligor"].nunique()
    if track_obligors and distinct > MAX_TRACKED_OBLIGORS:  # the registry's lifetime cap: refused before sending
        raise ValueError(f"--track-obligors: the tape has {distinct:,} distinct obligors; a tracked pool takes "
                         f"at most {MAX_TRACKED_OBLIGORS:,} over its life (TooManyObligors); nothing was sent")
    resume = ResumeHint(tape, kind, today)
    deployer = None
    try:
        if pool_id is None:
            deployer = Deployer(record_name(tape, frame, kind, signer.address), signer, project=proj, out=console)
            recorded = _recorded_registry(deployer, registry_address, proj, signer, console)
            if registry is None and recorded is not None:
                registry = recorded
            if registry is not None and "pool_id" not in deployer.manifest.meta:
                # A new pool in an existing registry: loans already registered would fail every batch; refused
                # before the pool (or the record) exists.
                refuse_registered(registry, asset_ids(ordered, signer.address), ordered["loan_id"].tolist())
            resume.record = deployer.manifest.path
            registry, pool_id = _open_pool(deployer, registry, signer, criteria, track_obligors, tape, kind, console)
        resume.registry, resume.pool = str(registry.address), pool_id
        result = onboard(registry, pool_id, frame, signer, today=check_day, console=console)
    except KeyboardInterrupt:
        console.print(resume.line(), highlight=False, soft_wrap=True)
        raise
    console.print(
        f"pool {pool_id}: {result.assets} assets ({result.skipped} already on chain, {result.registered} sent in "
        f"{result.batches} batches, {result.gas_per_asset:,.0f} gas/asset), root {result.root}, post-check ok"
    )
    return result


def validation_day(registry: Any, pool_id: int) -> dt.date:
    """The validation date: today, or the pool's cut-off if today is earlier (a historical demo pool)."""
    now = dt.datetime.now(dt.UTC).date()
    return max(now, pool_criteria(registry, pool_id).cutoff_date)


# ------------------------------------------------------------------------------------------------ the record


def record_name(tape: str, frame: pd.DataFrame, kind: str, originator: str) -> str:
    """The manifest name of a tape's onboarding: ``onboard-<tape name>-<key>``, the key the first 12 hex digits
    of the SHA-256 of the tape's content (as read), its kind and the signer (the pool's originator). The same
    tape onboarded by the same signer finds its record again, wherever the file was moved; another content,
    kind or signer gets another record."""
    content = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    header = "\n".join([kind, originator.lower(), ",".join(map(str, frame.columns)), ""]).encode()
    key = hashlib.sha256(header + content).hexdigest()[:12]
    name = tape.replace(":", "-") if synthetic.is_synthetic(tape) else Path(tape).stem
    return f"{RECORD_PREFIX}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name).strip('-.') or 'tape'}-{key}"


def _stale(manifest: Manifest, proj: Any, signer: Any) -> str | None:
    """Why the registry and pool ``manifest`` records are not on this chain (None when they are, or when it
    records none)."""
    from brownie import web3

    anchor = manifest.meta.get("anchor")
    if anchor:
        try:
            found = "0x" + bytes(web3.eth.get_block(int(anchor["block"]))["hash"]).hex()
        except Exception:  # noqa: BLE001 - web3 raises BlockNotFound beyond the head
            found = None
        if found != anchor["hash"]:
            return f"block {anchor['block']} recorded after the pool was made is not in this chain"
    address = manifest.contracts.get("registry", {}).get("address")
    if address is None:
        return None
    if len(web3.eth.get_code(address)) == 0:
        return f"no code at registry {address}"
    pool_id = manifest.meta.get("pool_id")
    if pool_id is None:
        return None
    registry = proj.AssetRegistry.at(address, persist=False)
    try:
        if int(registry.poolCount()) < int(pool_id):
            return f"registry {address} has no pool {pool_id}"
        owner = str(pool_info(registry, int(pool_id))["originator"])
    except Exception as exc:  # noqa: BLE001 - another contract at the address answers nothing sensible
        return f"registry {address} does not answer as an AssetRegistry ({type(exc).__name__})"
    if owner.lower() != str(signer.address).lower():
        return f"pool {pool_id} of registry {address} belongs to {owner}"
    return None


def _recorded_registry(deployer: Deployer, registry_address: str | None, proj: Any, signer: Any,
                       console: Console) -> Any | None:
    """The registry recorded by an earlier run of this tape, if it is still on this chain (its pool reused, said
    in one line); None when there is none. A record of another registry than ``registry_address``, or one the
    chain no longer holds (a restarted local chain), is moved aside and the run starts over; on a live network
    a record the chain does not hold is refused."""
    manifest = deployer.manifest
    if not manifest.path.exists():
        return None
    address = manifest.contracts.get("registry", {}).get("address")
    pool_id = manifest.meta.get("pool_id")
    if registry_address and address and address.lower() != registry_address.lower():
        _set_aside(deployer, "other-registry", f"it records registry {address}, not {registry_address}", console)
        return None
    reason = _stale(manifest, proj, signer)
    if reason is not None:
        if not connection.is_local():
            raise DeploymentError(
                f"{manifest.path} records this tape's onboarding on chain {manifest.chain_id}, but {reason} (another "
                "node with the same chain id, or the chain was reset): move the record aside to start over, or "
                "give --registry ADDRESS --pool N")
        _set_aside(deployer, "stale", f"{reason}: the local chain was restarted; starting over", console)
        return None
    if address is None:
        return None
    if pool_id is not None:
        console.print(f"resuming pool {pool_id} of registry {address}: recorded by an earlier run of this tape in "
                      f"{manifest.path} (--registry/--pool choose another)", highlight=False, soft_wrap=True)
    else:
        console.print(f"reusing registry {address}: deployed by an earlier run of this tape ({manifest.path})",
                      highlight=False, soft_wrap=True)
    return deployer.at("registry")


def _set_aside(deployer: Deployer, why: str, reason: str, console: Console) -> None:
    """Move the deployer's record aside (``<name>.<why>-<time>.json``) and start an empty one."""
    old = deployer.manifest
    aside = move_aside(old.path, why)
    deployer.manifest = Manifest(path=old.path, deal=old.deal, chain_id=old.chain_id)
    console.print(f"earlier onboarding record of this tape not used ({reason}): moved to {aside}",
                  highlight=False, soft_wrap=True)


def _anchor(manifest: Manifest) -> None:
    """Record the head block (number and hash): a later run finds out from it whether this is still the chain
    the record was made on."""
    from brownie import web3

    head = web3.eth.get_block("latest")
    manifest.meta["anchor"] = {"block": int(head["number"]), "hash": "0x" + bytes(head["hash"]).hex()}
    manifest.save()


def _open_pool(deployer: Deployer, registry: Any, signer: Any, criteria: Any, track_obligors: bool, tape: str,
               kind: str, console: Console) -> tuple[Any, int]:
    """The registry and the new pool of this tape, recorded in the deployer's manifest before the first batch:
    the registry (``registry``, else deployed with the signer as originator) and the pool (recorded, else
    created)."""
    manifest = deployer.manifest
    fresh = "pool_id" not in manifest.meta
    meta = manifest.meta
    meta.update({"tape": tape if synthetic.is_synthetic(tape) else str(Path(tape).resolve()), "kind": kind,
                 "originator": str(signer.address)})
    if "anchor" not in meta:
        _anchor(manifest)
    if registry is not None:
        if "registry" not in manifest.contracts:
            deployer.record_existing("registry", "AssetRegistry", str(registry.address))
    else:
        plan = [DeployStep("registry", "AssetRegistry", (signer.address,)),
                grant_step("registry-originator", "registry", "ORIGINATOR_ROLE", signer.address)]
        if deployer.pending(plan):
            deployer.run(plan, review=False)
        registry = deployer.at("registry")
    pool_id = ensure_pool(deployer, registry, signer, criteria, track_obligors=track_obligors)
    if track_obligors and not tracks_obligors(registry, pool_id):
        raise ValueError(f"--track-obligors: pool {pool_id} (recorded in {manifest.path}) was created without it and "
                         "already holds assets; only a new pool can start tracking its obligors")
    if fresh:
        _anchor(manifest)  # a block after the pool's creation: gone if the chain is reset to before it
        tracked = ", tracking its obligors" if track_obligors else ""
        console.print(f"created pool {pool_id} (cut-off {criteria.cutoff_date}{tracked}) in registry "
                      f"{registry.address}; recorded in {manifest.path}", highlight=False, soft_wrap=True)
    return registry, pool_id


class ResumeHint:
    """What an interrupted run prints: the command (with ``--registry ADDR --pool N`` once they are known) that
    resumes it."""

    def __init__(self, tape: str, kind: str, today: str | None) -> None:
        self.tape, self.kind, self.today = tape, kind, today
        self.registry: str | None = None
        self.pool: int | None = None
        self.record: Path | None = None

    def command(self) -> str:
        words = ["chainabs", "onboard", self.tape]
        if self.registry is not None:
            words += ["--registry", self.registry]
        if self.pool is not None:
            words += ["--pool", str(self.pool)]
        if self.kind != "consumer_loan":
            words += ["--kind", self.kind]
        if self.today:
            words += ["--today", self.today]
        return " ".join(shlex.quote(w) for w in words)

    def line(self) -> str:
        recorded = f" (or the same command again: recorded in {self.record})" if self.record else ""
        if self.pool is None:
            return (f"interrupted before the pool was ready; nothing is lost: resume with {self.command()}"
                    f"{recorded}")
        return (f"interrupted: pool {self.pool} of registry {self.registry} keeps every batch sent; resume with "
                f"{self.command()}{recorded}")
