"""A green deal on a local chain: the use-of-proceeds ledger deployed with the deal (a step of its plan), the net
proceeds read from the SPV at closing, refusals (ineligible category, beyond the net proceeds, strangers, before
closing), impact figures, the allocation and impact reports rebuilt from chain data, and the regulator rule that
alerts when the deadline passes with proceeds unallocated."""

from __future__ import annotations

import copy
import dataclasses

import pandas as pd
import pytest

from chainabs.apps.green import green_tables, write_green_reports
from chainabs.apps.display import Money
from chainabs.chain import connection, orchestration
from chainabs.chain import green as greenchain
from chainabs.chain.green import project_id, read_green
from chainabs.chain.rulefigures import DealRules
from chainabs.dev.sandbox import onboarded_pool, sandbox_deal, subscribe_all
from chainabs.model import green, rules
from plugins.token import assert_error

CATEGORY = green.CATEGORIES
EVIDENCE = "ipfs://evidence"


@pytest.fixture(scope="module")
def green_offering(accounts, currency, originator, admin, servicer, tmp_path_factory):
    """The green EV-loan deal deployed over 300 synthetic loans (the ledger with it), in its offering."""
    from brownie import project

    proj = project.get_loaded_projects()[0]
    spec, registry, pool_id, tape = onboarded_pool(originator, admin, servicer, "green_auto_loans", loans=300,
                                                   seed=13, prefix="GR")
    return sandbox_deal(spec, accounts, currency, registry, pool_id, proj, tmp_path_factory.mktemp("green"), tape)


def _close(d, investors, admin):
    subscribe_all(d, investors, admin)
    orchestration.close(d, admin)


@pytest.fixture(scope="module")
def green_closed(green_offering, investors, admin, stranger):
    """The green deal closed, its net proceeds recorded and three projects registered: charging and solar (eligible
    categories) and a wetland (biodiversity: not eligible for this deal)."""
    d = dataclasses.replace(green_offering, model=copy.deepcopy(green_offering.model))
    _close(d, investors, admin)
    greenchain.record_net_proceeds(d.green, stranger)
    a = _allocator(d)
    net = int(d.green.netProceeds())
    greenchain.register_project(d.green, "charging", "clean_transportation", net // 2, EVIDENCE, a)
    greenchain.register_project(d.green, "solar", "renewable_energy", net // 2, EVIDENCE, a)
    greenchain.register_project(d.green, "wetland", "biodiversity", 1_000, EVIDENCE, a)
    return d


def test_a_static_deal_has_no_dilution_terms(green_offering):
    """Dilution terms are for revolving deals: the court refuses them for this static deal, and with none set
    nothing can be diluted (a static deal's report never takes dilutions). It runs while the deal is offered:
    before ``green_closed`` (module scope) closes it."""
    from chainabs.chain.revolving import court_of

    d = green_offering
    court = court_of(d.spv)
    assert tuple(court.dilutionTerms(d.spv)) == (False, False, 0)
    assert_error(court.setDilutionTerms, d.spv, True, 0, sender=d.roles["arranger"], error="NotRevolving(address)",
                 values=(d.spv.address,))
    assert_error(court.dilute, d.spv, 1, 1, b"\x01" * 32, sender=d.roles["servicer"],
                 error="NoDilutionTerms(address)", values=(d.spv.address,))


def test_ledger_is_deployed_with_the_deal_and_reads_net_proceeds_after_closing(green_offering, investors, admin,
                                                                              stranger):
    d = dataclasses.replace(green_offering, model=copy.deepcopy(green_offering.model))
    ledger, spec = d.green, d.spec
    assert ledger is not None and str(ledger.spv()) == str(d.spv.address)
    assert int(ledger.eligibleCategories()) == (1 << CATEGORY["clean_transportation"]) | (1 << CATEGORY["renewable_energy"])
    expected_deadline = green.deadline_time(spec.green.allocation_deadline, spec.dates.closing, d.times.closing)
    assert int(ledger.allocationDeadline()) == expected_deadline
    assert ledger.hasRole(ledger.ALLOCATOR_ROLE(), d.roles["originator"])
    # Before closing nothing can be recorded or allocated.
    assert_error(ledger.recordNetProceeds, sender=stranger, error="DealNotClosed(uint8)", values=(0,))
    originator = d.roles["originator"]
    greenchain.register_project(ledger, "charging", "clean_transportation", 10**12, EVIDENCE, originator)
    assert_error(ledger.allocate, project_id("charging"), 1, greenchain.evidence_hash(EVIDENCE), sender=originator,
                 error="ProceedsNotRecorded()")
    _close(d, investors, admin)
    net = greenchain.record_net_proceeds(ledger, stranger)  # anyone may read them once the SPV has closed
    assert net == int(d.spv.ledger()[4]) == sum(d.sizes())  # what the SPV paid the originator for the pool
    assert int(ledger.unallocated()) == net
    assert_error(ledger.recordNetProceeds, sender=stranger, error="ProceedsAlreadyRecorded(uint256)", values=(net,))


def _allocator(d):
    return d.roles[d.spec.green.allocator]


def test_refusals_ineligible_category_beyond_proceeds_and_strangers(green_closed, stranger):
    d = green_closed
    ledger, a = d.green, _allocator(d)
    ev = greenchain.evidence_hash(EVIDENCE)
    net = int(ledger.netProceeds())
    # A project outside the deal's eligible categories gets no allocation.
    assert_error(ledger.allocate, project_id("wetland"), 1, ev, sender=a, error="IneligibleCategory(bytes32,uint8)",
                 values=(project_id("wetland"), CATEGORY["biodiversity"]))
    # Allocations never sum above the net proceeds.
    greenchain.allocate(ledger, "solar", net - 10, EVIDENCE, a)
    assert int(ledger.unallocated()) == 10
    assert_error(ledger.allocate, project_id("charging"), 11, ev, sender=a,
                 error="AllocationExceedsProceeds(uint256,uint256)", values=(11, 10))
    # Unknown projects, categories and metrics, missing evidence, zero amounts, duplicates.
    assert_error(ledger.allocate, project_id("nowhere"), 1, ev, sender=a, error="UnknownProject(bytes32)",
                 values=(project_id("nowhere"),))
    assert_error(ledger.registerProject, project_id("x"), "x", 10, 1, ev, sender=a, error="UnknownCategory(uint8)",
                 values=(10,))
    assert_error(ledger.registerProject, project_id("solar"), "solar", 0, 1, ev, sender=a,
                 error="ProjectExists(bytes32)")
    assert_error(ledger.allocate, project_id("solar"), 1, b"\0" * 32, sender=a, error="MissingEvidence()")
    assert_error(ledger.allocate, project_id("solar"), 0, ev, sender=a, error="ZeroAmount()")
    assert_error(ledger.reportImpact, project_id("solar"), 1, 6, 1, ev, sender=a, error="UnknownMetric(uint8)",
                 values=(6,))
    # Strangers: no role, no record.
    missing = "AccessControlUnauthorizedAccount(address,bytes32)"
    role = bytes(ledger.ALLOCATOR_ROLE())
    assert_error(ledger.registerProject, project_id("y"), "y", 0, 1, ev, sender=stranger, error=missing,
                 values=(stranger.address, role))
    assert_error(ledger.allocate, project_id("solar"), 1, ev, sender=stranger, error=missing,
                 values=(stranger.address, role))
    assert_error(ledger.reportImpact, project_id("solar"), 1, 0, 1, ev, sender=stranger, error=missing,
                 values=(stranger.address, role))
    assert int(ledger.unallocated()) == 10


def test_reports_and_the_deadline_rule_from_chain_data(green_closed, tmp_path):
    from brownie import web3

    d = green_closed
    ledger, a = d.green, _allocator(d)
    net = int(ledger.netProceeds())
    greenchain.allocate(ledger, "solar", net // 4, EVIDENCE, a)
    greenchain.allocate(ledger, "charging", net // 4, EVIDENCE, a)
    greenchain.report_impact(ledger, "solar", 1, "mwh_generated", 31_250_500, EVIDENCE, a)
    greenchain.report_impact(ledger, "solar", 1, "tco2e_avoided", 17_812_500, EVIDENCE, a)
    greenchain.report_impact(ledger, "charging", 2, "ev_charging_sessions", 182_400_000, EVIDENCE, a)
    rpc = web3.provider.endpoint_uri
    view = read_green(rpc, ledger.address)
    assert (view.net_proceeds, view.allocated, view.unallocated) == (net, net // 2, net - net // 2)
    tables = green_tables(view)
    alloc = tables["green_allocations"].set_index("project")
    assert alloc.loc["solar", "allocated"] == net // 4 and alloc.loc["solar", "allocations"] == 1
    assert alloc.loc["wetland", "allocated"] == 0 and alloc.loc["wetland", "category"] == "biodiversity"
    assert alloc.loc["charging", "share_bps"] == (net // 4) * 10_000 // net
    impact = tables["green_impact"]
    solar = impact[(impact["project"] == "solar") & (impact["metric"] == "mwh_generated")].iloc[0]
    assert (solar["period"], solar["unit"], str(solar["value"])) == (1, "MWh", "31250.5")
    assert set(impact["project"]) == {"solar", "charging"}
    section, files = write_green_reports(view, tmp_path, Money(6, "CNHT"))
    assert pd.read_csv(files["green_allocations"])["allocated"].sum() == net // 2
    assert "Green allocation report" in section and "31250.5" in section and files["green_allocation.png"].stat().st_size
    # The rule: nothing before the deadline; past it with proceeds unallocated, one alert at the first block past it.
    head = web3.eth.block_number
    assert view.alerts(0, head, 6) == []
    connection.advance_to(view.deadline + 1)
    past = web3.eth.block_number
    later = read_green(rpc, ledger.address)
    # As the monitor and the reports evaluate it: with the deal's other rules.
    alerts = [a for a in DealRules(rpc, d.spv.address, green=ledger.address).evaluate(head + 1, past)
              if a.rule == "green_allocation_overdue"]
    assert [(x.rule, x.block, x.subject) for x in alerts] == [("green_allocation_overdue", past, later.address)]
    assert alerts[0].severity == "high" and alerts[0].figures["unallocated"] == rules.format_units(net - net // 2, 6)
    assert later.alerts(past + 1, past + 10, 6) == []  # edge-triggered: once
    assert bool(ledger.deadlineMissed())


def test_overdue_rule_is_silent_when_all_is_allocated():
    assert rules.green_allocation_overdue(5, "0xL", 0, 100, 6) is None
    alert = rules.green_allocation_overdue(5, "0xL", None, 100, 6)
    assert alert is not None and "never recorded" in alert.message and alert.id == "green_allocation_overdue:5:0xL"


def test_explorer_green_page(green_closed):
    import requests
    from brownie import web3

    from chainabs.apps.explorer.indexer import Indexer
    from chainabs.apps.explorer.server import ExplorerServer
    from chainabs.apps.green_explorer import explorer_page
    from chainabs.chain.connection import chain_port
    from plugins.deploy import free_port

    d = green_closed
    a = _allocator(d)
    net = int(d.green.netProceeds())
    greenchain.allocate(d.green, "charging", net // 3, EVIDENCE, a)
    greenchain.report_impact(d.green, "charging", 1, "tco2e_avoided", 1_912_500, EVIDENCE, a)
    indexer = Indexer(web3.provider.endpoint_uri, d.spv.address, interval=0.2)
    indexer.start(wait=60)
    port = chain_port()
    server = ExplorerServer(indexer, port=free_port(port + 5, port + 9), pages=[explorer_page(d.green.address)]).start()
    try:
        reply = requests.get(f"{server.url}/api/green", timeout=30)
        data = reply.json()
        assert reply.status_code == 200, data
        assert data["summary"]["net_proceeds"] == net and data["summary"]["unallocated"] == net - net // 3
        assert {r["project"]: r["allocated"] for r in data["allocations"]} == {"charging": net // 3, "solar": 0,
                                                                              "wetland": 0}
        assert data["impact"][0]["value"] == "1912.5" and data["impact"][0]["unit"] == "tCO2e"
        page = requests.get(f"{server.url}/green", timeout=30)
        assert page.status_code == 200 and "Allocation report" in page.text and "1912.5" in page.text
        assert 'href="/green"' in requests.get(f"{server.url}/deal", timeout=30).text  # in the navigation
    finally:
        server.stop()
