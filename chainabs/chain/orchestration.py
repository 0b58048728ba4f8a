"""Standing up a deal: the one orchestration behind the demo, the tests' sandbox and the deployment command.

A deal goes up in the same steps wherever it is deployed:

1. a registry pool (:func:`open_pool`) filled with an eligible tape and sealed (:func:`fill_pool`), the deal
   spec sized to the pool;
2. the deal's contracts and roles, the pool's approval to the SPV and the investors' KYC, as one resumable
   plan of steps (:func:`deal_steps`) run by :class:`chainabs.chain.deploy.Deployer` (:func:`stand_up` on a
   local chain; :func:`chainabs.chain.deployment.deploy_deal` on any network, with its currency, registry
   and pool steps in front);
3. on a local chain, the offering: investors subscribe, the originator retains the equity class
   (:func:`subscribe_classes`), and the deal closes (:func:`close`).

The result of a local stand-up is a :class:`LocalDeal`: the contracts, the roles and the deal model that
mirrors them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from chainabs.chain import registry as registrylib
from chainabs.chain import spv as spvlib
from chainabs.chain.contracts import LOCKED, role_id
from chainabs.chain.green import ledger_step as green_ledger_step
from chainabs.chain.deploy import CallStep, Deployer, DeployStep, Ref, Step
from chainabs.chain.documents import document_plan
from chainabs.chain.sender import transact
from chainabs.model import terms
from chainabs.model.deal import DealModel
from chainabs.model.assets import is_secured
from chainabs.model.servicing import ServicingBook
from chainabs.model.spec import DealSpec
from chainabs.model.tape import PoolCriteria

#: The spec's roles (each an address on chain); the arranger deploys and administers.
ROLE_NAMES: tuple[str, ...] = ("arranger", "originator", "servicer", "trustee", "regulator")
#: Optional roles and the role that stands in for them when a deal does not name them.
OPTIONAL_ROLES: dict[str, str] = {"disposal_agent": "servicer"}
#: Linked libraries a deal's contracts need, deployed first (step key = library name).
LIBRARIES: tuple[str, ...] = ("TrancheOps", "SPVOffering", "SPVSettlement", "SPVServicing")
#: ISO 3166-1 numeric code of the test investors on local chains (China).
DEFAULT_JURISDICTION = 156
#: Investor type code of the test investors.
DEFAULT_INVESTOR_TYPE = 1
#: How long a test investor's KYC record is valid after closing.
TEST_KYC_SECONDS = 5 * 365 * terms.SECONDS_PER_DAY


@dataclass
class LocalDeal:
    """A deal stood up on a local chain: its contracts (brownie objects), roles (accounts), dates and the
    deal model that mirrors the SPV."""

    spec: DealSpec
    spv: Any
    tokens: list[Any]
    identity: Any
    registry: Any
    pool_id: int
    currency: Any
    roles: dict[str, Any]
    times: terms.DealTimes
    model: DealModel
    #: the pool's cut-off tape (typed), for loan-level servicing (:meth:`servicing_book`)
    tape: pd.DataFrame | None = None
    #: the servicer's books of a deal serviced from projections (``chainabs.dev.sandbox.serve``)
    book: ServicingBook | None = None
    #: a green deal's use-of-proceeds ledger (``GreenLedger``), None for other deals
    green: Any = None

    def sizes(self) -> tuple[int, ...]:
        """Original face of each class in base units, seniority order."""
        return terms.class_sizes(self.spec)

    def servicing_book(self, seed: int = 0) -> ServicingBook:
        """The servicer's loan-level books at the cut-off date."""
        if self.tape is None:
            raise ValueError("this deal was deployed without its cut-off tape")
        return ServicingBook.open(self.tape, seed=seed, secured=is_secured(self.spec))


def role_accounts(accounts: Sequence[Any]) -> dict[str, Any]:
    """Local chains: the role accounts of the demo and the tests (arranger = accounts[0])."""
    return {"arranger": accounts[0], "originator": accounts[3], "servicer": accounts[2], "trustee": accounts[5],
            "regulator": accounts[6], "disposal_agent": accounts[7]}


@dataclass
class LocalStage:
    """What a demo on a local chain starts from: the node, brownie's chain (time travel), the project, the funded
    accounts, the role accounts (:func:`role_accounts`) and six investors (``wallets[10:16]``)."""

    web3: Any
    chain: Any
    project: Any
    wallets: list[Any]
    roles: dict[str, Any]
    investors: list[Any]


def local_stage() -> LocalStage:
    """Connect (brownie's local chain unless connected already) and set the stage of a demo; refused on a live
    network (a demo mints test currency and moves chain time)."""
    from brownie import chain as brownie_chain

    from chainabs.chain import connection

    connection.connect()
    if not connection.is_local():
        raise connection.ChainConfigError("the demo mints test currency and moves chain time: run it on a local chain")
    wallets = list(connection.local_accounts(16))
    return LocalStage(connection.connected_web3(), brownie_chain, connection.load_project(), wallets,
                      role_accounts(wallets), wallets[10:16])


def role_address(roles: Mapping[str, Any], role: str) -> Any:
    """``roles[role]``, or for an optional role the role standing in for it (:data:`OPTIONAL_ROLES`)."""
    if role in roles:
        return roles[role]
    return roles[OPTIONAL_ROLES[role]]


# ---------------------------------------------------------------------------------------------------- the plan


def grant_step(key: str, target: str, role: str, account: Any) -> CallStep:
    """Grant AccessControl ``role`` on manifest contract ``target`` unless already granted."""
    return CallStep(key, target, "grantRole", (role_id(role), account), done=_has_role)


def _has_role(contract: Any, args: list[Any]) -> bool:
    return bool(contract.hasRole(args[0], args[1]))


def _bound(contract: Any, args: list[Any]) -> bool:
    return str(contract.deal()).lower() == str(args[0]).lower()


def approve_step(pool_id: int, sender: Any) -> CallStep:
    """The originator approves the SPV to take the pool at closing (unless already approved)."""
    return CallStep("pool-approve-spv", "registry", "approvePool", (pool_id, Ref("spv")), sender=sender,
                    done=_approved)


def identity_listener_step(key: str, token: str) -> CallStep:
    """The identity registry's admin adds tranche token ``token`` (a manifest key) as an identity listener, which
    switches on its cache of holders' clearances (unless already listed)."""
    return CallStep(key, "identity", "addIdentityListener", (Ref(token),), done=_listening)


def _listening(contract: Any, args: list[Any]) -> bool:
    return str(args[0]).lower() in {str(a).lower() for a in contract.identityListeners()}


def _approved(contract: Any, args: list[Any]) -> bool:
    return str(contract.poolApproved(args[0])).lower() == str(args[1]).lower()


def pool_servicers_step(pool_id: int, servicer: str, disposal_agent: str, sender: Any) -> CallStep:
    """The originator names the pool's servicer and disposal agent before the sale (unless already so)."""
    return CallStep("pool-servicers", "registry", "setPoolServicers", (pool_id, servicer, disposal_agent),
                    sender=sender, done=_servicers_set)


def _servicers_set(contract: Any, args: list[Any]) -> bool:
    figures = contract.servicingFigures(args[0])
    return (str(figures[-2]).lower(), str(figures[-1]).lower()) == (str(args[1]).lower(), str(args[2]).lower())


def investor_steps(investors: Sequence[str], expiry: int, kyc_agent: Any, *, mint: int = 0) -> list[Step]:
    """Allow the test jurisdiction, KYC-register ``investors`` (by ``kyc_agent``) and, with ``mint``, give each
    that much test currency."""
    n = len(investors)
    steps: list[Step] = [
        CallStep("identity-test-jurisdiction", "identity", "setJurisdictionAllowed", (DEFAULT_JURISDICTION, True),
                 done=lambda c, args: bool(c.isJurisdictionAllowed(args[0]))),
        CallStep("identity-test-investors", "identity", "registerInvestors",
                 (list(investors), [DEFAULT_JURISDICTION] * n, [DEFAULT_INVESTOR_TYPE] * n, [expiry] * n),
                 sender=kyc_agent, done=lambda c, args: all(c.isEligible(a) for a in args[0])),
    ]
    if mint:
        steps += [
            CallStep(f"currency-test-investor{i}", "currency", "mint", (address, mint),
                     done=lambda c, args: int(c.balanceOf(args[0])) >= int(args[1]))
            for i, address in enumerate(investors)
        ]
    return steps


def deal_steps(
    spec: DealSpec,
    roles: Mapping[str, str],
    *,
    currency: str | Ref,
    registry: str | Ref,
    pool_id: int,
    times: terms.DealTimes,
    kyc_agent: str,
    approver: Any | None = None,
    investors: Sequence[str] = (),
    kyc_signer: Any | None = None,
    mint: int = 0,
) -> list[Step]:
    """The whole plan of a deal after its pool: the identity registry (``kyc_agent`` its KYC agent), one
    tranche token per class, the SPV and the roles; then the pool approved to the SPV by ``approver`` (the
    originator's account, when it signs here); then ``investors`` KYC'd by ``kyc_signer`` (the KYC agent's
    account) and, with ``mint``, funded with test currency.

    ``roles`` maps each spec role (:data:`ROLE_NAMES`) to an address; the arranger deploys and administers.
    Each call step checks chain state first, so a re-run is safe.
    """
    missing = [r for r in ROLE_NAMES if r not in roles]
    if missing:
        raise ValueError(f"deal plan: no address for role(s) {missing}")
    admin = roles["arranger"]
    tranches = spec.tranches_by_seniority()
    # Linked libraries first: the tokens link TrancheOps, the SPV links SPVOffering, SPVSettlement, SPVServicing.
    steps: list[Step] = [DeployStep(name, name) for name in LIBRARIES]
    # The servicing court checks fraud proofs against the SPV's servicing commitments (stateless).
    steps.append(DeployStep("court", "ServicingCourt"))
    steps += [DeployStep("identity", "IdentityRegistry", (admin,)),
              grant_step("identity-kyc-agent", "identity", "KYC_AGENT_ROLE", kyc_agent)]
    for i, t in enumerate(tranches):
        lockup_end = times.closing + t.lock_up_days * terms.SECONDS_PER_DAY if t.lock_up_days else 0
        steps.append(DeployStep(
            f"class{i}", "TrancheToken",
            (f"{spec.title} {t.class_name}", t.symbol, currency, Ref("identity"), t.coupon_bps, lockup_end, admin,
             roles["originator"]),
        ))
    deal_terms = (
        currency, registry, pool_id, roles["originator"], times.first_payment, times.legal_final,
        spec.units(spec.reserve.initial), terms.delinquency_alert_bps(spec), times.offering_deadline, Ref("court"),
        terms.last_revolving_period(spec), terms.early_amortization_delinquency_bps(spec),
        terms.early_amortization_excess_spread_bps(spec),
    )
    steps.append(DeployStep(
        "spv", "SPV",
        (deal_terms, terms.params_from_spec(spec).as_abi(), terms.class_sizes(spec),
         [Ref(f"class{i}") for i in range(len(tranches))], [roles[f.payee] for f in spec.fees], LOCKED, admin),
    ))
    # Each token is bound to the SPV once: from then on only the SPV issues, distributes and writes down.
    for i in range(len(tranches)):
        steps.append(CallStep(f"class{i}-bind", f"class{i}", "bindDeal", (Ref("spv"),), done=_bound))
    # The registry keeps each token's cache of holders' clearances current (IdentityRegistry.addIdentityListener).
    steps += [identity_listener_step(f"identity-listener-class{i}", f"class{i}") for i in range(len(tranches))]
    dilution = terms.dilution_terms(spec)
    if dilution is not None:  # a revolving deal's dilution terms, held by its court (chainabs.chain.revolving)
        steps.append(CallStep("court-dilution-terms", "court", "setDilutionTerms", (Ref("spv"), *dilution),
                              done=lambda court, args: bool(court.dilutionTerms(args[0])[0])))
    if spec.green is not None:  # a green deal's use-of-proceeds ledger, bound to its SPV
        steps.append(green_ledger_step(spec, roles, times))
    steps.append(grant_step("spv-servicer", "spv", "SERVICER_ROLE", roles["servicer"]))
    steps.append(grant_step("spv-trustee", "spv", "TRUSTEE_ROLE", roles["trustee"]))
    if approver is not None:
        steps.append(pool_servicers_step(pool_id, roles["servicer"], role_address(roles, "disposal_agent"), approver))
        steps.append(approve_step(pool_id, approver))
    if investors and kyc_signer is not None:
        steps += investor_steps(investors, times.closing + TEST_KYC_SECONDS, kyc_signer, mint=mint)
    return steps


# ---------------------------------------------------------------------------------------------------- the pool


def open_pool(arranger: Any, originator: Any, servicer: Any, criteria: PoolCriteria,
              disposal_agent: Any | None = None, *, track_obligors: bool = False) -> tuple[Any, int]:
    """A new asset registry (the originator granted its role) and a pool of the originator with ``criteria``,
    serviced by ``servicer`` (``disposal_agent``, default the servicer, takes defaulted loans' recovery steps):
    (registry, pool id). ``track_obligors``: see :func:`chainabs.chain.registry.create_pool` (revolving pools)."""
    registry = registrylib.deploy_registry(arranger, originators=(originator,))
    pool_id = registrylib.create_pool(registry, originator, criteria, track_obligors=track_obligors)
    registrylib.set_pool_servicers(registry, originator, pool_id, servicer, disposal_agent or servicer)
    return registry, pool_id


def fill_pool(registry: Any, pool_id: int, tape: pd.DataFrame, originator: Any, base: DealSpec, *,
              today: dt.date | None = None, console: Console | None = None,
              progress: bool = True) -> tuple[DealSpec, registrylib.OnboardResult]:
    """Onboard ``tape`` into the pool and seal it; returns ``base`` sized to the sealed pool's principal and
    what the onboarding did."""
    result = registrylib.onboard(registry, pool_id, tape, originator, today=today or base.dates.cut_off,
                                 console=console, progress=progress)
    principal = int(registrylib.pool_info(registry, pool_id)["cutoffPrincipal"])
    return base.sized_to(Decimal(principal).scaleb(-base.currency.decimals)), result


# ---------------------------------------------------------------------------------------------------- local deal


def stand_up(
    spec: DealSpec,
    roles: Mapping[str, Any],
    *,
    currency: Any,
    registry: Any,
    pool_id: int,
    kyc_agent: Any,
    investors: Sequence[Any],
    project: Any,
    manifest_root: Path,
    closing_at: int,
    out: Console | None = None,
    tape: pd.DataFrame | None = None,
    documents: Mapping[str, tuple[str, str]] | None = None,
) -> LocalDeal:
    """Deploy a deal over a sealed pool on a local chain through the deployment plan (:func:`deal_steps`):
    contracts and roles, the pool approved to the SPV by the originator, ``investors`` KYC'd by
    ``kyc_agent``. The deal closes one day after ``closing_at`` (chain time); nothing is subscribed yet.
    ``out`` is where the deployment prints its steps; ``documents`` (name -> (URI, hash)) are attached to every
    tranche by the arranger."""
    times = terms.DealTimes.from_spec(spec, closing_at=closing_at)
    addresses = {k: str(v.address) for k, v in roles.items()}
    plan = deal_steps(spec, addresses, currency=str(currency.address), registry=str(registry.address),
                      pool_id=pool_id, times=times, kyc_agent=str(kyc_agent.address), approver=roles["originator"],
                      investors=[str(a.address) for a in investors], kyc_signer=kyc_agent)
    plan += document_plan(documents or {}, len(spec.tranches), addresses["arranger"])
    deployer = Deployer(spec.name, roles["arranger"], project=project, manifest_root=manifest_root, out=out)
    deployer.record_existing("registry", "AssetRegistry", str(registry.address))  # the approval step's target
    manifest = deployer.run(plan, assume_yes=True)
    spv = project.SPV.at(manifest.address("spv"))
    identity = project.IdentityRegistry.at(manifest.address("identity"))
    tokens = [project.TrancheToken.at(a) for a in spv.classTokens()]
    model = terms.model_for(spec)
    model.offering_deadline = times.offering_deadline
    green = project.GreenLedger.at(manifest.address("green")) if spec.green is not None else None
    return LocalDeal(spec, spv, tokens, identity, registry, pool_id, currency, dict(roles), times, model, tape,
                     green=green)


def subscribe_classes(d: LocalDeal, holders: Mapping[int, Sequence[Any]], minter: Any) -> None:
    """Each non-equity class ``i`` shared equally by ``holders[i]`` (the last one takes the rounding; a holder
    whose share rounds to nothing is skipped), each paying with test currency minted by ``minter``; the
    originator retains the equity class (lock-up partition). The deal model subscribes alike."""
    sizes = d.sizes()
    equity = len(sizes) - 1
    for i in range(equity):
        group = list(holders[i])
        share = sizes[i] // len(group)
        for k, investor in enumerate(group):
            amount = share if k < len(group) - 1 else sizes[i] - share * (len(group) - 1)
            if amount == 0:
                continue
            transact(d.currency.mint, investor, amount, sender=minter)
            spvlib.subscribe(d.spv, investor, i, amount)
            d.model.subscribe(i, amount)
    originator = d.roles["originator"]
    transact(d.currency.mint, originator, sizes[equity], sender=minter)
    spvlib.subscribe(d.spv, originator, equity, sizes[equity], retained=True)
    d.model.subscribe(equity, sizes[equity])


def close(d: LocalDeal, arranger: Any) -> None:
    """Fund the reserve (test currency minted to the arranger) and close the deal; the model closes alike."""
    reserve = d.spec.units(d.spec.reserve.initial)
    transact(d.currency.mint, arranger, reserve, sender=arranger)
    spvlib.close_deal(d.spv, arranger)
    d.model.close_deal()
