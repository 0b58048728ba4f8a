"""Trade-receivable benchmarks: the invoice ledger's cost per debtor key, per confirmation and per receivable
financed (onboarding into a registry attached to the ledger, against the same tape in a registry without it)."""

from __future__ import annotations

from chainabs.chain import connection as chain
from chainabs.chain import signers
from chainabs.chain import invoices
from chainabs.chain import registry as rc
from chainabs.dev.benchmarks import benchmark
from chainabs.model import synthetic


@benchmark("receivables_ledger", needs_chain=True)
def ledger_gas() -> dict[str, float]:
    """1,000 synthetic trade receivables: debtors' keys registered one transaction each, confirmations in batches
    of ``invoices.CONFIRM_BATCH``, onboarding with and without the ledger attached (the difference is what
    recording an invoice as financed costs per receivable)."""
    from brownie import accounts

    admin = signers.deployer()
    originator = accounts[3] if chain.is_local() else admin
    criteria = synthetic.default_criteria("trade_receivable", max_region_bps=10_000, max_industry_bps=10_000,
                                          max_obligor_bps=10_000)
    tape = synthetic.generate_tape(1_000, kind="trade_receivable", seed=105, prefix="BR-")
    plain = rc.deploy_registry(admin, originators=(originator,))
    pool = rc.create_pool(plain, originator, criteria)
    without = rc.onboard(plain, pool, tape, originator, today=synthetic.DEFAULT_CUTOFF, progress=False)
    ledger = invoices.deploy_ledger(admin, registrars=(admin,))
    attached = rc.deploy_registry(admin, originators=(originator,))
    invoices.attach_registry(ledger, admin, attached, admin)
    confirmed = invoices.confirm_tape_locally(ledger, admin, tape, originator)
    pool = rc.create_pool(attached, originator, criteria)
    with_ledger = rc.onboard(attached, pool, tape, originator, today=synthetic.DEFAULT_CUTOFF, progress=False)
    return {
        "invoice_debtor_key_gas": round(confirmed["keys"] / confirmed["debtors"]),
        "invoice_confirm_gas_per_invoice": round(confirmed["confirmations"] / confirmed["invoices"]),
        "onboard_gas_per_receivable_no_ledger_1k": round(without.gas_per_asset),
        "onboard_gas_per_receivable_ledger_1k": round(with_ledger.gas_per_asset),
    }
