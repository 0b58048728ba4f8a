"""Regulator monitor: follow new blocks, report every alert and privileged action exactly once.

The monitor reads logs of a deal's contracts over JSON-RPC, prints each alert / privileged event and
appends it to a JSON-lines file. It checkpoints the last fully processed block after every range, and on
restart (or after a dropped RPC connection) resumes from the checkpoint; lines written after the last
checkpoint by a run that died are recognised by their (block, tx, log index) key and not written again.
So no alert is lost and none is repeated.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from web3 import Web3

from chainabs.events import DEFAULT_CHUNK, DecodedEvent, EventDecoder, get_logs

#: Events that warn about the deal or its assets (names as the deal's contracts emit them; see
#: ``interfaces/*.sol``). ``AssetStatusChanged`` is an alert only when the asset got worse (below).
ALERT_EVENTS = frozenset(
    {
        "TriggerBreached",  # SPV (IWaterfall): a performance test failed
        "TriggerCured",  # SPV: a breached test passes again
        "DelinquencyAlert",  # SPV: 60+ days delinquency above the alert level
        "InterestShortfall",  # SPV: a class not paid its full interest
        "ReserveDrawn",  # SPV: the risk reserve paid a shortfall
        "DealEnded",  # SPV: the deal ended (with any final write-down)
        "FeeSettlementFailed",  # SPV: a replaced fee recipient could not be paid what it earned
        "ClassPaymentHeld",  # SPV: a class's token refused its payment (held by the SPV for it)
        "PrincipalWrittenDown",  # TrancheToken: losses allocated to a class
        "PrincipalReinstated",  # TrancheToken: written-down principal restored
        "InterestShortfallSet",  # TrancheToken: unpaid interest carried
    }
)

#: Events that record an action only a role holder (or the deal's own contracts acting for one) can take.
PRIVILEGED_EVENTS = frozenset(
    {
        # AccessControl, on every contract of the deal
        "RoleGranted", "RoleRevoked", "RoleAdminChanged",
        # SPV
        "DealClosed", "ReportSubmitted", "CleanUpCallExercised", "FeeRecipientChanged", "OfferingCancelled",
        "ReportCancelled",
        # TrancheToken (ERC-1400 family): issuance, controller (forced) operations, documents, pauses, settings
        "Issued", "IssuedByPartition", "IssuanceClosed", "ControllerTransfer", "ControllerRedemption",
        "ControlRenounced", "DocumentUpdated", "DocumentRemoved", "TransfersPaused", "TransfersUnpaused",
        "WalletRecovered", "DealBound",
        "DustSwept", "LockupEndSet", "MinimumHoldingSet", "MaxHoldersSet", "ResidualRecipientSet",
        # AssetRegistry: pools, onboarding, true sale, servicing and repurchases
        "PoolCreated", "AssetsRegistered", "PoolSealed", "PoolApproved", "PoolTransferred", "AssetRepurchased",
        "AssetStatusChanged",
        # IdentityRegistry: KYC
        "InvestorRegistered", "InvestorRemoved", "InvestorFrozen", "JurisdictionAllowed", "InvestorIdSet",
        # common on third-party currencies (and the test stablecoin)
        "OwnershipTransferred", "Paused", "Unpaused", "Minted", "Blocklisted",
    }
)

#: Events deliberately not reported: routine consequences of actions already reported (payments of a
#: period close, token movements, claims), holders' own actions, or ERC-721 per-asset bookkeeping.
IGNORED_EVENTS = frozenset(
    {
        "Subscribed", "PeriodClosed", "ClassBalances", "FeesWithdrawn",  # SPV routine (anyone may call these)
        "Transfer", "TransferByPartition", "Approval", "ApprovalForAll",  # ERC-20 / ERC-721 movements
        "AuthorizedOperator", "RevokedOperator", "AuthorizedOperatorByPartition", "RevokedOperatorByPartition",
        "Redeemed", "RedeemedByPartition",  # holders redeeming their own units
        "FundsDistributed", "FundsWithdrawn",  # distributions (in PeriodClosed) and claims
        # the SPV's routine on its tokens and its pay-outs to named owners (anyone may trigger them)
        "BooksClosed", "BooksOpened", "TrancheSettled", "UnitsCancelled", "Refunded", "DepositReturned",
        "ClassPaymentReleased",
    }
)

#: Registry status codes (IAssetRegistry.AssetStatus) that make a status change an alert when reached.
_WORSE_STATUS = {2, 3, 4, 5}  # Delinquent30, Delinquent60, Delinquent90, Defaulted


def classify(event_name: str, args: Mapping[str, Any] | None = None) -> str | None:
    """'alert', 'privileged' or None for an event (name, and its arguments when the kind depends on them).

    ``AssetStatusChanged``: an alert when an asset became delinquent or defaulted (or worse), privileged for
    other status changes (cures, prepayments, repayments), None for a principal-only servicing update.
    """
    if event_name == "AssetStatusChanged" and args is not None:
        old, new = int(args["from"]), int(args["to"])
        if old == new:
            return None
        return "alert" if new in _WORSE_STATUS and new > old else "privileged"
    if event_name in ALERT_EVENTS:
        return "alert"
    if event_name in PRIVILEGED_EVENTS:
        return "privileged"
    return None


def pool_classifier(registry: str, pool_id: int) -> Callable[[DecodedEvent], str | None]:
    """:func:`classify` for a deal: events of ``registry`` that name another pool than ``pool_id`` (a shared
    registry) are left out, and so are its per-asset ERC-721 events."""
    registry = Web3.to_checksum_address(registry)

    def kind(event: DecodedEvent) -> str | None:
        if event.address == registry and "poolId" in event.args and int(event.args["poolId"]) != pool_id:
            return None
        return classify(event.event, event.args)

    return kind


def _default_classifier(event: DecodedEvent) -> str | None:
    return classify(event.event, event.args)


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
        classifier: Callable[[DecodedEvent], str | None] = _default_classifier,
        on_event: Callable[[DecodedEvent, str], None] | None = None,
    ) -> None:
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
        self.last_block = self._load_checkpoint(start_block - 1)
        self._written_after_checkpoint = self._keys_after(self.last_block)

    # ------------------------------------------------------------------------------------ state files
    def _load_checkpoint(self, default: int) -> int:
        if not self.checkpoint_path.exists():
            return default
        return int(json.loads(self.checkpoint_path.read_text())["last_block"])

    def _save_checkpoint(self, block: int) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=".checkpoint-")
        with os.fdopen(fd, "w") as fh:
            json.dump({"last_block": block}, fh)
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

    # ------------------------------------------------------------------------------------- following
    def poll_once(self) -> list[DecodedEvent]:
        """Process every block from the checkpoint up to the head (minus confirmations) once."""
        head = self.w3.eth.block_number - self.confirmations
        if head <= self.last_block:
            return []
        emitted: list[DecodedEvent] = []
        for _, b, logs in get_logs(self.w3, self.decoder.addresses, self.last_block + 1, head, chunk=self.chunk):
            lines = []
            for raw in logs:
                event = self.decoder.decode(raw)
                if event is None:
                    continue
                kind = self.classifier(event)
                if kind is None or event.key in self._written_after_checkpoint:
                    continue
                record = {"kind": kind, **dataclasses.replace(event, args=_plain(event.args)).to_json()}
                lines.append(json.dumps(record, sort_keys=True))
                emitted.append(event)
                if self.on_event:
                    self.on_event(event, kind)
            if lines:
                with self.out_path.open("a") as fh:
                    fh.write("\n".join(lines) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            self._save_checkpoint(b)
            self._written_after_checkpoint = {k for k in self._written_after_checkpoint if k[0] > b}
        return emitted

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


def _plain(value: Any) -> Any:
    """Decoded arguments as plain dicts and lists (web3 decodes structs as AttributeDicts)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


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
    from chainabs import reports

    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10}))
    watch = reports.deal_contracts(rpc_url, spv)
    spv_contract = w3.eth.contract(address=Web3.to_checksum_address(spv), abi=_abi(reports.SPV_ABI))
    terms = spv_contract.functions.terms().call()
    start = min(reports._deployment_block(w3, address) for address in watch)
    return watch, start, pool_classifier(terms[1], int(terms[2]))


def _abi(name: str) -> list[dict]:
    from chainabs.events import load_abi

    return load_abi(name)


def follow(rpc_url: str, watch: dict[str, str], state_dir: Path, *, start_block: int = 0, interval: float = 1.0,
           max_polls: int | None = None, quiet: bool = False,
           classifier: Callable[[DecodedEvent], str | None] | None = None) -> Monitor:
    """Build a monitor for ``watch`` (address -> contract name, ABIs from build/) and run it."""
    from rich.console import Console

    console = Console()
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10}))
    decoder = EventDecoder(w3, {addr: (name, _abi(name)) for addr, name in watch.items()})

    def show(event: DecodedEvent, kind: str) -> None:
        if not quiet:
            style = "bold red" if kind == "alert" else "yellow"
            console.print(f"[{style}]{kind:10}[/] block {event.block_number} {event.contract}.{event.event} {event.args} tx {event.tx_hash}")

    monitor = Monitor(w3, decoder, state_dir, start_block=start_block, on_event=show,
                      classifier=classifier or _default_classifier)
    monitor.run(interval=interval, max_polls=max_polls)
    return monitor


def main(argv: list[str] | None = None) -> None:
    """``python -m chainabs.monitor --rpc URL (--spv 0xaddr | --watch Name:0xaddr ...) --state DIR``."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpc", required=True, help="JSON-RPC endpoint")
    parser.add_argument("--spv", default=None, metavar="ADDRESS",
                        help="follow the whole deal of this SPV (its registry pool, tokens, identity registry)")
    parser.add_argument("--watch", action="append", default=[], metavar="NAME:ADDRESS",
                        help="contract to follow (ABI name in build/ and address); repeatable")
    parser.add_argument("--state", required=True, type=Path, help="folder for checkpoint.json and events.jsonl")
    parser.add_argument("--start-block", type=int, default=None,
                        help="first block (default: the deal's first deployment with --spv, else 0)")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--max-polls", type=int, default=None)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if not args.spv and not args.watch:
        parser.error("give --spv ADDRESS or at least one --watch NAME:ADDRESS")
    watch: dict[str, str] = {}
    start, classifier = 0, None
    if args.spv:
        watch, start, classifier = deal_watch(args.rpc, args.spv)
    for item in args.watch:
        name, _, address = item.partition(":")
        if not address:
            parser.error(f"--watch {item!r}: expected NAME:ADDRESS")
        watch[Web3.to_checksum_address(address)] = name
    follow(args.rpc, watch, args.state, start_block=start if args.start_block is None else args.start_block,
           interval=args.interval, max_polls=args.max_polls, quiet=args.quiet, classifier=classifier)


if __name__ == "__main__":
    main()
