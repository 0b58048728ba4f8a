"""SPV fixtures: a consumer-loan deal deployed through the real deployment plan on a pool of a few hundred
synthetic loans onboarded into the asset registry."""

from __future__ import annotations

import pytest

from chainabs.chain.contracts import role_id
from chainabs.chain.orchestration import LocalDeal as DealFixture  # noqa: F401 - the SPV tests' fixture type
from chainabs.chain.orchestration import close
from chainabs.dev.sandbox import onboarded_pool, sandbox_deal, subscribe_all


@pytest.fixture(scope="module")
def offering(accounts, currency, originator, admin, servicer, tmp_path_factory):
    """The consumer deal in its offering phase (nothing subscribed), its pool sealed and approved to the SPV."""
    from brownie import project

    proj = project.get_loaded_projects()[0]
    spec, registry, pool_id, tape = onboarded_pool(originator, admin, servicer)
    return sandbox_deal(spec, accounts, currency, registry, pool_id, proj, tmp_path_factory.mktemp("deploy"), tape)


@pytest.fixture(scope="module")
def closed(offering, investors, admin):
    """The consumer deal closed: fully subscribed, pool bought, reserve funded."""
    d = offering
    subscribe_all(d, investors, admin)
    close(d, admin)
    return d


def role_error(role: str) -> bytes:
    return bytes.fromhex(role_id(role)[2:])


@pytest.fixture
def deal(closed):
    """The closed deal with a model copy this test may advance (the chain is reverted after each test)."""
    import copy
    import dataclasses

    return dataclasses.replace(closed, model=copy.deepcopy(closed.model), book=copy.deepcopy(closed.book))


@pytest.fixture
def fresh_offering(offering):
    """The offering-phase deal with a model copy this test may advance."""
    import copy
    import dataclasses

    return dataclasses.replace(offering, model=copy.deepcopy(offering.model), book=copy.deepcopy(offering.book))
