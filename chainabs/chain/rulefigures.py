"""The regulator rules' figures read from chain data, block by block, and evaluated by :mod:`chainabs.model.rules`.

:class:`DealRules` follows one deal (given its SPV address and an RPC endpoint, like the reports): the deal's
events (:func:`chainabs.chain.read.deal.read_deal`, refreshed as blocks come) give the registry's state of every
asset, token holdings, reports and role / pause / controller events at any block, replayed from the logs (no
archive node needed); each block's transactions give the reports the SPV refused (a reverted ``submitReport``
emits no event: its receipt has status 0, and the call replayed on the state before its block names the error).

:meth:`DealRules.evaluate` returns the alerts of a block range. It is a pure function of chain data: evaluated
again, the same blocks give the same alerts with the same ids (what lets the monitor restart without loss or
repetition). Figures change only in blocks with an event of the deal (a status update, a transfer, a report)
or with a refused report, so those are the blocks where the state rules are evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from web3 import Web3

from chainabs.chain.abis import error_table, load_abi
from chainabs.chain.alerts import rule_alert
from chainabs.chain.events import DecodedEvent
from chainabs.chain.green import read_green
from chainabs.chain.read import pool as poolread
from chainabs.chain.read.deal import DealReader, read_deal, report_fields, struct_field
from chainabs.chain.sender import revert_data
from chainabs.chain.spv import REPORT_FIGURES
from chainabs.model import rules
from chainabs.model.assets import ACTIVE_STATUSES
from chainabs.model.waterfall import TriggerKind

#: Events after which the pool's registry state may have moved.
REGISTRY_MOVES = frozenset({"AssetStatusChanged", "AssetRepurchased"})
#: Events that end a pending report.
REPORT_ENDS = frozenset({"PeriodClosed", "ReportCancelled", "DealEnded", "CleanUpCallExercised"})
#: Blocks fetched per JSON-RPC batch when scanning for refused reports.
BLOCK_BATCH = 50


def _before(block: int) -> tuple[int, str, int]:
    """An event key just before every event of ``block``."""
    return (block, "", 0)


def _after(block: int) -> tuple[int, str, int]:
    """An event key just after every event of ``block``."""
    return (block + 1, "", 0)


class DealRules:
    """The rules of one deal, evaluated on chain data (see the module docstring)."""

    def __init__(self, rpc: str | Web3, spv: str, config: rules.MonitorRules | None = None,
                 reader: DealReader | None = None, green: str | None = None) -> None:
        self.config = config or rules.MonitorRules()
        self.d = reader or read_deal(rpc, spv)
        d = self.d
        crit = poolread.registry_contract(d).functions.poolCriteria(d.pool_id).call()
        c = self.config
        self.limits: dict[str, int | None] = {
            "region": c.region_limit_bps if c.region_limit_bps is not None else int(crit[8]),
            "industry": c.industry_limit_bps if c.industry_limit_bps is not None else int(crit[9]),
            "obligor": c.obligor_limit_bps if c.obligor_limit_bps is not None else int(crit[10]),
        }
        self.related = [Web3.to_checksum_address(d.originator),
                        *(Web3.to_checksum_address(a) for a in c.related_parties)]
        self.large = c.base_units(c.large_transfer, d.decimals)
        self.tolerance = c.base_units(c.related_party_tolerance, d.decimals)
        self.triggers = [rules.TriggerTest(j, TriggerKind(int(struct_field(t, "kind", 0))),
                                           int(struct_field(t, "thresholdBps", 1)))
                         for j, t in enumerate(d.params[9])]
        self.original = int(d.params[1])
        self.senior = d.tokens[0]
        self._spv_abi = d.w3.eth.contract(abi=load_abi("SPV"))
        self._tape = poolread.pool_tape(d) if d.of("PoolSealed", contract=d.registry) else None
        #: a green deal's use-of-proceeds ledger (``green_allocation_overdue``), its first block and the first
        #: block past its allocation deadline once seen
        self.green = green
        self._green_start: int | None = None
        self._green_due: int | None = None

    # ------------------------------------------------------------------------------------------ chain data
    def sync(self, end: int) -> None:
        """Read the deal's events up to block ``end``."""
        if end > self.d.last_block:
            new = self.d.refresh(end)
            if self._tape is not None and not any(e.event == "AssetsRegistered" for e in new):
                self.d.cache["pool_tape"] = self._tape  # a sealed pool's cut-off tape never changes
            elif self.d.of("PoolSealed", contract=self.d.registry):
                self._tape = poolread.pool_tape(self.d)

    def _state(self, key: tuple[int, str, int]) -> pd.DataFrame:
        return poolread.registry_states(self.d, before=key)

    def exposures(self, key: tuple[int, str, int]) -> rules.Exposures:
        """Live principal (performing and delinquent loans) by region, industry and obligor just before ``key``."""
        state = self._state(key)
        live = state[state["status"].isin(ACTIVE_STATUSES)]
        by_kind = {kind: {k: int(v) for k, v in live.groupby(kind)["principal"].sum().items()}
                   for kind in ("region", "industry", "obligor")}
        return rules.Exposures(by_kind, int(live["principal"].sum()))

    def buckets(self, key: tuple[int, str, int]) -> dict[str, int]:
        """The registry's delinquent principal per bucket just before ``key``."""
        state = self._state(key)
        return {name: int(state.loc[state["status"] == status, "principal"].sum())
                for name, status in zip(rules.BUCKETS, ("Delinquent30", "Delinquent60", "Delinquent90"), strict=True)}

    def holdings(self, key: tuple[int, str, int]) -> dict[str, int]:
        """Senior units of the originator and its related parties just before ``key`` (token transfers replayed)."""
        held = dict.fromkeys(self.related, 0)
        for e in self.d.of("Transfer", contract=self.senior):
            if e.key >= key:
                break
            src, dst = Web3.to_checksum_address(e.args["from"]), Web3.to_checksum_address(e.args["to"])
            if src in held:
                held[src] -= int(e.args["value"])
            if dst in held:
                held[dst] += int(e.args["value"])
        return held

    def retained(self, key: tuple[int, str, int]) -> int:
        """Senior units subscribed as the retained slice (lock-up partition) just before ``key``."""
        return sum(int(e.args["amount"]) for e in self.d.of("Subscribed", contract=self.d.spv_address)
                   if e.key < key and int(e.args["classIndex"]) == 0 and e.args["retained"])

    def reports(self, key: tuple[int, str, int]) -> list[rules.PeriodFigures]:
        """The latest report of each period submitted before ``key``, in period order."""
        latest: dict[int, rules.PeriodFigures] = {}
        for e in self.d.of("ReportSubmitted", contract=self.d.spv_address):
            if e.key >= key:
                break
            r = report_fields(e.args["report"])
            p = int(e.args["period"])
            latest[p] = rules.PeriodFigures(p, r["pool_ending_balance"], r["delinquent_30"], r["delinquent_60"],
                                            r["delinquent_90_plus"], r["scheduled_principal"], r["prepayments"],
                                            r["defaults"], r["recoveries"])
        return [latest[p] for p in sorted(latest)]

    def pending(self, key: tuple[int, str, int]) -> tuple[int, dict[str, int]] | None:
        """(period, report figures) of the report pending just before ``key``, if any."""
        pending = None
        for e in self.d.of("ReportSubmitted", *REPORT_ENDS, contract=self.d.spv_address):
            if e.key >= key:
                break
            pending = (int(e.args["period"]), report_fields(e.args["report"])) if e.event == "ReportSubmitted" else None
        return pending

    def refused_reports(self, start: int, end: int) -> list[tuple[int, str, str, str, tuple[Any, ...]]]:
        """(block, tx, sender, error name, error args) of every ``submitReport`` to the SPV that reverted in blocks
        ``start..end``: from the blocks' transactions and their receipts, the error from the call replayed on the
        state before its block."""
        w3, spv = self.d.w3, self.d.spv_address
        out = []
        for a in range(start, end + 1, BLOCK_BATCH):
            numbers = list(range(a, min(a + BLOCK_BATCH - 1, end) + 1))
            with w3.batch_requests() as batch:
                for n in numbers:
                    batch.add(w3.eth.get_block(n, full_transactions=True))
                blocks = batch.execute()
            for block in blocks:
                for tx in block["transactions"]:
                    if tx.get("to") is None or Web3.to_checksum_address(tx["to"]) != spv:
                        continue
                    try:
                        fn, _ = self._spv_abi.decode_function_input(tx["input"])
                    except Exception:  # noqa: BLE001 - not a call of the SPV's ABI (web3 raises several kinds)
                        continue
                    if fn.fn_name != "submitReport":
                        continue
                    if int(w3.eth.get_transaction_receipt(tx["hash"])["status"]) == 1:
                        continue
                    name, args = self._replay(tx, int(block["number"]))
                    out.append((int(block["number"]), "0x" + bytes(tx["hash"]).hex().removeprefix("0x"),
                                Web3.to_checksum_address(tx["from"]), name, args))
        return out

    def _replay(self, tx: Mapping[str, Any], block: int) -> tuple[str, tuple[Any, ...]]:
        call = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx.get("value", 0),
                "gas": tx["gas"]}
        try:
            self.d.w3.eth.call(call, block_identifier=max(block - 1, 0))
        except Exception as exc:  # noqa: BLE001 - nodes report reverts in many shapes
            data = revert_data(exc)
            if data:
                err = error_table().decode(data)
                if err.name:
                    return err.name, err.args
            return "reverted", ()
        return "reverted (the replay passed: a state change earlier in the block)", ()

    # -------------------------------------------------------------------------------------------- rules
    def evaluate(self, start: int, end: int) -> list[rules.Alert]:
        """Every rule's alerts in blocks ``start..end``, in block order (see :mod:`chainabs.model.rules`)."""
        self.sync(end)
        d, c = self.d, self.config
        by_block: dict[int, list[DecodedEvent]] = {}
        for e in d.events:
            if start <= e.block_number <= end and e.address != d.currency:
                by_block.setdefault(e.block_number, []).append(e)
        refused: dict[int, list[tuple[Any, ...]]] = {}
        if c.enabled("report_refused") or c.enabled("registry_report_mismatch"):
            # no report before the deal's contracts exist (d.start_block: the first of the SPV and its tokens)
            for item in self.refused_reports(max(start, d.start_block), end):
                refused.setdefault(item[0], []).append(item)
        alerts: list[rules.Alert] = []
        for block in sorted(set(by_block) | set(refused)):
            alerts += self._block(block, by_block.get(block, []), refused.get(block, []))
        if self.green and c.enabled("green_allocation_overdue"):
            view = read_green(d.w3, self.green, start_block=self._green_start)
            self._green_start = view.start_block
            if self._green_due is None:
                self._green_due = view.first_block_after(view.deadline)
            alerts += view.alerts(start, end, d.decimals, due=self._green_due) if self._green_due is not None else []
        return [a for a in alerts if c.enabled(a.rule)]

    def _block(self, block: int, events: Sequence[DecodedEvent], refused: Sequence[tuple[Any, ...]]) -> list[rules.Alert]:
        d, c = self.d, self.config
        out: list[rules.Alert] = []
        names = {e.event for e in events}
        for e in events:
            alert = rule_alert(e, d.decimals, large_transfer=self.large, tranche=e.address in d.tokens)
            if alert is not None:
                out.append(alert)
        for _, tx, sender, name, args in refused:
            period = self._periods_closed(block) + 1
            figure = reported = on_chain = None
            shown = [_shown(a) for a in args]
            if name == "ReportDisagrees" and len(args) == 3:
                k = int(args[0])
                figure = REPORT_FIGURES[k] if k < len(REPORT_FIGURES) else str(k)
                reported, on_chain = int(args[1]), int(args[2])
                shown[0] = figure
            error = f"{name}({', '.join(shown)})" if args else name
            out.append(rules.refused_report(block, tx, sender, period, error, d.decimals, figure=figure,
                                            reported=reported, on_chain=on_chain))
        registry_moved = bool(names & REGISTRY_MOVES)
        if registry_moved and self._tape is not None:
            out += rules.concentration_drift(block, self.exposures(_after(block)), self.exposures(_before(block)),
                                             self.limits, d.decimals)
        if registry_moved or names & {"ReportSubmitted"}:
            pending = self.pending(_after(block))
            if pending is not None:
                now = rules.pending_mismatch(block, pending[0], pending[1], self.buckets(_after(block)), d.decimals)
                old = self.pending(_before(block))
                was = set()
                if old is not None and old[0] == pending[0]:
                    was = {a.subject for a in rules.pending_mismatch(block, old[0], old[1], self.buckets(_before(block)),
                                                                     d.decimals)}
                out += [a for a in now if a.subject not in was]
        if any(e.event == "Transfer" and e.address == self.senior and
               {Web3.to_checksum_address(e.args["from"]), Web3.to_checksum_address(e.args["to"])} & set(self.related)
               for e in events):
            out += rules.related_party_holding(block, d.token_symbols[0], self.holdings(_after(block)),
                                               self.holdings(_before(block)), self.retained(_after(block)),
                                               self.tolerance, d.decimals, retained_before=self.retained(_before(block)))
        if "ReportSubmitted" in names:
            history = self.reports(_after(block))
            if len(history) >= 2 and history[-1].period == history[-2].period + 1:
                out += rules.deterioration(block, history[-2], history[-1], c.deterioration_bps)
            out += rules.early_warning(block, history, self.triggers, self.original, c.early_warning_periods,
                                       c.early_warning_min_reports)
        return out

    def _periods_closed(self, block: int) -> int:
        return sum(1 for e in self.d.of("PeriodClosed", contract=self.d.spv_address) if e.block_number < block)


def _shown(value: Any) -> str:
    """An error argument for people (bytes as 0x-hex)."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)
