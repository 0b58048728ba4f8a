"""The sample REIT on a local chain: leases onboarded as rent assets with their properties in the collateral
registry, quarterly rent distributed to the unit holders after fees, reserve and the senior loan (chain == model
every quarter, per-unit pro rata claims), a quarter with no rent refused (NoRentCollected), and NAV per unit
from the latest appraisals rebuilt from chain data."""

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
from chainabs.model.deal import DealModelError
from chainabs.model.servicing import period_report
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


def test_a_quarter_without_rent_is_refused(deal, stranger):
    d, _ = deal
    every = frozenset(x.id for x in d.spec.reit.leases)
    with pytest.raises(TxError) as exc:
        serve_rent(d, every, mint_from=d.roles["arranger"])
    assert exc.value.name == "NoRentCollected" and tuple(exc.value.error_args) == (1,)
    # The model (the executable specification) refuses it alike.
    with pytest.raises(DealModelError) as refused:
        d.model.submit(d.book.last.pipe(period_report))
    assert (refused.value.name, refused.value.error_args) == ("NoRentCollected", (1,))
    assert bytes(d.spv.pendingReportHash()) == bytes(32)  # nothing pending: the servicer reports once rent is in


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
