"""The asset record is defined once in Python (chainabs.model.assets) and once in Solidity (IAssetRegistry's
structs and status enum, AssetLib's packing): these tests hold the two equal, so a change on one side only
fails here. The contract itself computes the leaves (``leafOf`` of the plain record, ``packedLeafOf`` of the
packed one, in ``AssetLayoutHarness``: the same structs and ``AssetLib`` unpacking as the registry's) for records
with each field at its widest value."""

from __future__ import annotations

import re
import string

import pytest

from chainabs.model import assets
from chainabs.model.merkle import leaf_hash
from chainabs.paths import PROJECT_ROOT


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


@pytest.fixture(scope="module")
def layout(accounts):
    from brownie import project

    return project.get_loaded_projects()[0].AssetLayoutHarness.deploy({"from": accounts[0]})


def _function(name: str) -> dict:
    from brownie import project

    abi = project.get_loaded_projects()[0].AssetLayoutHarness.abi
    return next(f for f in abi if f.get("type") == "function" and f["name"] == name)


def test_record_struct_has_the_python_fields_and_types():
    originator, record = _function("leafOf")["inputs"]
    assert [originator["type"]] + [c["type"] for c in record["components"]] == list(assets.LEAF_TYPES)
    assert [_snake(c["name"]) for c in record["components"]] == list(assets.TAPE_COLUMNS)


def test_packed_struct_has_the_python_members():
    _, packed = _function("packedLeafOf")["inputs"]
    assert [_snake(c["name"]) for c in packed["components"]] == list(assets.PACKED_RECORD)
    assert assets.RECORD_BYTES == 32 * len(packed["components"])


def test_status_names_follow_the_interface_enum():
    source = (PROJECT_ROOT / "interfaces" / "IAssetRegistry.sol").read_text()
    body = re.search(r"enum AssetStatus\s*\{([^}]*)\}", source).group(1)
    assert tuple(re.findall(r"\w+", body)) == assets.STATUSES


def _record(**widest: int) -> tuple:
    """A plausible record with the given fields replaced."""
    values = {
        "loan_id": b"LAYOUT".ljust(32, b"\0"), "asset_type": 1, "original_principal": 5_000, "principal": 4_000,
        "rate_bps": 1_200, "term_months": 24, "origination_date": 1_700_000_000, "maturity_date": 1_760_000_000,
        "days_delinquent": 3, "region": 11, "industry": 7, "obligor": b"\x01" * 32, "contract_hash": b"\x02" * 32,
        "schedule_hash": b"\x03" * 32, **widest,
    }
    return tuple(values[c] for c in assets.TAPE_COLUMNS)


PACKED_FIELDS = [name for word in assets.PACKED_WORDS.values() for name in word]


@pytest.mark.parametrize("field", PACKED_FIELDS)
def test_each_packed_field_at_its_widest_packs_as_the_contract_unpacks(layout, originator, field):
    record = _record(**{field: assets.max_value(field)})
    leaf = leaf_hash((originator.address, *record), assets.LEAF_TYPES)
    assert bytes(layout.leafOf(originator, record)) == leaf
    assert bytes(layout.packedLeafOf(originator, assets.pack_record(record))) == leaf
    assert assets.unpack_record(assets.pack_record(record)) == record


def test_a_value_too_wide_for_its_field_is_refused():
    with pytest.raises(ValueError, match="rate_bps"):
        assets.pack_record(_record(rate_bps=assets.max_value("rate_bps") + 1))


def test_asset_id_and_loan_id_as_the_contract_computes_them(registry, layout, originator):
    loan = "CL-" + string.ascii_uppercase[:20]
    record = _record(loan_id=assets.loan_id_bytes(loan))
    assert assets.loan_id_text(record[0]) == loan
    assert registry.assetIdOf(originator, record[0]) == assets.asset_id(originator.address, loan)
    assert layout.assetIdOf(originator, record[0]) == assets.asset_id(originator.address, loan)
