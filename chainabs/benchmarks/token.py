"""Tranche token gas: compliant transfer, claim, and a distribution's cost for 10 vs 1,000 holders and in the
steady state (every slot it touches already non-zero, as at every period close after the first)."""

from __future__ import annotations

from typing import Any

from chainabs import chain, tokens
from chainabs.bench import benchmark

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
    return int(receipt.gas_used) - intrinsic_gas(bytes.fromhex(str(receipt.input)[2:])) + COLD_ACCOUNT_ACCESS


def _setup(holders: list[Any], admin: Any) -> tuple[Any, Any, Any]:
    """Currency, registry and tranche with ``holders`` verified and holding FACE each."""
    from brownie import chain as bchain

    proj = chain.load_project()
    currency = proj.TestStablecoin.deploy("Bench USD", "bUSD", 6, chain.tx(admin))
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
        token.issue(h, FACE, b"", chain.tx(admin, required_confs=0 if h != holders[-1] else 1))
    currency.mint(admin, 10**15, chain.tx(admin))
    currency.approve(token, 2**256 - 1, chain.tx(admin))
    return currency, registry, token


@benchmark("token", needs_chain=True)
def tranche_gas() -> dict[str, float]:
    """Gas of the investor-facing operations; distributions with 10 and 1,000 holders."""
    from brownie import accounts

    admin = chain.deployer()
    a, b = accounts[1], accounts[2]
    currency, _, token = _setup([a, b], admin)
    token.distribute(1_000_000, 1_000_000, chain.tx(admin))
    currency.mint(a, 1, chain.tx(admin))  # the claimant already holds some currency (typical wallet)
    token.transfer(b, 1_000, chain.tx(a))  # both checkpointed in this period
    after_distribution = token.transfer(b, 1_000, chain.tx(a)).gas_used
    token.claim(chain.tx(a))
    token.distribute(1_000_000, 1_000_000, chain.tx(admin))
    first_after = token.transfer(b, 1_000, chain.tx(a)).gas_used  # checkpoints both holders
    warm = token.transfer(b, 1_000, chain.tx(a)).gas_used
    token.distribute(1_000_000, 1_000_000, chain.tx(admin))
    claim_traded = token.claim(chain.tx(a)).gas_used
    # steady state: supply/principal, accumulators, flows, balances all non-zero; no holder moved this epoch
    steady = token.distribute(1_234_567, 7_654_321, chain.tx(admin))
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
        metrics[f"tranche_distribute_gas_{n}"] = tok.distribute(1_000_000, 1_000_000, chain.tx(admin)).gas_used
    return metrics
