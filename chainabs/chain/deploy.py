"""Resumable, manifest-backed deployment to any network.

A deployment is a *plan*: an ordered list of steps, each either a contract deployment or a call (role
grant, configuration, funding). :class:`Deployer` runs the plan against the connected network and records
every confirmed step in ``deployments/<chainid>/<deal>.json`` right after it is mined, so that

* a re-run skips what is already done (contracts are re-attached, never deployed twice);
* a run killed half way continues where it stopped;
* on a live network it first prints a gas estimate of the pending steps and asks for confirmation.

Arguments of a step may refer to contracts deployed by earlier steps with :class:`Ref`.

A contract creation is recorded as *pending* (sender, nonce, predicted address) before its transaction is
sent. A process killed between sending and recording therefore leaves enough to recover: on the next run
the contract found at the predicted address is adopted instead of being deployed a second time, and an
unmined creation is re-sent with the same nonce (it replaces, never duplicates, the first one).

The manifest root is ``$CHAINABS_DEPLOYMENTS_DIR`` if set, else ``deployments/`` in the project.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from chainabs.chain.connection import is_local
from chainabs.chain.sender import default_sender, deploy, transact
from chainabs.paths import PROJECT_ROOT

#: Gas assumed for a call step whose arguments cannot be resolved before earlier steps run.
APPROX_CALL_GAS = 120_000
#: Environment variable that moves the manifest root (tests, rehearsals, CI).
DEPLOYMENTS_DIR_ENV = "CHAINABS_DEPLOYMENTS_DIR"


def deployments_root() -> Path:
    """Where manifests live: ``$CHAINABS_DEPLOYMENTS_DIR`` if set (and not empty), else ``deployments/``."""
    env = os.environ.get(DEPLOYMENTS_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else PROJECT_ROOT / "deployments"


#: The name prefix of ``chainabs onboard``'s records (a tape's registry and pool), kept beside the deals' manifests.
ONBOARD_RECORD_PREFIX = "onboard"
#: A manifest moved aside (:func:`move_aside`): ``<deal>.<label>-<UTC time>.json``.
_ASIDE = re.compile(r"\.[a-z]+-\d{8}T\d{6}\.json$")


def is_deal_manifest(path: Path) -> bool:
    """True for a deal's manifest in a chain's folder; False for an onboarding record or a manifest moved aside."""
    return not path.name.startswith(f"{ONBOARD_RECORD_PREFIX}-") and not _ASIDE.search(path.name)


def move_aside(path: Path, label: str) -> Path:
    """Rename the manifest at ``path`` to ``<deal>.<label>-<UTC time>.json`` beside it (kept, never deleted) and
    return the new path."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.stem}.{label}-{stamp}.json")
    path.rename(aside)
    return aside


class DeploymentError(RuntimeError):
    """A deployment cannot proceed (manifest for another chain, missing code at a recorded address...)."""


@dataclass(frozen=True)
class Ref:
    """The address of the contract deployed by step ``key`` (resolved when the step runs)."""

    key: str


@dataclass
class DeployStep:
    """Deploy ``container`` (a brownie ContractContainer name) with constructor ``args``."""

    key: str
    contract: str
    args: Sequence[Any] = ()
    gas_limit: int | None = None


@dataclass
class CallStep:
    """Call ``method`` on the contract of step ``target`` with ``args``; ``done`` checks chain state.

    ``done(contract, args)`` (``args`` resolved) returning True means the effect is already on chain (e.g. a
    role already granted),
    which makes the step safe to re-run even if the process died after sending but before recording.
    """

    key: str
    target: str
    method: str
    args: Sequence[Any] = ()
    done: Callable[[Any, list[Any]], bool] | None = None
    sender: Any = None
    value: int = 0


Step = DeployStep | CallStep


@dataclass
class Manifest:
    """What has been deployed for one deal on one chain."""

    path: Path
    deal: str
    chain_id: int
    contracts: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    #: Contract creations sent (or about to be) but not yet recorded: key -> sender, nonce, address.
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, deal: str, chain_id: int, root: Path | None = None) -> Manifest:
        """Load ``<root>/<chain_id>/<deal>.json`` (root: :func:`deployments_root`) or start an empty one."""
        path = (root or deployments_root()) / str(chain_id) / f"{deal}.json"
        if not path.exists():
            return cls(path=path, deal=deal, chain_id=chain_id)
        data = json.loads(path.read_text())
        if data.get("chain_id") != chain_id or data.get("deal") != deal:
            raise DeploymentError(
                f"{path}: manifest is for deal {data.get('deal')!r} on chain {data.get('chain_id')}, "
                f"not {deal!r} on chain {chain_id}"
            )
        return cls(
            path=path,
            deal=deal,
            chain_id=chain_id,
            contracts=data.get("contracts", {}),
            steps=data.get("steps", {}),
            meta=data.get("meta", {}),
            pending=data.get("pending", {}),
        )

    def save(self) -> None:
        """Write atomically (temp file + rename): a kill never leaves a truncated manifest."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "deal": self.deal,
            "chain_id": self.chain_id,
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "meta": self.meta,
            "contracts": self.contracts,
            "steps": self.steps,
            "pending": self.pending,
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".manifest-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, self.path)

    def address(self, key: str) -> str:
        """Address recorded for contract step ``key``."""
        try:
            return self.contracts[key]["address"]
        except KeyError:
            raise DeploymentError(f"no contract {key!r} in {self.path}") from None


class Deployer:
    """Runs a deployment plan on the connected network, resumably.

    ``confirm`` is asked (with the estimate table already printed) before the first transaction on a
    live network; it defaults to an interactive prompt. Local chains never ask. ``out``: where it prints.
    """

    def __init__(
        self,
        deal: str,
        account: Any,
        *,
        project: Any,
        manifest_root: Path | None = None,
        confirm: Callable[[str], bool] | None = None,
        out: Console | None = None,
    ) -> None:
        from brownie import chain

        self.console = out or Console()
        self.account = account
        self.project = project
        self.manifest = Manifest.load(deal, chain.id, manifest_root)
        self.confirm = confirm or _ask
        self._verified_code: set[str] = set()

    # ----------------------------------------------------------------------------------------- queries
    def is_done(self, step: Step) -> bool:
        """True when ``step`` is recorded in the manifest (and, for contracts, code is at its address).

        A contract creation left *pending* by a run that died after sending it is adopted here when its
        contract is on chain at the predicted address (and recorded in the manifest).
        """
        if isinstance(step, DeployStep):
            record = self.manifest.contracts.get(step.key)
            if not record:
                return self._recover(step)
            self._check_code(step.key, record["address"])
            return True
        if step.key in self.manifest.steps:
            return True
        if step.done is not None and self._resolvable(step.args) and step.target in self.manifest.contracts:
            return bool(step.done(self.at(step.target), self._resolve(step.args)))
        return False

    def at(self, key: str) -> Any:
        """The brownie Contract object of deployed step ``key`` (a :class:`DeploymentError` when the manifest's
        address holds no code, e.g. the chain was restarted)."""
        name = self.manifest.contracts[key]["contract"]
        address = self.manifest.address(key)
        self._check_code(key, address)
        container = getattr(self.project, name, None)
        if container is None:  # an existing contract known by its interface (e.g. IERC20Metadata)
            return getattr(self.project.interface, name)(address)
        # persist=False: brownie 1.22.2 fails to add a project contract to its own deployment database on
        # live networks ("dict object expected; got ...Sources"); the manifest is the record here.
        return container.at(address, persist=False)

    def pending(self, plan: Sequence[Step]) -> list[Step]:
        """Steps of ``plan`` not yet done, in order."""
        return [step for step in plan if not self.is_done(step)]

    def estimate(self, steps: Sequence[Step]) -> list[tuple[str, int, bool]]:
        """(step key, gas, exact?) for each step: exact when it can be estimated now, else an upper guess."""
        rows = []
        for step in steps:
            exact = False
            gas = APPROX_CALL_GAS
            try:
                if isinstance(step, DeployStep) and self._resolvable(step.args):
                    container = getattr(self.project, step.contract)
                    self._attach_libraries(container)
                    gas = container.deploy.estimate_gas(*self._resolve(step.args), {"from": self.account})
                    exact = True
                elif isinstance(step, DeployStep):
                    container = getattr(self.project, step.contract)
                    code_bytes = len(container.bytecode) // 2
                    gas = 60_000 + 220 * code_bytes  # creation + code deposit (200/byte) + calldata
                elif self._resolvable(step.args) and step.target in self.manifest.contracts:
                    fn = getattr(self.at(step.target), step.method)
                    gas = fn.estimate_gas(*self._resolve(step.args), {"from": step.sender or self.account, "value": step.value})
                    exact = True
            except Exception:  # noqa: BLE001 - an estimate that fails (e.g. needs earlier steps) stays approximate
                exact = False
            rows.append((step.key, int(gas), exact))
        return rows

    # ------------------------------------------------------------------------------------------- run
    def review(
        self,
        steps: Sequence[Step],
        *,
        extra: Sequence[tuple[str, int, bool, int]] = (),
        assume_yes: bool = False,
    ) -> None:
        """On a live network: print the gas estimate of ``steps`` and ask before anything is sent.

        ``extra`` adds rows for work outside the plan: (label, gas, exact?, number of transactions).
        Raises :class:`DeploymentError` when the answer is no (nothing sent). Local chains never ask.
        """
        from brownie import web3

        if is_local() or (not steps and not extra):
            return
        rows = [(key, gas, exact, 1) for key, gas, exact in self.estimate(steps)] + list(extra)
        fee = web3.eth.gas_price
        table = Table(title=f"Pending steps on chain {self.manifest.chain_id}")
        table.add_column("step")
        table.add_column("gas", justify="right")
        table.add_column("estimate")
        for label, gas, exact, _ in rows:
            table.add_row(label, f"{gas:,}", "exact" if exact else "approx.")
        total = sum(row[1] for row in rows)
        count = sum(row[3] for row in rows)
        self.console.print(table)
        message = (
            f"{count} transactions, about {total:,} gas, about {total * fee / 1e18:.6f} ETH at "
            f"{fee / 1e9:.2f} gwei, from {self.account.address}. Send?"
        )
        if not assume_yes and not self.confirm(message):
            raise DeploymentError("deployment cancelled before sending anything")

    def run(self, plan: Sequence[Step], *, assume_yes: bool = False, review: bool = True) -> Manifest:
        """Execute the pending steps of ``plan``; returns the manifest (saved after every step).

        ``review=False``: the caller already showed the estimate and had it confirmed (:meth:`review`).
        """
        keys = [s.key for s in plan]
        if len(keys) != len(set(keys)):
            raise DeploymentError(f"duplicate step keys in plan: {sorted({k for k in keys if keys.count(k) > 1})}")
        todo = self.pending(plan)
        self.manifest.meta.setdefault("deployer", self.account.address)
        if not todo:
            self.console.print(f"[green]nothing to do[/]: all {len(plan)} steps of {self.manifest.deal} are on chain")
            return self.manifest
        if review:
            self.review(todo, assume_yes=assume_yes)
        for step in todo:
            self._execute(step)
        return self.manifest

    def record_existing(self, key: str, contract: str, address: str) -> None:
        """Record a contract deployed elsewhere (e.g. the live stablecoin) under ``key``, so that
        :class:`Ref` resolves to it. Refuses to replace a different address already recorded."""
        from brownie import web3

        known = self.manifest.contracts.get(key)
        if known and known["address"].lower() != address.lower():
            raise DeploymentError(
                f"{self.manifest.path} records {key} at {known['address']}, not {address}: a deployment cannot "
                "switch it; use another manifest (deal name or CHAINABS_DEPLOYMENTS_DIR)"
            )
        if len(web3.eth.get_code(address)) == 0:
            raise DeploymentError(f"{key}: no contract at {address} on chain {self.manifest.chain_id}")
        if not known:
            self.manifest.contracts[key] = {"contract": contract, "address": web3.to_checksum_address(address),
                                            "external": True}
            self.manifest.save()

    def _attach_libraries(self, container: Any) -> None:
        """Make brownie know the deployed linked libraries ``container`` needs (brownie links a contract to the
        latest deployment of each library it knows; after a resume that is the one recorded here)."""
        from brownie.network.contract import _get_linked_library_names

        for name in _get_linked_library_names(container._build):
            library = getattr(self.project, name)
            if len(library):
                continue
            keys = [k for k, rec in self.manifest.contracts.items() if rec.get("contract") == name]
            if not keys:
                raise DeploymentError(f"{container._name} needs library {name}, which this plan has not deployed")
            self.at(keys[-1])

    def _execute(self, step: Step) -> None:
        if isinstance(step, DeployStep):
            container = getattr(self.project, step.contract)
            self._attach_libraries(container)
            nonce = default_sender().next_nonce(self.account)
            self.manifest.pending[step.key] = {
                "contract": step.contract,
                "sender": self.account.address,
                "nonce": nonce,
                "address": str(self.account.get_deployment_address(nonce)),
            }
            self.manifest.save()  # before sending: a kill from here on leaves the predicted address behind
            contract, receipt = deploy(container, *self._resolve(step.args), sender=self.account, nonce=nonce,
                                       gas=step.gas_limit)
            self.manifest.pending.pop(step.key, None)
            self.manifest.contracts[step.key] = {
                "contract": step.contract,
                "address": contract.address,
                "tx": receipt.tx_hash,
                "block": receipt.block_number,
                "gas_used": receipt.gas_used,
            }
            self.console.print(f"deployed [bold]{step.key}[/] ({step.contract}) at {contract.address} gas {receipt.gas_used:,}")
        else:
            target = self.at(step.target)
            receipt = transact(getattr(target, step.method), *self._resolve(step.args), sender=step.sender or self.account,
                               value=step.value)
            self.manifest.steps[step.key] = {"tx": receipt.tx_hash, "block": receipt.block_number,
                                             "gas_used": receipt.gas_used}
            self.console.print(f"step [bold]{step.key}[/]: {step.target}.{step.method} gas {receipt.gas_used:,}")
        self.manifest.save()

    # ------------------------------------------------------------------------------------- internals
    def _recover(self, step: DeployStep) -> bool:
        """Adopt the contract of a pending creation if it is on chain (see module doc)."""
        from brownie import web3

        pending = self.manifest.pending.get(step.key)
        if not pending:
            return False
        address = pending["address"]
        code = web3.eth.get_code(address)
        if len(code) == 0:
            return False  # never mined: the step runs again (same nonce if still free)
        expected = len(getattr(self.project, step.contract)._build["deployedBytecode"]) // 2
        if pending.get("contract") != step.contract or len(code) != expected:
            raise DeploymentError(
                f"{self.manifest.path}: pending {step.key} ({pending.get('contract')}) predicted at {address}, but "
                f"the code there is not a {step.contract} ({len(code)} bytes, expected {expected})"
            )
        self.manifest.contracts[step.key] = {"contract": step.contract, "address": address, "tx": None,
                                             "nonce": pending["nonce"], "recovered": True}
        self.manifest.pending.pop(step.key)
        self.manifest.save()
        self._verified_code.add(address)
        self.console.print(f"recovered [bold]{step.key}[/] ({step.contract}) at {address}: sent by an interrupted run")
        return True

    def _resolvable(self, args: Sequence[Any]) -> bool:
        return all(not isinstance(a, Ref) or a.key in self.manifest.contracts for a in _flatten(args))

    def _resolve(self, args: Sequence[Any]) -> list[Any]:
        def one(a: Any) -> Any:
            if isinstance(a, Ref):
                return self.manifest.address(a.key)
            if isinstance(a, (list, tuple)):
                return type(a)(one(x) for x in a)
            return a

        return [one(a) for a in args]

    def _check_code(self, key: str, address: str) -> None:
        from brownie import web3

        if address in self._verified_code:
            return
        if len(web3.eth.get_code(address)) == 0:
            raise DeploymentError(
                f"manifest {self.manifest.path} records {key} at {address} but there is no code there on chain "
                f"{self.manifest.chain_id} (a restarted or reset chain?): move the manifest aside to deploy afresh"
            )
        self._verified_code.add(address)


def _flatten(args: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for a in args:
        if isinstance(a, (list, tuple)):
            out.extend(_flatten(a))
        else:
            out.append(a)
    return out


def _ask(message: str) -> bool:
    try:
        return input(f"{message} [y/N] ").strip().lower() in {"y", "yes"}
    except EOFError:
        return False
