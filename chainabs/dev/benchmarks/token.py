"""Tranche token gas: compliant transfer, claim, and a distribution's cost for 10 vs 1,000 holders and in the
steady state (every slot it touches already non-zero, as at every period close after the first)."""

from __future__ import annotations

from typing import Any

from chainabs.chain import connection as chain
from chainabs.chain.sender import deploy, transact
from chainabs.chain import tokens
from chainabs.dev.benchmarks import benchmark

US = 840
FACE = 1_000_000 * 10**6


def _holder_address(i: int) -> str:
    from brownie import web3

    return web3.to_checksum_address("0x" + bytes(web3.keccak(text=f"chainabs-bench-holder-{i}"))[-20:].hex())


COLD_ACCOUNT_ACCESS = 2_600  # EIP-2929: what a contract caller (the SPV) pays to reach the token


def intrinsic_gas(data: bytes) -> int:
    """Intrinsic gas of a plain call transaction with calldata ``data`` (21,000 + 16 / 4 per byte)."""
    return 21_000 + sum(16 if byte else 4 for byte in data)


def call_gas(receipt: Any) -> int:
    """Gas of the same call made from a contract: the transaction's gas less its intrinsic gas, plus the cold
    access to the token's account (an EOA transaction's target is warm; a contract's callee is not)."""
    return int(receipt.gas_used) - intrinsic_gas(bytes(receipt.input)) + COLD_ACCOUNT_ACCESS


def _setup(holders: list[Any], admin: Any) -> tuple[Any, Any, Any]:
    """Currency, registry and tranche with ``holders`` verified and holding FACE each."""
    from brownie import chain as bchain

    proj = chain.load_project()
    currency = deploy(proj.TestStablecoin, "Bench USD", "bUSD", 6, sender=admin)[0]
    registry = tokens.deploy_identity_registry(admin, [admin])
    tokens.allow_jurisdictions(registry, admin, [US])
    rows = [{"address": str(h), "jurisdiction": US, "investor_type": 1, "expiry": bchain.time() + 10**8}
            for h in holders]
    tokens.register_investors(registry, admin, rows, batch_size=200)
    token = tokens.deploy_tranche(
        name="Bench A", symbol="BA", currency=currency, registry=registry, admin=admin, coupon_bps=500,
        residual_recipient=admin, deal=admin,
    )
    for h in holders:
        transact(token.issue, h, FACE, b"", sender=admin)
    transact(currency.mint, admin, 10**15, sender=admin)
    transact(currency.approve, token, 2**256 - 1, sender=admin)
    return currency, registry, token


@benchmark("token", needs_chain=True)
def tranche_gas() -> dict[str, float]:
    """Gas of the investor-facing operations; distributions with 10 and 1,000 holders."""
    from brownie import accounts

    admin = chain.deployer()
    a, b = accounts[1], accounts[2]
    currency, _, token = _setup([a, b], admin)
    transact(token.distribute, 1_000_000, 1_000_000, sender=admin)
    transact(currency.mint, a, 1, sender=admin)  # the claimant already holds some currency (typical wallet)
    transact(token.transfer, b, 1_000, sender=a)  # both checkpointed in this period
    after_distribution = transact(token.transfer, b, 1_000, sender=a).gas_used
    transact(token.claim, sender=a)
    transact(token.distribute, 1_000_000, 1_000_000, sender=admin)
    first_after = transact(token.transfer, b, 1_000, sender=a).gas_used  # checkpoints both holders
    warm = transact(token.transfer, b, 1_000, sender=a).gas_used
    transact(token.distribute, 1_000_000, 1_000_000, sender=admin)
    claim_traded = transact(token.claim, sender=a).gas_used
    # steady state: supply/principal, accumulators, flows, balances all non-zero; no holder moved this epoch
    steady = transact(token.distribute, 1_234_567, 7_654_321, sender=admin)
    metrics = {
        "tranche_transfer_gas": warm,
        "tranche_transfer_gas_first_after_distribution": first_after,
        "tranche_claim_gas": claim_traded,
        "tranche_distribute_gas_steady": steady.gas_used,
        "tranche_distribute_call_gas_steady": call_gas(steady),
    }
    assert after_distribution == warm
    for n in (10, 1000):
        holders = [_holder_address(i) for i in range(n)]
        _, _, tok = _setup(holders, admin)
        metrics[f"tranche_distribute_gas_{n}"] = transact(tok.distribute, 1_000_000, 1_000_000, sender=admin).gas_used
    return metrics
