"""Helpers of the trade-receivable tests (tests/*/test_*receivables*.py, tests/stateful/test_invoice_ledger_state.py):
pool criteria a small receivables pool meets, debtors' stand-in keys and their signatures."""

from __future__ import annotations

from typing import Any

from chainabs.chain import invoices
from chainabs.model import receivables as rv
from chainabs.model import synthetic
from plugins.registry import CUTOFF

#: Trade-receivable criteria without concentration limits (a test pool holds a few invoices).
CRITERIA = synthetic.default_criteria("trade_receivable", CUTOFF, max_region_bps=10_000, max_industry_bps=10_000,
                                      max_obligor_bps=10_000)


def debtor_key(obligor: bytes) -> str:
    """A deterministic private key per debtor (the stand-in for a debtor's treasury wallet)."""
    return invoices.local_debtor_key(obligor)


def signed(ledger: Any, items: list[rv.Confirmation]) -> list[bytes]:
    """Each item's signature by its debtor's stand-in key."""
    return [invoices.sign_confirmation(c, debtor_key(c.debtor), ledger.address) for c in items]
