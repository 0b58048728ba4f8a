"""Fixtures and helpers of the asset-registry tests (tests/*/test_registry_*.py)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import brownie
import pytest
from eth_abi import encode as abi_encode
from web3 import Web3

from chainabs.chain import registry as reg_client
from chainabs.model import synthetic
from chainabs.model import tape as tp

CUTOFF = synthetic.DEFAULT_CUTOFF


@contextlib.contextmanager
def log_range_cap(blocks: int) -> Iterator[list[tuple[int, int]]]:
    """While open, the connected node refuses every eth_getLogs over more than ``blocks`` blocks, as public
    providers do (with Alchemy's wording); yields the list of the (from, to) ranges it served."""
    from web3.middleware.base import Web3Middleware

    served: list[tuple[int, int]] = []

    class Cap(Web3Middleware):
        def wrap_make_request(self, make_request: Any) -> Any:
            def middleware(method: str, params: Any) -> Any:
                if method == "eth_getLogs" and "blockHash" not in params[0]:
                    a, b = (_block(self._w3, params[0].get(k, "latest")) for k in ("fromBlock", "toBlock"))
                    if b - a + 1 > blocks:
                        return {"jsonrpc": "2.0", "id": 0, "error": {
                            "code": -32602, "message": f"Log response size exceeded. You can make eth_getLogs "
                            f"requests with up to a {blocks} block range. Based on your parameters, this block "
                            f"range should work: [{hex(a)}, {hex(a + blocks - 1)}]"}}
                    served.append((a, b))
                return make_request(method, params)

            return middleware

    brownie.web3.middleware_onion.add(Cap, name="log_range_cap")
    try:
        yield served
    finally:
        brownie.web3.middleware_onion.remove("log_range_cap")


def _block(w3: Any, tag: Any) -> int:
    if tag == "earliest":
        return 0
    if tag in ("latest", "pending", "safe", "finalized"):
        return int(w3.eth.block_number)
    return int(tag, 16) if isinstance(tag, str) else int(tag)


def error_data(signature: str, *args: Any) -> str:
    """Revert data of custom error ``signature`` (e.g. ``"UnknownPool(uint256)"``) with ``args``, as hex."""
    selector = Web3.keccak(text=signature)[:4]
    types = signature[signature.index("(") + 1 : -1]
    encoded = abi_encode([t for t in types.split(",") if t], list(args)) if types else b""
    return "0x" + (selector + encoded).hex()


@contextlib.contextmanager
def reverts_with(signature: str, *args: Any) -> Iterator[None]:
    """Assert the block reverts with custom error ``signature`` and exactly ``args``."""
    try:
        yield
    except brownie.exceptions.VirtualMachineError as err:
        got = str(err.revert_msg or "")
    else:
        raise AssertionError(f"expected a revert with {signature}{args}, nothing reverted")
    name = signature[: signature.index("(")]
    if got.startswith("typed error: "):
        assert got[len("typed error: ") :].lower() == error_data(signature, *args), (signature, args, got)
        return
    assert got == _brownie_text(name, args), f"expected {name}{args}, got {got!r}"


def _brownie_text(name: str, args: tuple[Any, ...]) -> str:
    """How brownie 1.22 prints a decoded custom error: ``Name: arg1, arg2``."""
    def fmt(a: Any) -> str:
        if isinstance(a, bytes | bytearray):
            return str(bytes(a))
        if isinstance(a, str) and a.startswith("0x"):
            return a.lower()
        return str(a)

    return f"{name}: {', '.join(fmt(a) for a in args)}" if args else name


def relaxed_criteria(**overrides: Any) -> tp.PoolCriteria:
    """Consumer-loan criteria with concentration limits that a small test pool can meet."""
    base = synthetic.default_criteria("consumer_loan", CUTOFF, max_region_bps=10_000, max_industry_bps=10_000,
                                      max_obligor_bps=10_000)
    return dataclasses.replace(base, **overrides) if overrides else base


@pytest.fixture(scope="module")
def registry(AssetRegistry, admin, originator):
    """A registry with ORIGINATOR_ROLE for ``originator`` (servicers are named per pool)."""
    return reg_client.deploy_registry(admin, originators=(originator,))


@pytest.fixture(scope="module")
def small_tape() -> Any:
    """A typed, onboarding-ordered 40-loan consumer tape (validated against :func:`relaxed_criteria`)."""
    raw = synthetic.generate_tape(40, seed=11)
    return reg_client.prepare_tape(raw, relaxed_criteria(), today=CUTOFF)


@pytest.fixture(scope="module")
def fresh_tape() -> Any:
    """Another 40-loan tape (loan ids NX...), never registered by the module fixtures."""
    raw = synthetic.generate_tape(40, seed=12, prefix="NX")
    return reg_client.prepare_tape(raw, relaxed_criteria(), today=CUTOFF)


@pytest.fixture(scope="module")
def sealed_pool(registry, originator, servicer, disposal_agent, small_tape):
    """(pool id, ordered tape) of a pool holding ``small_tape``, onboarded in several batches and sealed; its
    servicer ``servicer`` and disposal agent ``disposal_agent``."""
    pool_id = reg_client.create_pool(registry, originator, relaxed_criteria())
    reg_client.set_pool_servicers(registry, originator, pool_id, servicer, disposal_agent)
    reg_client.onboard(registry, pool_id, small_tape, originator, today=CUTOFF, progress=False,
                       max_tx_bytes=192 * 15 + 300)
    return pool_id, small_tape


@pytest.fixture
def sold_pool(registry, originator, issuer, sealed_pool):
    """``sealed_pool`` after its true sale to ``issuer`` (standing for the SPV): servicing and repurchases are
    possible only from then on (a sealed pool awaiting its sale is frozen). Function-scoped: the sale is undone
    after each test like everything the test does."""
    pool_id, tape = sealed_pool
    registry.transferPool(pool_id, issuer, {"from": originator})
    return pool_id, tape
