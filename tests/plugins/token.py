"""Fixtures and helpers for the tranche token and identity registry tests."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from eth_abi import decode as abi_decode

from chainabs.chain import tokens
from chainabs.chain.contracts import LOCKED, role_id
from chainabs.chain.sender import revert_data as sender_revert_data

US, GB, KY = 840, 826, 136  # ISO 3166-1 numeric: United States, United Kingdom, Cayman Islands
YEAR = 365 * 24 * 3600
FACE = 1_000_000 * 10**6  # 1,000,000 tUSD per investor


def b32(text: str) -> bytes:
    """Right-padded bytes32 of an ASCII text (partition names, reasons, document names)."""
    return text.encode().ljust(32, b"\0")


def revert_data(fn: Any, *args: Any, sender: Any) -> str:
    """Hex revert data of calling ``fn(*args)`` from ``sender`` (eth_call on the current state).

    Fails the test if the call does not revert.
    """
    from brownie import web3
    from web3.exceptions import ContractCustomError, ContractLogicError

    call = {"from": str(sender), "to": str(fn._address), "data": fn.encode_input(*args)}
    try:
        web3.eth.call(call)
    except ContractCustomError as exc:
        return str(exc.data)
    except ContractLogicError as exc:
        return str(exc.data)
    except ValueError as exc:  # brownie's middleware re-raises the node's JSON-RPC error as a dict
        data = sender_revert_data(exc)  # anvil: "data": "0x..."; Ganache 7: nested under the tx hash
        if data is not None:
            return "0x" + data.hex()
        raise
    raise AssertionError(f"{fn._name}{args} from {sender} did not revert")


def assert_error(fn: Any, *args: Any, sender: Any, error: str, values: tuple | None = None) -> tuple:
    """Assert ``fn(*args)`` from ``sender`` reverts with custom error ``error`` ("Name(type,...)").

    ``values`` (optional) are compared with the decoded error arguments; returns the decoded arguments.
    """
    from brownie import web3

    data = revert_data(fn, *args, sender=sender)
    selector = "0x" + bytes(web3.keccak(text=error))[:4].hex()
    assert data[:10] == selector, f"expected {error} ({selector}), got revert data {data}"
    types = error[error.index("(") + 1 : -1]
    decoded = tuple(abi_decode(types.split(","), bytes.fromhex(data[10:]))) if types else ()
    if values is not None:
        assert _norm(decoded) == _norm(values), f"{error}: got {decoded}, expected {values}"
    return decoded


def _norm(values: tuple) -> tuple:
    out = []
    for v in values:
        if isinstance(v, str) and v.startswith("0x") and len(v) == 42:
            out.append(v.lower())
        elif hasattr(v, "address"):
            out.append(str(v.address).lower())
        elif isinstance(v, (bytes, bytearray)):
            out.append(bytes(v))
        else:
            out.append(v)
    return tuple(out)


def blocked(fn: Any, *args: Any, sender: Any, frm: Any, to: Any, code: int, reason: str) -> None:
    """Assert a TransferBlocked(from, to, code, reason) revert."""
    zero = "0x" + "00" * 20
    assert_error(
        fn, *args, sender=sender, error="TransferBlocked(address,address,bytes1,bytes32)",
        values=(str(frm) if frm else zero, str(to) if to else zero, bytes([code]), b32(reason) if reason else b"\0" * 32),
    )


def refused_before_sending(web3: Any, account: Any, call: Any, *words: str) -> str:
    """Assert ``call()`` (a library call sending from ``account``) raises with a message naming one of ``words``
    before ``account`` sent any transaction; returns the message."""
    nonce = web3.eth.get_transaction_count(str(account))
    with pytest.raises(Exception) as err:
        call()
    message = str(err.value)
    assert any(w.lower() in message.lower() for w in words), message
    sent = web3.eth.get_transaction_count(str(account)) - nonce
    assert sent == 0, f"{sent} transaction(s) sent before the refusal: {message.splitlines()[0]}"
    return message


def chain_now(web3: Any) -> int:
    """The latest block's timestamp (the chain's clock, not brownie's estimate of it)."""
    return int(web3.eth.get_block("latest")["timestamp"])


def state_slot(token: Any, web3: Any) -> int:
    """The storage slot of a tranche token's packed state (TrancheWords.sol: supply in bits 0..95, principal in
    96..191, identity generation in 208..223), found by its values among the first 64 slots."""
    supply, principal = int(token.totalSupply()), int(token.currentPrincipal())
    generation = int(token.identityCache()[1])
    for slot in range(64):
        word = int.from_bytes(web3.eth.get_storage_at(str(token.address), slot), "big")
        if (supply and word & (2**96 - 1) == supply and (word >> 96) & (2**96 - 1) == principal
                and (word >> 208) & 0xFFFF == generation):
            return slot
    raise AssertionError("the tranche state slot is not among the first 64 slots")


def set_storage(token: Any, web3: Any, slot: int, word: int) -> None:
    """Write ``word`` into storage slot ``slot`` of ``token`` (anvil_setStorageAt: tests of bounds no run reaches)."""
    web3.provider.make_request("anvil_setStorageAt", [str(token.address), hex(slot), "0x" + word.to_bytes(32, "big").hex()])


def not_deal(fn: Any, *args: Any, sender: Any, deal: Any) -> None:
    """Assert the token's NotDeal(caller, deal) revert."""
    assert_error(fn, *args, sender=sender, error="NotDeal(address,address)", values=(str(sender), str(deal)))


def access_denied(fn: Any, *args: Any, sender: Any, role: str) -> None:
    """Assert OpenZeppelin's AccessControlUnauthorizedAccount(sender, role) revert."""
    assert_error(
        fn, *args, sender=sender, error="AccessControlUnauthorizedAccount(address,bytes32)",
        values=(str(sender), bytes.fromhex(role_id(role)[2:])),
    )


@pytest.fixture(scope="module")
def identity(admin, kyc_agent):
    """Identity registry with a KYC agent; US and GB allowed, Cayman not."""
    reg = tokens.deploy_identity_registry(admin, [kyc_agent])
    tokens.allow_jurisdictions(reg, admin, [US, GB])
    return reg


@pytest.fixture(scope="module")
def verified(identity, kyc_agent, investors, originator, chain):
    """investors[0..7] and the originator are verified (US, GB alternating); investors[8..9] are not."""
    rows = [
        {"address": str(a), "jurisdiction": US if i % 2 == 0 else GB, "investor_type": 3, "expiry": chain.time() + 5 * YEAR}
        for i, a in enumerate(list(investors[:8]) + [originator])
    ]
    tokens.register_investors(identity, kyc_agent, rows)
    return list(investors[:8])


@pytest.fixture(scope="module")
def tranche(currency, identity, admin, servicer, trustee, originator, verified, chain):
    """Class A tranche: 4.5% coupon, lock-up one year; bound to the servicer account standing for its deal (it
    issues, distributes, writes down); the trustee is its controller."""
    return tokens.deploy_tranche(
        name="ChainABS 2025-1 Class A", symbol="CABS-A", currency=currency, registry=identity, admin=admin,
        coupon_bps=450, residual_recipient=originator, lockup_end=chain.time() + YEAR,
        deal=servicer, roles={"CONTROLLER_ROLE": [trustee],
               "PAUSER_ROLE": [admin], "DOCUMENT_ROLE": [admin]},
    )


@pytest.fixture(scope="module")
def issued(tranche, servicer, verified, originator, currency, admin):
    """Four investors hold FACE each, the originator holds FACE locked; the servicer holds currency."""
    for inv in verified[:4]:
        tokens.issue(tranche, servicer, inv, FACE)
    tokens.issue(tranche, servicer, originator, FACE, partition=LOCKED)
    currency.mint(servicer, 10**9 * 10**6, {"from": admin})
    return tranche


def plain(values: Any) -> Any:
    """Brownie return values / event fields -> plain Python (int, str, bool, bytes, tuples), for comparisons."""
    if isinstance(values, (list, tuple)):
        return tuple(plain(v) for v in values)
    if isinstance(values, bool):
        return values
    if isinstance(values, int):
        return int(values)
    if hasattr(values, "address"):
        return str(values.address)
    if isinstance(values, (bytes, bytearray)):
        return bytes(values)
    return str(values) if isinstance(values, str) else values


class ExactShares:
    """Exact (Fraction) model of pull-based distributions: every holder's interest and principal share of
    every distribution, whoever held when, and what was paid out. The contract must pay each holder and kind
    ``exact - 1 < withdrawn + withdrawable <= exact + 2**-24`` (an integer exact share exactly)."""

    SLACK = Fraction(1, 2**24)

    def __init__(self, holders: list[Any]) -> None:
        self.bal: dict[str, int] = {str(h): 0 for h in holders}
        self.exact: dict[str, list[Fraction]] = {str(h): [Fraction(0), Fraction(0)] for h in holders}
        self.paid: dict[str, list[int]] = {str(h): [0, 0] for h in holders}
        self.interest_distributed = 0
        self.principal_distributed = 0
        #: unswept dust in credit scale (2**32), as the contract counts it: floor((rI + rP) / 2**64) per
        #: distribution, r = amount * 2**96 mod supply
        self.dust_credit: int | None = 0
        #: the exact unallocated rounding dust in base units (what the pre-packing contract swept from)
        self.dust_exact = Fraction(0)

    def supply(self) -> int:
        return sum(self.bal.values())

    def issue(self, holder: Any, amount: int) -> None:
        self.bal[str(holder)] += amount

    def move(self, frm: Any, to: Any, amount: int) -> None:
        self.bal[str(frm)] -= amount
        self.bal[str(to)] += amount

    def redeem(self, holder: Any, amount: int) -> None:
        self.bal[str(holder)] -= amount

    def distribute(self, interest: int, principal: int) -> None:
        supply = self.supply()
        for h, b in self.bal.items():
            self.exact[h][0] += Fraction(interest * b, supply)
            self.exact[h][1] += Fraction(principal * b, supply)
        self.interest_distributed += interest
        self.principal_distributed += principal
        remainders = (interest * 2**96) % supply + (principal * 2**96) % supply
        if self.dust_credit is not None:
            self.dust_credit += remainders >> 64
        self.dust_exact += Fraction(remainders, 2**96)

    def sweep(self, amount: int, closed_holders: int) -> None:
        """A sweep of ``amount`` that closed ``closed_holders`` empty accounts: their sub-unit remainders (below
        one unit per kind each) join the dust, so from here on the dust is only bounded, not mirrored."""
        self.dust_credit = None
        self.dust_exact += 2 * closed_holders - amount

    def record_claim(self, holder: Any, tx: Any) -> tuple[int, int]:
        """Add a claim transaction's FundsWithdrawn amounts (if any) to ``holder``'s payouts."""
        if "FundsWithdrawn" not in tx.events:
            return (0, 0)
        ev = tx.event("FundsWithdrawn")
        got = (int(ev["interest"]), int(ev["principal"]))
        self.paid[str(holder)][0] += got[0]
        self.paid[str(holder)][1] += got[1]
        return got

    def check_holder(self, token: Any, holder: Any) -> None:
        """The token's statement of ``holder`` (withdrawn, withdrawable, views) against the exact shares."""
        h = str(holder)
        withdrawn = [int(v) for v in token.withdrawnOf(holder)]
        withdrawable = [int(v) for v in token.withdrawableOf(holder)]
        assert withdrawn == self.paid[h], (h, withdrawn, self.paid[h])
        for kind in (0, 1):
            got = withdrawn[kind] + withdrawable[kind]
            exact = self.exact[h][kind]
            assert exact - 1 < got <= exact + self.SLACK, (h, kind, got, exact)
            if exact.denominator == 1:
                assert got == exact, (h, kind, got, exact)
        assert token.accumulativeFundsOf(holder) == sum(withdrawn) + sum(withdrawable)
        assert token.withdrawableFundsOf(holder) == sum(withdrawable)
        assert token.balanceOf(holder) == self.bal[h]

    def check_totals(self, token: Any) -> None:
        assert token.totalSupply() == self.supply()
        assert token.totalInterestDistributed() == self.interest_distributed
        assert token.totalPrincipalDistributed() == self.principal_distributed
        if self.dust_credit is not None:
            assert token.sweepableDust() == self.dust_credit >> 32
        assert token.sweepableDust() <= self.dust_exact  # never more than the true unallocated dust
