"""The asset record, defined once on the Python side: its fields and ABI types, how it packs into calldata,
its identifiers, its types and statuses.

Mirror of ``IAssetRegistry`` (``AssetRecord``, ``PackedRecord``, ``AssetStatus``) and of ``AssetLib``'s
packing; ``tests/unit/test_asset_layout.py`` holds them equal (the ABI's struct types, the contract's
``leafOf`` / ``packedLeafOf`` for every field at its widest value, and the status enum of the interface).

* :data:`LEAF_FIELDS`: the StandardMerkleTree leaf ``(originator, record...)`` with each field's ABI type;
  the record is the leaf without the originator (a tape belongs to one originator).
* :data:`PACKED_WORDS`: the two packed words of ``PackedRecord`` (``terms``, ``dates``): each field at the
  bit offset that follows the previous one, its width taken from its ABI type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from eth_hash.auto import keccak

#: (name, ABI type) of every field of the leaf, in encoding order. The first is the originator's address
#: (not a tape column: a tape belongs to one originator); the others are the tape columns.
LEAF_FIELDS: tuple[tuple[str, str], ...] = (
    ("originator", "address"),
    ("loan_id", "bytes32"),
    ("asset_type", "uint8"),
    ("original_principal", "uint96"),
    ("principal", "uint96"),
    ("rate_bps", "uint16"),
    ("term_months", "uint16"),
    ("origination_date", "uint40"),
    ("maturity_date", "uint40"),
    ("days_delinquent", "uint16"),
    ("region", "uint8"),
    ("industry", "uint8"),
    ("obligor", "bytes32"),
    ("contract_hash", "bytes32"),
    ("schedule_hash", "bytes32"),
)
#: ABI types of the leaf: ``StandardMerkleTree.of(values, LEAF_TYPES)``.
LEAF_TYPES: tuple[str, ...] = tuple(t for _, t in LEAF_FIELDS)
#: ``AssetRecord`` fields (= tape columns), in record order, and their ABI types.
RECORD_FIELDS: tuple[tuple[str, str], ...] = LEAF_FIELDS[1:]
TAPE_COLUMNS: tuple[str, ...] = tuple(n for n, _ in RECORD_FIELDS)
_TYPE_OF: dict[str, str] = dict(RECORD_FIELDS)

#: ``PackedRecord`` members in order: the loan id, two packed words, the three hashes.
PACKED_RECORD: tuple[str, ...] = ("loan_id", "terms", "dates", "obligor", "contract_hash", "schedule_hash")
#: Fields of each packed word, lowest bits first.
PACKED_WORDS: dict[str, tuple[str, ...]] = {
    "terms": ("original_principal", "principal", "rate_bps", "term_months", "asset_type"),
    "dates": ("origination_date", "maturity_date", "days_delinquent", "region", "industry"),
}
#: Calldata bytes of one ``PackedRecord`` (a static struct of 32-byte words).
RECORD_BYTES = 32 * len(PACKED_RECORD)

#: Asset type names and their on-chain codes.
ASSET_TYPES: dict[str, int] = {"consumer_loan": 0, "trade_receivable": 1, "lease": 2, "mortgage": 3, "rent": 4,
                               "auto_loan": 5}
ASSET_TYPE_NAMES: dict[int, str] = {code: name for name, code in ASSET_TYPES.items()}

#: Asset types backed by collateral (a default goes through repossession and a sale of the collateral).
SECURED_TYPES: frozenset[str] = frozenset({"auto_loan", "lease", "mortgage", "equipment"})


def is_secured(spec: Any) -> bool:
    """Whether a deal's pool is of secured assets (every eligible asset type is secured)."""
    types = spec.eligibility.asset_types
    return bool(types) and all(t in SECURED_TYPES for t in types)


#: Status names by the registry's ``AssetStatus`` code.
STATUSES: tuple[str, ...] = (
    "None", "Performing", "Delinquent30", "Delinquent60", "Delinquent90", "Defaulted", "Prepaid", "Repaid",
    "Repurchased", "InRecovery", "Repossessed", "Disposed", "ChargedOff",
)
STATUS_CODE: dict[str, int] = {name: i for i, name in enumerate(STATUSES)}
#: A loan still paying (or late), by bucket: what ``days_delinquent`` maps to (30-day steps).
ACTIVE_STATUSES: tuple[str, ...] = STATUSES[1:5]
#: A defaulted loan whose recovery is under way (its principal in the registry is the claim left).
RECOVERING_STATUSES: tuple[str, ...] = ("Defaulted", "InRecovery", "Repossessed")
#: Statuses that end a loan's life in a pool with no balance left (prepaid, paid off, or its recovery closed).
CLOSED_STATUSES: tuple[str, ...] = ("Prepaid", "Repaid", "Disposed", "ChargedOff")
#: Statuses a loan leaves the pool's balance with for good.
FINAL_STATUSES: tuple[str, ...] = ("Defaulted", *CLOSED_STATUSES)
#: Statuses a deterioration alert is raised for when an asset reaches them.
WORSE_STATUSES: frozenset[int] = frozenset(STATUS_CODE[s] for s in ("Delinquent30", "Delinquent60", "Delinquent90",
                                                                     "Defaulted"))


def bits(abi_type: str) -> int:
    """Width in bits of an unsigned integer ABI type (``uint40`` -> 40)."""
    if not abi_type.startswith("uint"):
        raise ValueError(f"{abi_type} is not an unsigned integer type")
    return int(abi_type[4:] or 256)


def _offsets(word: str) -> dict[str, int]:
    out, shift = {}, 0
    for name in PACKED_WORDS[word]:
        out[name] = shift
        shift += bits(_TYPE_OF[name])
    if shift > 256:
        raise ValueError(f"packed word {word} needs {shift} bits")
    return out


#: Bit offset of each packed field within its word.
OFFSETS: dict[str, dict[str, int]] = {word: _offsets(word) for word in PACKED_WORDS}


def max_value(name: str) -> int:
    """Largest value of an integer record field."""
    return (1 << bits(_TYPE_OF[name])) - 1


def status_for_days(days: np.ndarray | pd.Series | Sequence[int]) -> np.ndarray:
    """Active status name for days past due (the registry's ``initialStatus`` rule: 30-day buckets)."""
    d = np.asarray(days, dtype=np.int64)
    codes = 1 + (d >= 30).astype(int) + (d >= 60).astype(int) + (d >= 90).astype(int)
    return np.array(STATUSES, dtype=object)[codes]


def loan_id_bytes(loan_id: str) -> bytes:
    """bytes32 of a loan number: ASCII, left-aligned, zero-padded."""
    raw = loan_id.encode("ascii")
    if not 0 < len(raw) <= 32:
        raise ValueError(f"loan id {loan_id!r} must be 1-32 ASCII characters")
    return raw.ljust(32, b"\0")


def loan_id_text(raw: bytes) -> str:
    """Loan number from its bytes32."""
    return bytes(raw).rstrip(b"\0").decode("ascii")


def asset_id(originator: str, loan_id: str | bytes) -> int:
    """Token id of a loan: ``uint256(keccak256(abi.encode(originator, loanId)))``; ``loan_id`` as text, or as the
    raw ``bytes32`` the chain holds (any bytes: another originator's ids need not be text)."""
    raw = bytes(loan_id) if isinstance(loan_id, (bytes, bytearray)) else loan_id_bytes(loan_id)
    if len(raw) != 32:
        raise ValueError(f"loan id {loan_id!r}: a raw loan id is 32 bytes, not {len(raw)}")
    return int.from_bytes(keccak(bytes(12) + bytes.fromhex(originator[2:]) + raw), "big")


def pack_record(record: Sequence[Any]) -> tuple[bytes, int, int, bytes, bytes, bytes]:
    """``PackedRecord`` of one ``AssetRecord`` tuple (fields in :data:`TAPE_COLUMNS` order)."""
    values = dict(zip(TAPE_COLUMNS, record, strict=True))
    words = {}
    for word, offsets in OFFSETS.items():
        packed = 0
        for name, shift in offsets.items():
            value = int(values[name])
            if not 0 <= value <= max_value(name):
                raise ValueError(f"{name} = {value} does not fit {_TYPE_OF[name]}")
            packed |= value << shift
        words[word] = packed
    return (values["loan_id"], words["terms"], words["dates"], values["obligor"], values["contract_hash"],
            values["schedule_hash"])


def unpack_record(packed: Sequence[Any] | Mapping[str, Any]) -> tuple[Any, ...]:
    """``AssetRecord`` tuple of a ``PackedRecord`` (a tuple, or a mapping as web3 decodes a transaction's
    input: the struct's camelCase member names)."""
    if isinstance(packed, Mapping):
        packed = [packed[k] for k in ("loanId", "terms", "dates", "obligor", "contractHash", "scheduleHash")]
    members = dict(zip(PACKED_RECORD, packed, strict=True))
    values: dict[str, Any] = {name: bytes(members[name])
                              for name in ("loan_id", "obligor", "contract_hash", "schedule_hash")}
    for word, offsets in OFFSETS.items():
        for name, shift in offsets.items():
            values[name] = (int(members[word]) >> shift) & max_value(name)
    return tuple(values[c] for c in TAPE_COLUMNS)
