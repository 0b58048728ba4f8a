"""Trade receivables: what a debtor confirms on chain, and the EIP-712 typed data it signs.

A pool record of a trade receivable (asset type ``trade_receivable``) names its invoice by ``contract_hash``
(hash of the invoice document), its debtor by ``obligor`` (salted hash), its face amount by
``original_principal`` and its due date by ``maturity_date``; the creditor is the pool's originator. The
``InvoiceLedger`` contract (``interfaces/IInvoiceLedger.sol``) accepts the record only if the debtor's registered
key signed exactly these terms, and records the invoice as financed once across every registry it admits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from chainabs.model.tape import to_records

#: Asset-type code of a trade receivable (``IAssetRegistry.AssetRecord.assetType``).
TRADE_RECEIVABLE = 1
#: EIP-712 domain name and version of the ledger.
DOMAIN_NAME = "ChainABS InvoiceLedger"
DOMAIN_VERSION = "1"
#: The EIP-712 primary type (field order and Solidity types of ``IInvoiceLedger.Confirmation``).
CONFIRMATION_FIELDS: tuple[tuple[str, str], ...] = (
    ("invoiceHash", "bytes32"),
    ("debtor", "bytes32"),
    ("amount", "uint96"),
    ("dueDate", "uint40"),
    ("creditor", "address"),
)


def _bytes32(value: Any) -> bytes:
    raw = bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}: {value!r}")
    return raw


@dataclass(frozen=True)
class Confirmation:
    """One invoice as its debtor confirms it (``IInvoiceLedger.Confirmation``)."""

    invoice_hash: bytes
    debtor: bytes
    amount: int
    due_date: int
    creditor: str

    def as_tuple(self) -> tuple[bytes, bytes, int, int, str]:
        """The struct as a contract call takes it."""
        return (self.invoice_hash, self.debtor, self.amount, self.due_date, self.creditor)

    def message(self) -> dict[str, Any]:
        """The EIP-712 message (field name -> value)."""
        return dict(zip((name for name, _ in CONFIRMATION_FIELDS), self.as_tuple(), strict=True))


def confirmations(tape: pd.DataFrame, creditor: str) -> list[Confirmation]:
    """The confirmation each trade receivable of a typed tape needs from its debtor (rows of other asset types are
    skipped: the ledger leaves them alone)."""
    out = []
    for rec in to_records(tape):
        _loan, asset_type, original, _principal, _rate, _term, _orig, maturity, *_rest = rec
        obligor, contract_hash = rec[11], rec[12]
        if int(asset_type) == TRADE_RECEIVABLE:
            out.append(Confirmation(_bytes32(contract_hash), _bytes32(obligor), int(original), int(maturity), creditor))
    return out


def typed_data(confirmation: Confirmation, chain_id: int, ledger: str) -> dict[str, Any]:
    """The full EIP-712 typed data (``eth_signTypedData_v4`` form) a debtor signs for ``confirmation``, on the
    ledger at address ``ledger`` of chain ``chain_id``."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Confirmation": [{"name": n, "type": t} for n, t in CONFIRMATION_FIELDS],
        },
        "primaryType": "Confirmation",
        "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": int(chain_id),
                   "verifyingContract": ledger},
        "message": confirmation.message(),
    }
