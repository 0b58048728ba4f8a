"""Invoice ledger client: deploy the shared uniqueness record, attach registries, register debtors' keys, sign
and submit debtors' confirmations (EIP-712), read what the ledger knows of an invoice.

The ledger (``contracts/registry/InvoiceLedger.sol``) is one per network. A registry attached to it
(:func:`attach_registry`) refuses to pool a trade receivable its debtor did not confirm to the pool's originator,
or an invoice already financed in any attached registry; the refusal reverts the whole ``registerAndPool`` batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3

from chainabs.chain.connection import connected_web3, load_project
from chainabs.chain.sender import deploy, transact
from chainabs.model.receivables import Confirmation, confirmations, typed_data

#: ``IInvoiceLedger.ConfirmationStatus`` names, by value.
STATUSES: tuple[str, ...] = ("Unconfirmed", "OtherTerms", "Confirmed", "Financed")
#: Confirmations per ``confirm`` transaction (~45k gas each: signature check, one new slot, one event).
CONFIRM_BATCH = 150


def _address(account: Any) -> str:
    return str(account.address if hasattr(account, "address") else account)


def deploy_ledger(admin: Any, *, registrars: Sequence[Any] = ()) -> Any:
    """Deploy an ``InvoiceLedger`` administered by ``admin``; DEBTOR_REGISTRAR_ROLE for ``registrars``."""
    ledger, _ = deploy(load_project().InvoiceLedger, admin, sender=admin)
    role = ledger.DEBTOR_REGISTRAR_ROLE()
    for account in registrars:
        transact(ledger.grantRole, role, account, sender=admin)
    return ledger


def attach_registry(ledger: Any, ledger_admin: Any, registry: Any, registry_admin: Any) -> None:
    """Admit ``registry`` to record financed invoices (REGISTRY_ROLE) and attach the ledger to it (once)."""
    role = ledger.REGISTRY_ROLE()
    if not ledger.hasRole(role, registry.address):
        transact(ledger.grantRole, role, registry.address, sender=ledger_admin)
    if str(registry.invoiceLedger()).lower() != ledger.address.lower():
        transact(registry.setInvoiceLedger, ledger.address, sender=registry_admin)


def set_debtor_keys(ledger: Any, registrar: Any, keys: dict[bytes, str]) -> None:
    """Register each debtor's (obligor hash -> address) signing key, skipping those already registered so."""
    for debtor, key in keys.items():
        if str(ledger.debtorKey(debtor)).lower() != key.lower():
            transact(ledger.setDebtorKey, debtor, key, sender=registrar)


def sign_confirmation(confirmation: Confirmation, private_key: Any, ledger_address: str,
                      chain_id: int | None = None) -> bytes:
    """The debtor's EIP-712 signature (65 bytes) of ``confirmation`` on the ledger at ``ledger_address``."""
    chain_id = connected_web3().eth.chain_id if chain_id is None else chain_id
    message = encode_typed_data(full_message=typed_data(confirmation, chain_id, ledger_address))
    return bytes(Account.sign_message(message, private_key).signature)


def confirm(ledger: Any, items: Sequence[Confirmation], signatures: Sequence[bytes], sender: Any,
            batch: int = CONFIRM_BATCH) -> int:
    """Submit debtors' confirmations in batches of ``batch``; returns the gas used."""
    if len(items) != len(signatures):
        raise ValueError(f"{len(items)} confirmations but {len(signatures)} signatures")
    gas = 0
    for start in range(0, len(items), batch):
        chunk = [c.as_tuple() for c in items[start : start + batch]]
        gas += transact(ledger.confirm, chunk, list(signatures[start : start + batch]), sender=sender).gas_used
    return gas


def invoice_state(ledger: Any, debtor: bytes, invoice_hash: bytes) -> dict[str, Any]:
    """``{"confirmed": bool, "registry": address or None}`` for ``debtor``'s invoice ``invoice_hash`` (the ledger
    keys an invoice by its debtor and its hash: another debtor's confirmation of the same hash is its own)."""
    confirmed, registry = ledger.invoiceState(debtor, invoice_hash)
    financed = int(str(registry), 16) != 0
    return {"confirmed": bool(confirmed), "registry": str(registry) if financed else None}


def ledger_of(registry: Any) -> Any | None:
    """The invoice ledger attached to ``registry`` (a contract object), or None."""
    address = str(registry.invoiceLedger())
    return None if int(address, 16) == 0 else load_project().InvoiceLedger.at(address)


def statuses(ledger: Any, items: Sequence[Confirmation], chunk: int = 500) -> list[str]:
    """Where each confirmation stands on the ledger (:data:`STATUSES`), one view call per ``chunk``."""
    out: list[str] = []
    for start in range(0, len(items), chunk):
        out += [STATUSES[int(v)] for v in ledger.statusOf([c.as_tuple() for c in items[start : start + chunk]])]
    return out


def tape_problems(ledger: Any, tape: pd.DataFrame, creditor: str) -> list[str]:
    """One line per trade receivable of ``tape`` (typed, in the order it will be sent) that the ledger would
    refuse: ``row N (loan): invoice 0x..: <why>``, rows 1-based as the tape validator counts them."""
    receivable_rows = [i for i, t in enumerate(tape["asset_type"]) if t == "trade_receivable"]
    items = confirmations(tape, creditor)
    why = {"Unconfirmed": "its debtor has not confirmed it on chain",
           "OtherTerms": f"its debtor confirmed other terms (amount, due date or creditor) than {creditor}'s",
           "Financed": "already financed in a registry sharing the invoice ledger"}
    problems = []
    for row, item, status in zip(receivable_rows, items, statuses(ledger, items), strict=True):
        if status != "Confirmed":
            loan = tape["loan_id"].iloc[row]
            problems.append(f"row {row + 1} ({loan}): invoice 0x{item.invoice_hash.hex()}: {why[status]}")
    return problems


def local_debtor_key(debtor: bytes) -> str:
    """A deterministic private key for ``debtor`` on a local chain (the demo's, tests' and benchmarks' stand-in
    for a debtor's treasury wallet; a real debtor signs with its own key, e.g. through ``eth_signTypedData_v4``
    with :func:`chainabs.model.receivables.typed_data`)."""
    return "0x" + bytes(Web3.keccak(b"chainabs local debtor" + bytes(debtor))).hex()


def confirm_tape_locally(ledger: Any, registrar: Any, tape: pd.DataFrame, creditor: Any) -> dict[str, int]:
    """On a local chain: register a :func:`local_debtor_key` for every debtor of ``tape`` not yet known, have each
    debtor sign its receivables' confirmations to ``creditor`` and submit them in batches (by ``creditor``);
    returns the gas used (``keys``, ``confirmations``) and the number of ``invoices`` confirmed."""
    items = confirmations(tape, _address(creditor))
    debtors = sorted({c.debtor for c in items})
    keys = {d: Account.from_key(local_debtor_key(d)).address for d in debtors}
    key_gas = 0
    for debtor, key in keys.items():
        if str(ledger.debtorKey(debtor)).lower() != key.lower():
            key_gas += transact(ledger.setDebtorKey, debtor, key, sender=registrar).gas_used
    # Confirmations are final: a debtor's invoices it already confirmed (to anyone) or financed are left as they are
    # (the onboarding names those it would refuse).
    todo = [c for c, s in zip(items, statuses(ledger, items), strict=True) if s == "Unconfirmed"]
    chain_id = connected_web3().eth.chain_id
    sigs = [sign_confirmation(c, local_debtor_key(c.debtor), ledger.address, chain_id) for c in todo]
    gas = confirm(ledger, todo, sigs, creditor)
    return {"keys": key_gas, "confirmations": gas, "invoices": len(todo), "debtors": len(debtors)}
