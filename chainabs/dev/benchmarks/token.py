"""Tranche token gas: compliant transfer, claim, and a distribution's cost for 10 vs 1,000 holders and in the
steady state (every slot it touches already non-zero, as at every period close after the first)."""

from __future__ import annotations

from typing import Any

from chainabs.chain import connection as chain
from chainabs.chain import signers
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
    from brownie import chain as bchain

    admin = signers.deployer()
    a, b = accounts[1], accounts[2]
    currency, registry, token = _setup([a, b], admin)
    tokens.register_investors(registry, admin, [{"address": str(accounts[3]), "jurisdiction": US,
                                                 "investor_type": 1, "expiry": bchain.time() + 10**8}])
    transact(token.distribute, 1_000_000, 1_000_000, sender=admin)
    transact(currency.mint, a, 1, sender=admin)  # the claimant already holds some currency (typical wallet)
    transact(token.transfer, b, 1_000, sender=a)  # both checkpointed in this period
    after_distribution = transact(token.transfer, b, 1_000, sender=a).gas_used
    transact(token.claim, sender=a)
    transact(token.distribute, 1_000_000, 1_000_000, sender=admin)
    first_after = transact(token.transfer, b, 1_000, sender=a).gas_used  # checkpoints both holders
    warm = transact(token.transfer, b, 1_000, sender=a).gas_used
    new_holder = transact(token.transfer, accounts[3], 1_000, sender=a).gas_used  # verified, never held units
    transact(token.distribute, 1_000_000, 1_000_000, sender=admin)
    claim_traded = transact(token.claim, sender=a).gas_used
    # steady state: supply/principal, accumulators, flows, balances all non-zero; no holder moved this epoch
    steady = transact(token.distribute, 1_234_567, 7_654_321, sender=admin)
    metrics = {
        "tranche_transfer_gas": warm,
        "tranche_transfer_gas_first_after_distribution": first_after,
        "tranche_transfer_gas_new_holder": new_holder,
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


@benchmark("token_paths", needs_chain=True)
def tranche_paths() -> dict[str, float]:
    """Gas of every investor path of a tranche token, as whole transactions from the investor's wallet (21,000
    intrinsic gas included). Conditions: every holder already holds some currency (a typical wallet), the
    receivers and senders are verified in the same jurisdiction; "warm" means both parties already moved in
    the current distribution epoch."""
    from brownie import accounts
    from brownie import chain as bchain

    admin = signers.deployer()
    a, b, c, d, e, f, lost, spare = accounts[1:9]
    currency, registry, token = _setup([a, b, d, e, lost], admin)
    rows = [{"address": str(h), "jurisdiction": US, "investor_type": 1, "expiry": bchain.time() + 10**8}
            for h in (c, f, spare)]
    tokens.register_investors(registry, admin, rows)
    tokens.link_wallets(registry, admin, [lost, spare], b"\x01" * 32)
    transact(token.grantRole, token.CONTROLLER_ROLE(), admin, sender=admin)
    for h in (a, b, c, d, e, f, lost, spare):
        transact(currency.mint, h, 1, sender=admin)
    metrics: dict[str, float] = {}
    # Offering (the deal, here ``admin``, issues and cancels): a subscription's units, a refund's cancellation.
    metrics["tranche_issue_gas_new_holder"] = transact(token.issue, f, FACE, b"", sender=admin).gas_used
    metrics["tranche_issue_gas_topup"] = transact(token.issue, f, FACE, b"", sender=admin).gas_used
    metrics["tranche_cancel_gas"] = transact(token.cancel, f, sender=admin).gas_used
    transact(token.distribute, 1_000_000, 1_000_000, sender=admin)  # epoch 1
    metrics["tranche_claim_gas_first"] = transact(token.claim, sender=d).gas_used  # never claimed, never moved
    # both parties' first move ever (their first credits are written), then warm: the same as in tranche_gas
    metrics["tranche_transfer_gas_first_move_ever"] = transact(token.transfer, b, 1_000, sender=a).gas_used
    transact(token.transfer, b, 1_000, sender=a)
    metrics["tranche_transfer_gas_new_holder_epoch1"] = transact(token.transfer, c, 1_000, sender=a).gas_used
    # e has held since issuance and never moved nor claimed: its first credit is written by this transfer
    metrics["tranche_transfer_gas_to_never_claimed"] = transact(token.transfer, e, 1_000, sender=a).gas_used
    metrics["tranche_transfer_gas_emptying_sender"] = transact(token.transfer, a, 1_000, sender=c).gas_used
    metrics["tranche_transfer_from_gas"] = _transfer_from(token, a, b, admin)
    transact(token.distribute, 1_000_000, 1_000_000, sender=admin)  # epoch 2
    metrics["tranche_claim_gas_repeat"] = transact(token.claim, sender=d).gas_used  # claimed before, never moved
    metrics["tranche_claim_gas_after_moves"] = transact(token.claim, sender=a).gas_used  # moved in epoch 1
    metrics["tranche_controller_transfer_gas"] = transact(
        token.controllerTransfer, a, b, 1_000, b"", b"", sender=admin).gas_used
    metrics["tranche_recover_wallet_gas"] = transact(token.recoverWallet, lost, spare, sender=admin).gas_used
    transact(token.settle, sender=admin)
    metrics["tranche_redeem_gas"] = transact(token.redeem, 1_000, b"", sender=b).gas_used
    return metrics


def _transfer_from(token: Any, holder: Any, to: Any, spender: Any) -> int:
    """A transferFrom by an approved spender (exact allowance, so the allowance is written), warm parties."""
    transact(token.approve, spender, 10_000, sender=holder)
    return int(transact(token.transferFrom, holder, to, 1_000, sender=spender).gas_used)


@benchmark("token_offering", needs_chain=True)
def tranche_offering_paths() -> dict[str, float]:
    """Gas of the offering paths an investor pays through the SPV: a subscription (payment and delivery of the
    units; the currency approval is separate) as a new holder and as a top-up, and the refund of a cancelled
    offering (cancels the holder's units in every class and pays the currency back)."""
    import tempfile
    from pathlib import Path

    from brownie import project

    from chainabs.dev.sandbox import FIRST_INVESTOR, onboarded_pool, sandbox_deal

    proj = project.get_loaded_projects()[0]
    wallets = chain.local_accounts(20)
    admin, originator, servicer = wallets[0], wallets[3], wallets[2]
    currency, _ = deploy(proj.TestStablecoin, "Bench USD", "bUSD", 6, sender=admin)
    spec, registry, pool_id, tape = onboarded_pool(originator, admin, servicer)
    d = sandbox_deal(spec, wallets, currency, registry, pool_id, proj, Path(tempfile.mkdtemp(prefix="bench-")), tape)
    investor = wallets[FIRST_INVESTOR]
    unit = 10 ** int(currency.decimals())
    transact(currency.mint, investor, 10_000 * unit, sender=admin)
    transact(currency.approve, d.spv, 2**256 - 1, sender=investor)
    first = transact(d.spv.subscribe, 0, 1_000 * unit, sender=investor).gas_used
    topup = transact(d.spv.subscribe, 0, 1_000 * unit, sender=investor).gas_used
    transact(d.spv.cancelOffering, sender=admin)  # the arranger
    refund = transact(d.spv.refund, investor, sender=investor).gas_used
    return {"spv_subscribe_gas_new_holder": first, "spv_subscribe_gas_topup": topup, "spv_refund_gas": refund}


@benchmark("identity", needs_chain=True)
def identity_paths() -> dict[str, float]:
    """Gas of the identity registry's operations that the tokens' identity cache touches: adding a token as a
    listener, and a restrictive change (a freeze) with no listener and with three (a three-class deal: each
    listener's cache is reset in the same transaction); an unfreeze and a renewal (later expiry) reset nothing."""
    from brownie import accounts
    from brownie import chain as bchain

    admin = signers.deployer()
    a, b = accounts[1], accounts[2]
    currency, registry, token = _setup([a, b], admin)
    transact(registry.removeIdentityListener, token, sender=admin)
    metrics: dict[str, float] = {}
    metrics["identity_freeze_gas_no_listener"] = transact(registry.setFrozen, a, True, sender=admin).gas_used
    transact(registry.setFrozen, a, False, sender=admin)
    listeners = [token] + [
        tokens.deploy_tranche(name=f"Bench {c}", symbol=f"B{c}", currency=currency, registry=registry, admin=admin,
                              coupon_bps=500, residual_recipient=admin, deal=admin, identity_cache=False)
        for c in "BC"]
    metrics["identity_add_listener_gas"] = transact(registry.addIdentityListener, listeners[0], sender=admin).gas_used
    for tok in listeners[1:]:
        transact(registry.addIdentityListener, tok, sender=admin)
    metrics["identity_freeze_gas_3_listeners"] = transact(registry.setFrozen, a, True, sender=admin).gas_used
    metrics["identity_unfreeze_gas_3_listeners"] = transact(registry.setFrozen, a, False, sender=admin).gas_used
    metrics["identity_renew_gas_3_listeners"] = transact(
        registry.registerInvestor, a, US, 1, bchain.time() + 2 * 10**8, sender=admin).gas_used
    return metrics
