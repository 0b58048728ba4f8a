"""Asset registry client: deploy, create pools, onboard tapes at scale, check, rebuild history from events.

Onboarding (:func:`onboard`) validates the whole tape first (nothing is sent if any row is bad), orders it
the way the registry needs (:func:`chainabs.model.tape.onboarding_order`), sends gas-sized batches of
``registerAndPool`` with a progress bar, seals the pool with the tape's StandardMerkleTree root and checks
afterwards that the chain holds exactly the tape (:func:`post_check`).

It is resumable: the pool's ``registered`` counter and ``leafChain`` (running hash of registered leaves)
say how much of the ordered tape is on chain; the prefix is verified against the tape and skipped. A second
run registers nothing twice, and an interrupted run continues where it stopped. Every transaction is a
whole batch (it reverts whole), so there is no partial state to repair.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from chainabs.chain import invoices
from chainabs.chain.connection import load_project
from chainabs.chain.events import contract_logs, log_start
from chainabs.chain.sender import deploy, transact
from chainabs.model.merkle import leaf_hash
from chainabs.model.assets import (
    LEAF_TYPES,
    RECORD_BYTES,
    STATUSES,
    TAPE_COLUMNS,
    status_for_days,
    unpack_record,
)
from chainabs.model.assets import asset_id as model_asset_id
from chainabs.model.tape import (
    PoolCriteria,
    TapeAggregates,
    aggregates,
    asset_ids,
    check_tape,
    leaf_chain,
    leaf_hashes,
    onboarding_order,
    tape_tree,
    pack_records,
)

#: Bucket kinds of ``concentration`` / ``ConcentrationBreached``.
BUCKETS: tuple[str, ...] = ("Region", "Industry", "Obligor")
#: Conservative first estimate of gas per asset, before a batch has been measured.
INITIAL_GAS_PER_ASSET = 32_000
#: Transactions above ~128 kB are refused by common node tx pools (geth); stay below.
DEFAULT_MAX_TX_BYTES = 120_000


class OnboardingError(RuntimeError):
    """The chain does not hold what the tape says (or cannot take it); nothing inconsistent was sent."""


@dataclass
class OnboardResult:
    """What :func:`onboard` did."""

    pool_id: int
    assets: int  # rows of the tape
    skipped: int  # already on chain before this run
    registered: int  # sent by this run
    batches: int
    gas_used: int  # by registerAndPool transactions of this run
    seal_gas: int
    root: str
    leaf_chain: str
    sealed: bool
    batch_sizes: list[int] = field(default_factory=list)
    batch_gas: list[int] = field(default_factory=list)  # gas used by each registerAndPool transaction

    @property
    def gas_per_asset(self) -> float:
        """Amortized gas per asset registered and pooled by this run (registerAndPool transactions)."""
        return self.gas_used / self.registered if self.registered else 0.0


@dataclass(frozen=True)
class AssetEvent:
    """One event of an asset's history, in chain order."""

    block: int
    log_index: int
    tx: str
    name: str
    args: dict[str, Any]


# ---------------------------------------------------------------------------------------------------- setup


def deploy_registry(admin: Any, *, originators: tuple[Any, ...] = ()) -> Any:
    """Deploy an ``AssetRegistry`` administered by ``admin`` and grant ORIGINATOR_ROLE to ``originators``."""
    registry, _ = deploy(load_project().AssetRegistry, admin, sender=admin)
    grant_roles(registry, admin, originators=originators)
    return registry


def grant_roles(registry: Any, admin: Any, *, originators: tuple[Any, ...] = ()) -> None:
    """Grant ORIGINATOR_ROLE (``admin`` holds DEFAULT_ADMIN_ROLE). Servicers are named per pool
    (:func:`set_pool_servicers`)."""
    role = registry.ORIGINATOR_ROLE()
    for account in originators:
        if not registry.hasRole(role, account):
            transact(registry.grantRole, role, account, sender=admin)


def set_pool_servicers(registry: Any, owner: Any, pool_id: int, servicer: Any, disposal_agent: Any) -> None:
    """Name the pool's servicer (loan-level updates) and disposal agent (recovery steps), unless already so
    (``owner``: the pool's owner, the originator before the sale)."""
    figures = registry.servicingFigures(pool_id)
    if (str(figures[-2]).lower(), str(figures[-1]).lower()) != (str(servicer).lower(), str(disposal_agent).lower()):
        transact(registry.setPoolServicers, pool_id, servicer, disposal_agent, sender=owner)


def servicing_figures(registry: Any, pool_id: int) -> dict[str, Any]:
    """The pool's servicing figures (``servicingFigures``): count, principal, bucket tallies, defaulted claims,
    cumulative flows, servicer and disposal agent."""
    f = registry.servicingFigures(pool_id)
    flows = dict(zip(("defaulted", "prepaid_in_full", "repaid", "recoveries", "repurchased"),
                     (int(v) for v in f[6]), strict=True))
    return {"count": int(f[0]), "principal": int(f[1]), "delinquent_30": int(f[2]), "delinquent_60": int(f[3]),
            "delinquent_90": int(f[4]), "defaulted_claims": int(f[5]), "flows": flows, "servicer": str(f[7]),
            "disposal_agent": str(f[8])}


def asset_states(registry: Any, ids: Sequence[int], chunk: int = 1_000) -> list[tuple[str, int, int]]:
    """(status name, principal, pool id) of each asset, read in JSON-RPC batches."""
    from chainabs.chain.calls import Views, view_calls
    from chainabs.chain.connection import connected_web3

    w3 = connected_web3()
    fn = Views(registry.abi, str(registry.address))
    out: list[tuple[str, int, int]] = []
    for start in range(0, len(ids), chunk):
        for info in view_calls(w3, [fn.assetInfo(int(i)) for i in ids[start : start + chunk]]):
            out.append((STATUSES[int(info[0])], int(info[2]), int(info[1])))
    return out


#: Obligors a pool that tracks them can take over its life (a 16-bit index per asset; ``TooManyObligors`` above).
MAX_TRACKED_OBLIGORS = 65_536


def create_pool(registry: Any, originator: Any, criteria: PoolCriteria, *, track_obligors: bool = False) -> int:
    """Create a pool of ``originator`` with ``criteria``; returns its id. ``track_obligors``: the pool keeps each
    obligor's live exposure (``trackObligors``), which a pool with an obligor limit needs to take revolving
    purchases; it costs onboarding one storage index and a half-slot sum per new obligor."""
    receipt = transact(registry.createPool, criteria.to_chain(), sender=originator)
    pool_id = int(receipt.event("PoolCreated")["poolId"])
    if track_obligors:
        transact(registry.trackObligors, pool_id, sender=originator)
    return pool_id


def tracks_obligors(registry: Any, pool_id: int) -> bool:
    """Whether a pool keeps its obligors' live exposures (``obligorExposure`` answers instead of reverting
    ``ObligorsNotTracked``)."""
    from web3.exceptions import ContractLogicError

    from chainabs.chain.calls import Views, view_calls
    from chainabs.chain.connection import connected_web3

    try:
        view_calls(connected_web3(), [Views(registry.abi, str(registry.address)).obligorExposure(pool_id, bytes(32))])
    except ContractLogicError:
        return False
    return True


def _obligor_key(obligor: str | bytes) -> bytes:
    return bytes.fromhex(obligor[2:]) if isinstance(obligor, str) else bytes(obligor)


def obligor_exposure(registry: Any, pool_id: int, obligor: str | bytes) -> int:
    """Live exposure (outstanding principal, base units) of ``obligor`` (hex or bytes32) in a pool that tracks
    its obligors."""
    return int(registry.obligorExposure(pool_id, _obligor_key(obligor)))


def obligor_exposures(registry: Any, pool_id: int, obligors: Sequence[str | bytes]) -> list[int]:
    """:func:`obligor_exposure` of each of ``obligors``, in one JSON-RPC batch."""
    from chainabs.chain.calls import Views, view_calls
    from chainabs.chain.connection import connected_web3

    fn = Views(registry.abi, str(registry.address))
    calls = [fn.obligorExposure(pool_id, _obligor_key(o)) for o in obligors]
    return [int(v) for v in view_calls(connected_web3(), calls)]


def pool_criteria(registry: Any, pool_id: int) -> PoolCriteria:
    """The criteria of a pool, read from chain."""
    return PoolCriteria.from_chain(registry.poolCriteria(pool_id))


def pool_info(registry: Any, pool_id: int) -> dict[str, Any]:
    """``poolInfo`` as a dict (field name -> value), from a brownie contract or a bound one (whose web3 call
    answers the struct as a plain tuple: named from the ABI)."""
    info = registry.poolInfo(pool_id)
    if hasattr(info, "dict"):
        return dict(info.dict())
    if isinstance(info, Mapping):
        return dict(info)
    (out,) = next(e for e in registry.abi if e.get("name") == "poolInfo")["outputs"]
    return dict(zip((c["name"] for c in out["components"]), info, strict=True))


# ---------------------------------------------------------------------------------------------------- onboarding


def prepare_tape(tape: pd.DataFrame, criteria: PoolCriteria, *, today: dt.date | None = None) -> pd.DataFrame:
    """Validate (raises :class:`chainabs.model.tape.TapeValidationError` listing every bad row) and put the tape in
    onboarding order."""
    return onboarding_order(check_tape(tape, criteria, today=today))


def records_per_tx(max_tx_bytes: int = DEFAULT_MAX_TX_BYTES) -> int:
    """Records of one ``registerAndPool`` transaction within ``max_tx_bytes`` of calldata."""
    return max(1, (max_tx_bytes - 256) // RECORD_BYTES)


def batch_size(gas_per_asset: float, gas_per_tx: int, max_tx_bytes: int = DEFAULT_MAX_TX_BYTES) -> int:
    """Assets per ``registerAndPool`` transaction: as many as fit both the gas and the size budget."""
    by_bytes = records_per_tx(max_tx_bytes)
    by_gas = max(1, int((gas_per_tx - 100_000) // max(gas_per_asset, 1.0)))
    return min(by_bytes, by_gas)


def fit_batch(estimate: Callable[[int], int], guess: int, gas_per_tx: int, limit: int, tries: int = 3) -> int:
    """The largest batch size (at most ``limit``) whose ``estimate(n)`` gas fits ``gas_per_tx``, searched from
    ``guess`` in at most ``tries`` estimates: a proportional step from one measured point (it undershoots,
    since part of a batch's gas is fixed), then secant steps through the last two. Returns at least 1."""
    fits, fails = 0, limit + 1  # largest size known to fit, smallest known not to
    points: list[tuple[int, int]] = []
    n = max(1, min(guess, limit))
    for _ in range(tries):
        gas = estimate(n)
        points.append((n, gas))
        if gas <= gas_per_tx:
            fits = max(fits, n)
        else:
            fails = min(fails, n)
        if fits + 1 >= fails:
            break
        if len(points) >= 2 and points[-1][0] != points[-2][0] and points[-1][1] != points[-2][1]:
            (n1, g1), (n2, g2) = points[-2], points[-1]
            step = (g2 - g1) / (n2 - n1)  # marginal gas per asset
            nxt = int(n2 + (gas_per_tx - g2) / step) if step > 0 else n2
        else:
            nxt = int(n * gas_per_tx / gas)
        nxt = min(max(nxt, fits + 1), fails - 1)
        if nxt == n:
            break
        n = nxt
    return max(fits, 1)


def default_gas_per_tx() -> int:
    """Gas budget of one batch: half the block gas limit, at most 16 million (under the 2**24 per-transaction cap of recent forks)."""
    from brownie import web3

    return min(int(web3.eth.get_block("latest")["gasLimit"]) // 2, 16_000_000)


def onboard(
    registry: Any,
    pool_id: int,
    tape: pd.DataFrame,
    originator: Any,
    *,
    today: dt.date | None = None,
    gas_per_tx: int | None = None,
    max_tx_bytes: int = DEFAULT_MAX_TX_BYTES,
    seal: bool = True,
    progress: bool = True,
    max_batches: int | None = None,
    console: Console | None = None,
) -> OnboardResult:
    """Register and pool every asset of ``tape`` into ``pool_id`` (see module doc), seal, post-check.

    ``max_batches`` stops after that many batches of this run (no seal): what an interrupted run leaves.
    Raises :class:`chainabs.model.tape.TapeValidationError` (bad tape, nothing sent) or :class:`OnboardingError`.
    """
    console = console or Console()
    criteria = pool_criteria(registry, pool_id)
    ordered = prepare_tape(tape, criteria, today=today)
    owner_address = str(originator.address if hasattr(originator, "address") else originator)
    info = pool_info(registry, pool_id)
    if str(info["originator"]).lower() != owner_address.lower():
        raise OnboardingError(f"pool {pool_id} belongs to originator {info['originator']}, not {owner_address}")
    leaves = leaf_hashes(ordered, owner_address)
    if info["isSealed"] and moved_since_seal(info):
        # Sealed by an earlier run, and serviced (or bought into) since: only the sealed cut-off can be compared.
        root = tape_tree(ordered, owner_address).root
        problems = sealed_check(info, root, aggregates(ordered))
        if problems:
            raise OnboardingError(f"pool {pool_id} was sealed with another tape:\n  " + "\n  ".join(problems))
        return OnboardResult(pool_id, len(ordered), len(ordered), 0, 0, 0, 0, root, "0x" + leaf_chain(leaves).hex(),
                             True)
    done = int(info["registered"])
    if done > len(ordered):
        raise OnboardingError(f"pool {pool_id} holds {done} assets, more than the tape's {len(ordered)}")
    if leaf_chain(leaves[:done]) != bytes(info["leafChain"]):
        raise OnboardingError(
            f"pool {pool_id} holds {done} assets that are not the first {done} of this tape (leaf chain differs)"
        )
    ids = asset_ids(ordered, owner_address)
    refuse_registered(registry, ids[done:], ordered["loan_id"].tolist()[done:])
    _refuse_unconfirmed_invoices(registry, ordered.iloc[done:].reset_index(drop=True), owner_address)
    records = pack_records(ordered)
    gas_per_tx = gas_per_tx or default_gas_per_tx()
    result = OnboardResult(pool_id, len(ordered), done, 0, 0, 0, 0, "", "", bool(info["isSealed"]))
    est = float(INITIAL_GAS_PER_ASSET)
    cursor = done
    with Progress(
        TextColumn("[bold]pool {task.fields[pool]}"), BarColumn(), MofNCompleteColumn(), TextColumn("assets"),
        TextColumn("{task.fields[gas]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, disable=not progress, transient=False,
    ) as bar:
        task = bar.add_task("onboard", total=len(ordered), completed=done, pool=pool_id, gas="")
        while cursor < len(ordered) and (max_batches is None or result.batches < max_batches):
            remaining = len(ordered) - cursor
            by_bytes = min(records_per_tx(max_tx_bytes), remaining)
            n = min(batch_size(est, gas_per_tx, max_tx_bytes), remaining)
            if n < by_bytes:  # gas-bound: fill the gas budget from estimates rather than the running average

                def estimate(k: int, start: int = cursor) -> int:
                    return int(registry.registerAndPool.estimate_gas(pool_id, records[start : start + k],
                                                                     {"from": originator}))

                n = fit_batch(estimate, n, gas_per_tx, by_bytes)
            used = transact(registry.registerAndPool, pool_id, records[cursor : cursor + n], sender=originator).gas_used
            est = used / n * 1.02
            cursor += n
            result.batches += 1
            result.registered += n
            result.gas_used += used
            result.batch_sizes.append(n)
            result.batch_gas.append(used)
            bar.update(task, completed=cursor, gas=f"{used / n:,.0f} gas/asset")
    chain_hash = leaf_chain(leaves)
    result.leaf_chain = "0x" + chain_hash.hex()
    if cursor < len(ordered):
        return result
    tree = tape_tree(ordered, owner_address)
    result.root = tree.root
    if seal and not result.sealed:
        receipt = transact(registry.seal, pool_id, tree.root, chain_hash, sender=originator)
        result.seal_gas = int(receipt.gas_used)
        result.sealed = True
    problems = post_check(registry, pool_id, ordered, owner_address, require_sealed=seal)
    if problems:
        raise OnboardingError("post-check failed:\n  " + "\n  ".join(problems))
    return result


def _refuse_unconfirmed_invoices(registry: Any, rest: pd.DataFrame, originator: str) -> None:
    """With an invoice ledger attached to the registry, refuse (before sending anything) trade receivables their
    debtors did not confirm to ``originator`` and invoices already financed (rows counted from the first one not
    yet registered)."""
    ledger = invoices.ledger_of(registry)
    problems = invoices.tape_problems(ledger, rest, originator) if ledger is not None and len(rest) else []
    if problems:
        raise OnboardingError(f"{len(problems)} receivable(s) the invoice ledger refuses:\n  " + "\n  ".join(problems))


#: How many loan ids an error about many loans names before "and N more".
NAMED_LOANS = 3


def registered_loans(registry: Any, ids: Sequence[int], loan_ids: Sequence[str],
                     chunk: int = 2_000) -> list[tuple[str, int]]:
    """(loan id, pool id) of each asset of ``ids`` (``loan_ids`` in the same order) already registered in
    ``registry``, in tape order (pool 0: repurchased out of its pool). One ``countRegistered`` per chunk, then
    JSON-RPC batches for the chunks that hold registered assets."""
    from chainabs.chain.calls import Views, view_calls
    from chainabs.chain.connection import connected_web3

    fn = Views(registry.abi, str(registry.address))
    taken: list[tuple[int, str]] = []
    for start in range(0, len(ids), chunk):
        part = [int(i) for i in ids[start : start + chunk]]
        if int(registry.countRegistered(part)) == 0:
            continue
        counts = view_calls(connected_web3(), [fn.countRegistered([asset]) for asset in part])
        taken += [(asset, str(loan)) for asset, loan, n in zip(part, loan_ids[start : start + chunk], counts,
                                                                strict=True) if int(n)]
    pools = asset_states(registry, [asset for asset, _ in taken]) if taken else []
    return [(loan, pool) for (_, loan), (_, _, pool) in zip(taken, pools, strict=True)]


def refuse_registered(registry: Any, ids: Sequence[int], loan_ids: Sequence[str]) -> None:
    """Refuse (before sending anything) a tape some of whose assets are already registered (an asset is
    registered once: double pledging): one line naming the count, the first loans and their pools, and what
    to do."""
    taken = registered_loans(registry, ids, loan_ids)
    if not taken:
        return
    named = ", ".join(loan for loan, _ in taken[:NAMED_LOANS])
    more = f" and {len(taken) - NAMED_LOANS:,} more" if len(taken) > NAMED_LOANS else ""
    pools = sorted({pool for _, pool in taken if pool})
    where = (f" in pool {pools[0]}" if len(pools) == 1 else
             f" in pools {', '.join(map(str, pools[:-1]))} and {pools[-1]}" if pools else "")
    released = sum(1 for _, pool in taken if not pool)
    if released:
        where += f" ({released:,} repurchased since)" if pools else " (repurchased since)"
    if len(pools) == 1:
        todo = (f"if that pool is this tape's, resume it (--registry {registry.address} --pool {pools[0]}); "
                "else take them out of the tape")
    else:
        todo = "take them out of the tape"
    count = f"{len(taken):,} loan{'s' if len(taken) > 1 else ''} of the tape {'are' if len(taken) > 1 else 'is'}"
    raise OnboardingError(f"{count} already registered{where} ({named}{more}): an asset is registered once; {todo}; "
                          "nothing was sent")


def post_check(
    registry: Any, pool_id: int, ordered: pd.DataFrame, originator: str, *, require_sealed: bool = True
) -> list[str]:
    """Differences between the chain and the (typed, onboarding-ordered) tape: count, principal, weighted
    averages, bucket sums, largest obligor exposure, leaf chain and (sealed) Merkle root. Empty when equal.

    Compares the cut-off state: call it before servicing starts changing balances.
    """
    info = pool_info(registry, pool_id)
    agg: TapeAggregates = aggregates(ordered)
    leaves = leaf_hashes(ordered, originator)
    expected: dict[str, Any] = {
        "registered": agg.count,
        "count": agg.count,
        "principal": agg.principal,
        "waRateBps": agg.wa_rate_bps,
        "waMaturityDate": agg.wa_maturity_date,
        "maxObligorPrincipal": agg.max_obligor_principal,
        "leafChain": "0x" + leaf_chain(leaves).hex(),
    }
    actual: dict[str, Any] = {k: info[k] for k in expected}
    actual["leafChain"] = "0x" + bytes(info["leafChain"]).hex()
    problems = [f"{k}: chain {actual[k]} != tape {v}" for k, v in expected.items() if int_or_str(actual[k]) != v]
    if agg.max_obligor and "0x" + bytes(info["maxObligor"]).hex() != agg.max_obligor:
        problems.append(f"maxObligor: chain {bytes(info['maxObligor']).hex()} != tape {agg.max_obligor}")
    for kind, sums in (("Region", agg.region), ("Industry", agg.industry)):
        codes, principals = registry.concentration(pool_id, BUCKETS.index(kind))
        on_chain = {int(c): int(p) for c, p in zip(codes, principals, strict=True)}
        if on_chain != sums:
            problems.append(f"{kind} buckets differ: chain {on_chain} != tape {sums}")
    if require_sealed:
        if not info["isSealed"]:
            problems.append("pool is not sealed")
        else:
            problems += sealed_check(info, tape_tree(ordered, originator).root, agg)
    return problems


def moved_since_seal(info: Mapping[str, Any]) -> bool:
    """True when a sealed pool's live figures (``pool_info``) are no longer its cut-off: servicing paid loans
    down or retired them, or receivables were bought into it."""
    return (int(info["principal"]) != int(info["cutoffPrincipal"]) or int(info["count"]) != int(info["cutoffCount"])
            or int(info["registered"]) != int(info["cutoffCount"]))


def sealed_check(info: Mapping[str, Any], root: str, agg: TapeAggregates) -> list[str]:
    """Differences between a sealed pool's cut-off (``pool_info``: its Merkle root, count and principal at the seal,
    which nothing changes afterwards) and a tape's Merkle ``root`` (0x hex) and aggregates. Empty when equal."""
    problems = []
    if "0x" + bytes(info["root"]).hex() != root:
        problems.append(f"root: chain 0x{bytes(info['root']).hex()} != tape {root}")
    if int(info["cutoffCount"]) != agg.count:
        problems.append(f"cut-off count: chain {int(info['cutoffCount'])} != tape {agg.count}")
    if int(info["cutoffPrincipal"]) != agg.principal:
        problems.append(f"cut-off principal: chain {int(info['cutoffPrincipal'])} != tape {agg.principal}")
    return problems


def int_or_str(v: Any) -> Any:
    """Numbers as int, everything else unchanged (brownie returns Wei / HexString types)."""
    try:
        return int(v)
    except (TypeError, ValueError):
        return v


# ---------------------------------------------------------------------------------------------------- events


def web3_contract(registry: Any) -> Any:
    """The registry (a brownie or bound contract) as a web3 contract of the connected node (the bound session's,
    else brownie's), for its event filters."""
    from chainabs.chain.connection import connected_web3

    return connected_web3().eth.contract(address=registry.address, abi=registry.abi)


def _decode(logs: list[Any], name: str) -> list[AssetEvent]:
    return [
        AssetEvent(int(log["blockNumber"]), int(log["logIndex"]), log["transactionHash"].hex(), name,
                   dict(log["args"]))
        for log in logs
    ]


def pool_registrations(registry: Any, pool_id: int, from_block: int | None = None) -> list[Any]:
    """The ``AssetsRegistered`` logs of ``pool_id`` (web3's, decoded), in registration (chain) order, read from
    ``from_block`` (default: the registry's deployment) in block ranges a public node serves."""
    c = web3_contract(registry)
    return contract_logs(c.events.AssetsRegistered, from_block, argument_filters={"poolId": pool_id})


def pool_leaves(registry: Any, pool_id: int, from_block: int | None = None) -> list[bytes]:
    """Leaves registered in ``pool_id``, in registration order, from its ``AssetsRegistered`` events alone."""
    return [bytes(x) for log in pool_registrations(registry, pool_id, from_block) for x in log["args"]["leaves"]]


def pool_asset_ids(registry: Any, pool_id: int, from_block: int | None = None) -> list[int]:
    """Asset ids registered in ``pool_id`` (onboarded or bought in, whatever became of them since), in
    registration order, from its ``AssetsRegistered`` events alone."""
    return [int(a) for log in pool_registrations(registry, pool_id, from_block) for a in log["args"]["assetIds"]]


def _discard() -> Any:
    from web3.logs import DISCARD

    return DISCARD


#: What :func:`pool_commitment` finds of a pool's sealed root.
COMMITMENT_VERIFIED, COMMITMENT_MISMATCH = "verified", "DOES NOT MATCH its registrations"
COMMITMENT_NOT_SEALED, COMMITMENT_UNREADABLE = "not sealed", "could not be checked (the node's logs are incomplete)"


def pool_commitment(registry: Any, pool_id: int, from_block: int | None = None) -> str:
    """Anyone's check of a pool's sealed Merkle root against its registrations, from the registry's events alone:
    :data:`COMMITMENT_VERIFIED` when the StandardMerkleTree of the leaves registered before the seal (the cut-off
    tape; receivables sold into the pool later are not in it) has the sealed root; :data:`COMMITMENT_MISMATCH`
    when it does not (the root is the originator's claim: proofs against it prove nothing);
    :data:`COMMITMENT_NOT_SEALED`; :data:`COMMITMENT_UNREADABLE` when the events the node returned do not rebuild
    the on-chain leaf chain (a node with pruned or lagging logs: no verdict, rather than a false accusation)."""
    from chainabs.model.merkle import MerkleTree

    info = pool_info(registry, pool_id)
    if not info["isSealed"]:
        return COMMITMENT_NOT_SEALED
    logs = pool_registrations(registry, pool_id, from_block)
    leaves = [bytes(x) for log in logs for x in log["args"]["leaves"]]
    if len(leaves) != int(info["registered"]) or leaf_chain(leaves) != bytes(info["leafChain"]):
        return COMMITMENT_UNREADABLE
    sealed = contract_logs(web3_contract(registry).events.PoolSealed, from_block, argument_filters={"poolId": pool_id})
    if len(sealed) != 1:
        return COMMITMENT_UNREADABLE
    at_seal = bytes(sealed[0]["args"]["leafChain"])
    # the registrations up to the seal: each event carries the leaf chain after its batch (checked above)
    ends = [bytes(log["args"]["leafChain"]) for log in logs]
    if at_seal not in ends:
        return COMMITMENT_UNREADABLE
    cutoff = [bytes(x) for log in logs[: ends.index(at_seal) + 1] for x in log["args"]["leaves"]]
    ok = MerkleTree.from_leaf_hashes(cutoff).root_bytes == bytes(info["root"])
    return COMMITMENT_VERIFIED if ok else COMMITMENT_MISMATCH


def verify_pool_commitment(registry: Any, pool_id: int, from_block: int | None = None) -> bool:
    """True when :func:`pool_commitment` verifies the pool's sealed root."""
    return pool_commitment(registry, pool_id, from_block) == COMMITMENT_VERIFIED


def _registration(registry: Any, asset_id: int, from_block: int | None) -> Any:
    """The ``AssetsRegistered`` log whose ``assetIds`` hold ``asset_id`` (its mint), or None: searched in the
    asset's pool while it is pooled, else in every pool."""
    c = web3_contract(registry)
    info = registry.assetInfo(asset_id) if int(registry.countRegistered([asset_id])) else None
    filters = {"poolId": int(info[1])} if info is not None and int(info[1]) else {}
    for log in contract_logs(c.events.AssetsRegistered, from_block, argument_filters=filters):
        if asset_id in [int(x) for x in log["args"]["assetIds"]]:
            return log
    return None


def asset_history(registry: Any, asset_id: int, from_block: int | None = None) -> list[AssetEvent]:
    """Every event of one asset, in chain order: its registration (``Registered``: pool, leaf and the record
    decoded from the transaction's calldata, checked against the leaf and the id the ``AssetsRegistered`` event
    minted), ERC-721 transfers, status changes, repurchase, and the transfers of the pool it belonged to while
    it was pooled."""
    from brownie import web3

    c = web3_contract(registry)
    if from_block is None:  # once for the reads below
        from_block = log_start(c.w3, c.address)
    transfers = contract_logs(c.events.Transfer, from_block, argument_filters={"tokenId": asset_id})
    events = _decode(transfers, "Transfer")
    events += _decode(
        contract_logs(c.events.AssetStatusChanged, from_block, argument_filters={"assetId": asset_id}),
        "AssetStatusChanged",
    )
    repurchases = contract_logs(c.events.AssetRepurchased, from_block, argument_filters={"assetId": asset_id})
    events += _decode(repurchases, "AssetRepurchased")
    mint = _registration(registry, asset_id, from_block)
    if mint is not None:
        position = [int(x) for x in mint["args"]["assetIds"]].index(asset_id)
        leaf = bytes(mint["args"]["leaves"][position])
        pool_id = int(mint["args"]["poolId"])
        tx = web3.eth.get_transaction(mint["transactionHash"])
        fn, params = c.decode_function_input(tx["input"])
        record = unpack_record(params["records"][position])
        originator = pool_info(registry, pool_id)["originator"]
        if leaf_hash((originator, *record), LEAF_TYPES) != leaf:
            raise OnboardingError(f"asset {asset_id:#x}: calldata record does not hash to the emitted leaf")
        if model_asset_id(str(originator), bytes(record[0])) != asset_id:  # raw bytes32: any originator's ids
            raise OnboardingError(f"asset {asset_id:#x}: calldata loan id does not derive the emitted asset id")
        owner = originator  # registerAndPool: the originator holds it; a revolving purchase: the pool's owner
        if getattr(fn, "fn_name", "") == "sellIntoPool":
            sold = [e for e in c.events.ReceivablesSold.get_logs(from_block=int(mint["blockNumber"]),
                                                                 to_block=int(mint["blockNumber"]),
                                                                 argument_filters={"poolId": pool_id})
                    if e["transactionHash"] == mint["transactionHash"]]
            owner = sold[0]["args"]["owner"] if sold else owner
        events.append(AssetEvent(int(mint["blockNumber"]), int(mint["logIndex"]), mint["transactionHash"].hex(),
                                 "Registered", {"poolId": pool_id, "leaf": leaf, "record": record,
                                                "originator": originator, "owner": owner}))
        last = int(repurchases[0]["blockNumber"]) if repurchases else None
        moves = contract_logs(c.events.PoolTransferred, int(mint["blockNumber"]), argument_filters={"poolId": pool_id})
        events += _decode([m for m in moves if last is None or m["blockNumber"] <= last], "PoolTransferred")
    return sorted(events, key=lambda e: (e.block, e.log_index))


def replay_history(events: list[AssetEvent]) -> dict[str, Any]:
    """Fold an asset's events (from :func:`asset_history`) into its state: status, principal, pool, owner,
    leaf and the list of (status, principal, evidence) changes."""
    state: dict[str, Any] = {"status": "None", "principal": None, "pool_id": None, "owner": None, "leaf": None,
                             "changes": []}
    for e in events:
        a = e.args
        if e.name == "Registered":
            record = dict(zip(TAPE_COLUMNS, a["record"], strict=True))
            state["status"] = str(status_for_days([int(record["days_delinquent"])])[0])
            state["principal"] = int(record["principal"])
            state["pool_id"] = a["poolId"]
            state["leaf"] = "0x" + a["leaf"].hex()
            state["owner"] = a.get("owner", a.get("originator"))
        elif e.name in ("Transfer", "PoolTransferred"):
            state["owner"] = a["to"]
        elif e.name == "AssetStatusChanged":
            state["status"] = STATUSES[int(a["to"])]
            state["principal"] = int(a["principal"])
            state["changes"].append((STATUSES[int(a["to"])], int(a["principal"]), "0x" + bytes(a["evidence"]).hex()))
        elif e.name == "AssetRepurchased":
            state["status"] = "Repurchased"
            state["pool_id"] = 0
            state["principal"] = int(a["principal"])
            state["owner"] = a["originator"]
    return state
