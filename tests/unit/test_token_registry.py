"""IdentityRegistry: records, eligibility rules, batches, roles; Python investor-table validation."""

from __future__ import annotations

import pandas as pd
import pytest

from chainabs.chain import tokens
from chainabs.chain.connection import advance_to
from plugins.token import GB, KY, US, YEAR, access_denied, assert_error, b32, plain


def test_register_and_read_identity(identity, kyc_agent, accounts, chain):
    expiry = chain.time() + YEAR
    tx = identity.registerInvestor(accounts[18], US, 2, expiry, {"from": kyc_agent})
    ev = tx.events["InvestorRegistered"]
    assert plain((ev["agent"], ev["investor"], ev["jurisdiction"], ev["investorType"], ev["expiry"])) == (
        str(kyc_agent), str(accounts[18]), US, 2, expiry)
    assert plain(identity.identityOf(accounts[18])) == (True, False, 2, US, expiry)
    assert identity.isEligible(accounts[18])
    code, reason = identity.checkTransfer(accounts[18], accounts[18])
    assert (str(code), bytes(reason)) == ("0x51", b"\0" * 32)


@pytest.mark.parametrize("rule", ["not_verified", "expired", "frozen", "jurisdiction"])
def test_each_rule_blocks_sender_and_receiver(identity, kyc_agent, admin, verified, accounts, web3, rule):
    ok, subject = verified[0], accounts[18]
    expiry = int(web3.eth.get_block("latest")["timestamp"]) + 100  # the chain's clock, not brownie's estimate of it
    if rule != "not_verified":
        identity.registerInvestor(subject, KY if rule == "jurisdiction" else US, 1, expiry, {"from": kyc_agent})
    if rule == "expired":
        advance_to(expiry + 100)
    if rule == "frozen":
        tx = identity.setFrozen(subject, True, {"from": kyc_agent})
        assert tx.events["InvestorFrozen"]["frozen"] is True
    reason = {"not_verified": "NOT_VERIFIED", "expired": "EXPIRED", "frozen": "FROZEN", "jurisdiction": "JURISDICTION"}[rule]
    code, why = identity.checkTransfer(subject, ok)
    assert (str(code), bytes(why)) == ("0x56", b32("SENDER_" + reason))
    code, why = identity.checkTransfer(ok, subject)
    assert (str(code), bytes(why)) == ("0x57", b32("RECEIVER_" + reason))
    assert not identity.isEligible(subject)
    # issuance (from = 0) and redemption (to = 0) skip the missing side
    assert identity.checkTransfer("0x" + "00" * 20, ok)[0] == "0x51"
    assert identity.checkTransfer(ok, "0x" + "00" * 20)[0] == "0x51"


def test_unfreeze_and_jurisdiction_toggle(identity, kyc_agent, admin, verified):
    identity.setFrozen(verified[0], True, {"from": kyc_agent})
    assert not identity.isEligible(verified[0])
    identity.setFrozen(verified[0], False, {"from": kyc_agent})
    assert identity.isEligible(verified[0])
    tx = identity.setJurisdictionAllowed(US, False, {"from": admin})
    assert tx.events["JurisdictionAllowed"]["allowed"] is False
    assert not identity.isJurisdictionAllowed(US) and identity.isJurisdictionAllowed(GB)
    assert not identity.isEligible(verified[0]) and identity.isEligible(verified[1])


def test_remove_investor(identity, kyc_agent, verified):
    tx = identity.removeInvestor(verified[0], {"from": kyc_agent})
    assert tx.events["InvestorRemoved"]["investor"] == verified[0]
    assert identity.identityOf(verified[0])[0] is False
    assert_error(identity.removeInvestor, verified[0], sender=kyc_agent,
                 error="IdentityNotRegistered(address)", values=(str(verified[0]),))
    assert_error(identity.setFrozen, verified[0], True, sender=kyc_agent,
                 error="IdentityNotRegistered(address)", values=(str(verified[0]),))


def test_bad_input_is_named(identity, kyc_agent, admin, accounts, chain):
    now = chain.time()
    assert_error(identity.registerInvestor, accounts[18], 1000, 1, now + YEAR, sender=kyc_agent,
                 error="IdentityInvalidJurisdiction(address,uint16)", values=(str(accounts[18]), 1000))
    assert_error(identity.registerInvestor, accounts[18], 0, 1, now + YEAR, sender=kyc_agent,
                 error="IdentityInvalidJurisdiction(address,uint16)")
    assert_error(identity.registerInvestor, "0x" + "00" * 20, US, 1, now + YEAR, sender=kyc_agent,
                 error="IdentityZeroAddress()")
    decoded = assert_error(identity.registerInvestor, accounts[18], US, 1, 5, sender=kyc_agent,
                           error="IdentityExpiryNotInFuture(address,uint64,uint256)")
    assert decoded[1] == 5
    assert_error(identity.registerInvestors, [accounts[18]], [US, US], [1], [now + YEAR], sender=kyc_agent,
                 error="IdentityBatchLengthMismatch(bytes32,uint256,uint256)", values=(b32("jurisdictions"), 1, 2))
    assert_error(identity.setJurisdictionAllowed, 0, True, sender=admin,
                 error="IdentityInvalidJurisdiction(address,uint16)")


def test_batch_reverts_whole(identity, kyc_agent, accounts, chain):
    now = chain.time()
    assert_error(identity.registerInvestors, [accounts[18], accounts[19]], [US, 0], [1, 1], [now + YEAR] * 2,
                 sender=kyc_agent, error="IdentityInvalidJurisdiction(address,uint16)",
                 values=(str(accounts[19]), 0))
    assert identity.identityOf(accounts[18])[0] is False


def test_strangers_cannot_administer(identity, stranger, accounts, chain):
    exp = chain.time() + YEAR
    access_denied(identity.registerInvestor, accounts[18], US, 1, exp, sender=stranger, role="KYC_AGENT_ROLE")
    access_denied(identity.registerInvestors, [accounts[18]], [US], [1], [exp], sender=stranger, role="KYC_AGENT_ROLE")
    access_denied(identity.removeInvestor, accounts[18], sender=stranger, role="KYC_AGENT_ROLE")
    access_denied(identity.setFrozen, accounts[18], True, sender=stranger, role="KYC_AGENT_ROLE")
    access_denied(identity.setJurisdictionAllowed, KY, True, sender=stranger, role="DEFAULT_ADMIN_ROLE")


def test_python_validation_names_row_field_rule(accounts):
    good = {"address": str(accounts[18]), "jurisdiction": US, "investor_type": 1, "expiry": 2_000_000_000}
    assert len(tokens.validate_investors([good], now=1_000)) == 1
    cases = [
        ({"address": "0x1234"}, "row 1: field 'address'"),
        ({"jurisdiction": 1000}, "row 1: field 'jurisdiction'"),
        ({"investor_type": 256}, "row 1: field 'investor_type'"),
        ({"expiry": 999}, "row 1: field 'expiry'"),
        ({"address": str(accounts[18])}, "duplicates row 0"),
        ({"jurisdiction": 1.5}, "row 1: field 'jurisdiction'"),
    ]
    for change, message in cases:
        bad = dict(good, address=str(accounts[19]))
        bad.update(change)
        with pytest.raises(tokens.InvestorDataError, match=message.replace("(", r"\(")):
            tokens.validate_investors([good, bad], now=1_000)
    with pytest.raises(tokens.InvestorDataError, match="missing column"):
        tokens.validate_investors(pd.DataFrame([{"address": str(accounts[18])}]))


def test_a_file_row_with_several_bad_fields_names_each(accounts):
    from chainabs.chain.operations import investor_problems

    frame = pd.DataFrame({"address": [str(accounts[18]), "0x12"], "jurisdiction": ["CN", "156"],
                          "investor_type": ["pro", "1"], "expiry": ["1999-01-01", "2035-01-01"]})
    assert investor_problems(frame, now=1_700_000_000) == [
        "row 1: field 'jurisdiction' = 'CN' must be an ISO 3166-1 numeric code 1..999",
        "row 1: field 'investor_type' = 'pro' must be an integer 0..255",
        "row 1: field 'expiry' = 915148800 must be a unix time in the future",
        "row 2: field 'address' = '0x12' is not a 0x-prefixed 20-byte address",
    ]


def test_register_investors_batches(identity, kyc_agent, accounts, chain):
    rows = [{"address": str(a), "jurisdiction": GB, "investor_type": 2, "expiry": chain.time() + YEAR}
            for a in (accounts[7], accounts[8], accounts[18], accounts[19])]
    receipts = tokens.register_investors(identity, kyc_agent, rows, batch_size=3)
    assert len(receipts) == 2
    assert all(identity.isEligible(a) for a in (accounts[7], accounts[8], accounts[18], accounts[19]))
