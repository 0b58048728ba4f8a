"""SPV fixtures: a consumer-loan deal deployed through the real deployment plan on a pool of a few hundred
synthetic loans onboarded into the asset registry."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from chainabs import spv as spvlib
from chainabs import tokens
from chainabs.deal import DealModel
from chainabs.deploy import Deployer
from chainabs.spec import DealSpec, load_deal

CN = 156  # ISO 3166-1 numeric, China
#: Loans in the originator's book the test pool is selected from.
BOOK_LOANS = 1_000


@dataclass
class DealFixture:
    spec: DealSpec
    spv: Any
    tokens: list[Any]
    identity: Any
    registry: Any
    pool_id: int
    currency: Any
    roles: dict[str, Any]
    times: spvlib.DealTimes
    model: DealModel

    def sizes(self) -> tuple[int, ...]:
        return spvlib.class_sizes(self.spec)


def onboarded_pool(originator: Any, admin: Any, servicer: Any, name: str = "consumer_loan") -> tuple[DealSpec, Any, int]:
    """A sealed registry pool of eligible synthetic loans, and the sample deal sized to it."""
    from chainabs import registry as registrylib
    from chainabs.synthetic import generate_tape
    from chainabs.tape import select_eligible

    base = load_deal(name)
    kind = base.eligibility.asset_types[0]
    book = generate_tape(BOOK_LOANS, kind=kind, seed=11, cutoff=base.dates.cut_off, decimals=base.currency.decimals)
    criteria = spvlib.criteria_from_spec(base)
    tape = select_eligible(book, criteria, today=base.dates.cut_off)
    registry = registrylib.deploy_registry(admin, originators=(originator,), servicers=(servicer,))
    pool_id = registrylib.create_pool(registry, originator, criteria)
    registrylib.onboard(registry, pool_id, tape, originator, today=base.dates.cut_off, progress=False)
    principal = int(registrylib.pool_info(registry, pool_id)["cutoffPrincipal"])
    return base.sized_to(Decimal(principal).scaleb(-base.currency.decimals)), registry, pool_id


def deploy_deal(spec: DealSpec, accounts: Any, currency: Any, registry: Any, pool_id: int, project: Any, tmp_path: Any) -> DealFixture:
    """Deploy the deal's contracts with the deployment plan; KYC the investors and the originator."""
    from brownie import chain

    roles = spvlib.role_accounts(accounts)
    times = spvlib.DealTimes.from_spec(spec, closing_at=chain.time())
    plan = spvlib.deploy_plan(
        spec, {k: v.address for k, v in roles.items()}, currency=currency.address, registry=registry.address,
        pool_id=pool_id, times=times, kyc_agent=accounts[4].address,
    )
    manifest = Deployer(spec.name, roles["arranger"], project=project, manifest_root=tmp_path).run(plan)
    spv = project.SPV.at(manifest.address("spv"))
    identity = project.IdentityRegistry.at(manifest.address("identity"))
    toks = [project.TrancheToken.at(a) for a in spv.classTokens()]
    identity.setJurisdictionAllowed(CN, True, {"from": roles["arranger"]})
    expiry = chain.time() + 5 * 365 * 86_400
    people = [roles["originator"], *accounts[10:20]]
    identity.registerInvestors([p.address for p in people], [CN] * len(people), [1] * len(people), [expiry] * len(people), {"from": accounts[4]})
    return DealFixture(spec, spv, toks, identity, registry, pool_id, currency, roles, times, spvlib.model_for(spec))


def subscribe_all(d: DealFixture, investors: list[Any], admin: Any) -> None:
    """Senior and mezzanine split across investors; the originator retains the equity class (lock-up)."""
    sizes = d.sizes()
    n = len(sizes)
    for i in range(n - 1):
        holders = investors[: 3 + i]
        share = sizes[i] // len(holders)
        for k, inv in enumerate(holders):
            amount = share if k < len(holders) - 1 else sizes[i] - share * (len(holders) - 1)
            d.currency.mint(inv, amount, {"from": admin})
            spvlib.subscribe(d.spv, inv, i, amount)
            d.model.subscribe(i, amount)
    d.currency.mint(d.roles["originator"], sizes[-1], {"from": admin})
    spvlib.subscribe(d.spv, d.roles["originator"], n - 1, sizes[-1], retained=True)
    d.model.subscribe(n - 1, sizes[-1])


@pytest.fixture(scope="module")
def offering(accounts, currency, originator, admin, servicer, tmp_path_factory):
    """The consumer deal in its offering phase (nothing subscribed), its pool sealed and approved to the SPV."""
    from brownie import project

    proj = project.get_loaded_projects()[0]
    spec, registry, pool_id = onboarded_pool(originator, admin, servicer)
    d = deploy_deal(spec, accounts, currency, registry, pool_id, proj, tmp_path_factory.mktemp("deploy"))
    registry.approvePool(pool_id, d.spv, {"from": originator})
    return d


@pytest.fixture(scope="module")
def closed(offering, investors, admin):
    """The consumer deal closed: fully subscribed, pool bought, reserve funded."""
    d = offering
    subscribe_all(d, investors, admin)
    reserve = d.spec.units(d.spec.reserve.initial)
    d.currency.mint(admin, reserve, {"from": admin})
    spvlib.close_deal(d.spv, admin)
    d.model.close_deal()
    return d


def role_error(role: str) -> bytes:
    return bytes.fromhex(tokens.role_id(role)[2:])


@pytest.fixture
def deal(closed):
    """The closed deal with a model copy this test may advance (the chain is reverted after each test)."""
    import copy
    import dataclasses

    return dataclasses.replace(closed, model=copy.deepcopy(closed.model))


@pytest.fixture
def fresh_offering(offering):
    """The offering-phase deal with a model copy this test may advance."""
    import copy
    import dataclasses

    return dataclasses.replace(offering, model=copy.deepcopy(offering.model))
