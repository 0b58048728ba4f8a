"""One deal read from chain: its contracts discovered from the SPV, its terms and every event of its
contracts, with a cache for the tables built from them.

Events of the SPV, tokens and identity registry are read from the deal's first deployment block; the
registry's from its own deployment (the pool was created and onboarded before the deal existed), keeping
only events of the deal's pool and registry-wide role changes; the currency's transfers into and out of the
SPV. All of it in block ranges retried and split when a node refuses them (:func:`chainabs.chain.events.get_logs`).

A reader follows the chain: :meth:`DealReader.refresh` reads the blocks added since the last read, notices
a reorganisation (the last block read no longer has the hash it had; a local node reverted to a snapshot)
and drops the events of the blocks that are gone before reading again, and keeps every cached table whose
events did not change (``cached(key, build, depends=(event names...))``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from eth_hash.auto import keccak
from web3 import Web3

from chainabs.chain.abis import decode_deal_params, load_abi
from chainabs.chain.calls import view_calls
from chainabs.chain.events import DEFAULT_CHUNK, DecodedEvent, EventDecoder, deployment_block, read_events

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
    """Many contract view calls (:class:`chainabs.chain.calls.ViewCall` or web3 ``ContractFunction`` objects
    with their arguments) in one JSON-RPC batch: one round trip instead of one per call. Results in order
    (:func:`chainabs.chain.calls.view_calls`)."""
    return view_calls(w3, calls)


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
    #: The currency's ERC-20 symbol (shown with every amount).
    currency_symbol: str
    params: Any
    terms: Any
    start_block: int
    pool_id: int
    originator: str
    #: Address -> ABI name of every contract of the deal (SPV, registry, tokens, identity registry).
    contracts: dict[str, str]
    chunk: int = DEFAULT_CHUNK
    #: Attempts per block range before it is split (a follower that must notice a dead node asks fewer).
    retries: int = 5
    events: list[DecodedEvent] = field(default_factory=list)
    #: Last block whose events are in :attr:`events`, and its hash (0x hex; empty before the first read).
    last_block: int = -1
    last_hash: str = ""
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    #: Event names each cached table depends on (tables without an entry are dropped at every refresh).
    depends: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    #: Events by name (an index of :attr:`events`).
    by_name: dict[str, list[DecodedEvent]] = field(default_factory=dict, repr=False)
    #: Block number -> unix time, for the blocks asked about (:meth:`block_times`).
    times: dict[int, int] = field(default_factory=dict, repr=False)

    @property
    def spv(self) -> Any:
        """The SPV as a web3 contract."""
        return self.contract(SPV_ABI, self.spv_address)

    def contract(self, abi_name: str, address: str) -> Any:
        """A web3 contract of the deal (ABI from the package)."""
        return self.cached(f"contract:{abi_name}:{address}",
                           lambda: self.w3.eth.contract(address=Web3.to_checksum_address(address),
                                                        abi=load_abi(abi_name)))

    def cached(self, key: str, build: Callable[[], T], depends: Iterable[str] | None = None) -> T:
        """``build()`` once per deal and per read of its events. :meth:`refresh` drops the table when new
        events arrive, unless ``depends`` names the only events it is built from and none of them is new."""
        if key not in self.cache:
            value = build()
            self.cache[key] = value
            if depends is not None:
                self.depends[key] = frozenset(depends)
        return self.cache[key]

    def of(self, *names: str, contract: str | None = None) -> list[DecodedEvent]:
        """Events with one of ``names`` (optionally of one contract address), in chain order."""
        if len(names) == 1:
            found = self.by_name.get(names[0], [])
        else:
            found = sorted((e for n in set(names) for e in self.by_name.get(n, [])), key=lambda e: e.order)
        return [e for e in found if contract is None or e.address == contract]

    def block_times(self, blocks: Iterable[int]) -> dict[int, int]:
        """Unix time of each block (one batch request for those not asked before)."""
        wanted = sorted({int(b) for b in blocks} - set(self.times))
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            with self.w3.batch_requests() as batch:
                for b in part:
                    batch.add(self.w3.eth.get_block(b))
                blocks_read = list(batch.execute())
            for b, block in zip(part, blocks_read, strict=True):
                self.times[b] = int(block["timestamp"])
        return {int(b): self.times[int(b)] for b in blocks}

    def _add(self, events: Sequence[DecodedEvent]) -> None:
        self.events.extend(events)
        for e in events:
            self.by_name.setdefault(e.event, []).append(e)

    def _rewind(self) -> int:
        """After a reorganisation: drop the events of blocks that are no longer on chain (their hash changed)
        and return the last block still known good (a binary search over the blocks holding events: a block
        whose hash is unchanged has all its ancestors unchanged)."""
        hashes = sorted({e.block_number: e.block_hash for e in self.events if e.block_hash}.items())
        lo, hi, good = 0, len(hashes) - 1, -1
        while lo <= hi:
            mid = (lo + hi) // 2
            block, known = hashes[mid]
            try:
                same = _hash_of(self.w3.eth.get_block(block)) == known
            except Exception as exc:  # noqa: BLE001 - beyond the head
                if "not found" not in str(exc).lower():
                    raise
                same = False
            if same:
                good, lo = mid, mid + 1
            else:
                hi = mid - 1
        # Blocks after the last good one that held events are gone; so may be any block after it.
        last = hashes[good][0] if good >= 0 else self.start_block - 1
        kept = [e for e in self.events if e.block_number <= last]
        self.events, self.by_name, self.times = [], {}, {}
        self._add(kept)
        self.cache = {k: v for k, v in self.cache.items() if k.startswith("contract:")}
        self.depends = {}
        self.last_block = last
        return last

    def reorganised(self) -> bool:
        """True when the last block read is no longer on chain (its hash changed, or the chain is shorter)."""
        if not self.last_hash:
            return False
        try:
            block = self.w3.eth.get_block(self.last_block)
        except Exception as exc:  # noqa: BLE001 - web3 raises BlockNotFound beyond the head
            if "not found" in str(exc).lower():
                return True
            raise
        return _hash_of(block) != self.last_hash

    def refresh(self, end: int | None = None) -> list[DecodedEvent]:
        """Read the events of the blocks after :attr:`last_block` up to ``end`` (default: the head), add them
        and drop the cached tables their events change; returns the new events. After a reorganisation the
        events of the blocks that are gone are dropped first (with every cached table)."""
        if self.reorganised():
            self._rewind()
            self.last_hash = ""
        head = self.w3.eth.get_block("latest" if end is None else end)
        end = int(head["number"])
        if end <= self.last_block:
            return []
        new = _deal_events(self, self.last_block + 1, end)
        self._add(new)
        self.last_block = end
        self.last_hash = _hash_of(head)
        names = {e.event for e in new}
        if names:
            self.cache = {k: v for k, v in self.cache.items()
                          if k.startswith("contract:") or (k in self.depends and not self.depends[k] & names)}
            self.depends = {k: v for k, v in self.depends.items() if k in self.cache}
        return new


def _hash_of(block: Any) -> str:
    return "0x" + bytes(block["hash"]).hex()


def deal_contracts(rpc: str | Web3, spv_address: str) -> dict[str, str]:
    """Address -> ABI name of every contract of a deal, discovered from the SPV's views."""
    w3 = web3_for(rpc)
    spv_address = Web3.to_checksum_address(spv_address)
    spv = w3.eth.contract(address=spv_address, abi=load_abi(SPV_ABI))
    terms = spv.functions.terms().call()
    out = {spv_address: SPV_ABI, Web3.to_checksum_address(terms[1]): REGISTRY_ABI}
    # The deal's servicing court: fraud proofs, and a revolving deal's dilutions (credit notes, disputes).
    out[Web3.to_checksum_address(terms[9])] = "ServicingCourt"
    token_abi = load_abi(TOKEN_ABI)
    for addr in spv.functions.classTokens().call():
        out[Web3.to_checksum_address(addr)] = TOKEN_ABI
        identity = w3.eth.contract(address=addr, abi=token_abi).functions.identityRegistry().call()
        out[Web3.to_checksum_address(identity)] = IDENTITY_ABI
    return out


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
    erc20 = w3.eth.contract(address=currency, abi=load_abi(CURRENCY_ABI)).functions
    decimals, currency_symbol = batch_call(w3, [erc20.decimals(), erc20.symbol()])
    watch = deal_contracts(w3, spv_address)
    if start_block is None:
        start_block = min(deployment_block(w3, a) for a, name in watch.items() if name != REGISTRY_ABI)
    reader = DealReader(
        w3=w3, spv_address=spv_address, currency=currency, registry=registry, tokens=tokens, token_names=names,
        token_symbols=symbols, decimals=decimals, currency_symbol=str(currency_symbol),
        params=decode_deal_params(spv.functions.dealParamsEncoded().call()), terms=terms,
        start_block=start_block, pool_id=int(terms[2]), originator=Web3.to_checksum_address(terms[3]),
        contracts=watch, chunk=chunk, last_block=start_block - 1,
    )
    registry_start = min(deployment_block(w3, registry), start_block)
    if registry_start < start_block:  # the pool's history before the deal's contracts existed
        early = read_events(w3, EventDecoder(w3, {registry: _registry_abi()}), registry_start, start_block - 1,
                            chunk=chunk)
        reader._add([e for e in early if of_pool(e, reader.pool_id)])
    reader.refresh()
    return reader


def _registry_abi() -> tuple[str, list[dict[str, Any]]]:
    """The registry's ABI without its ERC-721 events (certificates are minted by ``AssetsRegistered``; the
    ``Transfer`` of a repurchase or of a released certificate is not used: not decoded)."""
    return REGISTRY_ABI, [i for i in load_abi(REGISTRY_ABI)
                          if not (i.get("type") == "event" and i.get("name") in ERC721_EVENTS)]


def _deal_events(d: DealReader, start: int, end: int) -> list[DecodedEvent]:
    """Events of the deal's contracts, the deal's pool and the SPV's currency movements in blocks start..end."""
    contracts = {a: (name, load_abi(name)) for a, name in d.contracts.items()}
    contracts[d.registry] = _registry_abi()
    events = read_events(d.w3, EventDecoder(d.w3, contracts), start, end, chunk=d.chunk, retries=d.retries)
    events = [e for e in events if e.address != d.registry or of_pool(e, d.pool_id)]
    # The currency's transfers from and to the SPV only (a public stablecoin moves millions of others).
    currency = EventDecoder(d.w3, {d.currency: ("Currency", load_abi("IERC20"))})
    transfer = "0x" + keccak(b"Transfer(address,address,uint256)").hex()
    spv_topic = "0x" + bytes(12).hex() + d.spv_address[2:].lower()
    moves: dict[tuple[int, str, int], DecodedEvent] = {}
    for topics in ([transfer, spv_topic], [transfer, None, spv_topic]):
        for e in read_events(d.w3, currency, start, end, chunk=d.chunk, retries=d.retries, topics=topics):
            moves[e.key] = e  # a transfer from the SPV to itself matches both
    events += [e for e in moves.values() if e.event == "Transfer"]
    return sorted(events, key=lambda e: e.order)
