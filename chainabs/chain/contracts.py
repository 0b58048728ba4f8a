"""The project's contracts as brownie objects, and the identifiers they share (role ids, partitions)."""

from __future__ import annotations

from typing import Any

from eth_utils import keccak

from chainabs.chain.connection import load_project

#: ERC-1410 partitions of a tranche token (bytes32, right-padded ASCII).
UNRESTRICTED = b"unrestricted".ljust(32, b"\0")
LOCKED = b"locked".ljust(32, b"\0")


def role_id(name: str) -> str:
    """The bytes32 id (hex) of an AccessControl role name, e.g. ``role_id("ISSUER_ROLE")``."""
    if name == "DEFAULT_ADMIN_ROLE":
        return "0x" + "00" * 32
    return "0x" + keccak(text=name).hex()


def bytes32_text(value: Any) -> str:
    """Decode a right-padded bytes32 (HexBytes, bytes or hex string) to text."""
    raw = bytes(value) if not isinstance(value, str) else bytes.fromhex(value.removeprefix("0x"))
    return raw.rstrip(b"\0").decode("ascii", errors="replace")


def contract_at(kind: str, address_or_contract: Any) -> Any:
    """A brownie contract object for a deployed ``kind`` (contract name) given an address or a contract.

    If brownie already knows a contract at that address (e.g. a subclass of ``kind`` deployed in this session),
    that object is returned: it has every function of ``kind``.

    In a bound session (:func:`chainabs.chain.bound.session`: no brownie) the object is a
    :class:`chainabs.chain.bound.BoundContract` over the shipped ABI of ``kind``, called the same way."""
    if hasattr(address_or_contract, "address"):
        return address_or_contract
    from chainabs.chain.sender import bound_sender

    if bound_sender() is not None:
        from chainabs.chain.bound import BoundContract

        return BoundContract(bound_sender().w3, kind, str(address_or_contract))
    from brownie.exceptions import ContractExists
    from brownie.network.state import _find_contract

    proj = load_project()
    try:
        return getattr(proj, kind).at(address_or_contract, persist=False)
    except ContractExists:
        return _find_contract(address_or_contract)
