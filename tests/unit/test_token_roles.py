"""Every privileged tranche-token function reverts for a stranger: the deal's functions for anyone but the
deal the token is bound to (the admin included), the others for anyone without their role."""

from __future__ import annotations

import pytest

from plugins.token import access_denied, assert_error, b32, not_deal

DEAL_CALLS = [
    ("issue", lambda v: (v[0], 1, b"")),
    ("issueByPartition", lambda v: (b32("locked"), v[0], 1, b"")),
    ("closeIssuance", lambda v: ()),
    ("distribute", lambda v: (1, 1)),
    ("writeDown", lambda v: (1,)),
    ("reinstate", lambda v: (0,)),
    ("setInterestShortfall", lambda v: (1,)),
    ("closeBooks", lambda v: ()),
    ("openBooks", lambda v: ()),
    ("cancel", lambda v: (v[0],)),
    ("settle", lambda v: ()),
]

CALLS = [
    ("controllerTransfer", lambda v: (v[0], v[1], 1, b"", b""), "CONTROLLER_ROLE"),
    ("controllerRedeem", lambda v: (v[0], 1, b"", b""), "CONTROLLER_ROLE"),
    ("recoverWallet", lambda v: (v[0], v[1]), "CONTROLLER_ROLE"),
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
    ("bindDeal", lambda v: (v[0],), "DEFAULT_ADMIN_ROLE"),
]


@pytest.mark.parametrize("name,args,role", CALLS, ids=[c[0] for c in CALLS])
def test_stranger_is_refused(issued, stranger, verified, name, args, role):
    access_denied(getattr(issued, name), *args(verified), sender=stranger, role=role)


@pytest.mark.parametrize("name,args", DEAL_CALLS, ids=[c[0] for c in DEAL_CALLS])
def test_only_the_deal_moves_the_books(issued, stranger, admin, servicer, verified, name, args):
    """Neither a stranger nor the token's admin (who could grant itself any role) can issue, distribute,
    write down, close the books, cancel or settle: only the deal the token is bound to."""
    for sender in (stranger, admin):
        not_deal(getattr(issued, name), *args(verified), sender=sender, deal=servicer)


def test_the_deal_is_bound_once(issued, admin, servicer, stranger):
    assert issued.deal() == servicer
    assert_error(issued.bindDeal, stranger, sender=admin, error="DealAlreadyBound(address)", values=(str(servicer),))


def test_role_constants(issued):
    from brownie import web3
    assert not hasattr(issued, "ISSUER_ROLE") and not hasattr(issued, "DISTRIBUTOR_ROLE")
    for role in ("CONTROLLER_ROLE", "PAUSER_ROLE", "DOCUMENT_ROLE"):
        assert bytes(getattr(issued, role)()) == bytes(web3.keccak(text=role))
    assert bytes(issued.UNRESTRICTED()) == b32("unrestricted") and bytes(issued.LOCKED()) == b32("locked")
