"""Green deals on chain: the use-of-proceeds ledger (``contracts/green/GreenLedger.sol``) — its deployment step,
the allocating party's calls, and its tables and regulator alert rebuilt from the ledger's events alone (an RPC
URL and the ledger's address: no brownie, no compiled checkout).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from eth_utils import keccak
from web3 import Web3

from chainabs.chain.abis import load_abi
from chainabs.chain.deploy import DeployStep, Ref
from chainabs.chain.events import DecodedEvent, EventDecoder, read_events
from chainabs.chain.read.deal import deployment_block, web3_for
from chainabs.chain.sender import Receipt, transact
from chainabs.model import green, rules
from chainabs.model.spec import DealSpec
from chainabs.model.terms import DealTimes

#: The ledger's shipped ABI name.
LEDGER_ABI = "GreenLedger"


def evidence_hash(text: str) -> bytes:
    """The hash recorded on chain for an evidence reference (a URI or a document's text)."""
    return keccak(text=text)


def project_id(name: str) -> bytes:
    """A project's id on chain: keccak256 of its name."""
    return keccak(text=name)


def ledger_step(spec: DealSpec, roles: Mapping[str, str], times: DealTimes) -> DeployStep:
    """The deployment step of a green deal's ledger (after the SPV's): admin the arranger, the spec's allocating
    role as ALLOCATOR_ROLE, the eligible categories and the allocation deadline shifted like the deal's dates."""
    g = spec.green
    if g is None:
        raise ValueError(f"deal {spec.name} has no green section")
    deadline = green.deadline_time(g.allocation_deadline, spec.dates.closing, times.closing)
    return DeployStep("green", LEDGER_ABI, (roles["arranger"], roles[g.allocator], Ref("spv"), g.eligible_mask,
                                            deadline))


# ------------------------------------------------------------------------------------------------- calls


def record_net_proceeds(ledger: Any, sender: Any) -> int:
    """Read the net proceeds from the SPV (anyone, once it has closed); returns them."""
    return int(transact(ledger.recordNetProceeds, sender=sender).event("NetProceedsRecorded")["netProceeds"])


def register_project(ledger: Any, name: str, category: str, planned: int, evidence: str, allocator: Any) -> Receipt:
    """Register project ``name`` (its id: :func:`project_id`) of a Green Bond Principles ``category``."""
    if category not in green.CATEGORIES:
        raise ValueError(f"unknown green category {category!r} (one of {', '.join(green.CATEGORIES)})")
    return transact(ledger.registerProject, project_id(name), name, green.CATEGORIES[category], planned,
                    evidence_hash(evidence), sender=allocator)


def allocate(ledger: Any, name: str, amount: int, evidence: str, allocator: Any) -> Receipt:
    """Allocate ``amount`` (base units) of the net proceeds to project ``name`` with its evidence."""
    return transact(ledger.allocate, project_id(name), amount, evidence_hash(evidence), sender=allocator)


def report_impact(ledger: Any, name: str, period: int, metric: str, value_milli: int, evidence: str,
                  reporter: Any) -> Receipt:
    """Report an impact figure (``value_milli``: thousandths of the metric's unit) of project ``name``."""
    if metric not in green.METRICS:
        raise ValueError(f"unknown impact metric {metric!r} (one of {', '.join(green.METRICS)})")
    return transact(ledger.reportImpact, project_id(name), period, green.METRICS[metric], value_milli,
                    evidence_hash(evidence), sender=reporter)


# ------------------------------------------------------------------------------------------------- read side


@dataclass
class GreenView:
    """A green ledger read from chain data: its terms, current totals and every event."""

    w3: Web3
    address: str
    spv: str
    eligible_mask: int
    deadline: int
    net_proceeds: int | None
    allocated: int
    events: list[DecodedEvent]
    #: the ledger's deployment block (where its events start)
    start_block: int = 0

    @property
    def unallocated(self) -> int | None:
        return None if self.net_proceeds is None else self.net_proceeds - self.allocated

    def of(self, name: str) -> list[DecodedEvent]:
        return [e for e in self.events if e.event == name]

    def allocations(self) -> pd.DataFrame:
        """Projects with their allocations (:func:`chainabs.model.green.allocation_table`), amounts in base units."""
        return green.allocation_table(
            [{**e.args, "projectId": _hex(e.args["projectId"]), "evidenceHash": _hex(e.args["evidenceHash"])}
             for e in self.of("ProjectRegistered")],
            [{**e.args, "projectId": _hex(e.args["projectId"]), "evidenceHash": _hex(e.args["evidenceHash"])}
             for e in self.of("ProceedsAllocated")],
            self.net_proceeds or 0)

    def impact(self) -> pd.DataFrame:
        """Impact figures per project, period and metric (:func:`chainabs.model.green.impact_table`)."""
        return green.impact_table(
            [{**e.args, "projectId": _hex(e.args["projectId"]), "evidenceHash": _hex(e.args["evidenceHash"])}
             for e in self.of("ImpactReported")])

    def unallocated_at(self, block: int) -> int | None:
        """Unallocated proceeds after block ``block`` (None: not recorded yet), replayed from the events."""
        net = next((int(e.args["netProceeds"]) for e in self.of("NetProceedsRecorded") if e.block_number <= block),
                   None)
        if net is None:
            return None
        return net - sum(int(e.args["amount"]) for e in self.of("ProceedsAllocated") if e.block_number <= block)

    def first_block_after(self, when: int) -> int | None:
        """The first block whose timestamp is after ``when`` (None if none yet)."""
        hi = self.w3.eth.block_number
        if int(self.w3.eth.get_block(hi)["timestamp"]) <= when:
            return None
        lo = 0
        while lo < hi:
            mid = (lo + hi) // 2
            if int(self.w3.eth.get_block(mid)["timestamp"]) > when:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def alerts(self, start: int, end: int, decimals: int, *, due: int | None = None) -> list[rules.Alert]:
        """The ``green_allocation_overdue`` alert if the first block past the deadline (``due`` if known, else
        :meth:`first_block_after`) is in ``start..end``."""
        block = due if due is not None else self.first_block_after(self.deadline)
        if block is None or not start <= block <= end:
            return []
        alert = rules.green_allocation_overdue(block, self.address, self.unallocated_at(block), self.deadline,
                                               decimals)
        return [alert] if alert is not None else []


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex() if isinstance(value, (bytes, bytearray)) else str(value)


def read_green(rpc: str | Web3, ledger: str, *, start_block: int | None = None) -> GreenView:
    """A green ledger's terms, totals and events from an RPC endpoint and its address."""
    w3 = web3_for(rpc)
    address = Web3.to_checksum_address(ledger)
    abi = load_abi(LEDGER_ABI)
    c = w3.eth.contract(address=address, abi=abi).functions
    start = deployment_block(w3, address) if start_block is None else start_block
    events = read_events(w3, EventDecoder(w3, {address: (LEDGER_ABI, abi)}), start)
    recorded = [e for e in events if e.event == "NetProceedsRecorded"]
    return GreenView(w3, address, Web3.to_checksum_address(c.spv().call()), int(c.eligibleCategories().call()),
                     int(c.allocationDeadline().call()),
                     int(recorded[0].args["netProceeds"]) if recorded else None, int(c.allocated().call()), events,
                     start)
