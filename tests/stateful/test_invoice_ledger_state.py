"""Random confirmations and pledges of a handful of invoices by two originators in two registries sharing one
invoice ledger, against a model of the ledger's rules.

Each step (an optional debtor's confirmation, genuine or forged, then a pledge) predicts the outcome from the model
(accepted, or refused with the exact custom error and arguments) and the chain must agree; a financed invoice is
recorded for the registry that pooled it. Invariant: ``statusOf`` of every (invoice, creditor) pair equals the
model (Unconfirmed, OtherTerms, Confirmed, Financed), whatever another debtor confirms under its own id for the same
invoice hashes (audit A3: such a confirmation is its own, never the real debtor's)."""

from __future__ import annotations

from collections import Counter

from eth_account import Account
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from chainabs.chain import invoices
from chainabs.chain import registry as rc
from chainabs.model import receivables as rv
from chainabs.model import synthetic
from chainabs.model import tape as tp
from plugins.receivables import CRITERIA, debtor_key, signed
from plugins.registry import CUTOFF, reverts_with
from plugins.stateful import machine_settings, report_steps


def test_invoice_ledger_state_machine(admin, kyc_agent, originator, trustee, stranger, chain):
    ledger = invoices.deploy_ledger(admin, registrars=(kyc_agent,))
    first = rc.deploy_registry(admin, originators=(originator,))
    second = rc.deploy_registry(admin, originators=(originator, trustee))
    for r in (first, second):
        invoices.attach_registry(ledger, admin, r, admin)
    registries = (first, second)
    creditors = (originator, trustee)  # trustee stands for a second supplier, admitted only in the second registry
    tape = rc.prepare_tape(synthetic.generate_tape(5, kind="trade_receivable", seed=17), CRITERIA, today=CUTOFF)
    mallory = b"\x66" * 32  # another registered debtor, who confirms other debtors' invoice hashes (audit A3)
    invoices.set_debtor_keys(ledger, kyc_agent, {
        mallory: Account.from_key(debtor_key(mallory)).address,
        **{bytes.fromhex(o[2:]): Account.from_key(debtor_key(bytes.fromhex(o[2:]))).address
           for o in tape["obligor"].unique()}})
    rows = [tape.iloc[[i]].reset_index(drop=True) for i in range(len(tape))]
    hashes = [bytes.fromhex(h[2:]) for h in tape["contract_hash"]]
    chain.snapshot()
    steps: Counter[str] = Counter()

    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            chain.revert()
            steps["runs"] += 1
            self.confirmed_to: dict[int, int] = {}  # invoice -> creditor index of its last confirmation
            self.financed_by: dict[int, int] = {}  # invoice -> registry index
            self.pledges = 0
            self.pools: dict[tuple[int, int], tuple[int, str]] = {}  # (registry, creditor) -> open pool, last obligor
            self.squatted: set[int] = set()  # invoices whose hash mallory confirmed under its own id

        def _item(self, invoice: int, creditor: int) -> rv.Confirmation:
            return rv.confirmations(rows[invoice], creditors[creditor].address)[0]

        def _confirm(self, invoice: int, creditor: int, forged: bool) -> None:
            item = self._item(invoice, creditor)
            sig = (invoices.sign_confirmation(item, debtor_key(b"not the debtor"), ledger.address) if forged
                   else signed(ledger, [item])[0])
            call = (item.as_tuple(),), (sig,)
            if invoice in self.financed_by:
                steps["confirm refused: financed"] += 1
                with reverts_with("InvoiceAlreadyFinanced(uint256,bytes32,address)", 0, hashes[invoice],
                                  registries[self.financed_by[invoice]].address):
                    ledger.confirm(*call, {"from": creditors[creditor]})
            elif self.confirmed_to.get(invoice) == creditor:
                steps["confirm skipped: same terms"] += 1
                assert "InvoiceConfirmed" not in ledger.confirm(*call, {"from": stranger}).events
            elif invoice in self.confirmed_to:
                steps["confirm refused: confirmed otherwise"] += 1
                with reverts_with("InvoiceConfirmedOtherwise(uint256,bytes32)", 0, hashes[invoice]):
                    ledger.confirm(*call, {"from": creditors[creditor]})
            elif forged:
                steps["confirm refused: forged"] += 1
                with reverts_with("InvalidDebtorSignature(uint256,bytes32,bytes32)", 0, hashes[invoice], item.debtor):
                    ledger.confirm(*call, {"from": creditors[creditor]})
            else:
                steps["confirmed"] += 1
                ledger.confirm(*call, {"from": stranger})
                self.confirmed_to[invoice] = creditor

        def _pledge(self, invoice: int, creditor: int, registry: int, bump: bool) -> None:
            if creditor == 1:
                registry = 1  # the second supplier originates only in the second registry
            self.pledges += 1
            frame = rows[invoice].assign(loan_id=f"P{self.pledges:04d}")
            if bump:
                frame["original_principal"] += 1  # terms the debtor did not confirm
            reg, who = registries[registry], creditors[creditor]
            records = tp.pack_records(frame)
            # An open pool takes any number of batches, its obligors in ascending order across them (the registry's
            # ObligorOrder rule): an invoice whose debtor sorts at or before the pool's last goes to a new pool.
            obligor = str(frame["obligor"].iloc[0]).lower()
            pool, last = self.pools.get((registry, creditor), (0, ""))
            if not pool or obligor <= last:
                pool, last = rc.create_pool(reg, who, CRITERIA), ""
            self.pools[(registry, creditor)] = (pool, last)
            if invoice in self.financed_by:
                steps["pledge refused: financed"] += 1
                with reverts_with("InvoiceAlreadyFinanced(uint256,bytes32,address)", 0, hashes[invoice],
                                  registries[self.financed_by[invoice]].address):
                    reg.registerAndPool(pool, records, {"from": who})
            elif bump or self.confirmed_to.get(invoice) != creditor:
                steps["pledge refused: not confirmed"] += 1
                with reverts_with("InvoiceNotConfirmed(uint256,bytes32,address)", 0, hashes[invoice], who.address):
                    reg.registerAndPool(pool, records, {"from": who})
            else:
                steps["financed"] += 1
                reg.registerAndPool(pool, records, {"from": who})
                self.pools[(registry, creditor)] = (pool, obligor)
                self.financed_by[invoice] = registry
                debtor = self._item(invoice, creditor).debtor
                assert invoices.invoice_state(ledger, debtor, hashes[invoice])["registry"] == reg.address

        @rule(invoice=st.integers(0, 4), confirm=st.sampled_from(["same", "same", "none", "other", "forged"]),
              creditor=st.integers(0, 1), registry=st.integers(0, 1),
              bump=st.sampled_from([False, False, False, True]))
        def confirm_then_pledge(self, invoice, confirm, creditor, registry, bump):
            """Optionally a debtor's confirmation (genuine, to the pledging supplier or the other one, or forged),
            then a pledge (of the confirmed terms, or of a bumped amount)."""
            steps["steps"] += 1
            if confirm != "none":
                self._confirm(invoice, creditor if confirm in ("same", "forged") else 1 - creditor, confirm == "forged")
            self._pledge(invoice, creditor, registry, bump)

        def _squat(self, invoice: int) -> rv.Confirmation:
            real = self._item(invoice, 0)
            return rv.Confirmation(real.invoice_hash, mallory, 1, real.due_date, stranger.address)

        @rule(invoice=st.integers(0, 4))
        def another_debtor_confirms_the_hash(self, invoice):
            """Mallory confirms an invoice's hash under its own debtor id (first, or after the real debtor, or after
            the financing): it lands (once) and changes nothing of the real debtor's invoice (the invariant)."""
            steps["steps"] += 1
            item = self._squat(invoice)
            tx = ledger.confirm([item.as_tuple()], signed(ledger, [item]), {"from": stranger})
            assert ("InvoiceConfirmed" in tx.events) == (invoice not in self.squatted)
            steps["squat" if invoice not in self.squatted else "squat skipped"] += 1
            self.squatted.add(invoice)

        @rule(invoice=st.integers(0, 4))
        def stranger_records(self, invoice):
            steps["steps"] += 1
            with reverts_with("AccessControlUnauthorizedAccount(address,bytes32)", stranger.address,
                              ledger.REGISTRY_ROLE()):
                ledger.recordReceivables(stranger, 1, tp.pack_records(rows[invoice]), {"from": stranger})

        @invariant()
        def ledger_equals_model(self):
            items = [self._item(invoice, c) for invoice in range(len(rows)) for c in range(2)]
            expected = []
            for invoice in range(len(rows)):
                for c in range(2):
                    if invoice in self.financed_by:
                        expected.append("Financed")
                    elif invoice not in self.confirmed_to:
                        expected.append("Unconfirmed")
                    else:
                        expected.append("Confirmed" if self.confirmed_to[invoice] == c else "OtherTerms")
            assert invoices.statuses(ledger, items) == expected
            squats = [self._squat(invoice) for invoice in range(len(rows))]
            assert invoices.statuses(ledger, squats) == [
                "Confirmed" if invoice in self.squatted else "Unconfirmed" for invoice in range(len(rows))]

    run_state_machine_as_test(LedgerMachine, settings=machine_settings(ci_examples=6, ci_steps=10))
    report_steps("invoice_ledger", steps)
