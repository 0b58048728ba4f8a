"""The sample REIT on a local chain: leases onboarded as rent assets with their properties in the collateral
registry, quarterly rent distributed to the unit holders after fees, reserve and the senior loan (chain == model
every quarter, per-unit pro rata claims), an all-vacant quarter with a tenant gone (accepted, its loss in the
waterfall, nothing to the units; the next quarter's rent distributes again), the REIT's end of life (properties
sold, the deal ended, the SPV left empty), and NAV per unit from the latest appraisals rebuilt from chain data."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from chainabs.apps.reit import reit_onboarded, serve_rent
from chainabs.chain import collateral, connection, orchestration
from chainabs.chain import spv as spvlib
from chainabs.chain.read.deal import read_deal
from chainabs.chain.reit import reit_tables
from chainabs.chain.sender import TxError, transact
from chainabs.dev.sandbox import sandbox_deal
from chainabs.model import reit
from chainabs.model.assets import asset_id
from chainabs.model.spec import load_deal


@pytest.fixture(scope="module")
def reit_deal(accounts, currency, originator, admin, servicer, investors, tmp_path_factory):
    """The REIT closed: the senior loan shared by two investors, every unit retained by the originator, who then
    sells 40% of them to a third investor."""
    from brownie import project

    proj = project.get_loaded_projects()[0]
    spec, registry, pool_id, tape, coll = reit_onboarded(load_deal("reit_rent"), admin, originator, servicer)
    d = sandbox_deal(spec, accounts, currency, registry, pool_id, proj, tmp_path_factory.mktemp("reit"), tape)
    orchestration.subscribe_classes(d, {0: investors[:2]}, admin)
    orchestration.close(d, admin)
    transact(d.tokens[-1].transfer, investors[2], d.sizes()[-1] * 4 // 10, sender=originator)
    return d, coll


@pytest.fixture
def deal(reit_deal):
    d, coll = reit_deal
    return dataclasses.replace(d, model=copy.deepcopy(d.model), book=copy.deepcopy(d.book)), coll


def _quarter(d, caller, unpaid=frozenset()):
    served = serve_rent(d, unpaid, mint_from=d.roles["arranger"])
    d.model.submit(served.report)
    period = d.model.state.periods_closed + 1
    connection.advance_to(int(d.spv.paymentDate(period)))
    tx = spvlib.close_period(d.spv, caller, served.report)
    closed = d.model.close_period()
    return served, tx, closed


def test_rent_goes_to_unit_holders_pro_rata_and_chain_equals_model(deal, investors, stranger):
    d, _ = deal
    spec = d.spec
    units, originator = d.tokens[-1], d.roles["originator"]
    rent = sum(spec.units(x.monthly_rent) for x in spec.reit.leases) * 3
    residuals = []
    for q, unpaid in enumerate((frozenset(), frozenset({"L-GX-01"}), frozenset()), start=1):
        served, tx, closed = _quarter(d, stranger, unpaid)
        assert spvlib.result_of(tx) == closed.result, f"quarter {q}: chain and model differ"
        expected = rent - (spec.units(spec.reit.leases[-1].monthly_rent) * 3 if unpaid else 0)
        assert served.report.interest_collections == expected
        assert served.report.scheduled_principal == served.report.prepayments == 0  # leases do not amortise
        res = closed.result
        # No coupon on the units: everything after fees, senior interest and the reserve is theirs.
        assert res.interest_paid[-1] == 0 and res.principal_paid == (0, 0)
        residuals.append(res.residual)
        assert res.residual == expected - sum(res.fee_paid) - res.interest_paid[0] - res.reserve_deposit \
            + res.reserve_release + res.reserve_draw
    table = spvlib.reconcile(d.spv, d.model)
    assert table["match"].all()
    # Pro rata per unit: the buyer of 40% of the units can claim 40% of the income distributed to them (to the unit).
    total = sum(residuals)
    buyer, held = investors[2], int(units.balanceOf(investors[2]))
    assert held == d.sizes()[-1] * 4 // 10
    claimable_buyer = int(units.withdrawableFundsOf(buyer))
    claimable_originator = int(units.withdrawableFundsOf(originator))
    paid = claimable_buyer + claimable_originator
    assert total - 3 <= paid <= total  # each distribution rounds down by less than a unit per holder
    assert abs(claimable_buyer * 10 - paid * 4) <= 10 * 3


def _units_paid(tx, units) -> list:
    return [e for e in tx.events.get("FundsDistributed", ()) if e.address.lower() == str(units.address).lower()]


def test_an_all_vacant_quarter_with_defaults_closes_and_rent_distributes_again(deal, stranger):
    """No rent at all (every lease vacant, one tenant gone for good): the report is accepted and noted, its loss
    reaches the waterfall, fees and senior interest are paid by the reserve as far as it goes (the rest carried),
    the units receive nothing; the next quarter's rent pays what was carried and distributes again."""
    d, _ = deal
    every = frozenset(x.id for x in d.spec.reit.leases)
    units = d.tokens[-1]
    gone = "L-XH-02"
    served = serve_rent(d, every, defaulted=frozenset({gone}), mint_from=d.roles["arranger"])
    report = served.report
    assert report.interest_collections == 0 and report.defaults > 0
    assert served.submitted.event("NoRentCollected")["period"] == 1
    d.model.submit(report)
    assert d.model.rentless_periods == [1]
    connection.advance_to(int(d.spv.paymentDate(1)))
    tx = spvlib.close_period(d.spv, stranger, report)
    res = d.model.close_period().result
    assert spvlib.result_of(tx) == res
    assert res.residual == 0 and res.interest_paid[-1] == 0 and not _units_paid(tx, units)
    assert res.write_down[-1] == report.defaults  # the units bear the loss
    # Fees and senior interest owed (8.0 M) exceed the reserve (5 M): it pays them all it holds, the rest is carried.
    assert res.reserve_draw == d.spec.units(d.spec.reserve.initial) == sum(res.fee_paid) + res.interest_paid[0]
    assert tx.event("ReserveDrawn")["amount"] == res.reserve_draw
    assert tx.event("InterestShortfall")["classIndex"] == 0
    assert spvlib.reconcile(d.spv, d.model)["match"].all()

    # Rent again (the gone tenant's claim charged off): distributions resume. The senior loan is paid its interest
    # and the shortfall carried, the reserve refilled, and what is left cures the units' loss (the PDL: paid as
    # principal, senior first): the units' income resumes once the loss is cured.
    served, tx, closed = _quarter_with(d, stranger, resolved={gone: 0})
    assert "NoRentCollected" not in served.submitted.events
    assert spvlib.result_of(tx) == closed.result
    res2 = closed.result
    quarterly = d.spec.units(560_000_000) * 420 // 10_000 // 4
    assert res2.interest_paid[0] == quarterly + (quarterly - res.interest_paid[0])
    assert res2.pdl_cure_paid > 0 and res2.principal_paid[0] == res2.pdl_cure_paid and res2.residual == 0
    senior = [e for e in tx.events["FundsDistributed"] if e.address.lower() == str(d.tokens[0].address).lower()]
    assert [(e.args["interest"], e.args["principal"]) for e in senior] == [(res2.interest_paid[0], res2.pdl_cure_paid)]
    assert d.model.rentless_periods == [1]
    assert spvlib.reconcile(d.spv, d.model)["match"].all()


def _quarter_with(d, caller, unpaid=frozenset(), **flows):
    served = serve_rent(d, unpaid, mint_from=d.roles["arranger"], **flows)
    d.model.submit(served.report)
    connection.advance_to(int(d.spv.paymentDate(d.model.state.periods_closed + 1)))
    tx = spvlib.close_period(d.spv, caller, served.report)
    return served, tx, d.model.close_period()


def test_the_reit_sells_its_properties_and_ends_with_nothing_left(deal, stranger, investors):
    """End of life: every property share sold in one quarter (its value arrives as prepayments), the senior loan
    repaid, the units' capital returned with the reserve; the deal ends, the fees are
    withdrawn and the SPV holds nothing."""
    from brownie import web3

    d, coll = deal
    every = frozenset(x.id for x in d.spec.reit.leases)
    served, tx, closed = _quarter_with(d, stranger, sold=every)
    res = closed.result
    assert spvlib.result_of(tx) == res
    assert served.report.prepayments == d.spec.units(d.spec.pool.original_balance)
    assert res.principal_paid == tuple(d.sizes())
    assert d.model.state.pool_balance == 0
    # The properties sold (audit A5): out of the NAV at once, out of the pool's collateral tally once released.
    nav = reit_tables(read_deal(web3.provider.endpoint_uri, d.spv.address), coll.address)["reit_nav"].iloc[0]
    assert int(nav["appraised_value"]) == 0
    originator = str(d.roles["originator"].address)
    assert collateral.pool_collateral(coll, d.pool_id)[0] == len(every)
    collateral.release_closed(coll, stranger, originator, sorted(every))
    assert collateral.pool_collateral(coll, d.pool_id) == (0, 0)
    tx = spvlib.end_deal(d.spv, stranger)
    released, final = d.model.end_deal()
    assert (tx.event("DealEnded")["releasedToEquity"], tx.event("DealEnded")["finalWriteDown"]) == (released, final)
    # With no pool left the reserve's target is 0: the last close released it to the units; nothing is written off.
    assert released == 0 and final == 0 and res.reserve_release > 0 and res.residual >= res.reserve_release
    owed = [int(d.spv.feeOwed(k)) for k in range(len(d.spec.fees))]
    assert d.currency.balanceOf(d.spv) == sum(owed) > 0  # only the fees earned are left
    assert spvlib.withdraw_all_fees(d.spv, stranger) == [d.model.withdraw_fees(k) for k in range(len(owed))] == owed
    assert d.currency.balanceOf(d.spv) == 0
    assert spvlib.reconcile(d.spv, d.model)["match"].all()
    # Every unit holder can take its share out of the units' token.
    for holder in (d.roles["originator"], investors[2]):
        assert int(d.tokens[-1].withdrawableFundsOf(holder)) > 0


def test_nav_per_unit_from_the_latest_appraisals(deal, stranger, tmp_path):
    from brownie import web3

    from chainabs.apps.display import Money
    from chainabs.apps.reit import reit_report_section

    d, coll = deal
    spec = d.spec
    _quarter(d, stranger)
    data = read_deal(web3.provider.endpoint_uri, d.spv.address)
    before = reit_tables(data, coll.address)
    nav = {k: int(v) for k, v in before["reit_nav"].iloc[0].items()}
    appraised = spec.units(spec.reit.appraised_value)
    reserve = int(d.spv.ledger()[10])
    assert nav["appraised_value"] == appraised and nav["senior_debt"] == d.sizes()[0]
    assert nav["nav"] == appraised + reserve - d.sizes()[0]
    assert nav["nav_per_unit"] == nav["nav"] * 10**6 // d.sizes()[-1]
    props = before["reit_properties"]
    assert len(props) == len(spec.reit.properties) and props["appraised_value"].sum() == appraised
    # The servicer re-appraises one lease's share of a property; a stranger cannot.
    lease = spec.reit.leases[0]
    aid = asset_id(str(d.roles["originator"].address), lease.id)
    old = int(coll.collateralOf(aid)[2])
    now = int(web3.eth.get_block("latest")["timestamp"])
    with pytest.raises(TxError) as exc:
        collateral.reappraise(coll, stranger, aid, old + 1, now, b"\1" * 32)
    assert exc.value.name == "NotPoolServicer"
    collateral.reappraise(coll, d.roles["servicer"], aid, old + 10_000_000_000, now, b"\1" * 32)
    after = reit_tables(read_deal(web3.provider.endpoint_uri, d.spv.address), coll.address)["reit_nav"].iloc[0]
    assert int(after["nav"]) == nav["nav"] + 10_000_000_000
    dist = {k: int(v) for k, v in before["reit_distributions"].iloc[0].items()}
    assert dist["net_rental_income"] == d.model.history[-1].result.residual
    assert dist["per_unit"] == dist["net_rental_income"] * 10**6 // d.sizes()[-1] > 0
    # The deal report's REIT section (NAV per unit, distributions, properties) and its CSV files.
    page, paths = reit_report_section(data, coll.address, Money(6, "CNHT"), tmp_path)
    assert set(paths) == {"reit_nav", "reit_distributions", "reit_properties"} and paths["reit_nav"].exists()
    assert "NAV per unit" in page and "distributions of net rental income" in page


def test_lease_values_split_each_property_by_rent():
    spec = load_deal("reit_rent")
    values = reit.lease_values(spec.reit, spec.units)
    assert sum(values.values()) == spec.units(spec.pool.original_balance)
    pudong = [x for x in spec.reit.leases if x.property == spec.reit.properties[0].id]
    assert values[pudong[0].id] * spec.units(pudong[1].monthly_rent) // spec.units(pudong[0].monthly_rent) \
        in range(values[pudong[1].id] - 1, values[pudong[1].id] + 2)
