"""Shared test setup: the local chain, deterministic hypothesis, role-named accounts."""

from __future__ import annotations

import gc

import pytest
from hypothesis import settings

from chainabs.chain import connection
from chainabs.chain.connection import quiet_rpc_guard, tune_transport
from chainabs.dev.testing import patient_transaction_lookup, worker_index, worker_port

# Topic fixtures live in tests/plugins/<topic>.py; each topic adds one line here.
pytest_plugins = [
    "plugins.waterfall",
    "plugins.token",
    "plugins.spv",
    "plugins.registry",
    "plugins.deploy",
    "plugins.reports",
    "plugins.spvtests",
    "plugins.market",
]

# Several test runs can use their own anvil side by side (CHAINABS_PORT), and so can pytest-xdist workers:
# worker N's chain listens on CHAINABS_PORT + 10 N (brownie's xdist runner adds N to the port it is given), its
# helper nodes on the nine ports after. The chain gets a block gas limit large enough for gas-sized onboarding
# batches. Must run before brownie connects.
connection.configure_local_chain(port=worker_port() - worker_index(), gas_limit=30_000_000, accounts=20)
quiet_rpc_guard()  # every test's snapshot and revert go through brownie's node-control calls

# Deterministic property tests: the same examples on every run and every machine.
settings.register_profile("chainabs", derandomize=True, database=None, deadline=None, print_blob=True)
settings.load_profile("chainabs")


class _Snapshot:
    """The chain state the tests of a module start from: its key (block number, block hash, brownie's clock
    offset) and the node's snapshot of it."""

    key: tuple | None = None
    id: int | str | None = None


def _chain_key() -> tuple:
    from brownie import chain, web3

    block = web3.eth.get_block("latest")
    return (block["number"], bytes(block["hash"]), chain._time_offset)


def _freeze_live_objects() -> None:
    """Leave the objects alive now (the project, the module's deal and models) out of later garbage collections.
    brownie runs a full collection at every revert (``_notify_registry``); with the heap of a loaded project and
    a deal that took ~0.2 s per revert, and it is now proportional to what the test itself created. What was
    frozen before is unfrozen and garbage collected first (an earlier module's deal), so only live objects stay
    frozen."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def isolation(module_isolation):
    """Every test starts from the same chain state and leaves nothing behind.

    Like brownie's ``fn_isolation``, but a snapshot is taken only when the state differs from the last one
    and reverted only when the test changed it (a new block, or brownie's clock moved): a test that sends
    nothing costs no snapshot and no revert (each ~0.1-0.3 s of node work and a full garbage collection)."""
    from brownie import chain

    key = _chain_key()
    if key != _Snapshot.key:
        chain.snapshot()
        _Snapshot.key, _Snapshot.id = key, chain._snapshot_id
        _freeze_live_objects()
    yield
    if _chain_key() == _Snapshot.key:
        return
    # A test that reverted to the snapshot itself consumed it (brownie then snapshots the same state again under a
    # new id): brownie's latest snapshot first, as fn_isolation does; ours if that one is of a later state.
    for snapshot in dict.fromkeys((chain._snapshot_id, _Snapshot.id)):
        chain._snapshot_id = snapshot
        try:
            chain.revert()
        except Exception:  # noqa: BLE001 - a snapshot the node no longer has: try the other one
            continue
        key = _chain_key()
        if key[:2] == _Snapshot.key[:2]:  # brownie may re-derive its clock offset from the wall clock
            _Snapshot.key, _Snapshot.id = key, chain._snapshot_id
            return
    raise AssertionError(f"the chain did not return to the test's starting block {_Snapshot.key[0]}")


@pytest.fixture(scope="session", autouse=True)
def patient_lookups(web3):
    """The tests' own brownie sends wait out anvil serving a mined transaction late (no false "dropped"); requests
    to the node skip what the library skips on a local node (:func:`chainabs.chain.connection.tune_transport`)."""
    patient_transaction_lookup(web3)
    tune_transport(web3)


@pytest.fixture(scope="session")
def admin(accounts):
    """Deployer / arranger: holds the admin roles of everything deployed in tests."""
    return accounts[0]


@pytest.fixture(scope="session")
def issuer(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def servicer(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def originator(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def kyc_agent(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def trustee(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def regulator(accounts):
    return accounts[6]


@pytest.fixture(scope="session")
def disposal_agent(accounts):
    """A pool's disposal agent: takes the recovery steps of defaulted loans (as orchestration.role_accounts)."""
    return accounts[7]


@pytest.fixture(scope="session")
def stranger(accounts):
    """An account that holds no role anywhere: every privileged call from it must revert."""
    return accounts[9]


@pytest.fixture(scope="session")
def investors(accounts):
    """Ten investor wallets (accounts 10..19)."""
    return list(accounts[10:20])


@pytest.fixture(scope="module")
def currency(BlocklistStablecoin, admin):
    """The deal currency: a 6-decimals test stablecoin whose owner can block addresses, like USDC."""
    return BlocklistStablecoin.deploy("Test USD", "tUSD", 6, {"from": admin})


#: The modules that take longest (about a minute each on this 2-core machine, `--durations`), heaviest first. With
#: `--dist loadfile` the workers take modules in collection order; running these first (longest processing time
#: first) keeps a heavy module from starting last on one worker while the other has nothing left to do.
HEAVY_MODULES = (
    "tests/stateful/test_spv_state.py",
    "tests/integration/test_spv_differential.py",
    "tests/unit/test_revolving_chain.py",
    "tests/integration/test_spv_lifecycle.py",
    "tests/integration/test_operate_rehearsal.py",
    "tests/stateful/test_token_state.py",
    "tests/integration/test_reports_deal.py",
    "tests/stateful/test_identity_cache_state.py",
    "tests/unit/test_cancel_dilution.py",
    "tests/stateful/test_offering_state.py",
    "tests/integration/test_explorer.py",
)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the modules heaviest first (HEAVY_MODULES), the rest in their usual order; tests keep their order within
    a module."""
    rank = {name: i for i, name in enumerate(HEAVY_MODULES)}

    def key(indexed: tuple[int, pytest.Item]) -> tuple[int, int]:
        index, item = indexed
        return (rank.get(item.nodeid.split("::", 1)[0], len(rank)), index)

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]
