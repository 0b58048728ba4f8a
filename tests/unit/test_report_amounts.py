"""Every amount a user reads in the HTML report is in currency units: the reconciliation's ledger figures and the
revolving period's dilutions and unspent principal included (the CSVs keep base units for machines)."""

from __future__ import annotations

import pandas as pd

from chainabs.apps import display
from chainabs.apps.reports import _reconciliation_kind

MONEY = display.Money(6, "USDC")


def test_reconciled_figures_show_amounts_in_currency_units():
    frame = pd.DataFrame([
        {"figure": "ledger.subscriptions", "chain": 1_209_057_245_080_000, "model": 1_209_057_245_080_000, "match": True},
        {"figure": "state.cumulative_defaults", "chain": 5_275_422_906_632, "model": 5_275_422_906_632, "match": True},
        {"figure": "currency.balance_of_spv", "chain": 0, "model": 0, "match": True},
        {"figure": "state.periods_closed", "chain": 15, "model": 15, "match": True},
    ])
    page = display.html_long_table(frame, MONEY, "figure", ["chain", "model", "match"], kind_of=_reconciliation_kind)
    assert "USDC 1,209,057,245.08" in page and "USDC 5,275,422.91" in page and "USDC 0.00" in page
    assert "1,209,057,245,080,000" not in page and "5,275,422,906,632" not in page  # never raw base units
    assert ">15<" in page  # a count stays a count


def test_revolving_tables_show_amounts_in_currency_units():
    summary = pd.DataFrame([{"period": 1, "receivables_bought": 500, "purchased": 289_550_545_630_000,
                             "diluted": 937_317_607_901}])
    purchases = pd.DataFrame([{"period": 1, "block": 250, "seller": "0x" + "ab" * 20, "receivables": 100,
                               "principal": 60_250_317_440_000, "unspent_principal": 242_610_381_220_000}])
    page = display.html_table(summary, MONEY) + display.html_table(purchases, MONEY)
    assert "USDC 937,317.61" in page and "USDC 242,610,381.22" in page
    assert "937317607901" not in page and "242610381220000" not in page
