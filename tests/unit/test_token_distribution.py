"""Pull-based distributions: exact entitlements across balance changes, principal/factor, write-downs,
claims, dust and its named home, hostile currencies, and the pure math library."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainabs.chain import tokens
from chainabs.chain.contracts import LOCKED
from chainabs.chain.read.tranches import POSITION_COLUMNS, positions, tranche_state
from plugins.token import FACE, YEAR, assert_error, b32, plain

SUPPLY = 5 * FACE


def near(got, exact) -> bool:
    """An exact (integer) share is paid exactly: the rounding slack absorbs the accumulator truncation."""
    return got == exact


@pytest.fixture
def fresh(currency, identity, admin, servicer, originator, verified):
    """A tranche with nothing issued yet."""
    currency.mint(servicer, 10**15, {"from": admin})
    return tokens.deploy_tranche(name="Fresh", symbol="F", currency=currency, registry=identity, admin=admin,
                                 coupon_bps=100, residual_recipient=originator,
                                 deal=servicer)


def test_distribute_pulls_and_credits_pro_rata(issued, servicer, currency, verified, originator):
    before = currency.balanceOf(servicer)
    tx = tokens.distribute(issued, servicer, 5_000_000, 10_000_000)
    ev = tx.event("FundsDistributed")
    assert plain((ev["distributor"], ev["epoch"], ev["interest"], ev["principal"])) == (
        str(servicer), 1, 5_000_000, 10_000_000)
    assert currency.balanceOf(servicer) == before - 15_000_000
    assert currency.balanceOf(issued) == 15_000_000
    for holder in list(verified[:4]) + [originator]:
        interest, principal = issued.withdrawableOf(holder)
        assert near(interest, 1_000_000) and near(principal, 2_000_000)
        assert issued.withdrawableFundsOf(holder) == interest + principal == issued.accumulativeFundsOf(holder)
    assert issued.currentPrincipal() == SUPPLY - 10_000_000
    assert issued.factor() == (SUPPLY - 10_000_000) * 10**18 // SUPPLY
    assert (issued.totalInterestDistributed(), issued.totalPrincipalDistributed()) == (5_000_000, 10_000_000)
    assert issued.distributionCount() == 1 and not issued.isIssuable()


def test_claim_and_claim_for(issued, servicer, currency, verified, stranger):
    tokens.distribute(issued, servicer, 5_000_000, 10_000_000)
    expected = plain(issued.withdrawableOf(verified[0]))
    assert tokens.claim(issued, verified[0]) == expected
    assert currency.balanceOf(verified[0]) == sum(expected)
    assert plain(issued.withdrawnOf(verified[0])) == expected
    assert issued.withdrawnFundsOf(verified[0]) == sum(expected) and issued.withdrawableFundsOf(verified[0]) == 0
    assert tokens.claim(issued, verified[0]) == (0, 0)  # nothing left: no transfer, no event
    # anyone can trigger a claim, the funds always go to the holder
    assert tokens.claim(issued, stranger, on_behalf_of=verified[1]) == expected
    assert currency.balanceOf(verified[1]) == sum(expected) and currency.balanceOf(stranger) == 0
    # what left the token: the two claims (each holder's withdrawnOf, and the FundsWithdrawn events)
    assert currency.balanceOf(issued) == 15_000_000 - 2 * sum(expected)


def test_entitlements_follow_holders_exactly(issued, servicer, verified, trustee, chain):
    a, b, c = verified[:3]
    tokens.distribute(issued, servicer, 1_000_000, 0)        # a: 200_000
    issued.transfer(b, FACE // 2, {"from": a})                # a: FACE/2, b: 1.5 FACE
    tokens.distribute(issued, servicer, 1_000_000, 500_000)   # a: +100_000 / +50_000
    issued.controllerTransfer(b, c, FACE, b"", b"", {"from": trustee})
    issued.approve(c, FACE, {"from": a})
    issued.transferFrom(a, c, FACE // 4, {"from": c})        # a: FACE/4
    tokens.distribute(issued, servicer, 2_000_000, 0)        # a: +100_000
    ia, pa = issued.withdrawableOf(a)
    assert near(ia, 400_000) and near(pa, 50_000)
    ib, pb = issued.withdrawableOf(b)
    assert near(ib, 200_000 + 300_000 + 200_000) and near(pb, 150_000)
    issued.transfer(b, FACE // 4, {"from": a})                # a leaves: entitlement kept
    tokens.distribute(issued, servicer, 1_000_000, 0)
    assert plain(issued.withdrawableOf(a)) == (ia, pa)
    assert issued.balanceOf(a) == 0


def test_distribution_cost_does_not_depend_on_holders(issued, servicer, verified, currency, tranche):
    # same state, different number of holders
    gas_few = tokens.distribute(issued, servicer, 1_000_000, 1_000_000).gas_used
    gas_again = tokens.distribute(issued, servicer, 1_000_000, 1_000_000).gas_used
    assert gas_again <= gas_few  # later epochs only overwrite warm/non-zero slots


def test_principal_limits_write_down_reinstate_shortfall(issued, servicer, verified, currency):
    assert_error(issued.distribute, 0, SUPPLY + 1, sender=servicer, error="AmountExceedsLimit(bytes32,uint256,uint256)",
                 values=(b32("principal"), SUPPLY + 1, SUPPLY))
    tx = issued.writeDown(1_000_000, {"from": servicer})
    assert plain(tx.events["PrincipalWrittenDown"].values()) == (str(servicer), 1_000_000, SUPPLY - 1_000_000)
    assert issued.cumulativeWriteDown() == 1_000_000 and not issued.isIssuable()
    assert_error(issued.reinstate, 1_000_001, sender=servicer, error="AmountExceedsLimit(bytes32,uint256,uint256)",
                 values=(b32("reinstate"), 1_000_001, 1_000_000))
    tx = issued.reinstate(400_000, {"from": servicer})
    assert plain(tx.events["PrincipalReinstated"].values()) == (str(servicer), 400_000, SUPPLY - 600_000)
    assert issued.cumulativeWriteDown() == 600_000
    assert_error(issued.writeDown, SUPPLY, sender=servicer, error="AmountExceedsLimit(bytes32,uint256,uint256)")
    tx = issued.setInterestShortfall(123, {"from": servicer})
    assert tx.events["InterestShortfallSet"]["amount"] == 123 and issued.interestShortfall() == 123


def test_principal_invariant_with_redemption(issued, servicer, verified):
    tokens.distribute(issued, servicer, 0, 1_000_000)
    issued.writeDown(3_000_001, {"from": servicer})
    issued.settle({"from": servicer})  # redemptions open once the deal has settled the tranche
    issued.redeem(FACE // 3, b"", {"from": verified[0]})
    cp, wd, paid, retired = (issued.currentPrincipal(), issued.cumulativeWriteDown(),
                             issued.totalPrincipalDistributed(), issued.principalRetired())
    assert cp + wd + paid + retired == issued.totalIssued()
    assert cp + wd <= issued.totalSupply()
    supply = issued.totalSupply()
    assert cp == (SUPPLY - 4_000_001) * supply // SUPPLY
    assert issued.originalFace() == supply


def test_issue_blocked_after_distribution_and_no_holders(fresh, servicer, verified):
    assert_error(fresh.distribute, 1, 0, sender=servicer, error="NoTokensOutstanding()")
    tokens.issue(fresh, servicer, verified[0], 1000)
    tokens.distribute(fresh, servicer, 10, 0)
    assert_error(fresh.issue, verified[0], 1, b"", sender=servicer, error="IssuanceNotAllowed()")
    assert tokens.claim(fresh, verified[0]) == (10, 0)  # a single holder gets everything, exactly


def test_out_of_range_distribution(fresh, servicer, verified, currency, admin):
    tranche = fresh
    tokens.issue(tranche, servicer, verified[0], 1)
    currency.mint(servicer, 2**97, {"from": admin})
    currency.approve(tranche, 2**97, {"from": servicer})
    assert_error(tranche.distribute, 2**96, 0, sender=servicer, error="ValueOutOfRange(bytes32,uint256,uint256)",
                 values=(b32("totalInterestDistributed"), 2**96, 2**96 - 1))
    assert_error(tranche.distribute, 2**40, 0, sender=servicer, error="ValueOutOfRange(bytes32,uint256,uint256)",
                 values=(b32("interestPerToken"), 2**136, 2**128 - 1))


def test_dust_is_tracked_and_swept_to_the_residual(issued, servicer, verified, originator, admin, currency, trustee):
    # 7 units over 5 * FACE tokens: every holder gets 1.4 units -> 1 whole unit, 0.4 stays as sub-unit credit
    tokens.distribute(issued, servicer, 7, 0)
    assert issued.withdrawableFundsOf(verified[0]) == 1
    assert issued.sweepableDust() == 0  # nobody's dust yet: the fractions still belong to live holders
    issued.controllerTransfer(verified[0], verified[1], FACE, b"", b"", {"from": trustee})
    tokens.claim(issued, verified[0])
    assert_error(issued.sweepDust, [verified[1]], sender=admin, error="HolderNotEmpty(address)",
                 values=(str(verified[1]),))
    residual_before = currency.balanceOf(originator)
    tx = issued.sweepDust([verified[0]], {"from": admin})
    assert plain(tx.events["DustSwept"].values()) == (str(admin), str(originator), 0)  # 0.4 < 1 unit
    # two more empty holders' 0.4 make the closed dust cross one unit
    issued.controllerTransfer(verified[2], verified[3], FACE, b"", b"", {"from": trustee})
    issued.controllerTransfer(verified[1], verified[3], 2 * FACE, b"", b"", {"from": trustee})
    tx = issued.sweepDust([verified[2], verified[1]], {"from": admin})
    assert tx.events["DustSwept"]["amount"] == 1 and issued.totalDustSwept() == 1
    assert issued.withdrawableFundsOf(verified[1]) == 1  # whole units stay withdrawable after the sweep
    assert currency.balanceOf(originator) == residual_before + 1
    # whatever remains covers every holder's withdrawable funds
    owed = sum(issued.withdrawableFundsOf(h) for h in list(verified[:4]) + [originator])
    assert currency.balanceOf(issued) >= owed
    tx = issued.setResidualRecipient(trustee, {"from": admin})
    assert tx.events["ResidualRecipientSet"]["recipient"] == trustee and issued.residualRecipient() == trustee


@pytest.fixture
def hostile_tranche(identity, admin, servicer, verified, originator, chain):
    def make(kind):
        from brownie import FeeOnTransferTokenMock, NoReturnTokenMock, ReentrantTokenMock
        cur = {"fee": FeeOnTransferTokenMock, "noreturn": NoReturnTokenMock, "reentrant": ReentrantTokenMock}[kind]
        cur = cur.deploy({"from": admin})
        tok = tokens.deploy_tranche(name="H", symbol="H", currency=cur, registry=identity, admin=admin,
                                    coupon_bps=0, residual_recipient=originator,
                                    deal=servicer)
        tokens.issue(tok, servicer, verified[0], 600)
        tokens.issue(tok, servicer, verified[1], 400)
        cur.mint(servicer, 10**12, {"from": admin})
        cur.approve(tok, 10**12, {"from": servicer})
        return cur, tok
    return make


def test_fee_on_transfer_currency_is_rejected(hostile_tranche, servicer):
    cur, tok = hostile_tranche("fee")
    assert_error(tok.distribute, 1000, 0, sender=servicer, error="CurrencyAmountMismatch(uint256,uint256)",
                 values=(1000, 990))


def test_no_return_currency_works_through_safe_erc20(hostile_tranche, servicer, verified):
    cur, tok = hostile_tranche("noreturn")
    tok.distribute(1000, 0, {"from": servicer})
    tok.claim({"from": verified[0]})
    assert cur.balanceOf(verified[0]) == 600


def test_reentrant_currency_cannot_double_claim(hostile_tranche, servicer, verified):
    cur, tok = hostile_tranche("reentrant")
    tok.distribute(1000, 0, {"from": servicer})
    cur.arm(tok, verified[0], {"from": servicer})
    tok.claim({"from": verified[0]})
    assert (cur.reentryInterest(), cur.reentryPrincipal()) == (0, 0)
    assert cur.balanceOf(verified[0]) == 600 and cur.balanceOf(tok) == 400


# ---- the pure math library ----

@pytest.fixture(scope="module")
def math_lib(admin):
    from brownie import DistributionMathMock
    return DistributionMathMock.deploy({"from": admin})


@settings(max_examples=40, deadline=None)
@given(amount=st.integers(0, 2**96 - 1), supply=st.integers(1, 2**96 - 1), share=st.integers(0, 2**96 - 1))
def test_math_rounds_down_within_bounds(math_lib, amount, supply, share):
    balance = min(share, supply)
    inc = math_lib.perTokenIncrement(amount, supply)
    assert inc == amount * 2**96 // supply
    credit = math_lib.accrued(balance, 0, inc)
    exact = Fraction(amount * balance, supply)
    got = Fraction(credit, 2**32)
    assert got <= exact < got + Fraction(1, 2**32) + Fraction(balance, 2**96)
    units = math_lib.toUnits(credit)
    assert units == (credit + 2**8) // 2**32
    assert units <= exact + Fraction(1, 2**24)
    if exact.denominator == 1 and balance < 2**64:
        assert units == exact  # an exact share is paid exactly
    rem = math_lib.subUnitRemainder(credit)
    assert rem == (credit - units * 2**32 if units * 2**32 <= credit else 0)
    assert math_lib.retained(amount, balance, supply) == amount * balance // supply


@settings(max_examples=40, deadline=None)
@given(amount=st.integers(0, 2**96 - 1), supply=st.integers(1, 2**96 - 1), other=st.integers(0, 2**96 - 1))
def test_math_dust_is_counted_conservatively(math_lib, amount, supply, other):
    inc = math_lib.perTokenIncrement(amount, supply)
    rem = math_lib.incrementRemainder(amount, supply)
    assert supply * inc + rem == amount * 2**96 and 0 <= rem < supply
    rem2 = math_lib.incrementRemainder(other, supply)
    credit = math_lib.remainderCredit(rem + rem2)
    assert credit == (rem + rem2) // 2**64
    # never more than the exact unallocated dust, and less than 2 units per distribution
    assert Fraction(credit, 2**32) <= Fraction(rem + rem2, 2**96) < 2
    assert math_lib.wholeUnits(credit) == credit // 2**32 <= Fraction(rem + rem2, 2**96)


@settings(max_examples=40, deadline=None)
@given(paid=st.integers(0, 2**96 - 1), short=st.integers(0, 3 * 2**8), above=st.integers(0, 2**40))
def test_math_covering_counts_what_was_paid_and_raises_by_less_than_the_slack(math_lib, paid, short, above):
    """A merged credit (wallet recovery) is raised just enough that its whole units cover what was paid: never
    lowered, raised only when it falls short, and by at most 2**-24 units below `paid` whole units."""
    for credit in (max(0, paid * 2**32 - short), paid * 2**32 + above):
        covered = math_lib.covering(credit, paid)
        assert covered >= credit and math_lib.toUnits(covered) >= paid
        if math_lib.toUnits(credit) >= paid:
            assert covered == credit  # nothing to raise
        else:
            assert covered == paid * 2**32 - 2**8 and math_lib.toUnits(covered) == paid
    assert math_lib.covering(12_345, 0) == 12_345


def test_python_state_and_statement(issued, servicer, verified, originator, web3):
    tokens.distribute(issued, servicer, 5_000_000, 10_000_000)
    state = tranche_state(web3, issued.address)
    assert (state["original_face"], state["current_principal"], state["distributions"], state["holders"]) == (
        SUPPLY, SUPPLY - 10_000_000, 1, 5)
    assert state["factor"] == issued.factor() and state["coupon_bps"] == 450
    st_ = positions(web3, [issued.address], [originator.address]).iloc[0]
    assert (st_["locked"], st_["unrestricted"], st_["interest_withdrawable"], st_["principal_withdrawable"]) == (
        FACE, 0, 1_000_000, 2_000_000)
    assert st_["principal_outstanding"] == FACE * (SUPPLY - 10_000_000) // SUPPLY
    frame = positions(web3, [issued.address], [verified[0].address])
    assert list(frame["balance"]) == [FACE] and list(frame.columns) == list(POSITION_COLUMNS)


TOKEN_PERIOD_EVENTS = ("PrincipalWrittenDown", "PrincipalReinstated", "IssuanceClosed", "FundsDistributed", "BooksOpened")


def _period_view(tok, currency, holders):
    return (tok.currentPrincipal(), tok.cumulativeWriteDown(), tok.totalInterestDistributed(),
            tok.totalPrincipalDistributed(), tok.distributionCount(), tok.booksClosed(), tok.isIssuable(),
            currency.balanceOf(tok), tuple(plain(tok.withdrawableOf(h)) for h in holders))


def _token_events(*txs):
    return [(ev.name, plain(ev.values())) for tx in txs for ev in tx.events if ev.name in TOKEN_PERIOD_EVENTS]


def test_distribute_period_equals_the_separate_calls(issued, fresh, servicer, verified, originator, currency,
                                                     stranger, admin):
    """The SPV's one call per class and period (`distributePeriod`) leaves a token exactly as writeDown, reinstate
    and distribute (or openBooks when nothing is paid) in that order, with the same events; deal only."""
    twin = fresh
    for inv in verified[:4]:
        tokens.issue(twin, servicer, inv, FACE)
    tokens.issue(twin, servicer, originator, FACE, partition=LOCKED)
    holders = [*verified[:4], originator]
    for who in (stranger, admin):
        assert_error(issued.distributePeriod, 1, 0, 0, 0, sender=who, error="NotDeal(address,address)",
                     values=(str(who), str(servicer)))
    currency.approve(issued, 2**256 - 1, {"from": servicer})
    currency.approve(twin, 2**256 - 1, {"from": servicer})
    # first period: issuance closes with the write-down; then a write-down cured in the same period, a period
    # with only a write-down and a cure (books reopened, no epoch), one with nothing at all, one with interest only
    for interest, principal, written, cured in [(500_000, 1_000_000, 2_000_000, 0), (300_000, 500_000, 400_000, 250_000),
                                                (0, 0, 100_000, 50_000), (0, 0, 0, 0), (1_000, 0, 0, 0)]:
        issued.closeBooks({"from": servicer})
        twin.closeBooks({"from": servicer})
        separate = []
        if written:
            separate.append(twin.writeDown(written, {"from": servicer}))
        if cured:
            separate.append(twin.reinstate(cured, {"from": servicer}))
        if interest + principal:
            separate.append(twin.distribute(interest, principal, {"from": servicer}))
        else:
            separate.append(twin.openBooks({"from": servicer}))
        combined = issued.distributePeriod(interest, principal, written, cured, {"from": servicer})
        assert _token_events(combined) == _token_events(*separate)
        assert _period_view(issued, currency, holders) == _period_view(twin, currency, holders)
    assert not issued.booksClosed() and issued.distributionCount() == 3
    # the checks are those of the separate calls
    assert_error(issued.distributePeriod, 0, 0, 0, issued.cumulativeWriteDown() + 1, sender=servicer,
                 error="AmountExceedsLimit(bytes32,uint256,uint256)")
