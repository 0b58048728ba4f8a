"""The one way ChainABS sends a transaction: :class:`Sender`.

Every transaction the library sends (deployments, onboarding batches, servicing, offering, closes, claims,
the demo's and the benchmarks' calls) goes through :meth:`Sender.send`, which

1. signs for the account: a brownie account, an ``eth_account`` key (raw key or keystore file,
   :class:`Signer`), or an account the node holds unlocked (local chains);
2. sets the fees the chain takes: EIP-1559 (priority fee and max fee) when blocks carry a base fee, legacy
   gas price otherwise (old Ganache); the same code runs on a local chain, an attached node and a live one;
3. estimates the gas (a reverting call is refused here, before anything is sent) and adds a margin;
4. sends, and waits for the receipt. Anvil can count a transaction in the account's nonce a moment before
   it serves the receipt: a receipt missing while the nonce has moved is waited for during a grace period,
   and only then is the transaction reported as dropped;
5. raises :class:`TxError` for every failure, carrying the stage (estimate, send, reverted, dropped,
   timeout), the decoded custom error and its arguments (:mod:`chainabs.chain.abis`), and the hash.

It returns a :class:`Receipt` whose events are decoded with the shipped ABIs.

:func:`transact`, :func:`deploy` and :func:`transfer` send through the :class:`Sender` of the connected
brownie network (:func:`default_sender`), taking brownie contract objects for the encoding.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account as EthAccount
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import TransactionNotFound

from chainabs.chain.abis import SHIPPED, DecodedError, ErrorTable, error_table, load_abi
from chainabs.chain.events import DecodedEvent, LogDecoder

#: Chain ids of local development chains (anvil, Ganache). Anything else is treated as live.
LOCAL_CHAIN_IDS = frozenset({31337, 1337})
#: Priority fee on local chains (their accounts are funded; public chains are asked for theirs).
LOCAL_PRIORITY_FEE = 10**9
#: Gas limit = estimate x this margin, within what a block / a transaction (EIP-7825) can take.
GAS_MARGIN = 1.2
MAX_TX_GAS = 2**24


class TxError(RuntimeError):
    """A transaction that did not succeed.

    ``stage``: ``estimate`` (refused before sending: a revert, missing funds), ``send`` (the node rejected
    it), ``reverted`` (mined and failed), ``dropped`` (never mined: replaced or evicted) or ``timeout``.
    ``error`` is the decoded revert (custom error name and arguments, ``Error`` / ``Panic``), when there
    is one; :attr:`name` and :attr:`error_args` give it directly.
    """

    def __init__(self, message: str, *, stage: str, error: DecodedError | None = None, tx_hash: str | None = None,
                 description: str = "") -> None:
        self.stage = stage
        self.error = error
        self.tx_hash = tx_hash
        self.description = description
        super().__init__(message)

    @property
    def name(self) -> str:
        """The custom error's name ("" when the failure carries none)."""
        return self.error.name if self.error else ""

    @property
    def error_args(self) -> tuple[Any, ...]:
        """The custom error's arguments."""
        return self.error.args if self.error else ()


@dataclass(frozen=True)
class Signer:
    """Who signs: ``key`` signs locally (raw key, keystore); without it the node signs (unlocked account)."""

    address: str
    key: LocalAccount | None = field(default=None, repr=False)

    @classmethod
    def of(cls, account: Any) -> Signer:
        """A signer for a brownie account (local key or unlocked node account), an ``eth_account`` account,
        a :class:`Signer` or an address the node holds unlocked."""
        if isinstance(account, Signer):
            return account
        if isinstance(account, LocalAccount):
            return cls(account.address, account)
        if isinstance(account, str):
            return cls(Web3.to_checksum_address(account))
        key = getattr(account, "private_key", None)
        address = Web3.to_checksum_address(str(getattr(account, "address", account)))
        if key:
            local = EthAccount.from_key(key)
            if local.address != address:
                raise ValueError(f"account {address}: its private key is that of {local.address}")
            return cls(address, local)
        return cls(address)

    @classmethod
    def from_key(cls, key: str | bytes) -> Signer:
        """A signer for a raw private key (hex, with or without 0x)."""
        local = EthAccount.from_key(key)
        return cls(local.address, local)

    @classmethod
    def from_keystore(cls, path: str | Path, password: str) -> Signer:
        """A signer for an encrypted JSON keystore file (geth / brownie / MetaMask export format)."""
        local = EthAccount.from_key(EthAccount.decrypt(json.loads(Path(path).read_text()), password))
        return cls(local.address, local)


@dataclass(frozen=True)
class Receipt:
    """A mined, successful transaction: its coordinates, gas, and events decoded with the shipped ABIs
    (``events[name]``: every event of that name, in log order)."""

    tx_hash: str
    block_number: int
    gas_used: int
    sender: str
    nonce: int
    to: str | None
    contract_address: str | None
    input: bytes
    events: Mapping[str, tuple[DecodedEvent, ...]]

    def event(self, name: str) -> DecodedEvent:
        """The one event named ``name`` (raises ``LookupError`` when there is none or more than one)."""
        found = self.events.get(name, ())
        if len(found) != 1:
            raise LookupError(f"transaction {self.tx_hash}: {len(found)} {name} events, expected exactly one")
        return found[0]


def revert_data(exc: BaseException) -> bytes | None:
    """The revert data a node returned with an error (web3's contract errors, raw RPC error replies)."""
    candidates: list[Any] = [getattr(exc, "data", None)]
    response = getattr(exc, "rpc_response", None)
    if isinstance(response, Mapping):
        candidates.append((response.get("error") or {}).get("data"))
    candidates += [a.get("data") for a in getattr(exc, "args", ()) if isinstance(a, Mapping)]
    for value in candidates:
        if isinstance(value, Mapping):
            value = value.get("data") if "data" in value else _ganache_return(value)
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if isinstance(value, str) and value.startswith("0x"):
            try:
                return bytes.fromhex(value[2:])
            except ValueError:
                continue
    return None


def _ganache_return(data: Mapping[str, Any]) -> str | None:
    """The revert data in Ganache 7's error ``data`` as brownie launches it (``--chain.vmErrorsOnRPCResponse``):
    ``{"<tx hash or 0x>": {"error": "revert", "return": "0x...", "reason": ...}, ...}`` (anvil: a hex string).
    For a custom error Ganache puts the raw data in ``reason`` as well and may leave ``return`` out."""
    for entry in data.values():
        if isinstance(entry, Mapping) and entry.get("error") == "revert":
            for key in ("return", "reason"):
                value = entry.get(key)
                if isinstance(value, str) and value.startswith("0x"):
                    return value
    return None


class Sender:
    """Signs, prices, estimates, sends and waits: see the module doc. One per connection (``w3``)."""

    def __init__(
        self,
        w3: Web3,
        *,
        local: bool | None = None,
        errors: ErrorTable | None = None,
        timeout: float | None = None,
        grace: float | None = None,
        poll: float = 0.005,
    ) -> None:
        self.w3 = w3
        self.chain_id = int(w3.eth.chain_id)
        self.local = self.chain_id in LOCAL_CHAIN_IDS if local is None else local
        self.errors = errors or error_table()
        #: Seconds to wait for a receipt at all, and after the nonce moved without a receipt.
        self.timeout = timeout if timeout is not None else (300.0 if self.local else 1800.0)
        self.grace = grace if grace is not None else (10.0 if self.local else 120.0)
        self.poll = poll
        self.max_poll = 0.25 if self.local else 2.0
        self.logs = LogDecoder(w3, {name: load_abi(name) for name in SHIPPED})
        #: Called with each transaction (gas and fees set) and its description before it is signed and sent;
        #: raising stops it (e.g. a confirmation refused on a live network: ``chainabs.apps.operate``).
        self.review: Callable[[Mapping[str, Any], str], None] | None = None

    # ------------------------------------------------------------------------------------------- pieces
    def fees(self, block: Mapping[str, Any] | None = None) -> dict[str, int]:
        """Fee fields of a transaction now (``block``: the latest, if already read): EIP-1559 when the chain
        has a base fee, legacy otherwise."""
        block = block or self.w3.eth.get_block("latest")
        base = block.get("baseFeePerGas")
        if base is not None:
            tip = LOCAL_PRIORITY_FEE if self.local else int(self.w3.eth.max_priority_fee)
            return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * int(base) + tip}
        return {"gasPrice": 0 if self.local else int(self.w3.eth.gas_price)}

    def next_nonce(self, account: Any) -> int:
        """The nonce the account's next transaction takes (pending transactions counted)."""
        return int(self.w3.eth.get_transaction_count(Signer.of(account).address, "pending"))

    def gas_limit(self, estimate: int, block: Mapping[str, Any] | None = None) -> int:
        """The estimate with :data:`GAS_MARGIN`, within a block's and a transaction's limit (never below it)."""
        block_limit = int((block or self.w3.eth.get_block("latest"))["gasLimit"])
        return max(estimate, min(int(estimate * GAS_MARGIN), block_limit, MAX_TX_GAS))

    def decode_error(self, exc: BaseException) -> DecodedError | None:
        """The custom error a node's error reply carries, if any."""
        data = revert_data(exc)
        return None if data is None else self.errors.decode(data)

    # -------------------------------------------------------------------------------------------- send
    def send(
        self,
        account: Any,
        to: str | None,
        data: bytes | str = b"",
        *,
        value: int = 0,
        gas: int | None = None,
        nonce: int | None = None,
        description: str = "",
    ) -> Receipt:
        """Send a transaction from ``account`` to ``to`` (None: a contract creation) and return its receipt.

        ``gas`` skips the estimate; ``nonce`` replaces the account's next one (e.g. to predict the address of
        a creation). ``description`` names the call in error messages. Raises :class:`TxError`.
        """
        signer = Signer.of(account)
        payload = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data)
        what = description or (f"call to {to}" if to else "contract creation")
        tx: dict[str, Any] = {"from": signer.address, "value": int(value), "data": payload, "chainId": self.chain_id}
        if to is not None:
            tx["to"] = Web3.to_checksum_address(to)
        tx["nonce"] = self.next_nonce(signer) if nonce is None else int(nonce)
        block = self.w3.eth.get_block("latest")
        if gas is None:
            try:
                gas = self.gas_limit(int(self.w3.eth.estimate_gas(tx)), block)
            except Exception as exc:  # noqa: BLE001 - nodes report reverts and missing funds in many ways
                raise self._failure("estimate", what, exc) from None
        tx["gas"] = int(gas)
        tx.update(self.fees(block))
        if self.review is not None:
            self.review(tx, what)
        try:
            if signer.key is not None:
                tx_hash = self.w3.eth.send_raw_transaction(signer.key.sign_transaction(tx).raw_transaction)
            else:
                tx_hash = self.w3.eth.send_transaction(tx)
        except Exception as exc:  # noqa: BLE001
            raise self._failure("send", what, exc) from None
        return self._receipt(self.wait(tx_hash, signer.address, tx["nonce"], what), tx, what)

    def wait(self, tx_hash: Any, sender: str, nonce: int, what: str = "transaction") -> Any:
        """The receipt of ``tx_hash`` once mined. While it is missing: after the sender's nonce moved past
        ``nonce`` it is waited for :attr:`grace` seconds more (a node that counts a transaction before it
        serves its receipt), then reported dropped; in any case at most :attr:`timeout` seconds."""
        hex_hash = "0x" + bytes(tx_hash).hex() if not isinstance(tx_hash, str) else tx_hash
        start = time.monotonic()
        moved_at: float | None = None
        delay = self.poll
        while True:
            try:
                receipt = self.w3.eth.get_transaction_receipt(hex_hash)
                if receipt is not None:
                    return receipt
            except TransactionNotFound:
                pass
            now = time.monotonic()
            if now - start > self.timeout:
                raise TxError(f"{what}: no receipt for {hex_hash} after {self.timeout:.0f} s", stage="timeout",
                              tx_hash=hex_hash, description=what)
            if moved_at is None and self.w3.eth.get_transaction_count(sender, "latest") > nonce:
                moved_at = now
            if moved_at is not None and now - moved_at > self.grace:
                raise TxError(f"{what}: {hex_hash} was dropped (nonce {nonce} of {sender} used, no receipt after "
                              f"{self.grace:.0f} s)", stage="dropped", tx_hash=hex_hash, description=what)
            time.sleep(delay)
            delay = min(delay * 1.5, self.max_poll)

    # --------------------------------------------------------------------------------------- internals
    def _failure(self, stage: str, what: str, exc: BaseException, tx_hash: str | None = None) -> TxError:
        error = self.decode_error(exc)
        reason = str(error) if error is not None and (error.name or error.data) else _reason(exc)
        verb = {"estimate": "refused before sending", "send": "rejected by the node"}.get(stage, stage)
        return TxError(f"{what} {verb}: {reason}", stage=stage, error=error, tx_hash=tx_hash, description=what)

    def _receipt(self, raw: Any, tx: Mapping[str, Any], what: str) -> Receipt:
        tx_hash = "0x" + bytes(raw["transactionHash"]).hex().removeprefix("0x")
        if int(raw["status"]) != 1:
            error = self._replay(tx, int(raw["blockNumber"]))
            raise TxError(f"{what} reverted in block {int(raw['blockNumber'])} (tx {tx_hash}): "
                          f"{error if error is not None else 'no reason'}", stage="reverted", error=error,
                          tx_hash=tx_hash, description=what)
        events: dict[str, list[DecodedEvent]] = {}
        for log in raw["logs"]:
            event = self.logs.decode(log)
            if event is not None:
                events.setdefault(event.event, []).append(event)
        created = raw.get("contractAddress")
        return Receipt(
            tx_hash=tx_hash, block_number=int(raw["blockNumber"]), gas_used=int(raw["gasUsed"]),
            sender=str(tx["from"]), nonce=int(tx["nonce"]), to=tx.get("to"),
            contract_address=Web3.to_checksum_address(created) if created else None, input=bytes(tx["data"]),
            events={name: tuple(found) for name, found in events.items()},
        )

    def _replay(self, tx: Mapping[str, Any], block: int) -> DecodedError | None:
        """Why a mined transaction failed: the same call replayed on the state before its block."""
        call = {k: tx[k] for k in ("from", "to", "data", "value", "gas") if k in tx}
        try:
            self.w3.eth.call(call, block_identifier=max(block - 1, 0))
        except Exception as exc:  # noqa: BLE001
            return self.decode_error(exc)
        return None


def _reason(exc: BaseException) -> str:
    """A one-line reason from a node's error (its message, without web3's wrapping)."""
    message = getattr(exc, "message", None) or (exc.args[0] if exc.args else repr(exc))
    if isinstance(message, Mapping):
        message = message.get("message", message)
    return " ".join(str(message).split())


# ------------------------------------------------------------------------------------------ brownie bound

_DEFAULT: Sender | None = None
#: A sender bound by :func:`chainabs.chain.bound.session`: while set, the library runs on it without brownie.
_BOUND: Sender | None = None


def bound_sender() -> Sender | None:
    """The sender of the session :func:`chainabs.chain.bound.session` opened, None outside one."""
    return _BOUND


def bind_sender(sender: Sender | None) -> Sender | None:
    """Make ``sender`` the one :func:`default_sender` returns (None: back to brownie's); returns the previous."""
    global _BOUND
    previous, _BOUND = _BOUND, sender
    return previous


def default_sender() -> Sender:
    """The :class:`Sender` of a bound session (:func:`bound_sender`), else of the network brownie is connected
    to (made again after a reconnection)."""
    global _DEFAULT
    if _BOUND is not None:
        return _BOUND
    from brownie import web3  # the connection module imports this one: no import of it here

    if _DEFAULT is None or _DEFAULT.w3.provider is not web3.provider or _DEFAULT.chain_id != int(web3.eth.chain_id):
        _DEFAULT = Sender(web3)
    return _DEFAULT


def transact(fn: Any, *args: Any, sender: Any, value: int = 0, gas: int | None = None,
             nonce: int | None = None) -> Receipt:
    """Call a contract function in a transaction: ``fn`` is a brownie contract method
    (``registry.seal``), ``args`` its arguments, ``sender`` the account that signs."""
    name = getattr(fn, "_name", None) or getattr(fn, "__name__", "call")
    return default_sender().send(sender, str(fn._address), fn.encode_input(*args), value=value, gas=gas,
                                 nonce=nonce, description=str(name))


def refusal(fn: Any, *args: Any, sender: Any) -> DecodedError | None:
    """The custom error the chain would refuse ``fn(*args)`` from ``sender`` with if it were sent now (an
    ``eth_call`` on the latest block: nothing is sent); None when it would go through, or when the node's
    refusal carries no custom error. A node that cannot be reached raises (``OSError``: requests' errors)."""
    s = default_sender()
    call = {"from": Signer.of(sender).address, "to": str(fn._address), "data": fn.encode_input(*args)}
    try:
        s.w3.eth.call(call)
    except Exception as exc:  # noqa: BLE001 - nodes report reverts in many ways; decode_error reads them all
        error = s.decode_error(exc)
        if error is None and isinstance(exc, OSError):
            raise
        return error
    return None


def deploy(container: Any, *args: Any, sender: Any, gas: int | None = None,
           nonce: int | None = None) -> tuple[Any, Receipt]:
    """Deploy a project contract (``container``: a brownie ContractContainer) with constructor ``args``;
    returns brownie's object for the new contract and the receipt."""
    name = str(getattr(container, "_name", "contract"))
    receipt = default_sender().send(sender, None, container.deploy.encode_input(*args), gas=gas, nonce=nonce,
                                    description=f"deploy {name}")
    if receipt.contract_address is None:
        raise TxError(f"deploy {name}: the receipt names no contract", stage="reverted", tx_hash=receipt.tx_hash)
    return container.at(receipt.contract_address, persist=False), receipt


def transfer(sender: Any, to: Any, value: int) -> Receipt:
    """Send ``value`` wei of the chain's coin to ``to``."""
    return default_sender().send(sender, str(getattr(to, "address", to)), b"", value=value,
                                 description=f"transfer of {value} wei")
