"""Every privileged tranche-token function reverts for a stranger with the missing role."""

from __future__ import annotations

import pytest

from plugins.token import access_denied, b32

CALLS = [
    ("issue", lambda v: (v[0], 1, b""), "ISSUER_ROLE"),
    ("issueByPartition", lambda v: (b32("locked"), v[0], 1, b""), "ISSUER_ROLE"),
    ("closeIssuance", lambda v: (), "ISSUER_ROLE"),
    ("distribute", lambda v: (1, 1), "DISTRIBUTOR_ROLE"),
    ("writeDown", lambda v: (1,), "DISTRIBUTOR_ROLE"),
    ("reinstate", lambda v: (0,), "DISTRIBUTOR_ROLE"),
    ("setInterestShortfall", lambda v: (1,), "DISTRIBUTOR_ROLE"),
    ("controllerTransfer", lambda v: (v[0], v[1], 1, b"", b""), "CONTROLLER_ROLE"),
    ("controllerRedeem", lambda v: (v[0], 1, b"", b""), "CONTROLLER_ROLE"),
    ("pause", lambda v: (), "PAUSER_ROLE"),
    ("unpause", lambda v: (), "PAUSER_ROLE"),
    ("setDocument", lambda v: (b32("doc"), "uri", b"\1" * 32), "DOCUMENT_ROLE"),
    ("removeDocument", lambda v: (b32("doc"),), "DOCUMENT_ROLE"),
    ("renounceControl", lambda v: (), "DEFAULT_ADMIN_ROLE"),
    ("setLockupEnd", lambda v: (0,), "DEFAULT_ADMIN_ROLE"),
    ("setMinimumHolding", lambda v: (1,), "DEFAULT_ADMIN_ROLE"),
    ("setMaxHolders", lambda v: (1,), "DEFAULT_ADMIN_ROLE"),
    ("setResidualRecipient", lambda v: (v[0],), "DEFAULT_ADMIN_ROLE"),
    ("sweepDust", lambda v: ([],), "DEFAULT_ADMIN_ROLE"),
    ("grantRole", lambda v: (b"\0" * 32, v[0]), "DEFAULT_ADMIN_ROLE"),
]


@pytest.mark.parametrize("name,args,role", CALLS, ids=[c[0] for c in CALLS])
def test_stranger_is_refused(issued, stranger, verified, name, args, role):
    access_denied(getattr(issued, name), *args(verified), sender=stranger, role=role)


def test_role_constants(issued):
    from brownie import web3
    for role in ("ISSUER_ROLE", "DISTRIBUTOR_ROLE", "CONTROLLER_ROLE", "PAUSER_ROLE", "DOCUMENT_ROLE"):
        assert bytes(getattr(issued, role)()) == bytes(web3.keccak(text=role))
    assert bytes(issued.UNRESTRICTED()) == b32("unrestricted") and bytes(issued.LOCKED()) == b32("locked")
