"""Deploy a whole deal from its spec to the connected network (what ``chainabs deploy`` runs).

One resumable manifest (``<root>/<chainid>/<deal>.json``, see :mod:`chainabs.chain.deploy`) holds everything the
deal needs on that chain:

1. **currency**: a ``TestStablecoin`` on a local chain; on a live network an existing ERC-20 (argument,
   ``CURRENCY_ADDRESS`` or the spec's ``currency.address``), checked to have code and the spec's decimals;
2. **registry**: an ``AssetRegistry`` deployed for the deal (or ``REGISTRY_ADDRESS``), the originator and the
   servicer granted their roles;
3. **pool**: created by the originator with the spec's eligibility criteria; its id is kept in the manifest
   (a creation interrupted after sending is found again from its ``PoolCreated`` event, never repeated);
   optionally a tape (CSV / Parquet path or ``synthetic:<n>``) onboarded and sealed with
   :func:`chainabs.chain.registry.onboard` (itself resumable);
4. **deal**: identity registry, tranche tokens, SPV and roles (:func:`chainabs.chain.orchestration.deal_steps`), sized to the
   sealed pool's cut-off principal; the pool is approved to the SPV so that closing can take it;
5. **local chains only**: test investors, KYC-registered and holding test currency.

On a live network one gas estimate of everything still to do is printed and confirmed before the first
transaction (``assume_yes`` / ``--yes`` skips the question; without a terminal the answer is no). Source
verification runs when ``ETHERSCAN_TOKEN`` is set.

Role addresses: ``roles`` argument, else ``ROLE_ARRANGER`` / ``ROLE_ORIGINATOR`` / ``ROLE_SERVICER`` /
``ROLE_TRUSTEE`` / ``ROLE_REGULATOR`` / ``ROLE_KYC_AGENT``, else an address written in the spec's ``roles``,
else the deployer. The arranger is the deployer (it administers what it deploys). When the originator is
another address, its key comes from ``ORIGINATOR_PRIVATE_KEY`` (or, on a local chain, an unlocked account);
without it an existing pool id must be given and the originator approves the pool itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from chainabs.chain import connection as chain
from chainabs.chain import signers
from chainabs.chain import orchestration
from chainabs.chain import documents as documentlib
from chainabs.chain import registry as registrylib
from chainabs.chain.contracts import role_id
from chainabs.chain.events import contract_logs
from chainabs.chain.deploy import (CallStep, Deployer, DeploymentError, DeployStep, Manifest, Ref, Step, deployments_root,
                                   move_aside)
from chainabs.chain.sender import default_sender, transact
from chainabs.model import terms
from chainabs.model.numbers import format_date, format_units
from chainabs.model.spec import DEALS_DIR, DealSpec, load_deal, spec_path
from chainabs.model.synthetic import is_synthetic, tape_argument
from chainabs.model.tape import TapeValidationError, select_eligible
from chainabs.model.waterfall import BPS

#: Roles the deployment needs an address for (the spec's roles plus the identity registry's KYC agent).
ROLES: tuple[str, ...] = (*orchestration.ROLE_NAMES, "kyc_agent", *orchestration.OPTIONAL_ROLES)
#: Gas assumed, before anything is deployed, for steps outside the plan.
CREATE_POOL_GAS = 300_000
SEAL_GAS = 150_000
BATCH_OVERHEAD_GAS = 100_000
#: Test investors on local chains: how many by default.
DEFAULT_TEST_INVESTORS = 5
#: First local account used as a test investor (0..9 are the role accounts of the demo and tests).
FIRST_TEST_INVESTOR = 10


@dataclass
class DeploymentResult:
    """What :func:`deploy_deal` left on chain."""

    deal: str
    chain_id: int
    manifest_path: Path
    addresses: dict[str, str]  # manifest key -> address (currency, registry, identity, class<i>, spv)
    pool_id: int
    deal_units: int  # deal size (sum of the classes) in currency base units
    pool_sealed: bool
    spec: DealSpec  # the deal as deployed (sized to the pool)
    onboarded: registrylib.OnboardResult | None = None
    investors: list[str] = field(default_factory=list)
    verified: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ inputs


def _env(name: str) -> str | None:
    """A setting from the environment; on a local chain a live-network value from ``.env`` is ignored
    (:func:`chainabs.chain.connection.setting`)."""
    return chain.setting(name)


def resolve_roles(
    spec: DealSpec, deployer_address: str, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Address of every role in :data:`ROLES` (see module doc for the order of precedence), checksummed."""
    from brownie import web3

    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; roles are {list(ROLES)}")
    out: dict[str, str] = {}
    for role in ROLES:
        in_spec = getattr(spec.roles, role, None)
        where = "the roles argument"
        value = overrides.get(role)
        if not value and _env(f"ROLE_{role.upper()}"):
            value, where = _env(f"ROLE_{role.upper()}"), chain.origin(f"ROLE_{role.upper()}")
        if not value and isinstance(in_spec, str) and in_spec.startswith("0x"):
            value, where = in_spec, f"the spec's roles.{role}"
        standin = "arranger" if role == "kyc_agent" else orchestration.OPTIONAL_ROLES.get(role)
        value = value or (out[standin] if standin else deployer_address)
        if not web3.is_address(value):
            raise chain.ChainConfigError(f"role {role}: {value!r} ({where}) is not an address")
        out[role] = web3.to_checksum_address(value)
    if out["arranger"] != web3.to_checksum_address(deployer_address):
        hint = f" (ROLE_ARRANGER: {chain.origin('ROLE_ARRANGER')})" if _env("ROLE_ARRANGER") else ""
        raise chain.ChainConfigError(
            f"the arranger ({out['arranger']}) must be the deployer ({deployer_address}){hint}: it administers what "
            "it deploys; unset ROLE_ARRANGER or deploy with the arranger's key"
        )
    return out


def resolve_currency(spec: DealSpec, explicit: str | None = None) -> str | None:
    """The existing currency to use: argument, else ``CURRENCY_ADDRESS``, else the spec's; None = deploy one."""
    return explicit or _env("CURRENCY_ADDRESS") or spec.currency.address


def currency_origin(spec: DealSpec, explicit: str | None = None) -> str:
    """Where :func:`resolve_currency`'s address comes from, for error messages."""
    if explicit:
        return "--currency"
    if _env("CURRENCY_ADDRESS"):
        return chain.origin("CURRENCY_ADDRESS")
    return "the spec's currency.address"


def check_currency(address: str, decimals: int, origin: str = "") -> None:
    """Refuse a currency address without code or whose ``decimals()`` differs from the spec's; ``origin`` (e.g.
    ``CURRENCY_ADDRESS from .env``) is named in the error."""
    from brownie import web3

    where = f" ({origin})" if origin else ""
    proj = chain.load_project()
    if not web3.is_address(address):
        raise chain.ChainConfigError(f"currency: {address!r}{where} is not an address")
    if len(web3.eth.get_code(web3.to_checksum_address(address))) == 0:
        raise chain.ChainConfigError(f"currency: no contract at {address}{where} on chain {web3.eth.chain_id}")
    try:
        actual = int(proj.interface.IERC20Metadata(address).decimals())
    except Exception as exc:  # noqa: BLE001 - any failure means it is not an ERC-20 with decimals
        raise chain.ChainConfigError(f"currency: {address}{where} does not answer decimals(): {exc}") from None
    if actual != decimals:
        raise chain.ChainConfigError(
            f"currency: {address}{where} has {actual} decimals, the spec says {decimals} (amounts would be off by "
            f"10^{abs(actual - decimals)})"
        )


def load_pool_tape(tape: str, spec: DealSpec, *, seed: int = 0) -> pd.DataFrame:
    """The tape to onboard, validated against the spec's criteria and in onboarding order.

    ``synthetic:<n>``: a seeded synthetic book of ``n`` loans of the spec's first asset type at its cut-off,
    of which the eligible ones are kept. A path (CSV / Parquet): every row must pass, else
    :class:`chainabs.model.tape.TapeValidationError` lists each problem (nothing is sent).
    """
    criteria = terms.criteria_from_spec(spec)
    cut_off = spec.dates.cut_off
    frame = tape_argument(tape, kind=spec.eligibility.asset_types[0], seed=seed, cutoff=cut_off,
                          decimals=spec.currency.decimals)
    if is_synthetic(tape):
        try:
            frame = select_eligible(frame, criteria, today=cut_off)
        except TapeValidationError:
            raise DeploymentError(
                f"{tape}: no eligible pool can be drawn from {len(frame)} synthetic loans under {spec.name}'s "
                f"criteria (concentration limits: obligor {criteria.max_obligor_bps} bps, region "
                f"{criteria.max_region_bps} bps); use a larger book, e.g. synthetic:1000"
            ) from None
    return registrylib.prepare_tape(frame, criteria, today=cut_off)


# ------------------------------------------------------------------------------------------------ pool


def ensure_pool(deployer: Deployer, registry: Any, originator: Any, criteria: Any, *,
                track_obligors: bool = False) -> int:
    """The deal's pool id: recorded in the manifest, else recovered from an interrupted creation, else created
    (``track_obligors``: then set to track its obligors, as a revolving pool with an obligor limit needs).

    Before ``createPool`` is sent, the originator's nonce and the block are recorded; a run killed before
    the pool id is recorded finds its ``PoolCreated`` event by that nonce instead of creating a second pool.
    """
    pool_id = _ensure_pool(deployer, registry, originator, criteria)
    meta = deployer.manifest.meta
    if track_obligors and not meta.get("pool_tracks_obligors"):
        if int(registrylib.pool_info(registry, pool_id)["registered"]) == 0:  # else already onboarded as it was
            transact(registry.trackObligors, pool_id, sender=originator)
            meta["pool_tracks_obligors"] = True
            deployer.manifest.save()
    return pool_id


def _check_pool_tracks_obligors(registry: Any, pool: int) -> None:
    """A revolving deal under an obligor limit needs a pool that tracks its obligors: refused before sending."""
    limit = registrylib.pool_criteria(registry, pool).max_obligor_bps
    if limit < BPS and not registrylib.tracks_obligors(registry, pool):
        raise DeploymentError(f"pool {pool} does not track its obligors, but the deal revolves under an obligor limit "
                              f"of {limit / 100:.2f}%: every purchase would be refused (ObligorsNotTracked); onboard "
                              "a new pool with `chainabs onboard --track-obligors` (or let deploy create it)")


def _ensure_pool(deployer: Deployer, registry: Any, originator: Any, criteria: Any) -> int:
    from brownie import web3

    meta = deployer.manifest.meta
    if "pool_id" in meta:
        return int(meta["pool_id"])
    request = meta.get("pool_request")
    if request:
        found = _created_pool(registry, request)
        if found is not None:
            meta["pool_id"] = found
            meta.pop("pool_request")
            deployer.manifest.save()
            console.print(f"recovered pool {found}: created by an interrupted run")
            return found
    nonce = default_sender().next_nonce(originator)
    meta["pool_request"] = {"sender": originator.address, "nonce": nonce, "from_block": int(web3.eth.block_number)}
    deployer.manifest.save()
    receipt = transact(registry.createPool, criteria.to_chain(), sender=originator, nonce=nonce)
    pool_id = int(receipt.event("PoolCreated")["poolId"])
    meta["pool_id"] = pool_id
    meta["pool_tx"] = receipt.tx_hash
    meta.pop("pool_request")
    deployer.manifest.save()
    return pool_id


def _created_pool(registry: Any, request: Mapping[str, Any]) -> int | None:
    """The pool created by the transaction of ``request`` (sender, nonce, from_block), if it was mined."""
    from brownie import web3

    contract = web3.eth.contract(address=registry.address, abi=registry.abi)
    logs = contract_logs(contract.events.PoolCreated, int(request["from_block"]),
                         argument_filters={"originator": request["sender"]})
    for log in logs:
        sent = web3.eth.get_transaction(log["transactionHash"])
        if sent["from"].lower() == str(request["sender"]).lower() and int(sent["nonce"]) == int(request["nonce"]):
            return int(log["args"]["poolId"])
    return None


def signer_for(address: str, deployer_account: Any, key_env: str | None = None) -> Any | None:
    """The account that signs for ``address``: the deployer, the key in environment variable ``key_env``, a
    local unlocked account, or None (someone else must sign for it)."""
    from brownie import accounts

    if address.lower() == deployer_account.address.lower():
        return deployer_account
    key = _env(key_env) if key_env else None
    if key:
        try:
            signer = accounts.add(key)
        except Exception as exc:  # noqa: BLE001 - a malformed key: name the variable, never echo the key
            raise chain.ChainConfigError(f"{chain.origin(key_env)} is not a valid private key "
                                         f"({type(exc).__name__})") from None
        if signer.address.lower() != address.lower():
            raise chain.ChainConfigError(f"{chain.origin(key_env)} is the key of {signer.address}, not of {address}")
        return signer
    if chain.is_local():
        return next((a for a in accounts if a.address.lower() == address.lower()), None)
    return None


# ------------------------------------------------------------------------------------------------ deployment

#: Where this module prints (:func:`deploy_deal` replaces it with its ``out`` console).
console = Console()


def deploy_deal(
    spec: DealSpec | str | Path,
    *,
    tape: str | None = None,
    currency: str | None = None,
    registry: str | None = None,
    pool_id: int | None = None,
    roles: Mapping[str, str] | None = None,
    assume_yes: bool = False,
    manifest_root: Path | None = None,
    confirm: Callable[[str], bool] | None = None,
    test_investors: int = DEFAULT_TEST_INVESTORS,
    seed: int = 0,
    verify: bool = True,
    keystore: str | Path | None = None,
    account: str | None = None,
    out: Console | None = None,
) -> DeploymentResult:
    """Deploy (or resume deploying) the deal of ``spec`` to the connected network; see the module doc.

    ``registry`` / ``pool_id`` default to ``REGISTRY_ADDRESS`` / ``POOL_ID``; ``manifest_root`` to
    :func:`chainabs.chain.deploy.deployments_root`. ``confirm`` replaces the interactive question on live
    networks. ``keystore`` / ``account`` choose the arranger's signer (:func:`chainabs.chain.signers.deployer`).
    Raises :class:`chainabs.chain.deploy.DeploymentError` (cancelled: nothing sent; inconsistent
    manifest), :class:`chainabs.chain.connection.ChainConfigError` (missing key, currency, role) or the tape's
    :class:`chainabs.model.tape.TapeValidationError` (nothing sent).
    """
    global console
    console = out or Console(width=max(Console().width, 120))
    return _deploy_deal(spec, tape=tape, currency=currency, registry=registry, pool_id=pool_id, roles=roles,
                        assume_yes=assume_yes, manifest_root=manifest_root, confirm=confirm,
                        test_investors=test_investors, seed=seed, verify=verify,
                        signer={"keystore": keystore, "account": account})


def _deploy_deal(
    spec: DealSpec | str | Path,
    *,
    tape: str | None,
    currency: str | None,
    registry: str | None,
    pool_id: int | None,
    roles: Mapping[str, str] | None,
    assume_yes: bool,
    manifest_root: Path | None,
    confirm: Callable[[str], bool] | None,
    test_investors: int,
    seed: int,
    verify: bool,
    signer: Mapping[str, Any],
) -> DeploymentResult:
    proj = chain.connect()
    from brownie import chain as bchain
    from brownie import web3

    base = spec if isinstance(spec, DealSpec) else load_deal(spec)
    documents = deal_documents(base, DEALS_DIR if isinstance(spec, DealSpec) else spec_path(spec).parent)
    account = signers.deployer(**signer)
    local = chain.is_local()
    for name in chain.LIVE_SETTINGS:  # note which live-network settings of .env a local chain ignores
        chain.setting(name)
    if chain.IGNORED_DOTENV:
        console.print(f"[yellow]local chain[/]: ignoring {', '.join(sorted(chain.IGNORED_DOTENV))} from "
                      f"{chain.dotenv_file()} (live-network settings; export them in the shell to use them here)")
    root = manifest_root or deployments_root()
    if local:
        _retire_stale_local_manifest(base.name, bchain.id, root)
    else:
        _refuse_stale_manifest(base.name, bchain.id, root)
    deployer = Deployer(base.name, account, project=proj, manifest_root=root, confirm=confirm, out=console)
    manifest = deployer.manifest
    meta = manifest.meta
    check_spec_hash(manifest, base, str(spec) if not isinstance(spec, DealSpec) else base.name)
    role_map = resolve_roles(base, account.address, roles)
    _same_as_recorded(manifest, "roles", role_map)
    originator = signer_for(role_map["originator"], account, "ORIGINATOR_PRIVATE_KEY")
    console.print(f"deploying [bold]{base.name}[/] to chain {bchain.id} ({'local' if local else 'live'}) from "
                  f"{account.address}; manifest {manifest.path}")

    # 1-2. currency and registry
    infra: list[Step] = []
    currency_address = resolve_currency(base, currency)
    if currency_address:
        check_currency(currency_address, base.currency.decimals, currency_origin(base, currency))
        deployer.record_existing("currency", "IERC20Metadata", currency_address)
    elif local:
        infra.append(DeployStep("currency", "TestStablecoin",
                                (f"Test {base.currency.symbol}", base.currency.symbol, base.currency.decimals)))
    else:
        raise chain.ChainConfigError(
            "live network: set the stablecoin address (CURRENCY_ADDRESS, --currency or currency.address in the spec)"
        )
    registry_address = registry or _env("REGISTRY_ADDRESS")
    if registry_address:
        try:
            deployer.record_existing("registry", "AssetRegistry", registry_address)
        except DeploymentError as exc:
            if registry:
                raise
            raise DeploymentError(f"{exc} (REGISTRY_ADDRESS: {chain.origin('REGISTRY_ADDRESS')})") from None
    else:
        infra.append(DeployStep("registry", "AssetRegistry", (account.address,)))
    infra += [orchestration.grant_step("registry-originator", "registry", "ORIGINATOR_ROLE", role_map["originator"])]
    _check_registry_admin(deployer, infra, account)

    # 3. pool and tape (validated before anything is sent)
    criteria = terms.criteria_from_spec(base)
    pool = _requested_pool(meta, pool_id)
    if pool is None and originator is None:
        raise chain.ChainConfigError(
            f"the originator {role_map['originator']} is not the deployer: give its key (ORIGINATOR_PRIVATE_KEY) "
            "or an existing pool of it (--pool / POOL_ID)"
        )
    ordered = load_pool_tape(tape, base, seed=seed) if tape else None
    if ordered is not None and originator is None:
        raise chain.ChainConfigError("onboarding a tape needs the originator's key (ORIGINATOR_PRIVATE_KEY)")
    if ordered is not None:
        console.print(f"tape {tape}: {len(ordered):,} assets, principal "
                      f"{format_units(int(ordered['principal'].sum()), base.currency.decimals, base.currency.symbol)}")
    info = _pool_info(deployer, pool)
    if pool is not None and base.revolving is not None:  # an existing pool must be able to take the purchases
        _check_pool_tracks_obligors(deployer.at("registry"), pool)
    times = terms.DealTimes(**meta["times"]) if "times" in meta else terms.DealTimes.after(base, int(bchain.time()))
    planned = terms.DealTimes.from_spec(base)
    if times.closing != planned.closing:  # said once, plainly: the dates moved, the pool's cut-off did not
        shift = (times.closing - planned.closing) // 86_400
        console.print(f"the spec's closing date {format_date(planned.closing)} has passed on this chain: the deal's dates "
                      f"are shifted by {shift:,} days (closing {format_date(times.closing)}, first payment "
                      f"{format_date(times.first_payment)}); the pool's cut-off stays {base.dates.cut_off}",
                      highlight=False)

    # One estimate for everything still to do, one question (live networks), before anything is sent.
    units = _deal_units(base, info, ordered)
    provisional = _deal_steps(base.sized_to(_currency_units(base, units)), role_map, pool or 0, times,
                              approver=originator)
    provisional += documentlib.document_plan(documents, len(base.tranches), role_map["arranger"])
    deployer.review(deployer.pending(infra + provisional), extra=_extra_rows(pool, info, ordered),
                    assume_yes=assume_yes)

    meta["roles"] = role_map
    meta["times"] = asdict(times)
    meta["deal"] = base.title
    meta["spec_hash"] = base.content_hash()
    manifest.save()
    deployer.run(infra, review=False)
    registry_contract = deployer.at("registry")
    if pool is None:
        pool = ensure_pool(deployer, registry_contract, originator, criteria,
                           track_obligors=base.revolving is not None)
        console.print(f"pool {pool} of originator {role_map['originator']} in registry {registry_contract.address}")
    info = _pool_info(deployer, pool)
    if str(info["originator"]).lower() != role_map["originator"].lower():
        raise DeploymentError(f"pool {pool} belongs to {info['originator']}, not to the originator "
                              f"{role_map['originator']}")
    onboarded = None
    if ordered is not None:
        onboarded = registrylib.onboard(registry_contract, pool, ordered, originator, today=base.dates.cut_off,
                                        console=console)
        console.print(f"onboarded pool {pool}: {onboarded.assets} assets ({onboarded.skipped} already on chain), "
                      f"root {onboarded.root}")
        info = _pool_info(deployer, pool)

    # 4-5. the deal, sized to the sealed pool
    units = _deal_units(base, info, ordered)
    if "class0" in manifest.contracts and int(meta.get("deal_units", units)) != units:
        raise DeploymentError(f"{manifest.path}: the deal was deployed for {meta['deal_units']} base units, the pool "
                              f"now says {units}; deploy it under another manifest")
    meta["deal_units"] = units
    sized = base if units == base.units(base.pool.original_balance) else base.sized_to(_currency_units(base, units))
    sealed = bool(info["isSealed"])
    investors: list[str] = []
    funded: list[str] = []
    if local and test_investors > 0:
        wallets = chain.local_accounts(FIRST_TEST_INVESTOR + test_investors)[FIRST_TEST_INVESTOR:]
        investors = [w.address for w in wallets]
        # A local deal can be run through its whole life with the node's accounts: the originator KYC'd and funded
        # for its retained classes, the arranger funded for the reserve it pays in at closing (as in the demo).
        funded = investors + [a for a in dict.fromkeys((role_map["originator"], role_map["arranger"]))
                              if a not in investors]
    steps = _deal_steps(sized, role_map, pool, times, approver=originator if sealed else None, investors=funded,
                        kyc_signer=signer_for(role_map["kyc_agent"], account) if investors else None,
                        mint=0 if manifest.contracts["currency"].get("external") else units)
    steps += documentlib.document_plan(documents, len(sized.tranches), role_map["arranger"])
    deployer.run(steps, review=False)

    verified = verify_sources(deployer) if verify else {}
    result = DeploymentResult(
        deal=base.name, chain_id=int(bchain.id), manifest_path=manifest.path,
        addresses={k: v["address"] for k, v in manifest.contracts.items()}, pool_id=pool, deal_units=units,
        pool_sealed=sealed, spec=sized, onboarded=onboarded, investors=investors, verified=verified,
    )
    console.print(summary_table(result, web3))
    if not sealed:
        console.print(f"[yellow]pool {pool} is not sealed[/]: onboard its tape (chainabs onboard <tape> --registry "
                      f"{registry_contract.address} --pool {pool}); closing needs its cut-off principal to equal the deal "
                      f"size {units:,}")
    elif originator is None:
        console.print(f"[yellow]the originator must approve the SPV[/]: registry.approvePool({pool}, "
                      f"{manifest.address('spv')})")
    return result


def deal_documents(spec: DealSpec, base_dir: Path) -> dict[str, tuple[str, str]]:
    """The spec's documents as name -> (URI, SHA-256 of the file), files read now (a missing file is refused
    before anything is sent)."""
    out = {}
    for name, path in spec.document_files(base_dir).items():
        try:
            out[name] = (spec.documents[name].uri, documentlib.file_hash(path))
        except documentlib.DocumentError as exc:
            raise DeploymentError(f"documents.{name}: {exc}") from None
    return out


def check_spec_hash(manifest: Manifest, spec: DealSpec, source: str) -> None:
    """Refuse to resume a manifest deployed from a different spec (same ``name:``, other terms).

    Document files are not part of the hash: an edited document is attached again (its step key carries the
    file's hash). A manifest written before spec hashes were recorded is adopted as is."""
    recorded = manifest.meta.get("spec_hash")
    if recorded is None or not manifest.path.exists() or recorded == spec.content_hash():
        return
    raise DeploymentError(
        f"{source} changed since deal {spec.name!r} was deployed to chain {manifest.chain_id} (manifest "
        f"{manifest.path} records spec hash {recorded[:12]}..., the spec now hashes to {spec.content_hash()[:12]}...): "
        "a deployed deal's terms cannot change; to deploy the edited deal give it a new `name:`, or move the "
        "manifest aside (or use --manifest-dir) to deploy it afresh"
    )


def _deal_steps(spec: DealSpec, roles: Mapping[str, str], pool_id: int, times: terms.DealTimes,
                **extra: Any) -> list[Step]:
    """The deal's plan (:func:`chainabs.chain.orchestration.deal_steps`) over the manifest's currency and
    registry; ``extra``: its approval, investor and minting arguments."""
    return orchestration.deal_steps(spec, roles, currency=Ref("currency"), registry=Ref("registry"), pool_id=pool_id,
                                    times=times, kyc_agent=roles["kyc_agent"], **extra)


def _currency_units(spec: DealSpec, units: int) -> Decimal:
    return Decimal(units).scaleb(-spec.currency.decimals)


def _deal_units(spec: DealSpec, info: Mapping[str, Any] | None, ordered: pd.DataFrame | None) -> int:
    """Deal size in base units: the sealed pool's cut-off principal, else the tape's principal, else the spec's."""
    tape_units = int(ordered["principal"].sum()) if ordered is not None else None
    if info is not None and info["isSealed"]:
        sealed = int(info["cutoffPrincipal"])
        if tape_units is not None and tape_units != sealed:
            raise DeploymentError(f"the pool is sealed with {sealed:,} base units of principal, the tape has "
                                  f"{tape_units:,}: it is not this pool's tape")
        return sealed
    if tape_units is not None:
        return tape_units
    return spec.units(spec.pool.original_balance)


def _requested_pool(meta: dict[str, Any], pool_id: int | None) -> int | None:
    wanted, where = pool_id, "--pool"
    if wanted is None and _env("POOL_ID"):
        where = chain.origin("POOL_ID")
        try:
            wanted = int(str(_env("POOL_ID")))
        except ValueError:
            raise chain.ChainConfigError(f"{where}: {_env('POOL_ID')!r} is not a pool id (a whole number)") from None
    recorded = meta.get("pool_id")
    if wanted is not None and recorded is not None and int(recorded) != wanted:
        raise DeploymentError(f"the manifest's deal uses pool {recorded}, not {wanted} ({where})")
    if wanted is not None:
        meta["pool_id"] = wanted
    return int(meta["pool_id"]) if "pool_id" in meta else None


def _pool_info(deployer: Deployer, pool: int | None) -> dict[str, Any] | None:
    if pool is None or "registry" not in deployer.manifest.contracts:
        return None
    registry = deployer.at("registry")
    if not 0 < pool <= int(registry.poolCount()):
        raise DeploymentError(f"registry {registry.address} has no pool {pool}")
    return registrylib.pool_info(registry, pool)


def _extra_rows(
    pool: int | None, info: Mapping[str, Any] | None, ordered: pd.DataFrame | None
) -> list[tuple[str, int, bool, int]]:
    """Estimate rows for the pool creation and the onboarding (not part of the deployment plan)."""
    rows: list[tuple[str, int, bool, int]] = []
    if pool is None:
        rows.append(("create pool", CREATE_POOL_GAS, False, 1))
    if ordered is not None and not (info is not None and info["isSealed"]):
        remaining = len(ordered) - (int(info["registered"]) if info is not None else 0)
        if remaining > 0:
            per_tx = registrylib.batch_size(registrylib.INITIAL_GAS_PER_ASSET, registrylib.default_gas_per_tx())
            batches = math.ceil(remaining / per_tx)
            rows.append((f"onboard {remaining} assets", remaining * registrylib.INITIAL_GAS_PER_ASSET
                         + batches * BATCH_OVERHEAD_GAS, False, batches))
        rows.append(("seal pool", SEAL_GAS, False, 1))
    return rows


def _check_registry_admin(deployer: Deployer, infra: list[Step], account: Any) -> None:
    """An existing registry: the role grants still needed must be possible (the deployer is its admin)."""
    record = deployer.manifest.contracts.get("registry")
    if not record or not record.get("external"):
        return
    missing = [s.key for s in deployer.pending([s for s in infra if isinstance(s, CallStep)])]
    registry = deployer.at("registry")
    if missing and not registry.hasRole(role_id("DEFAULT_ADMIN_ROLE"), account.address):
        raise DeploymentError(f"registry {registry.address}: {missing} needed, but {account.address} is not its "
                              "admin; ask the registry admin to grant ORIGINATOR_ROLE")


def _same_as_recorded(manifest: Manifest, key: str, value: Any) -> None:
    recorded = manifest.meta.get(key)
    if recorded is not None and recorded != value:
        raise DeploymentError(f"{manifest.path}: {key} recorded as {recorded}, now {value}: a deployment cannot "
                              "change them half way; use the same settings or another manifest")


def _refuse_stale_manifest(deal: str, chain_id: int, root: Path) -> None:
    """A live network's manifest none of whose own contracts has code (a rehearsal chain restarted, a wrong
    RPC URL): one line saying what to do, never a traceback half way."""
    from brownie import web3

    manifest = Manifest.load(deal, chain_id, root)
    own = [c["address"] for c in manifest.contracts.values() if not c.get("external")]
    if not manifest.path.exists() or not own or any(len(web3.eth.get_code(a)) for a in own):
        return
    raise DeploymentError(
        f"{manifest.path} records {len(own)} contracts of {deal!r} on chain {chain_id}, and none of them has code at "
        f"{chain.endpoint()}: the chain was restarted (or this is another node with the same chain id); move the "
        "manifest aside to deploy afresh"
    )


def _retire_stale_local_manifest(deal: str, chain_id: int, root: Path) -> None:
    """A local chain restarts empty: a manifest none of whose own contracts has code is moved aside."""
    from brownie import web3

    manifest = Manifest.load(deal, chain_id, root)
    own = [c["address"] for c in manifest.contracts.values() if not c.get("external")]
    if not manifest.path.exists() or not own or any(len(web3.eth.get_code(a)) for a in own):
        return
    aside = move_aside(manifest.path, "stale")
    console.print(f"local chain was reset: its old manifest moved to {aside}")


# ------------------------------------------------------------------------------------------------ after


def verify_sources(deployer: Deployer) -> dict[str, str]:
    """Publish the sources of the contracts this deployment created (brownie ``publish_source``), when
    ``ETHERSCAN_TOKEN`` is set; returns key -> "verified" / "failed: ..." and records it in the manifest."""
    if chain.is_local():
        return {}
    if not _env("ETHERSCAN_TOKEN"):
        console.print("source verification skipped: set ETHERSCAN_TOKEN (an explorer API token) to publish sources")
        return {}
    outcome: dict[str, str] = {}
    for key, record in deployer.manifest.contracts.items():
        if record.get("external"):
            continue
        if record.get("verified"):
            outcome[key] = "verified"
            continue
        container = getattr(deployer.project, record["contract"])
        try:
            ok = bool(container.publish_source(container.at(record["address"])))
            outcome[key] = "verified" if ok else "failed: the explorer refused the source"
        except Exception as exc:  # noqa: BLE001 - verification is best effort; the deployment stands
            outcome[key] = f"failed: {exc}"
        record["verified"] = outcome[key] == "verified"
        deployer.manifest.save()
    for key, status in outcome.items():
        console.print(f"source of {key}: {status}")
    return outcome


def summary_table(result: DeploymentResult, web3: Any | None = None) -> Table:
    """Addresses of everything deployed (or used) for the deal, and the deal's state."""
    table = Table(title=f"{result.deal} on chain {result.chain_id}")
    table.add_column("item")
    table.add_column("address / value")
    table.add_column("note")
    for key, address in result.addresses.items():
        table.add_row(key, address, "existing" if key == "currency" and result.spec.currency.address else "")
    table.add_row("pool", str(result.pool_id), "sealed" if result.pool_sealed else "not sealed")
    currency = result.spec.currency
    table.add_row("deal size", format_units(result.deal_units, currency.decimals, currency.symbol),
                  f"{result.deal_units:,} base units ({currency.decimals} decimals)")
    if result.investors:
        table.add_row("test investors", str(len(result.investors)), ", ".join(result.investors[:2]) + ", ...")
    table.add_row("manifest", str(result.manifest_path), "")
    return table
