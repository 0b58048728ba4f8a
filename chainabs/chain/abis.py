"""The contracts' ABIs, shipped inside the package, and what is decoded with them.

``chainabs/chain/abi/<Contract>.json`` holds the ABI of every contract a deal is made of (and of the ERC-20
interfaces its currency is read through), so reading a deal needs only an RPC URL and an address: no
checkout, no compiler. They are generated from brownie's build by ``make abis`` (``python -m
chainabs.chain.abis``) and committed; ``tests/unit/test_abis.py`` fails when they differ from a fresh
compile.

From the ABIs: the canonical ABI type of an entry (:func:`abi_type`), ``SPV.dealParamsEncoded()`` decoded
(:func:`decode_deal_params`) and custom errors decoded from revert data (:class:`ErrorTable`).
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import is_checksum_address, keccak, to_checksum_address

from chainabs.paths import BUILD_DIR

#: Where the shipped ABIs live.
ABI_DIR = Path(__file__).with_name("abi")
#: The contracts whose ABIs ship with the package: a deal's contracts, the local test currencies and the
#: ERC-20 interfaces any currency is read through.
SHIPPED: tuple[str, ...] = (
    "AssetRegistry", "BlocklistStablecoin", "CollateralRegistry", "GreenLedger", "IERC20", "IERC20Metadata",
    "IdentityRegistry", "InvoiceLedger", "SPV", "ServicingCourt", "TestStablecoin", "TrancheMarket", "TrancheToken",
)
#: The libraries linked into each shipped contract: their code runs by delegatecall, so their logs and reverts
#: are the host's; the shipped ABI of a host carries their events and errors too.
LIBRARY_HOSTS: dict[str, str] = {
    "SPVOffering": "SPV", "SPVSettlement": "SPV", "SPVServicing": "SPV", "TrancheOps": "TrancheToken",
}
#: The two errors Solidity itself raises, next to the custom ones of the ABIs.
BUILTIN_ERRORS: tuple[dict[str, Any], ...] = (
    {"type": "error", "name": "Error", "inputs": [{"name": "message", "type": "string"}]},
    {"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]},
)

Abi = list[dict[str, Any]]


class AbiError(RuntimeError):
    """An ABI is missing, or data does not decode with it."""


@functools.cache
def load_abi(contract_name: str) -> Abi:
    """ABI of ``contract_name`` (one of :data:`SHIPPED`), from the package."""
    path = ABI_DIR / f"{contract_name}.json"
    if not path.exists():
        raise AbiError(f"no ABI named {contract_name!r} in the package; shipped: {', '.join(SHIPPED)}")
    return json.loads(path.read_text())


@functools.cache
def role_names() -> dict[str, str]:
    """Every access-control role of the shipped contracts by its id (0x-hex bytes32, lower case) -> its name
    (``DEFAULT_ADMIN_ROLE``, ``SERVICER_ROLE``...): each ``*_ROLE()`` getter of the ABIs, hashed as the contracts
    hash it."""
    names = {"0x" + "00" * 32: "DEFAULT_ADMIN_ROLE"}
    for contract in SHIPPED:
        for item in load_abi(contract):
            name = str(item.get("name", ""))
            if (item.get("type") == "function" and name.endswith("_ROLE") and not item.get("inputs")
                    and name != "DEFAULT_ADMIN_ROLE"):  # 0x00..00, not the hash of its name
                names["0x" + keccak(text=name).hex()] = name
    return names


def role_name(role: bytes | str) -> str:
    """A role id (bytes32 or its hex) as its name; the hex itself when no shipped contract defines it."""
    text = "0x" + bytes(role).hex() if isinstance(role, (bytes, bytearray)) else str(role).lower()
    if not text.startswith("0x"):
        text = "0x" + text
    return role_names().get(text, text)


def build_abi(contract_name: str, build_dir: Path = BUILD_DIR) -> Abi:
    """ABI of ``contract_name`` in brownie's build folder (contracts, then interfaces)."""
    for sub in ("contracts", "interfaces"):
        path = build_dir / sub / f"{contract_name}.json"
        if path.exists():
            return json.loads(path.read_text())["abi"]
    raise AbiError(f"no {contract_name} under {build_dir} (run `brownie compile`)")


def host_abi(contract_name: str, build_dir: Path = BUILD_DIR) -> Abi:
    """The ABI a deployed ``contract_name`` answers with: its compiled ABI plus the events and errors of the
    libraries linked into it (:data:`LIBRARY_HOSTS`) that it does not declare itself."""
    abi = build_abi(contract_name, build_dir)
    seen = {(i["type"], signature(i)) for i in abi if i["type"] in ("event", "error")}
    for library in sorted(lib for lib, host in LIBRARY_HOSTS.items() if host == contract_name):
        for item in build_abi(library, build_dir):
            key = (item["type"], signature(item)) if item["type"] in ("event", "error") else None
            if key is not None and key not in seen:
                seen.add(key)
                abi.append(item)
    return abi


def abi_text(abi: Abi) -> str:
    """How an ABI is written in the package: stable key order, one entry per line block, final newline."""
    return json.dumps(abi, indent=1, sort_keys=True) + "\n"


def export_abis(build_dir: Path = BUILD_DIR, out_dir: Path = ABI_DIR, names: Iterable[str] = SHIPPED) -> list[Path]:
    """Write the ABI of every contract of ``names`` from ``build_dir`` into ``out_dir``; returns the paths.

    Files of contracts no longer shipped are removed, so the folder holds exactly :data:`SHIPPED`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = list(names)
    written = []
    for name in wanted:
        path = out_dir / f"{name}.json"
        path.write_text(abi_text(host_abi(name, build_dir)))
        written.append(path)
    for stale in out_dir.glob("*.json"):
        if stale.stem not in wanted:
            stale.unlink()
    load_abi.cache_clear()
    return written


def abi_type(item: Mapping[str, Any]) -> str:
    """The canonical ABI type string of an ABI input/output entry (tuples expanded, e.g. ``(uint256,bool)[]``)."""
    kind = str(item["type"])
    if not kind.startswith("tuple"):
        return kind
    inner = ",".join(abi_type(c) for c in item["components"])
    return f"({inner}){kind[len('tuple'):]}"


def signature(item: Mapping[str, Any]) -> str:
    """``Name(type,...)`` of an ABI function, event or error entry."""
    return f"{item['name']}({','.join(abi_type(i) for i in item.get('inputs', []))})"


def decode_deal_params(data: bytes) -> tuple[Any, ...]:
    """Decode ``SPV.dealParamsEncoded()`` into the ``DealParams`` tuple (the constructor's ``params`` layout).

    Raises :class:`AbiError` if the data is not a ``DealParams`` encoding."""
    constructor = next((i for i in load_abi("SPV") if i.get("type") == "constructor"), None)
    item = next((i for i in (constructor or {}).get("inputs", []) if i.get("name") == "params"), None)
    if item is None:
        raise AbiError("the SPV ABI has no constructor input `params`")
    try:
        return tuple(abi_decode([abi_type(item)], bytes(data))[0])
    except Exception as exc:  # eth_abi raises several decoding error types
        raise AbiError(f"dealParamsEncoded() is not a DealParams encoding: {exc}") from exc


@dataclass(frozen=True)
class DecodedError:
    """A revert reason decoded from its data: the custom error's name and arguments (``Error`` for a
    ``require`` message, ``Panic`` for a Solidity panic; ``name`` is ``""`` for data no ABI knows)."""

    name: str
    args: tuple[Any, ...]
    data: bytes

    def __str__(self) -> str:
        if not self.name:
            return f"unknown error 0x{self.data.hex()}" if self.data else "reverted without data"
        return f"{self.name}({', '.join(_show(a) for a in self.args)})"


def _show(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).rstrip(b"\0")  # a bytes32 reason ("RECEIVER_NOT_VERIFIED") reads as its words
        if len(value) > 1 and text and all(32 <= c < 127 for c in text):
            return repr(text.decode("ascii"))
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        return value if is_checksum_address(value) else repr(value)  # an address bare, a message quoted
    return str(value)


def _checksummed(kind: str, value: Any) -> Any:
    """Decoded addresses (also in arrays) in their checksummed form, as everywhere else in the library."""
    if kind == "address":
        return to_checksum_address(value)
    if kind.startswith("address[") and isinstance(value, (list, tuple)):
        return type(value)(_checksummed(kind[: kind.rindex("[")], v) for v in value)
    return value


class ErrorTable:
    """Custom errors by selector, from a set of ABIs (plus ``Error(string)`` and ``Panic(uint256)``)."""

    def __init__(self, abis: Iterable[Sequence[Mapping[str, Any]]]) -> None:
        self.by_selector: dict[bytes, Mapping[str, Any]] = {}
        for abi in [*abis, BUILTIN_ERRORS]:
            for item in abi:
                if item.get("type") == "error":
                    self.by_selector.setdefault(keccak(text=signature(item))[:4], item)

    def decode(self, data: bytes | str | None) -> DecodedError:
        """The error that ``data`` (revert data, bytes or 0x-hex) encodes."""
        raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data or b"")
        item = self.by_selector.get(raw[:4])
        if item is None:
            return DecodedError("", (), raw)
        types = [abi_type(i) for i in item["inputs"]]
        try:
            values = abi_decode(types, raw[4:])
        except Exception:  # noqa: BLE001 - a selector clash with malformed arguments: keep the raw data
            return DecodedError("", (), raw)
        return DecodedError(str(item["name"]), tuple(_checksummed(t, v) for t, v in zip(types, values, strict=True)), raw)


@functools.cache
def error_table() -> ErrorTable:
    """The errors of every shipped ABI."""
    return ErrorTable(load_abi(name) for name in SHIPPED)


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """``python -m chainabs.chain.abis [--build DIR] [--out DIR]``: what ``make abis`` runs."""
    parser = argparse.ArgumentParser(description="Write the shipped ABIs from brownie's build folder")
    parser.add_argument("--build", type=Path, default=BUILD_DIR)
    parser.add_argument("--out", type=Path, default=ABI_DIR)
    args = parser.parse_args(argv)
    paths = export_abis(args.build, args.out)
    print(f"{len(paths)} ABIs written to {args.out}: {', '.join(p.stem for p in paths)}")
    return paths


if __name__ == "__main__":
    main()
