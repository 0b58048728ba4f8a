"""Every event the deal's contracts can emit is classified for the monitor and the regulator report (an
alert, a privileged action) or deliberately ignored, and nothing is both."""

from __future__ import annotations

import pytest

from chainabs.chain import alerts
from chainabs.chain.abis import load_abi
from chainabs.chain.events import DecodedEvent

DEAL_CONTRACTS = ("SPV", "TrancheToken", "AssetRegistry", "IdentityRegistry", "CollateralRegistry", "TrancheMarket",
                  "GreenLedger", "InvoiceLedger", "ServicingCourt")
KINDS = {"alert": alerts.ALERT_EVENTS, "privileged": alerts.PRIVILEGED_EVENTS, "ignored": alerts.IGNORED_EVENTS}


def _events(name: str) -> set[str]:
    return {item["name"] for item in load_abi(name) if item["type"] == "event"}


@pytest.mark.parametrize("contract", DEAL_CONTRACTS)
def test_every_event_of_the_deal_abis_is_classified_or_ignored(contract):
    events = _events(contract)
    assert events, f"no events in the {contract} ABI"
    unclassified = events - alerts.ALERT_EVENTS - alerts.PRIVILEGED_EVENTS - alerts.IGNORED_EVENTS
    assert not unclassified, f"{contract} emits events nobody decided about: {sorted(unclassified)}"


def test_the_kinds_are_disjoint_and_name_real_events():
    names = list(KINDS)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not KINDS[a] & KINDS[b], (a, b, KINDS[a] & KINDS[b])
    emitted = set().union(*(_events(c) for c in DEAL_CONTRACTS), _events("TestStablecoin"))
    # OpenZeppelin Pausable currencies (e.g. bridged stablecoins); blocklisting currencies (like USDC; the tests'
    # BlocklistStablecoin)
    third_party = {"Paused", "Unpaused", "Blocklisted"}
    stale = (alerts.ALERT_EVENTS | alerts.PRIVILEGED_EVENTS | alerts.IGNORED_EVENTS) - emitted - third_party
    assert not stale, f"names no contract emits: {sorted(stale)}"


def test_role_changes_pauses_and_forced_transfers_are_privileged():
    for name in ("RoleGranted", "RoleRevoked", "TransfersPaused", "TransfersUnpaused", "ControllerTransfer",
                 "ControllerRedemption", "ReportSubmitted", "PoolTransferred", "AssetRepurchased", "WalletRecovered",
                 "ReportCancelled", "OfferingCancelled", "InvestorIdSet", "DealBound"):
        assert alerts.classify(name) == "privileged", name
    for name in ("TriggerBreached", "DelinquencyAlert", "ReserveDrawn", "InterestShortfall", "PrincipalWrittenDown",
                 "ClassPaymentHeld"):
        assert alerts.classify(name) == "alert", name
    assert alerts.classify("Transfer") is None and alerts.classify("ClassBalances") is None


def test_asset_status_changes_are_alerts_when_an_asset_gets_worse():
    def kind(old: int, new: int) -> str | None:
        return alerts.classify("AssetStatusChanged", {"from": old, "to": new, "principal": 1})

    assert kind(1, 2) == "alert"  # Performing -> Delinquent30
    assert kind(3, 5) == "alert"  # Delinquent60 -> Defaulted
    assert kind(3, 1) == "privileged"  # cured
    assert kind(1, 6) == "privileged"  # prepaid
    assert kind(1, 1) is None  # principal-only servicing update
    assert kind(5, 5) is None


def test_a_shared_registry_reports_only_the_deals_pool():
    registry = "0x" + "11" * 20
    keep = alerts.pool_classifier(registry, 2)

    def ev(address: str, name: str, args: dict) -> DecodedEvent:
        return DecodedEvent(1, "0x" + "00" * 32, 0, address, "AssetRegistry", name, args)

    from web3 import Web3

    reg = Web3.to_checksum_address(registry)
    assert keep(ev(reg, "PoolSealed", {"poolId": 2})) == "privileged"
    assert keep(ev(reg, "PoolSealed", {"poolId": 3})) is None
    assert keep(ev(reg, "AssetStatusChanged", {"poolId": 3, "from": 1, "to": 5})) is None
    assert keep(ev(reg, "RoleGranted", {"role": b"", "account": reg, "sender": reg})) == "privileged"
    assert keep(ev(Web3.to_checksum_address("0x" + "22" * 20), "PoolSealed", {"poolId": 3})) == "privileged"


def test_the_end_of_the_deal_settlements_are_alerts_graded_by_what_was_lost():
    for name in ("FeeShortfallSettled", "InterestShortfallSettled"):
        assert alerts.classify(name) == "alert"
        assert alerts.alert_rule(name, {"period": 7, "paid": 5, "lost": 0}) == ("end of deal", "info")
        assert alerts.alert_rule(name, {"period": 7, "paid": 0, "lost": 1}) == ("end of deal", "high")
