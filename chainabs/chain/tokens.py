"""Tranche tokens and the identity registry from Python: deploy, register investors, issue, distribute,
claim, check a transfer.

Every function takes brownie contract objects (or addresses) and accounts, and sends through
:mod:`chainabs.chain.sender`, so the same code runs on a local anvil, an attached node and a live network.
Amounts are integers in the deal currency's base units (6 decimals for a USDC-like currency). Positions and
statements are read by :mod:`chainabs.chain.read.tranches`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from chainabs.chain.connection import ensure_libraries, load_project
from chainabs.chain.contracts import UNRESTRICTED, bytes32_text, contract_at
from chainabs.chain.sender import Receipt, deploy, transact
from chainabs.model.numbers import limit_text

#: Role names of TrancheToken (keccak of the name) and of IdentityRegistry. Issuance, distributions,
#: write-downs and the record date belong to the deal the token is bound to (``bindDeal``), not to a role.
TOKEN_ROLES = ("CONTROLLER_ROLE", "PAUSER_ROLE", "DOCUMENT_ROLE")
REGISTRY_ROLES = ("KYC_AGENT_ROLE",)

#: ERC-1066 transfer status codes returned by ``canTransfer`` and carried by ``TransferBlocked``.
STATUS_CODES: dict[int, str] = {
    0x50: "transfer failure (rule breach)",
    0x51: "transfer success",
    0x52: "insufficient balance",
    0x53: "insufficient allowance",
    0x54: "transfers halted (paused, or books closed at a record date)",
    0x55: "funds locked (lock-up, or principal still owed by the deal)",
    0x56: "invalid sender",
    0x57: "invalid receiver",
    0x58: "invalid operator",
}

INVESTOR_COLUMNS = ("address", "jurisdiction", "investor_type", "expiry")


class InvestorDataError(ValueError):
    """A row of an investor table breaks a rule; the message names the row, the field and the rule."""


@dataclass(frozen=True)
class TransferCheck:
    """Decoded answer of ``canTransfer``: ERC-1066 code, application reason, partition."""

    code: int
    reason: str
    partition: str

    @property
    def ok(self) -> bool:
        return self.code == 0x51

    @property
    def meaning(self) -> str:
        return STATUS_CODES.get(self.code, "unknown status")


# ------------------------------------------------------------------------------------------------------
# Deployment
# ------------------------------------------------------------------------------------------------------


#: Tokens an IdentityRegistry keeps informed at most (its listeners).
MAX_IDENTITY_LISTENERS = 16


def deploy_identity_registry(admin: Any, kyc_agents: Sequence[Any] = ()) -> Any:
    """Deploy an IdentityRegistry administered by ``admin`` and grant KYC_AGENT_ROLE to ``kyc_agents``."""
    registry, _ = deploy(load_project().IdentityRegistry, admin, sender=admin)
    for agent in kyc_agents:
        transact(registry.grantRole, registry.KYC_AGENT_ROLE(), agent, sender=admin)
    return registry


def deploy_tranche(
    *,
    name: str,
    symbol: str,
    currency: Any,
    registry: Any,
    admin: Any,
    coupon_bps: int,
    residual_recipient: Any,
    lockup_end: int = 0,
    roles: Mapping[str, Iterable[Any]] | None = None,
    deal: Any = None,
    identity_cache: bool = True,
) -> Any:
    """Deploy a TrancheToken, grant ``roles`` (role name -> accounts, e.g. ``{"CONTROLLER_ROLE": [trustee]}``)
    and bind it to ``deal`` if given (the SPV, or in tests an account standing for it). With ``identity_cache``
    ``admin``, who must administer ``registry`` too, adds the token as an identity listener: holders' clearances
    are then cached in the token until the registry changes something restrictive."""
    proj = load_project()
    if identity_cache:
        identity = contract_at("IdentityRegistry", registry)
        if not identity.hasRole(b"\0" * 32, str(getattr(admin, "address", admin))):
            raise ValueError(f"deploy_tranche: {getattr(admin, 'address', admin)} does not hold DEFAULT_ADMIN_ROLE of "
                             f"identity registry {identity.address}, so it cannot make the token a listener "
                             "(pass identity_cache=False, or deploy with the registry's admin)")
        if len(identity.identityListeners()) >= MAX_IDENTITY_LISTENERS:
            raise ValueError(f"deploy_tranche: identity registry {identity.address} already informs "
                             f"{MAX_IDENTITY_LISTENERS} listeners, its limit (remove one, or pass identity_cache=False)")
    ensure_libraries(proj.TrancheToken, admin)
    token, _ = deploy(proj.TrancheToken, name, symbol, currency, registry, coupon_bps, lockup_end, admin,
                      residual_recipient, sender=admin)
    if deal is not None:
        transact(token.bindDeal, deal, sender=admin)
    if identity_cache:
        transact(identity.addIdentityListener, token, sender=admin)
    for role, holders in (roles or {}).items():
        if role not in TOKEN_ROLES:
            raise ValueError(f"unknown tranche role {role!r}; expected one of {TOKEN_ROLES}")
        role_hash = getattr(token, role)()
        for holder in holders:
            transact(token.grantRole, role_hash, holder, sender=admin)
    return token


# ------------------------------------------------------------------------------------------------------
# Investors
# ------------------------------------------------------------------------------------------------------


def validate_investors(table: pd.DataFrame | Iterable[Mapping[str, Any]], now: int | None = None) -> pd.DataFrame:
    """Check an investor table (columns address, jurisdiction, investor_type, expiry) and normalise it.

    Raises :class:`InvestorDataError` naming the first bad row (0-based), field and rule.
    """
    frame = table.copy() if isinstance(table, pd.DataFrame) else pd.DataFrame(list(table))
    missing = [c for c in INVESTOR_COLUMNS if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns)) if len(frame.columns) else "none"
        raise InvestorDataError(f"investor table: missing column{'s' if len(missing) > 1 else ''} "
                                f"{', '.join(map(repr, missing))} (the table has columns {have}; it needs "
                                f"{', '.join(INVESTOR_COLUMNS)})")
    now = int(time.time()) if now is None else now
    seen: dict[str, int] = {}
    for row, rec in enumerate(frame.itertuples(index=False)):
        problems = investor_row_problems(row, rec, now)
        key = str(rec.address).lower()
        if not problems and key in seen:
            problems = [f"row {row}: field 'address' {rec.address} duplicates row {seen[key]}"]
        if problems:
            raise InvestorDataError("; ".join(problems))
        seen[key] = row
    out = frame.loc[:, list(INVESTOR_COLUMNS)].copy()
    for col in INVESTOR_COLUMNS[1:]:
        out[col] = out[col].astype("int64") if col != "expiry" else out[col].map(int)
    return out


def investor_row_problems(row: int, rec: Any, now: int) -> list[str]:
    """Every field of one investor record (``address``, ``jurisdiction``, ``investor_type``, ``expiry``
    attributes) that breaks its rule, each as ``row N: field ...``; empty when the record is good."""
    problems = []
    addr = str(rec.address)
    if not (addr.startswith("0x") and len(addr) == 42 and _is_hex(addr[2:])):
        problems.append(f"row {row}: field 'address' = {addr!r} is not a 0x-prefixed 20-byte address")
    elif int(addr, 16) == 0:
        problems.append(f"row {row}: field 'address' must not be the zero address")
    for field, value, low, high, rule in (
        ("jurisdiction", rec.jurisdiction, 1, 999, "an ISO 3166-1 numeric code 1..999"),
        ("investor_type", rec.investor_type, 0, 255, "an integer 0..255"),
        ("expiry", rec.expiry, now + 1, 2**64 - 1, "a unix time in the future"),
    ):
        if _int_within(value, low, high):
            continue
        if _int_within(value, high + 1, None):  # a whole number, too large: say so, and the largest allowed
            most = "" if ".." in rule else f", at most {limit_text(high)}"
            problems.append(f"row {row}: field {field!r} = {value!r} is out of range: must be {rule}{most}")
        else:
            problems.append(f"row {row}: field {field!r} = {value!r} must be {rule}")
    return problems


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def _int_within(value: Any, low: int, high: int | None) -> bool:
    """True when ``value`` is an integer (exactly: 1.5 and "12" are not) from ``low`` to ``high`` (None: no limit)."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
        return False
    return number == value and low <= number and (high is None or number <= high)


def register_investors(
    registry: Any, agent: Any, investors: pd.DataFrame | Iterable[Mapping[str, Any]], batch_size: int = 100
) -> list[Receipt]:
    """Validate and register investors in batches of ``batch_size`` (each batch reverts whole on-chain)."""
    registry = contract_at("IdentityRegistry", registry)
    from brownie import chain as bchain

    frame = validate_investors(investors, now=bchain.time())
    receipts = []
    for start in range(0, len(frame), batch_size):
        part = frame.iloc[start : start + batch_size]
        receipts.append(
            transact(registry.registerInvestors, list(part["address"]), [int(v) for v in part["jurisdiction"]],
                     [int(v) for v in part["investor_type"]], [int(v) for v in part["expiry"]], sender=agent)
        )
    return receipts


def allow_jurisdictions(registry: Any, admin: Any, codes: Iterable[int], allowed: bool = True) -> list[Receipt]:
    """Allow (or disallow) ISO 3166-1 numeric jurisdiction codes in the registry."""
    registry = contract_at("IdentityRegistry", registry)
    return [transact(registry.setJurisdictionAllowed, int(code), allowed, sender=admin) for code in codes]


# ------------------------------------------------------------------------------------------------------
# Issuance, distributions, claims
# ------------------------------------------------------------------------------------------------------


def issue(token: Any, issuer: Any, to: Any, amount: int, partition: bytes | None = None,
          data: bytes = b"") -> Receipt:
    """Issue ``amount`` tokens to ``to`` (unrestricted, or into ``partition``, e.g.
    :data:`chainabs.chain.contracts.LOCKED`); ``issuer`` is the deal the token is bound to."""
    token = contract_at("TrancheToken", token)
    if partition is None or partition == UNRESTRICTED:
        return transact(token.issue, to, int(amount), data, sender=issuer)
    return transact(token.issueByPartition, partition, to, int(amount), data, sender=issuer)


def distribute(token: Any, distributor: Any, interest: int, principal: int) -> Receipt:
    """Approve the token for ``interest + principal`` of the deal currency and distribute it."""
    token = contract_at("TrancheToken", token)
    currency = contract_at("TestStablecoin", token.currency())
    total = int(interest) + int(principal)
    if total:
        transact(currency.approve, token, total, sender=distributor)
    return transact(token.distribute, int(interest), int(principal), sender=distributor)


def claim(token: Any, holder: Any, on_behalf_of: Any | None = None) -> tuple[int, int]:
    """Withdraw ``holder``'s funds (or trigger it for ``on_behalf_of``); returns (interest, principal) paid."""
    token = contract_at("TrancheToken", token)
    if on_behalf_of is None:
        receipt = transact(token.claim, sender=holder)
    else:
        receipt = transact(token.claimFor, on_behalf_of, sender=holder)
    if "FundsWithdrawn" not in receipt.events:
        return (0, 0)
    event = receipt.event("FundsWithdrawn")
    return (int(event["interest"]), int(event["principal"]))


def recover_wallet(token: Any, controller: Any, lost: Any, replacement: Any) -> Receipt:
    """Move every unit and unclaimed credit of ``lost`` to ``replacement`` (a verified wallet of the same
    investor, linked with :func:`link_wallets`)."""
    token = contract_at("TrancheToken", token)
    return transact(token.recoverWallet, lost, replacement, sender=controller)


def link_wallets(registry: Any, agent: Any, wallets: Iterable[Any], investor_id: bytes) -> Receipt:
    """Record in the identity registry that ``wallets`` belong to one investor (``investor_id``: a bytes32
    reference to the KYC file, e.g. its hash)."""
    registry = contract_at("IdentityRegistry", registry)
    return transact(registry.setInvestorId, [str(w) for w in wallets], investor_id, sender=agent)


def check_claim(token: Any, holder: Any) -> TransferCheck:
    """What ``canClaim`` says about ``holder`` collecting its funds now."""
    token = contract_at("TrancheToken", token)
    code, reason = token.canClaim(holder)
    return TransferCheck(int.from_bytes(bytes(code), "big"), bytes32_text(reason), "")


def check_transfer(token: Any, sender: Any, to: Any, amount: int) -> TransferCheck:
    """What ``canTransfer`` says about ``sender`` sending ``amount`` to ``to`` (never reverts)."""
    token = contract_at("TrancheToken", token)
    code, reason, partition = token.canTransfer(to, int(amount), b"", {"from": sender})
    return TransferCheck(int.from_bytes(bytes(code), "big"), bytes32_text(reason), bytes32_text(partition))
