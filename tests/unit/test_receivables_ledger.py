"""The shared invoice ledger: a trade receivable is pooled only with its debtor's EIP-712 confirmation of its exact
terms to the pool's originator, and an invoice is financed once across every registry attached to the ledger
(two originators, two registries)."""

from __future__ import annotations

import brownie
import eth_abi
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3

from chainabs.chain import invoices
from chainabs.chain import registry as reg_client
from chainabs.model import receivables as rv
from chainabs.model import synthetic
from chainabs.model import tape as tp
from plugins.receivables import CRITERIA, debtor_key, signed
from plugins.registry import CUTOFF, reverts_with


@pytest.fixture(scope="module")
def second_originator(trustee):
    """Another supplier, originating in the second registry."""
    return trustee


@pytest.fixture(scope="module")
def ledger(admin, kyc_agent):
    return invoices.deploy_ledger(admin, registrars=(kyc_agent,))


@pytest.fixture(scope="module")
def registries(admin, originator, second_originator, ledger):
    """Two registries sharing the ledger; ``originator`` may originate in both, ``second_originator`` in the second."""
    first = reg_client.deploy_registry(admin, originators=(originator,))
    second = reg_client.deploy_registry(admin, originators=(originator, second_originator))
    for r in (first, second):
        invoices.attach_registry(ledger, admin, r, admin)
    return first, second


@pytest.fixture(scope="module")
def invoices_tape(ledger, kyc_agent):
    """Twelve 90-day-ish invoices (onboarding order) whose debtors' keys are registered."""
    tape = reg_client.prepare_tape(synthetic.generate_tape(12, kind="trade_receivable", seed=5), CRITERIA,
                                   today=CUTOFF)
    keys = {bytes.fromhex(o[2:]): Account.from_key(debtor_key(bytes.fromhex(o[2:]))).address
            for o in tape["obligor"].unique()}
    invoices.set_debtor_keys(ledger, kyc_agent, keys)
    return tape


def pool_of(registry, who) -> int:
    return reg_client.create_pool(registry, who, CRITERIA)


def test_confirmed_invoices_pool_and_are_recorded_once(ledger, registries, invoices_tape, originator):
    first, _ = registries
    items = rv.confirmations(invoices_tape, originator.address)
    assert len(items) == 12
    gas = invoices.confirm(ledger, items, signed(ledger, items), originator)  # one batch, submitted by the supplier
    assert all(ledger.isConfirmed(c.as_tuple()) for c in items)
    assert gas / len(items) < 40_500  # ~40,160 for 12 (1,000 in batches of 150: 36,185, `make bench`)
    pool = pool_of(first, originator)
    tx = first.registerAndPool(pool, tp.pack_records(invoices_tape), {"from": originator})
    financed = tx.events["InvoiceFinanced"]
    assert [e["invoiceHash"] for e in financed] == ["0x" + c.invoice_hash.hex() for c in items]
    assert {e["registry"] for e in financed} == {first.address}
    assert invoices.invoice_state(ledger, items[0].debtor, items[0].invoice_hash) == {"confirmed": True, "registry": first.address}


def test_unconfirmed_receivable_is_refused(ledger, registries, invoices_tape, originator):
    first, _ = registries
    items = rv.confirmations(invoices_tape, originator.address)
    invoices.confirm(ledger, items[:-1], signed(ledger, items[:-1]), originator)  # the last one never confirmed
    pool = pool_of(first, originator)
    with reverts_with("InvoiceNotConfirmed(uint256,bytes32,address)", 11, items[-1].invoice_hash, originator.address):
        first.registerAndPool(pool, tp.pack_records(invoices_tape), {"from": originator})
    # Another amount than the one confirmed is not confirmed either.
    bigger = invoices_tape.iloc[:1].copy()
    bigger["original_principal"] += 1
    with reverts_with("InvoiceNotConfirmed(uint256,bytes32,address)", 0, items[0].invoice_hash, originator.address):
        first.registerAndPool(pool, tp.pack_records(bigger), {"from": originator})


def test_wrong_signer_or_altered_terms_are_refused(ledger, invoices_tape, originator, stranger):
    item = rv.confirmations(invoices_tape, originator.address)[0]
    forged = invoices.sign_confirmation(item, debtor_key(b"someone else"), ledger.address)
    with reverts_with("InvalidDebtorSignature(uint256,bytes32,bytes32)", 0, item.invoice_hash, item.debtor):
        ledger.confirm([item.as_tuple()], [forged], {"from": originator})
    genuine = signed(ledger, [item])
    altered = rv.Confirmation(item.invoice_hash, item.debtor, item.amount + 1, item.due_date, item.creditor)
    with reverts_with("InvalidDebtorSignature(uint256,bytes32,bytes32)", 0, item.invoice_hash, item.debtor):
        ledger.confirm([altered.as_tuple()], genuine, {"from": originator})
    unknown = rv.Confirmation(item.invoice_hash, b"\x01" * 32, item.amount, item.due_date, item.creditor)
    with reverts_with("UnknownDebtor(uint256,bytes32)", 0, b"\x01" * 32):
        ledger.confirm([unknown.as_tuple()], signed(ledger, [unknown]), {"from": originator})
    with reverts_with("ConfirmationCountMismatch(uint256,uint256)", 1, 0):
        ledger.confirm([item.as_tuple()], [], {"from": originator})
    # The digest the contract checks is the one the Python signer signs.
    message = encode_typed_data(full_message=rv.typed_data(item, brownie.chain.id, ledger.address))
    digest = Web3.keccak(b"\x19" + message.version + message.header + message.body)
    assert bytes(ledger.confirmationDigest(item.as_tuple())) == bytes(digest)
    ledger.confirm([item.as_tuple()], genuine, {"from": stranger})  # anyone may submit a genuine signature


def test_a_contract_wallet_debtor_confirms_through_erc1271(ledger, kyc_agent, invoices_tape, originator, admin,
                                                          DebtorWalletMock):
    item = rv.confirmations(invoices_tape, originator.address)[0]
    treasurer = Account.from_key(debtor_key(b"treasurer"))
    wallet = DebtorWalletMock.deploy(treasurer.address, {"from": admin})
    ledger.setDebtorKey(item.debtor, wallet, {"from": kyc_agent})
    by_treasurer = invoices.sign_confirmation(item, treasurer.key, ledger.address)
    by_other = invoices.sign_confirmation(item, debtor_key(item.debtor), ledger.address)
    with reverts_with("InvalidDebtorSignature(uint256,bytes32,bytes32)", 0, item.invoice_hash, item.debtor):
        ledger.confirm([item.as_tuple()], [by_other], {"from": originator})
    ledger.confirm([item.as_tuple()], [by_treasurer], {"from": originator})
    assert ledger.isConfirmed(item.as_tuple())


def test_invoice_financed_twice_is_refused_across_originators_and_registries(
        ledger, registries, invoices_tape, originator, second_originator):
    first, second = registries
    one = invoices_tape.iloc[[0]].reset_index(drop=True)
    item = rv.confirmations(one, originator.address)[0]
    invoices.confirm(ledger, [item], signed(ledger, [item]), originator)
    first.registerAndPool(pool_of(first, originator), tp.pack_records(one), {"from": originator})
    # The same invoice under another loan number, pledged by another supplier in another registry.
    again = one.assign(loan_id="DUP0000001")
    to_second = rv.confirmations(again, second_originator.address)
    with reverts_with("InvoiceAlreadyFinanced(uint256,bytes32,address)", 0, item.invoice_hash, first.address):
        ledger.confirm([c.as_tuple() for c in to_second], signed(ledger, to_second), {"from": second_originator})
    with reverts_with("InvoiceAlreadyFinanced(uint256,bytes32,address)", 0, item.invoice_hash, first.address):
        second.registerAndPool(pool_of(second, second_originator), tp.pack_records(again),
                               {"from": second_originator})
    # ... nor by the same supplier in the other registry, nor twice in the same one.
    with reverts_with("InvoiceAlreadyFinanced(uint256,bytes32,address)", 0, item.invoice_hash, first.address):
        second.registerAndPool(pool_of(second, originator), tp.pack_records(again), {"from": originator})
    with reverts_with("InvoiceAlreadyFinanced(uint256,bytes32,address)", 0, item.invoice_hash, first.address):
        first.registerAndPool(pool_of(first, originator), tp.pack_records(again), {"from": originator})


def test_a_confirmation_is_final_and_an_old_signature_cannot_be_replayed_over_it(
        ledger, registries, invoices_tape, originator, second_originator):
    first, second = registries
    one = invoices_tape.iloc[[1]].reset_index(drop=True)
    to_first = rv.confirmations(one, originator.address)
    to_second = rv.confirmations(one, second_originator.address)
    first_sig, second_sig = signed(ledger, to_first), signed(ledger, to_second)
    tx = ledger.confirm([to_first[0].as_tuple()], first_sig, {"from": originator})
    assert len(tx.events["InvoiceConfirmed"]) == 1
    # The debtor's signature of other terms for the same invoice is refused; the same terms again are skipped.
    with reverts_with("InvoiceConfirmedOtherwise(uint256,bytes32)", 0, to_first[0].invoice_hash):
        ledger.confirm([to_second[0].as_tuple()], second_sig, {"from": second_originator})
    tx = ledger.confirm([to_first[0].as_tuple()], first_sig, {"from": originator})
    assert "InvoiceConfirmed" not in tx.events
    with reverts_with("InvoiceNotConfirmed(uint256,bytes32,address)", 0, to_first[0].invoice_hash,
                      second_originator.address):
        second.registerAndPool(pool_of(second, second_originator), tp.pack_records(one), {"from": second_originator})
    first.registerAndPool(pool_of(first, originator), tp.pack_records(one), {"from": originator})
    assert invoices.invoice_state(ledger, to_first[0].debtor, to_first[0].invoice_hash)["registry"] == first.address


def test_onboarding_names_every_refused_receivable_before_sending_anything(
        ledger, registries, invoices_tape, originator, second_originator):
    first, second = registries
    items = rv.confirmations(invoices_tape, originator.address)
    invoices.confirm(ledger, items[2:], signed(ledger, items[2:]), originator)
    to_second = rv.confirmations(invoices_tape.iloc[[0]], second_originator.address)
    invoices.confirm(ledger, to_second, signed(ledger, to_second), second_originator)
    assert invoices.statuses(ledger, items[:3]) == ["OtherTerms", "Unconfirmed", "Confirmed"]
    pool = pool_of(first, originator)
    with pytest.raises(reg_client.OnboardingError) as err:
        reg_client.onboard(first, pool, invoices_tape, originator, today=CUTOFF, progress=False)
    lines = str(err.value).splitlines()
    assert lines[0] == "2 receivable(s) the invoice ledger refuses:"
    assert lines[1].strip() == (f"row 1 ({invoices_tape['loan_id'][0]}): invoice 0x{items[0].invoice_hash.hex()}: its "
                                f"debtor confirmed other terms (amount, due date or creditor) than {originator.address}'s")
    assert "row 2 " in lines[2] and "has not confirmed it on chain" in lines[2]
    assert int(first.poolInfo(pool)["registered"]) == 0  # nothing was sent
    invoices.confirm(ledger, items[1:2], signed(ledger, items[1:2]), originator)
    result = reg_client.onboard(first, pool, invoices_tape.iloc[1:], originator, today=CUTOFF, progress=False)
    assert result.registered == 11 and invoices.statuses(ledger, items) == ["OtherTerms"] + ["Financed"] * 11


def test_other_asset_types_pass_an_attached_registry_untouched(registries, originator):
    first, _ = registries
    crit = synthetic.default_criteria("consumer_loan", CUTOFF, max_region_bps=10_000, max_industry_bps=10_000,
                                      max_obligor_bps=10_000)
    loans = reg_client.prepare_tape(synthetic.generate_tape(5, seed=3), crit, today=CUTOFF)
    tx = first.registerAndPool(reg_client.create_pool(first, originator, crit), tp.pack_records(loans),
                               {"from": originator})
    assert "InvoiceFinanced" not in tx.events


def test_strangers_cannot_register_keys_record_or_reattach(ledger, registries, admin, stranger, invoices_tape):
    first, _ = registries
    unauthorized = "AccessControlUnauthorizedAccount(address,bytes32)"
    with reverts_with(unauthorized, stranger.address, ledger.DEBTOR_REGISTRAR_ROLE()):
        ledger.setDebtorKey(b"\x02" * 32, stranger, {"from": stranger})
    with reverts_with(unauthorized, stranger.address, ledger.REGISTRY_ROLE()):
        ledger.recordReceivables(stranger, 1, tp.pack_records(invoices_tape.iloc[:1]), {"from": stranger})
    with reverts_with(unauthorized, stranger.address, b"\x00" * 32):
        first.setInvoiceLedger(stranger, {"from": stranger})
    with reverts_with("InvoiceLedgerAlreadySet(address)", ledger.address):
        first.setInvoiceLedger(stranger, {"from": admin})


def test_a_registrar_sets_and_replaces_debtor_keys_with_events(ledger, kyc_agent, stranger):
    debtor = b"\x03" * 32
    tx = ledger.setDebtorKey(debtor, stranger, {"from": kyc_agent})
    assert tx.events["DebtorKeySet"]["key"] == stranger.address
    tx = ledger.setDebtorKey(debtor, kyc_agent, {"from": kyc_agent})
    assert tx.events["DebtorKeySet"]["previous"] == stranger.address
    assert ledger.debtorKey(debtor) == kyc_agent.address


def test_another_debtor_cannot_squat_an_invoice_hash(ledger, registries, invoices_tape, kyc_agent, originator, stranger):
    """Audit A3: a registered debtor (``mallory``) who learns another debtor's invoice hash confirms it first under
    its own debtor id, for 1 unit to a creditor of its choosing. An invoice is its debtor's (the ledger keys it by
    debtor and hash): the real debtor's signature still lands, the supplier pools the invoice, and mallory's
    confirmation stays mallory's own acknowledgement, never financeable as the real debtor's."""
    first, _ = registries
    one = invoices_tape.iloc[[2]].reset_index(drop=True)
    real = rv.confirmations(one, originator.address)[0]
    mallory = b"\x66" * 32
    invoices.set_debtor_keys(ledger, kyc_agent, {mallory: Account.from_key(debtor_key(mallory)).address})
    squat = rv.Confirmation(real.invoice_hash, mallory, 1, real.due_date, stranger.address)
    ledger.confirm([squat.as_tuple()], signed(ledger, [squat]), {"from": stranger})  # front-runs the real debtor
    assert invoices.statuses(ledger, [squat, real]) == ["Confirmed", "Unconfirmed"]
    assert invoices.invoice_state(ledger, real.debtor, real.invoice_hash) == {"confirmed": False, "registry": None}
    tx = ledger.confirm([real.as_tuple()], signed(ledger, [real]), {"from": originator})
    assert tx.events["InvoiceConfirmed"]["debtor"] == "0x" + real.debtor.hex()
    tx = first.registerAndPool(pool_of(first, originator), tp.pack_records(one), {"from": originator})
    ev = tx.events["InvoiceFinanced"]
    assert (ev["invoiceHash"], ev["debtor"]) == ("0x" + real.invoice_hash.hex(), "0x" + real.debtor.hex())
    assert invoices.statuses(ledger, [squat, real]) == ["Confirmed", "Financed"]
    # The real debtor's invoice is financed once; mallory's confirmation of the same hash does not finance it
    # again (its terms name another debtor, amount and creditor than any pool record of the real invoice).
    with reverts_with("InvoiceAlreadyFinanced(uint256,bytes32,address)", 0, real.invoice_hash, first.address):
        first.registerAndPool(pool_of(first, originator), tp.pack_records(one.assign(loan_id="SQUAT00001")),
                              {"from": originator})
    # Mallory cannot re-confirm its own entry with other terms either (a confirmation is final per debtor).
    bigger = rv.Confirmation(real.invoice_hash, mallory, 2, real.due_date, stranger.address)
    with reverts_with("InvoiceConfirmedOtherwise(uint256,bytes32)", 0, real.invoice_hash):
        ledger.confirm([bigger.as_tuple()], signed(ledger, [bigger]), {"from": stranger})


def test_the_full_hash_of_the_confirmed_terms_is_kept(ledger, invoices_tape, originator):
    """Audit A3 (weaker point): the ledger kept only 96 bits of the confirmed terms' hash, so terms ground to share
    those bits (a birthday search, ~2^48 hashes a side) would pass as confirmed. It now compares the full struct
    hash: every field of the terms matters, and the slot holds the whole hash (read back from storage)."""
    from brownie import web3

    item = rv.confirmations(invoices_tape.iloc[[3]].reset_index(drop=True), originator.address)[0]
    ledger.confirm([item.as_tuple()], signed(ledger, [item]), {"from": originator})
    struct_hash = Web3.keccak(bytes(ledger.CONFIRMATION_TYPEHASH()) + eth_abi.encode(
        ["bytes32", "bytes32", "uint256", "uint256", "address"],
        [item.invoice_hash, item.debtor, item.amount, item.due_date, item.creditor]))
    # _invoices is at storage slot 4: AccessControl's _roles (0), EIP712's two name/version fallbacks (1, 2), the
    # ledger's _debtorKeys (3); a mapping's entry lives at keccak256(key . slot).
    key = Web3.keccak(eth_abi.encode(["bytes32", "bytes32"], [item.debtor, item.invoice_hash]))
    slot = Web3.keccak(bytes(key) + (4).to_bytes(32, "big"))
    assert bytes(web3.eth.get_storage_at(ledger.address, slot)) == bytes(struct_hash)
    for altered in (dict(amount=item.amount + 1), dict(due_date=item.due_date + 1), dict(creditor=ledger.address)):
        other = rv.Confirmation(**{**item.__dict__, **altered})
        assert invoices.statuses(ledger, [other]) == ["OtherTerms"]
