"""Regulator monitor: follow new blocks, report every alert and privileged action exactly once.

The monitor reads logs of a deal's contracts over JSON-RPC, prints each alert / privileged event and
appends it to a JSON-lines file. It checkpoints the last fully processed block after every range, and on
restart (or after a dropped RPC connection) resumes from the checkpoint; lines written after the last
checkpoint by a run that died are recognised by their (block, tx, log index) key and not written again.
So no alert is lost and none is repeated.

Following a deal (an SPV address), the monitor also evaluates the regulator rules
(:mod:`chainabs.model.rules`, figures read by :class:`chainabs.chain.rulefigures.DealRules`) on every new block
and appends each rule alert to ``<state_dir>/alerts.jsonl`` with its stable id (rule id, block, subject): rule
alerts are written before the checkpoint of their block range, and those a dead run wrote after the checkpoint
are recognised by their id, so they too are written exactly once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from web3 import Web3


from chainabs.apps.display import Money, short_hex
from chainabs.chain.abis import load_abi, role_names
from chainabs.chain.alerts import default_classifier, pool_classifier
from chainabs.chain.events import DEFAULT_CHUNK, DecodedEvent, EventDecoder, get_logs
from chainabs.chain.read.deal import SPV_ABI, deal_contracts, deployment_block, web3_for
from chainabs.chain.rulefigures import DealRules
from chainabs.model import numbers
from chainabs.model.assets import STATUSES
from chainabs.model.rules import Alert, MonitorRules

class Monitor:
    """Follows a set of contracts and writes alerts / privileged actions to ``<state_dir>/events.jsonl``."""

    def __init__(
        self,
        w3: Web3,
        decoder: EventDecoder,
        state_dir: Path,
        *,
        start_block: int = 0,
        confirmations: int = 0,
        chunk: int = DEFAULT_CHUNK,
        classifier: Callable[[DecodedEvent], str | None] = default_classifier,
        on_event: Callable[[DecodedEvent, str], None] | None = None,
        surveil: Callable[[DecodedEvent], list[str]] | None = None,
        rules: DealRules | None = None,
        on_alert: Callable[[Alert], None] | None = None,
        identity: dict[str, Any] | None = None,
    ) -> None:
        #: What this state folder follows (chain id, SPV, contracts), recorded in the checkpoint: a checkpoint
        #: of another chain or deal is refused instead of resumed (None: not recorded, not checked).
        self.identity = identity
        self.w3 = w3
        self.decoder = decoder
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_path = self.state_dir / "checkpoint.json"
        self.out_path = self.state_dir / "events.jsonl"
        self.confirmations = confirmations
        self.chunk = chunk
        self.classifier = classifier
        self.on_event = on_event
        #: Extra checks of every event in chain order (the market's trade surveillance): flags make it an alert.
        self.surveil = surveil
        self.rules = rules
        self.on_alert = on_alert
        self.alerts_path = self.state_dir / "alerts.jsonl"
        self.last_block = self._load_checkpoint(start_block - 1)
        self._written_after_checkpoint = self._keys_after(self.last_block)
        self._alerts_after_checkpoint = self._alert_ids_after(self.last_block)

    # ------------------------------------------------------------------------------------ state files
    def _load_checkpoint(self, default: int) -> int:
        if not self.checkpoint_path.exists():
            return default
        data = json.loads(self.checkpoint_path.read_text())
        if self.identity is not None:
            recorded = data.get("follows")
            if recorded != self.identity:
                raise MonitorStateError(
                    f"{self.checkpoint_path} is the checkpoint of {describe(recorded)}, not of "
                    f"{describe(self.identity)}: give this deal its own --state folder (default "
                    "reports/monitor/<chainid>/<spv>) or move the old one aside"
                )
        return int(data["last_block"])

    def _save_checkpoint(self, block: int) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=".checkpoint-")
        record: dict[str, Any] = {"last_block": block}
        if self.identity is not None:
            record["follows"] = self.identity
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh)
        os.replace(tmp, self.checkpoint_path)
        self.last_block = block

    def _keys_after(self, block: int) -> set[tuple[int, str, int]]:
        """Keys of lines already written for blocks after the checkpoint (by a run that died)."""
        keys: set[tuple[int, str, int]] = set()
        if not self.out_path.exists():
            return keys
        with self.out_path.open() as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a kill mid-write: its event is written again in full
                if rec["block"] > block:
                    keys.add((rec["block"], rec["tx"], rec["log_index"]))
        return keys

    def _alert_ids_after(self, block: int) -> dict[str, int]:
        """Ids (and blocks) of rule alerts already written for blocks after the checkpoint (by a run that died)."""
        return {r["id"]: int(r["block"]) for r in (read_jsonl(self.alerts_path) if self.alerts_path.exists() else [])
                if int(r["block"]) > block}

    # ------------------------------------------------------------------------------------- following
    def poll_once(self) -> list[DecodedEvent]:
        """Process every block from the checkpoint up to the head (minus confirmations) once."""
        head = self.w3.eth.block_number - self.confirmations
        if head <= self.last_block:
            return []
        emitted: list[DecodedEvent] = []
        for a, b, logs in get_logs(self.w3, self.decoder.addresses, self.last_block + 1, head, chunk=self.chunk):
            lines = []
            for raw in logs:
                event = self.decoder.decode(raw)
                if event is None:
                    continue
                kind = self.classifier(event)
                flags = self.surveil(event) if self.surveil else []
                if flags:
                    kind = "alert"
                if kind is None or event.key in self._written_after_checkpoint:
                    continue
                lines.append(json.dumps(event_record(event, kind, flags), sort_keys=True))
                emitted.append(event)
                if self.on_event:
                    self.on_event(event, kind)
            # Rules read the chain: evaluated before anything of the range is written, so that a failure here
            # (retried from the checkpoint) leaves no line of the range behind.
            alerts = self._fresh_alerts(a, b) if self.rules is not None else []
            if lines:
                _append(self.out_path, lines)
            if alerts:
                _append(self.alerts_path, [json.dumps(x.to_json(), sort_keys=True) for x in alerts])
                for alert in alerts:
                    if self.on_alert:
                        self.on_alert(alert)
            self._save_checkpoint(b)
            self._written_after_checkpoint = {k for k in self._written_after_checkpoint if k[0] > b}
            self._alerts_after_checkpoint = {k: v for k, v in self._alerts_after_checkpoint.items() if v > b}
        return emitted

    def _fresh_alerts(self, start: int, end: int) -> list[Alert]:
        """The rule alerts of blocks ``start..end`` not written yet (by a run that died after writing them)."""
        assert self.rules is not None
        return [a for a in self.rules.evaluate(start, end) if a.id not in self._alerts_after_checkpoint]

    def run(self, *, interval: float = 2.0, max_polls: int | None = None, max_errors: int = 1000) -> None:
        """Poll forever (or ``max_polls`` times); RPC errors are retried with backoff, progress is kept."""
        polls = errors = 0
        while max_polls is None or polls < max_polls:
            try:
                self.poll_once()
                errors = 0
            except Exception as err:  # noqa: BLE001 - a dropped connection: wait and resume from the checkpoint
                errors += 1
                print(f"monitor: {err!r} (attempt {errors}); resuming from block {self.last_block + 1}",
                      file=sys.stderr, flush=True)
                if errors >= max_errors:
                    raise
                time.sleep(min(30.0, interval * 2**min(errors, 5)))
                continue
            polls += 1
            if max_polls is None or polls < max_polls:
                time.sleep(interval)


def _append(path: Path, lines: Sequence[str]) -> None:
    """Append lines to a JSON-lines file, synced to disk before the checkpoint moves past them."""
    with path.open("a") as fh:
        fh.write("\n".join(lines) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _plain(value: Any) -> Any:
    """Decoded arguments as plain dicts and lists (web3 decodes structs as AttributeDicts)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------ terminal lines
#: Access-control roles by the hash the contracts key them by (0x hex) -> name (one map for the project).
ROLE_NAMES = role_names()
#: Event arguments holding access-control roles.
ROLE_ARGS = frozenset({"role", "previousAdminRole", "newAdminRole"})
#: Event arguments in the deal currency's base units (shown in currency units with the symbol).
CURRENCY_ARGS = frozenset({
    "amount", "principal", "interest", "price", "purchasePrice", "reserveFunded", "releasedToEquity",
    "finalWriteDown", "collections", "cleanUpPrice", "shortfall", "reserveBalance", "paid", "lost", "livePrincipal",
    "defaultedPrincipal", "loss", "cash", "unspent", "netProceeds", "planned", "unallocated", "interestCredit",
    "principalCredit", "currentPrincipal", "maxPrincipalPerAsset", "recovered", "subscriptions", "appraisedValue",
    # a period report (ReportSubmitted: its commitment's sums and its figures)
    "ending", "scheduled", "prepaid", "defaulted", "recoveries", "interestCollections", "scheduledPrincipal",
    "prepayments", "defaults", "delinquent30", "delinquent60", "delinquent90Plus", "poolEndingBalance",
})
#: Event arguments in tranche units (a tranche token has the currency's decimals: shown in units, no symbol).
UNIT_ARGS = frozenset({"units", "minimumHolding"})
#: Event arguments holding unix seconds (shown as dates).
DATE_ARGS = frozenset({"cutoffDate", "legalFinalDate", "dueDate", "date", "expiry", "lockupEnd", "appraisalDate"})
#: bytes32 arguments holding short text (a document's name, a partition).
TEXT32_ARGS = frozenset({"name", "partition"})
#: Arrays longer than this are summarised by their length ("742 leaves").
SHOWN_ITEMS = 4


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex() if isinstance(value, (bytes, bytearray)) else str(value)


def _text32(value: bytes) -> str | None:
    raw = bytes(value).rstrip(b"\0")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text and text.isprintable() else None


def argument_text(name: str, value: Any, money: Money | None = None, *, contract: str = "", event: str = "") -> str:
    """One event argument as people read it: roles by name, hashes and bytes as shortened 0x hex, amounts in
    the deal currency's units (``money``; base units with separators when unknown), basis points as %, dates
    as dates, statuses by name, long arrays by their length, structs field by field."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={argument_text(str(k), v, money, contract=contract, event=event)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        if len(value) > SHOWN_ITEMS:
            return f"{len(value):,} {name}"
        return "[" + ", ".join(argument_text(name, v, money, contract=contract, event=event) for v in value) + "]"
    if isinstance(value, (bytes, bytearray)) or (isinstance(value, str) and value.startswith("0x") and name in ROLE_ARGS):
        text = _hex(value)
        if name in ROLE_ARGS and text.lower() in ROLE_NAMES:
            return ROLE_NAMES[text.lower()]
        if name in TEXT32_ARGS and isinstance(value, (bytes, bytearray)) and (words := _text32(value)):
            return repr(words)
        if len(value) == 0:
            return "0x"
        return short_hex(text) if len(text) > 2 + 2 * 8 else text
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return _int_text(name, value, money, contract, event)
    if isinstance(value, str):
        if value.startswith("0x"):  # addresses in full, longer hex shortened
            return short_hex(value) if len(value) > 42 else value
        return repr(value if len(value) <= 80 else value[:77] + "...")
    return str(value)


def _int_text(name: str, value: int, money: Money | None, contract: str, event: str) -> str:
    if event == "AssetStatusChanged" and name in ("from", "to") and 0 <= value < len(STATUSES):
        return STATUSES[value]
    if name in DATE_ARGS and value > 0:
        return numbers.format_date(value)
    if name.endswith("Bps") or name == "bps":
        return numbers.format_bps(value)
    token_value = name == "value" and contract == "TrancheToken"
    currency_value = name == "value" and event in ("Transfer", "CollateralReappraised") and contract != "TrancheToken"
    if name in UNIT_ARGS or token_value:
        return numbers.format_amount(value, money.decimals, "", 2) + " units" if money else f"{value:,} units"
    if name in CURRENCY_ARGS or currency_value:
        return money.amount(value) if money else f"{value:,}"
    if value >= 10**20:  # ids made of hashes (asset ids), not quantities
        return short_hex(hex(value))
    return f"{value:,}" if name not in ("poolId", "period", "classIndex", "feeIndex", "triggerIndex", "kind") else str(value)


def event_line(event: DecodedEvent, kind: str, money: Money | None = None) -> str:
    """One terminal line for an event the monitor reports (plain text: no console markup)."""
    args = " ".join(f"{k}={argument_text(k, v, money, contract=event.contract, event=event.event)}"
                    for k, v in event.args.items())
    return (f"{kind:10} block {event.block_number} {event.contract}.{event.event}"
            f"{' ' + args if args else ''} tx {short_hex(event.tx_hash)}")


def alert_line(alert: Alert) -> str:
    """One terminal line for a rule alert: rule, severity, block, message (figures already in currency units),
    and for the event rules the event's figures (roles by name, hashes shortened)."""
    shown = {k: v for k, v in alert.figures.items() if k not in ("contract", "event")}
    extra = ""
    if alert.message.count(".") == 1 and " " not in alert.message and shown:  # an event rule: Contract.Event
        extra = " " + " ".join(f"{k}={_figure_text(k, v)}" for k, v in shown.items())
    return f"rule {alert.rule} ({alert.severity}) block {alert.block}: {alert.message}{extra}"


def _figure_text(name: str, value: Any) -> str:
    if isinstance(value, str) and value.startswith("0x"):
        if name in ROLE_ARGS and value.lower() in ROLE_NAMES:
            return ROLE_NAMES[value.lower()]
        return short_hex(value) if len(value) > 42 else value
    return str(value)


def print_event(console: Any, event: DecodedEvent, kind: str, money: Money | None = None) -> None:
    """Print :func:`event_line` on a rich console, the kind coloured. The line is a ``Text``, never console
    markup: an argument holding ``[/...`` (bytes, strings from the chain) would be read as a markup tag."""
    from rich.text import Text

    line = Text(event_line(event, kind, money))
    line.stylize("bold red" if kind == "alert" else "yellow", 0, 10)
    console.print(line, soft_wrap=True)


def print_alert(console: Any, alert: Alert) -> None:
    """Print :func:`alert_line` on a rich console, the rule coloured by severity."""
    from rich.text import Text

    line = Text(alert_line(alert))
    style = {"critical": "bold red", "high": "red", "medium": "yellow"}.get(alert.severity, "cyan")
    line.stylize(style, 0, len(f"rule {alert.rule} ({alert.severity})"))
    console.print(line, soft_wrap=True)


def event_record(event: DecodedEvent, kind: str, flags: Sequence[str] = ()) -> dict[str, Any]:
    """The events.jsonl record of an event: complete and JSON-safe (bytes as 0x hex, structs as objects,
    amounts exact integers in base units)."""
    record = {"kind": kind, **dataclasses.replace(event, args=_plain(event.args)).to_json()}
    if flags:
        record["flags"] = list(flags)
    return record


def read_jsonl(path: Path) -> list[dict]:
    """The records of a monitor output file (complete lines only)."""
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def deal_watch(rpc_url: str, spv: str) -> tuple[dict[str, str], int, Callable[[DecodedEvent], str | None]]:
    """What to follow for the deal of SPV ``spv``, discovered from its views: address -> ABI name of the SPV,
    registry, tranche tokens and identity registry; the first block where one of them has code; and the
    classifier keeping only the deal's pool of the registry."""
    w3 = web3_for(rpc_url, timeout=10)
    watch = deal_contracts(w3, spv)
    terms = w3.eth.contract(address=Web3.to_checksum_address(spv), abi=load_abi(SPV_ABI)).functions.terms().call()
    start = min(deployment_block(w3, address) for address in watch)
    return watch, start, pool_classifier(terms[1], int(terms[2]))


class MonitorStateError(ValueError):
    """A state folder whose checkpoint belongs to another chain or deal."""


def describe(identity: dict[str, Any] | None) -> str:
    """A checkpoint's identity in words (``SPV 0x... on chain 31337``)."""
    if not identity:
        return "an unknown chain and deal (written before checkpoints recorded them)"
    what = f"SPV {identity['spv']}" if identity.get("spv") else f"{len(identity.get('contracts', []))} contract(s)"
    return f"{what} on chain {identity.get('chain_id')}"


def identity_of(chain_id: int, spv: str | None, watch: dict[str, str]) -> dict[str, Any]:
    """What a monitor follows: chain id, SPV (checksummed, or None) and every contract followed (sorted)."""
    return {"chain_id": int(chain_id), "spv": Web3.to_checksum_address(spv) if spv else None,
            "contracts": sorted(Web3.to_checksum_address(a) for a in watch)}


def default_state_dir(chain_id: int, spv: str | None, watch: dict[str, str], root: Path = Path("reports/monitor")) -> Path:
    """Where a monitor keeps its state unless told: ``reports/monitor/<chainid>/<spv>`` (a deal), else a folder
    named after the contracts followed, so that two deals or chains never share a checkpoint."""
    if spv:
        return root / str(int(chain_id)) / Web3.to_checksum_address(spv)
    digest = hashlib.sha256(",".join(identity_of(chain_id, None, watch)["contracts"]).encode()).hexdigest()[:12]
    return root / str(int(chain_id)) / f"contracts-{digest}"


def follow(rpc_url: str, watch: dict[str, str], state_dir: Path | None, *, start_block: int = 0, interval: float = 1.0,
           max_polls: int | None = None, quiet: bool = False,
           classifier: Callable[[DecodedEvent], str | None] | None = None, market: str | None = None,
           market_config: Path | None = None, spv: str | None = None, rules: MonitorRules | None = None,
           green: str | None = None) -> Monitor:
    """Build a monitor for ``watch`` (address -> contract name, ABIs shipped in the package) and run it;
    ``market``: also follow that venue with the trade surveillance (settings from ``market_config``, default
    ``config/market.yaml``); with ``spv``, the deal's regulator rules (``rules``: thresholds, default
    :class:`MonitorRules`) too; ``green``: a green deal's use-of-proceeds ledger, followed with its rule."""
    from rich.console import Console

    console = Console()
    w3 = web3_for(rpc_url, timeout=10)
    decoder = EventDecoder(w3, {addr: (name, load_abi(name)) for addr, name in watch.items()})

    money: Money | None = None

    def show(event: DecodedEvent, kind: str) -> None:
        if not quiet:
            print_event(console, event, kind, money)

    def shout(alert: Alert) -> None:
        if not quiet:
            print_alert(console, alert)

    surveillance = None
    if market:
        from chainabs.apps.market import surveillance_for

        watch = {**watch, Web3.to_checksum_address(market): "TrancheMarket"}
        decoder = EventDecoder(w3, {addr: (name, load_abi(name)) for addr, name in watch.items()})
        surveillance = surveillance_for(w3, market, market_config)
    if green:
        watch = {**watch, Web3.to_checksum_address(green): "GreenLedger"}
        decoder = EventDecoder(w3, {addr: (name, load_abi(name)) for addr, name in watch.items()})
    deal_rules = DealRules(w3, spv, rules, green=green) if spv else None
    if deal_rules is not None:
        money = Money(int(deal_rules.d.decimals), str(deal_rules.d.currency_symbol))
    chain_id = int(w3.eth.chain_id)
    if state_dir is None:
        state_dir = default_state_dir(chain_id, spv, watch)
        if not quiet:
            console.print(f"state folder {state_dir}")
    monitor = Monitor(w3, decoder, state_dir, start_block=start_block, on_event=show,
                      classifier=classifier or default_classifier,
                      surveil=surveillance.flags if surveillance else None, rules=deal_rules, on_alert=shout,
                      identity=identity_of(chain_id, spv, watch))
    if surveillance:
        surveillance.prime(monitor.last_block)
    monitor.run(interval=interval, max_polls=max_polls)
    return monitor


def watch_list(rpc_url: str, spv: str | None, contracts: Sequence[str] = (), *, market: str | None = None
               ) -> tuple[dict[str, str], int, Callable[[DecodedEvent], str | None]]:
    """What ``chainabs monitor`` follows: the whole deal of ``spv`` (:func:`deal_watch`) and / or ``contracts``
    given as ``NAME:ADDRESS`` (a shipped ABI name); returns (address -> ABI name, first block, classifier)."""
    if not spv and not contracts and not market:
        raise ValueError("give an SPV address, a --market ADDRESS or at least one --watch NAME:ADDRESS")
    watch: dict[str, str] = {}
    start, classifier = 0, default_classifier
    if spv:
        watch, start, classifier = deal_watch(rpc_url, spv)
    for item in contracts:
        name, _, address = item.partition(":")
        if not address:
            raise ValueError(f"--watch {item!r}: expected NAME:ADDRESS")
        load_abi(name)  # an unknown ABI name fails here, before anything is followed
        watch[Web3.to_checksum_address(address)] = name
    return watch, start, classifier
