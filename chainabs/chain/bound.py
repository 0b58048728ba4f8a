"""The library without brownie: a node reached by URL, contracts over the shipped ABIs, one bound sender.

The deal-operation commands (``chainabs subscribe``, ``close-period``, ``service``...) start in about a second
because they never import brownie: :func:`session` binds a :class:`chainabs.chain.sender.Sender` over a plain
``Web3``, and while it is open :func:`chainabs.chain.contracts.contract_at` gives :class:`BoundContract` objects
called like brownie's (``spv.terms()``, ``transact(spv.closeDeal, sender=...)``), so the functions of
:mod:`chainabs.chain.spv`, :mod:`chainabs.chain.tokens` and :mod:`chainabs.chain.servicing` run unchanged.

:func:`node_url` finds the node: ``--rpc URL``, the host of a brownie network by name (read from brownie's
``network-config.yaml``, environment variables expanded as brownie does), or the local chain on
``CHAINABS_PORT``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from web3 import Web3

from chainabs.chain.abis import load_abi
from chainabs.chain.connection import ChainConfigError, chain_port, tune_transport
from chainabs.chain.sender import Sender, bind_sender

#: brownie's network list (its ``networks add`` writes here).
BROWNIE_NETWORKS = Path("~/.brownie/network-config.yaml")


def plain(value: Any) -> Any:
    """An argument as web3 takes it: contracts and accounts as their address, tuples and lists item by item."""
    if isinstance(value, (bytes, bytearray, str, int, bool)):
        return value
    if hasattr(value, "address"):
        return Web3.to_checksum_address(str(value.address))
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value) if isinstance(value, tuple) else [plain(v) for v in value]
    return value


class BoundFunction:
    """One function of a :class:`BoundContract`: call it for a view (``fn(*args)``, brownie's trailing
    ``{"from": address}`` accepted), ``encode_input(*args)`` for a transaction's data."""

    def __init__(self, contract: BoundContract, name: str) -> None:
        self._contract = contract
        self._name = name
        self._address = contract.address

    def _bound(self, args: Sequence[Any]) -> Any:
        return self._contract.web3_contract.functions[self._name](*[plain(a) for a in args])

    def __call__(self, *args: Any) -> Any:
        call: dict[str, Any] = {}
        if args and isinstance(args[-1], Mapping):
            call = {k: plain(v) for k, v in args[-1].items()}
            args = args[:-1]
        return self._bound(args).call(call or None)

    def encode_input(self, *args: Any) -> str:
        return str(self._bound(args)._encode_transaction_data())

    def __repr__(self) -> str:
        return f"<{self._contract.kind}.{self._name} at {self._address}>"


class BoundContract:
    """A deployed contract read and called through a plain ``Web3`` with the shipped ABI of ``kind``."""

    def __init__(self, w3: Web3, kind: str, address: str) -> None:
        if not Web3.is_address(str(address)):
            raise ChainConfigError(f"{kind}: {address!r} is not an address")
        self.w3 = w3
        self.kind = kind
        self.address = Web3.to_checksum_address(str(address))
        self.abi = load_abi(kind)
        self.web3_contract = w3.eth.contract(address=self.address, abi=self.abi)
        self._names = {e["name"] for e in self.abi if e.get("type") == "function"}

    def __getattr__(self, name: str) -> BoundFunction:
        if name.startswith("_") or name not in self.__dict__.get("_names", ()):
            raise AttributeError(f"{self.__dict__.get('kind', 'contract')} has no function {name!r}")
        return BoundFunction(self, name)

    def __str__(self) -> str:
        return self.address

    def __repr__(self) -> str:
        return f"<{self.kind} {self.address}>"


@contextmanager
def session(w3: Web3, sender: Sender | None = None) -> Iterator[Sender]:
    """Bind ``sender`` (default a new :class:`Sender` over ``w3``) for the library (see the module doc); the
    previous binding is restored on leaving."""
    sender = sender or Sender(w3)
    previous = bind_sender(sender)
    try:
        yield sender
    finally:
        bind_sender(previous)


def network_host(name: str, config: Path = BROWNIE_NETWORKS) -> str:
    """The RPC URL of brownie network ``name`` (``brownie networks list``), environment variables expanded."""
    path = config.expanduser()
    if not path.exists():
        raise ChainConfigError(f"--network {name}: no brownie network list at {path} (add one with `brownie "
                               "networks add`, or give --rpc URL)")
    data = yaml.safe_load(path.read_text()) or {}
    for group in (*data.get("live", []), {"networks": data.get("development", [])}):
        for net in group.get("networks", []):
            if net.get("id") == name:
                host = os.path.expandvars(str(net.get("host", "")))
                if "$" in host:
                    raise ChainConfigError(f"--network {name}: its host {net['host']} needs an environment variable "
                                           "that is not set (e.g. WEB3_INFURA_PROJECT_ID)")
                if name in {n.get("id") for n in data.get("development", [])} and "port" in (net.get("cmd_settings") or {}):
                    host = f"{host.rstrip('/')}:{net['cmd_settings']['port']}" if host.count(":") < 2 else host
                return host
    raise ChainConfigError(f"--network {name}: no such brownie network (see `brownie networks list`)")


def node_url(rpc: str | None = None, network: str | None = None) -> str:
    """The node to use: ``rpc``, the host of brownie network ``network``, else ``http://127.0.0.1:$CHAINABS_PORT``."""
    if rpc:
        return str(rpc)
    if network:
        return network_host(network)
    return f"http://127.0.0.1:{chain_port()}"


def connect(url: str, *, timeout: float = 30.0) -> Web3:
    """A ``Web3`` on the node at ``url`` that answers (one line naming the URL otherwise)."""
    w3 = tune_transport(Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout})))
    try:
        w3.eth.chain_id
    except Exception as exc:  # noqa: BLE001 - connection refused, not JSON-RPC, timeout...
        raise ChainConfigError(f"no JSON-RPC node answers at {url}: {' '.join(str(exc).split())[:160]}") from None
    return w3
