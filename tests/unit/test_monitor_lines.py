"""The monitor's terminal lines are for people: one line per event or alert, roles by name, hashes as short
0x hex, long arrays summarised, amounts in the deal currency's units; its JSON-lines files stay complete and
machine-readable (bytes as 0x hex, never Python reprs)."""

from __future__ import annotations

import io
import json

from eth_utils import keccak
from rich.console import Console

from chainabs.apps import monitor
from chainabs.apps.display import Money
from chainabs.chain.events import DecodedEvent
from chainabs.model.rules import Alert

CNHT = Money(6, "CNHT")
ADMIN = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
TX = "0x52aef1c5be8044e75c930b6fdcc4db949b22092ed5820e01def86114a449cb9e"


def event(contract: str, event_name: str, /, **args) -> DecodedEvent:
    return DecodedEvent(block_number=8, tx_hash=TX, log_index=0, address=ADMIN, contract=contract, event=event_name,
                        args=args)


def test_roles_are_named_and_bytes_never_shown_as_python_reprs():
    kyc = keccak(text="KYC_AGENT_ROLE")
    line = monitor.event_line(event("IdentityRegistry", "RoleGranted", role=kyc, account=ADMIN, sender=ADMIN),
                              "privileged", CNHT)
    assert line.startswith("privileged block 8 IdentityRegistry.RoleGranted role=KYC_AGENT_ROLE ")
    assert f"account={ADMIN}" in line and "tx 0x52aef1…49cb9e" in line
    admin = monitor.event_line(event("SPV", "RoleGranted", role=b"\0" * 32, account=ADMIN, sender=ADMIN), "privileged")
    assert "role=DEFAULT_ADMIN_ROLE" in admin
    for name in ("ARRANGER_ROLE", "SERVICER_ROLE", "TRUSTEE_ROLE", "ORIGINATOR_ROLE", "CONTROLLER_ROLE", "PAUSER_ROLE",
                 "DOCUMENT_ROLE", "LISTER_ROLE", "ALLOCATOR_ROLE", "DEBTOR_REGISTRAR_ROLE", "REGISTRY_ROLE"):
        assert monitor.ROLE_NAMES["0x" + keccak(text=name).hex()] == name
    doc = monitor.event_line(event("TrancheToken", "DocumentUpdated", name=b"prospectus".ljust(32, b"\0"),
                                   uri="https://x.example/p.pdf", documentHash=bytes.fromhex("52e5" + "ab" * 30)),
                             "privileged", CNHT)
    assert "name='prospectus'" in doc and "documentHash=0x52e5ab…abab" in doc
    assert "b'" not in line + admin + doc and "\\x" not in line + admin + doc


def test_long_arrays_are_summarised_and_amounts_in_currency_units():
    registered = event("AssetRegistry", "AssetsRegistered", poolId=1, firstIndex=0, principal=2_465_331_840_000,
                       leafChain=b"\x11" * 32, leaves=[b"\x22" * 32] * 400, assetIds=list(range(10**30, 10**30 + 400)))
    line = monitor.event_line(registered, "privileged", CNHT)
    assert "leaves=400 leaves" in line and "assetIds=400 assetIds" in line
    assert "principal=CNHT 2,465,331.84" in line and "leafChain=0x111111…111111" in line
    assert "\n" not in line and len(line) < 250
    closed = monitor.event_line(event("SPV", "DealClosed", poolId=1, closer=ADMIN, purchasePrice=3_352_994_840_000,
                                      reserveFunded=33_529_950_000), "privileged", CNHT)
    assert "purchasePrice=CNHT 3,352,994.84" in closed and "reserveFunded=CNHT 33,529.95" in closed
    issued = monitor.event_line(event("TrancheToken", "Issued", operator=ADMIN, to=ADMIN, value=894_131_960_000,
                                      data=b""), "privileged", CNHT)
    assert "value=894,131.96 units" in issued and "data=0x " in issued
    status = monitor.event_line(event("AssetRegistry", "AssetStatusChanged", assetId=7, poolId=1, **{"from": 1, "to": 2},
                                      principal=1_417_720_000, evidence=b"\x33" * 32), "alert", CNHT)
    assert "from=Performing to=Delinquent30 principal=CNHT 1,417.72" in status
    alert = monitor.event_line(event("SPV", "DelinquencyAlert", period=3, delinquent60PlusBps=265, alertBps=150),
                               "alert", CNHT)
    assert alert == "alert      block 8 SPV.DelinquencyAlert period=3 delinquent60PlusBps=2.65% alertBps=1.50% tx 0x52aef1…49cb9e"
    report = monitor.event_line(event("SPV", "ReportSubmitted", period=1, servicer=ADMIN, collections=261_042_155_582,
                                      commitment={"root": b"\x44" * 32, "sums": {"ending": 3_135_737_712_704, "count": 742}},
                                      tapeUri="servicing/period-001.csv", report={"poolEndingBalance": 3_135_737_712_704}),
                                "privileged", CNHT)
    assert "ending=CNHT 3,135,737.71, count=742" in report and "poolEndingBalance=CNHT 3,135,737.71" in report


def test_rule_alert_lines_name_roles():
    alert = Alert("role_change", 9, f"log:{TX}:0", "AssetRegistry.RoleGranted",
                  {"contract": "AssetRegistry", "event": "RoleGranted", "role": "0x" + keccak(text="ORIGINATOR_ROLE").hex(),
                   "account": ADMIN, "sender": ADMIN}, TX)
    assert monitor.alert_line(alert) == (f"rule role_change (medium) block 9: AssetRegistry.RoleGranted "
                                         f"role=ORIGINATOR_ROLE account={ADMIN} sender={ADMIN}")


def test_lines_print_whatever_bytes_they_hold():
    """Bytes that read as console markup (``[/...]``) once made every print fail, and the monitor retry the
    same blocks forever."""
    out = io.StringIO()
    console = Console(file=out, width=80)
    tricky = event("TrancheToken", "DocumentUpdated", name=b"[/bold]".ljust(32, b"\0"), uri="[/x] [red]",
                   documentHash=b"[/Nl" + b"\0" * 28)
    monitor.print_event(console, tricky, "privileged", CNHT)
    monitor.print_alert(console, Alert("pause", 8, "log:x:0", "TrancheToken.TransfersPaused", {"by": "[/x]"}, TX))
    text = out.getvalue()
    assert "name='[/bold]'" in text and "uri='[/x] [red]'" in text and "by=[/x]" in text
    assert len(text.splitlines()) == 2  # one line each, however long


def test_jsonl_records_are_complete_and_json_safe():
    registered = event("AssetRegistry", "AssetsRegistered", poolId=1, principal=10**12, leafChain=b"\x11" * 32,
                       leaves=[b"\x22" * 32] * 400,
                       criteria={"root": b"\x55" * 32, "maxPrincipalPerAsset": 2 * 10**11})
    record = monitor.event_record(registered, "privileged", ["flag"])
    back = json.loads(json.dumps(record))
    assert back == record
    assert back["args"]["leaves"] == ["0x" + "22" * 32] * 400
    assert back["args"]["leafChain"] == "0x" + "11" * 32 and back["args"]["criteria"]["root"] == "0x" + "55" * 32
    assert back["args"]["principal"] == 10**12 and back["flags"] == ["flag"] and back["kind"] == "privileged"
    assert "b'" not in json.dumps(record)
