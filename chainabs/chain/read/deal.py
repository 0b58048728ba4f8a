"""One deal read from chain: its contracts discovered from the SPV, its terms and every event of its
contracts, with a cache for the tables built from them.

Events of the SPV, tokens and identity registry are read from the deal's first deployment block; the
registry's from its own deployment (the pool was created and onboarded before the deal existed), keeping
only events of the deal's pool and registry-wide role changes; the currency's transfers into and out of the
SPV. All of it in block ranges retried and split when a node refuses them (:func:`chainabs.chain.events.get_logs`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from web3 import Web3

from chainabs.chain.abis import decode_deal_params, load_abi
from chainabs.chain.events import DEFAULT_CHUNK, DecodedEvent, EventDecoder, read_events

#: ABI names of the parts of a deal.
SPV_ABI = "SPV"
TOKEN_ABI = "TrancheToken"
REGISTRY_ABI = "AssetRegistry"
IDENTITY_ABI = "IdentityRegistry"
CURRENCY_ABI = "IERC20Metadata"
#: The registry's ERC-721 events: registration, status changes, repurchases and pool transfers carry the pool.
ERC721_EVENTS = frozenset({"Transfer", "Approval", "ApprovalForAll"})
#: Registry events without a pool that concern every pool (kept in a deal's events).
REGISTRY_WIDE_EVENTS = frozenset({"RoleGranted", "RoleRevoked", "RoleAdminChanged"})
#: ``PeriodReport`` members: snake case (as :class:`chainabs.model.waterfall.PeriodReport`) and ABI names.
REPORT_FIELDS: tuple[str, ...] = (
    "interest_collections", "scheduled_principal", "prepayments", "recoveries", "defaults", "delinquent_30",
    "delinquent_60", "delinquent_90_plus", "pool_ending_balance",
)
_REPORT_ABI_NAMES = ("interestCollections", "scheduledPrincipal", "prepayments", "recoveries", "defaults",
                     "delinquent30", "delinquent60", "delinquent90Plus", "poolEndingBalance")

T = TypeVar("T")


def web3_for(rpc: str | Web3, timeout: float = 30.0) -> Web3:
    """A Web3 for an RPC URL (HTTP, ``timeout`` seconds per request), or the given one."""
    return rpc if isinstance(rpc, Web3) else Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": timeout}))


def batch_call(w3: Web3, calls: Sequence[Any]) -> list[Any]:
    """Many contract view calls (web3 ``ContractFunction`` objects with their arguments) in one JSON-RPC
    batch: one round trip instead of one per call. Results in order."""
    if not calls:
        return []
    with w3.batch_requests() as batch:
        for call in calls:
            batch.add(call)
        return list(batch.execute())


def struct_field(value: Any, name: str, index: int) -> Any:
    """A struct member from a decoded tuple (web3 gives tuples or attribute dicts)."""
    if isinstance(value, dict):
        return value[name]
    if hasattr(value, name):
        return getattr(value, name)
    return value[index]


def report_fields(report: Any) -> dict[str, int]:
    """A decoded ``PeriodReport`` struct as {snake_case field: int}."""
    return {name: int(struct_field(report, abi, k))
            for k, (name, abi) in enumerate(zip(REPORT_FIELDS, _REPORT_ABI_NAMES, strict=True))}


@dataclass
class DealReader:
    """A deal read from chain: addresses, terms, all events of its contracts, and a cache of tables."""

    w3: Web3
    spv_address: str
    currency: str
    registry: str
    tokens: list[str]
    token_names: list[str]
    token_symbols: list[str]
    decimals: int
    params: Any
    terms: Any
    start_block: int
    pool_id: int
    originator: str
    #: Address -> ABI name of every contract of the deal (SPV, registry, tokens, identity registry).
    contracts: dict[str, str]
    chunk: int = DEFAULT_CHUNK
    events: list[DecodedEvent] = field(default_factory=list)
    #: Last block whose events are in :attr:`events`.
    last_block: int = -1
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def spv(self) -> Any:
        """The SPV as a web3 contract."""
        return self.contract(SPV_ABI, self.spv_address)

    def contract(self, abi_name: str, address: str) -> Any:
        """A web3 contract of the deal (ABI from the package)."""
        return self.cached(f"contract:{abi_name}:{address}",
                           lambda: self.w3.eth.contract(address=Web3.to_checksum_address(address),
                                                        abi=load_abi(abi_name)))

    def cached(self, key: str, build: Callable[[], T]) -> T:
        """``build()`` once per deal and per read of its events (:meth:`refresh` clears the tables)."""
        if key not in self.cache:
            self.cache[key] = build()
        return self.cache[key]

    def of(self, *names: str, contract: str | None = None) -> list[DecodedEvent]:
        """Events with one of ``names`` (optionally of one contract address), in chain order."""
        wanted = set(names)
        return [e for e in self.events if e.event in wanted and (contract is None or e.address == contract)]

    def units(self, amount: int) -> float:
        """Base units -> currency units (for display only; tables keep integers)."""
        return amount / 10**self.decimals

    def refresh(self, end: int | None = None) -> list[DecodedEvent]:
        """Read the events of the blocks after :attr:`last_block` up to ``end`` (default: the head), add them
        and drop the cached tables; returns the new events."""
        end = self.w3.eth.block_number if end is None else end
        if end <= self.last_block:
            return []
        new = _deal_events(self, self.last_block + 1, end)
        self.events.extend(new)
        self.last_block = end
        self.cache = {k: v for k, v in self.cache.items() if k.startswith("contract:")}
        return new


def deal_contracts(rpc: str | Web3, spv_address: str) -> dict[str, str]:
    """Address -> ABI name of every contract of a deal, discovered from the SPV's views."""
    w3 = web3_for(rpc)
    spv_address = Web3.to_checksum_address(spv_address)
    spv = w3.eth.contract(address=spv_address, abi=load_abi(SPV_ABI))
    terms = spv.functions.terms().call()
    out = {spv_address: SPV_ABI, Web3.to_checksum_address(terms[1]): REGISTRY_ABI}
    token_abi = load_abi(TOKEN_ABI)
    for addr in spv.functions.classTokens().call():
        out[Web3.to_checksum_address(addr)] = TOKEN_ABI
        identity = w3.eth.contract(address=addr, abi=token_abi).functions.identityRegistry().call()
        out[Web3.to_checksum_address(identity)] = IDENTITY_ABI
    return out


def deployment_block(w3: Web3, address: str) -> int:
    """First block where ``address`` has code (binary search over eth_getCode)."""
    lo, hi = 0, w3.eth.block_number
    while lo < hi:
        mid = (lo + hi) // 2
        if len(w3.eth.get_code(address, block_identifier=mid)) > 0:
            hi = mid
        else:
            lo = mid + 1
    return lo


def of_pool(event: DecodedEvent, pool_id: int) -> bool:
    """True for a registry event of pool ``pool_id`` or a registry-wide one (role changes). ERC-721 per-asset
    events are dropped: registration, status changes and repurchases carry the pool."""
    if "poolId" in event.args:
        return int(event.args["poolId"]) == pool_id
    return event.event in REGISTRY_WIDE_EVENTS


def read_deal(rpc: str | Web3, spv_address: str, *, start_block: int | None = None,
              chunk: int = DEFAULT_CHUNK) -> DealReader:
    """Read a deal's addresses, terms and events given only an RPC endpoint (URL or Web3) and the SPV address.

    ``start_block`` defaults to the first block where the SPV, a token or the identity registry has code.
    """
    w3 = web3_for(rpc)
    spv_address = Web3.to_checksum_address(spv_address)
    spv = w3.eth.contract(address=spv_address, abi=load_abi(SPV_ABI))
    terms = spv.functions.terms().call()
    currency, registry = Web3.to_checksum_address(terms[0]), Web3.to_checksum_address(terms[1])
    tokens = [Web3.to_checksum_address(a) for a in spv.functions.classTokens().call()]
    token_abi = load_abi(TOKEN_ABI)
    names, symbols = [], []
    for addr in tokens:
        tok = w3.eth.contract(address=addr, abi=token_abi)
        names.append(tok.functions.name().call())
        symbols.append(tok.functions.symbol().call())
    decimals = w3.eth.contract(address=currency, abi=load_abi(CURRENCY_ABI)).functions.decimals().call()
    watch = deal_contracts(w3, spv_address)
    if start_block is None:
        start_block = min(deployment_block(w3, a) for a, name in watch.items() if name != REGISTRY_ABI)
    reader = DealReader(
        w3=w3, spv_address=spv_address, currency=currency, registry=registry, tokens=tokens, token_names=names,
        token_symbols=symbols, decimals=decimals,
        params=decode_deal_params(spv.functions.dealParamsEncoded().call()), terms=terms,
        start_block=start_block, pool_id=int(terms[2]), originator=Web3.to_checksum_address(terms[3]),
        contracts=watch, chunk=chunk, last_block=start_block - 1,
    )
    registry_start = min(deployment_block(w3, registry), start_block)
    if registry_start < start_block:  # the pool's history before the deal's contracts existed
        early = read_events(w3, EventDecoder(w3, {registry: _registry_abi()}), registry_start, start_block - 1,
                            chunk=chunk)
        reader.events = [e for e in early if of_pool(e, reader.pool_id)]
    reader.refresh()
    return reader


def _registry_abi() -> tuple[str, list[dict[str, Any]]]:
    """The registry's ABI without its ERC-721 per-asset events (a mint per asset, never used: not decoded)."""
    return REGISTRY_ABI, [i for i in load_abi(REGISTRY_ABI)
                          if not (i.get("type") == "event" and i.get("name") in ERC721_EVENTS)]


def _deal_events(d: DealReader, start: int, end: int) -> list[DecodedEvent]:
    """Events of the deal's contracts, the deal's pool and the SPV's currency movements in blocks start..end."""
    contracts = {a: (name, load_abi(name)) for a, name in d.contracts.items()}
    contracts[d.registry] = _registry_abi()
    events = read_events(d.w3, EventDecoder(d.w3, contracts), start, end, chunk=d.chunk)
    events = [e for e in events if e.address != d.registry or of_pool(e, d.pool_id)]
    currency = EventDecoder(d.w3, {d.currency: ("Currency", load_abi("IERC20"))})
    events += [e for e in read_events(d.w3, currency, start, end, chunk=d.chunk)
               if e.event == "Transfer" and d.spv_address in (Web3.to_checksum_address(e.args["from"]),
                                                              Web3.to_checksum_address(e.args["to"]))]
    return sorted(events, key=lambda e: e.order)
