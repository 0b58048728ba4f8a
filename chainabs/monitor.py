"""Regulator monitor: follow new blocks, report every alert and privileged action exactly once.

The monitor reads logs of a deal's contracts over JSON-RPC, prints each alert / privileged event and
appends it to a JSON-lines file. It checkpoints the last fully processed block after every range, and on
restart (or after a dropped RPC connection) resumes from the checkpoint; lines written after the last
checkpoint by a run that died are recognised by their (block, tx, log index) key and not written again.
So no alert is lost and none is repeated.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from web3 import Web3

from chainabs.events import DEFAULT_CHUNK, DecodedEvent, EventDecoder, get_logs

#: Events that warn about the deal or its assets.
ALERT_EVENTS = frozenset(
    {
        "TriggerBreached",
        "TriggerCured",
        "ConcentrationAlert",
        "DelinquencyAlert",
        "AssetDefaulted",
        "AssetDeteriorated",
        "ReserveDrawn",
        "InterestShortfall",
        "WrittenDown",
    }
)

#: Events that record an action only a role holder can take.
PRIVILEGED_EVENTS = frozenset(
    {
        "RoleGranted",
        "RoleRevoked",
        "RoleAdminChanged",
        "OwnershipTransferred",
        "Paused",
        "Unpaused",
        "ControllerTransfer",
        "ControllerRedemption",
        "ControllerRenounced",
        "InvestorRegistered",
        "InvestorUpdated",
        "InvestorFrozen",
        "InvestorUnfrozen",
        "InvestorRemoved",
        "DocumentUpdated",
        "DocumentRemoved",
        "Minted",
        "Issued",
        "Redeemed",
        "AssetRepurchased",
        "PoolTransferred",
        "CleanUpCallExercised",
        "DealClosed",
        "DustSwept",
    }
)


def classify(event_name: str) -> str | None:
    """'alert', 'privileged' or None for an event name."""
    if event_name in ALERT_EVENTS:
        return "alert"
    if event_name in PRIVILEGED_EVENTS:
        return "privileged"
    return None


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
        classifier: Callable[[str], str | None] = classify,
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
                kind = self.classifier(event.event)
                if kind is None or event.key in self._written_after_checkpoint:
                    continue
                record = {"kind": kind, **event.to_json()}
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
            except Exception:  # noqa: BLE001 - a dropped connection: wait and resume from the checkpoint
                errors += 1
                if errors >= max_errors:
                    raise
                time.sleep(min(30.0, interval * 2**min(errors, 5)))
                continue
            polls += 1
            if max_polls is None or polls < max_polls:
                time.sleep(interval)


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


def follow(rpc_url: str, watch: dict[str, str], state_dir: Path, *, start_block: int = 0, interval: float = 1.0,
           max_polls: int | None = None, quiet: bool = False) -> Monitor:
    """Build a monitor for ``watch`` (address -> contract name, ABIs from build/) and run it."""
    from rich.console import Console

    from chainabs.events import load_abi

    console = Console()
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10}))
    decoder = EventDecoder(w3, {addr: (name, load_abi(name)) for addr, name in watch.items()})

    def show(event: DecodedEvent, kind: str) -> None:
        if not quiet:
            style = "bold red" if kind == "alert" else "yellow"
            console.print(f"[{style}]{kind:10}[/] block {event.block_number} {event.contract}.{event.event} {event.args} tx {event.tx_hash}")

    monitor = Monitor(w3, decoder, state_dir, start_block=start_block, on_event=show)
    monitor.run(interval=interval, max_polls=max_polls)
    return monitor


def main(argv: list[str] | None = None) -> None:
    """``python -m chainabs.monitor --rpc URL --watch Name:0xaddr ... --state DIR``."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpc", required=True, help="JSON-RPC endpoint")
    parser.add_argument("--watch", action="append", required=True, metavar="NAME:ADDRESS",
                        help="contract to follow (ABI name in build/ and address); repeatable")
    parser.add_argument("--state", required=True, type=Path, help="folder for checkpoint.json and events.jsonl")
    parser.add_argument("--start-block", type=int, default=0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--max-polls", type=int, default=None)
    args = parser.parse_args(argv)
    watch = {}
    for item in args.watch:
        name, _, address = item.partition(":")
        if not address:
            parser.error(f"--watch {item!r}: expected NAME:ADDRESS")
        watch[address] = name
    follow(args.rpc, watch, args.state, start_block=args.start_block, interval=args.interval, max_polls=args.max_polls)


if __name__ == "__main__":
    main()
