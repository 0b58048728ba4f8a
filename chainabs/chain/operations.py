"""Every step of a deployed deal's life, on any node, without brownie: what the ``chainabs`` deal-operation
commands send (``chainabs.apps.operate`` presents them).

A :class:`Deal` is found from its manifest ``deployments/<chainid>/<deal>.json`` (:func:`find_deal`; the
only deal of the chain when just one is deployed) or from its SPV address, and its contracts are read from the
SPV. Each action runs inside a :func:`chainabs.chain.bound.session` (so :mod:`chainabs.chain.spv`,
:mod:`chainabs.chain.tokens` and :mod:`chainabs.chain.servicing` run on it unchanged), checks first what can
be checked without sending (roles, balances, what is owed, dates: :class:`OperationError`, one line) and
returns a dict of what it did, amounts in base units.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from web3 import Web3

from chainabs.chain import spv as spvlib
from chainabs.chain import tokens as tokenlib
from chainabs.chain.abis import load_abi, role_name
from chainabs.chain.bound import BoundContract
from chainabs.chain.contracts import contract_at, role_id
from chainabs.chain.events import EventDecoder, read_events
from chainabs.chain.read.deal import deployment_block, report_fields
from chainabs.chain.sender import Signer, default_sender
from chainabs.model.numbers import format_date, format_units
from chainabs.model.waterfall import PeriodReport
from chainabs.paths import PROJECT_ROOT

#: ``ISPV.Phase`` names by code.
PHASES: tuple[str, ...] = ("Offering", "Active", "Ended", "Cancelled")
#: Where a deployed test stablecoin's bytecode is read from (brownie's build of the project).
BUILD_CONTRACTS = PROJECT_ROOT / "build" / "contracts"


class OperationError(ValueError):
    """A deal operation that cannot be done as asked (one line: what is wrong, what to do)."""


class InvestorFileError(ValueError):
    """An investor file with bad rows: ``problems`` names each (row, field, rule); nothing was sent."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s), nothing was sent")


@dataclass
class Deal:
    """A deployed deal on one chain: its SPV, tokens, currency, registries and where it was found."""

    w3: Web3
    chain_id: int
    spv: BoundContract
    tokens: list[BoundContract]
    currency: BoundContract
    registry: BoundContract
    identity: BoundContract
    pool_id: int
    originator: str
    decimals: int
    symbol: str
    name: str = ""
    manifest: Path | None = None
    addresses: dict[str, str] = field(default_factory=dict)
    #: The role holders the manifest records (``meta.roles``: role -> address; empty without a manifest).
    roles: dict[str, str] = field(default_factory=dict)

    def units(self, amount: int) -> str:
        """Base units as currency units with the currency's symbol (``1,000.00 CNHT``)."""
        return format_units(int(amount), self.decimals, self.symbol)

    @property
    def symbols(self) -> list[str]:
        return [str(t.symbol()) for t in self.tokens]


# ------------------------------------------------------------------------------------------------ refusals


def _class(d: Deal, index: Any) -> str:
    i = int(index)
    return f"class {d.symbols[i]}" if 0 <= i < len(d.tokens) else f"class {i}"


def _phase(value: Any) -> str:
    from chainabs.model.deal import Phase

    try:
        return Phase(int(value)).name.capitalize()
    except ValueError:
        return str(value)


#: The deal's refusals in words: error name -> text from (deal, arguments).
DEAL_ERRORS: dict[str, Callable[[Deal, tuple[Any, ...]], str]] = {
    "OverSubscribed": lambda d, a: f"{_class(d, a[0])}: {d.units(a[1])} asked, {d.units(a[2])} left in the offering",
    "NotFullySubscribed": lambda d, a: f"{_class(d, a[0])} is not fully subscribed: {d.units(a[1])} of {d.units(a[2])}",
    "CleanUpCallNotAvailable": lambda d, a: (f"the clean-up call is not available: the pool is {d.units(a[0])}, the "
                                             f"call level {d.units(a[1])} (or a call is already pending)"),
    "ReportPending": lambda d, a: (f"period {int(a[0])}'s report is pending: it must be closed (chainabs close-period) "
                                   "or cancelled by the trustee first"),
    "NoReportPending": lambda d, a: f"no report is pending for period {int(a[0])}",
    "PaymentDateNotReached": lambda d, a: (f"period {int(a[0])} is payable from {format_date(int(a[1]))} "
                                           f"(the chain's date is {format_date(int(a[2]))})"),
    "WrongPhase": lambda d, a: f"the deal is {_phase(a[1])}, not {_phase(a[0])}",
    "OfferingExpired": lambda d, a: f"the offering closed on {format_date(int(a[0]))}",
    "OfferingStillOpen": lambda d, a: f"the offering is open until {format_date(int(a[0]))}",
    "CannotEnd": lambda d, a: (f"the deal cannot end yet: the pool is {d.units(a[0])}, the notes owe {d.units(a[1])}, "
                               f"legal final {format_date(int(a[2]))}"),
    "PeriodsOutstanding": lambda d, a: (f"{int(a[0])} period(s) closed: every period due by "
                                        f"{format_date(int(a[1]))} must be closed first"),
    "RecoveriesOutstanding": lambda d, a: f"{d.units(a[0])} of defaulted principal may still recover",
    "ZeroAmount": lambda d, a: "the amount must be above 0",
    "NothingOwed": lambda d, a: "nothing is owed",
    "AccessControlUnauthorizedAccount": lambda d, a: f"{a[0]} does not hold {role_name(a[1])}",
}


def refusal_text(d: Deal, name: str, args: Sequence[Any]) -> str:
    """The deal's refusal ``name(args)`` in words (:data:`DEAL_ERRORS`), its error name after them."""
    return f"{DEAL_ERRORS[name](d, tuple(args))} ({name})"


def explain_refusal(d: Deal, error: Any) -> str | None:
    """A deal contract's refusal (a decoded custom error: ``name``, ``args``) in words, amounts in the deal's currency
    and dates as dates, its error name after it; None for an error without words here."""
    name = getattr(error, "name", "")
    if name not in DEAL_ERRORS:
        return None
    try:
        return refusal_text(d, name, error.args)
    except (IndexError, TypeError, ValueError):  # arguments not as expected: the raw error is clearer
        return None


# ------------------------------------------------------------------------------------------------ finding


def manifest_dir(chain_id: int, root: Path | None = None) -> Path:
    """``<root>/<chain_id>`` (root: ``CHAINABS_DEPLOYMENTS_DIR`` or ``deployments/``)."""
    from chainabs.chain.deploy import deployments_root

    return (root or deployments_root()) / str(chain_id)


def find_deal(w3: Web3, *, deal: str | None = None, spv: str | None = None, root: Path | None = None) -> Deal:
    """The deal named ``deal`` in the chain's manifests, or the one whose SPV is ``spv``, or the chain's only
    deployed deal; refuses a manifest of another chain, an address without the SPV's code."""
    from chainabs.chain.deploy import is_deal_manifest

    chain_id = int(w3.eth.chain_id)
    folder = manifest_dir(chain_id, root)
    manifest: Path | None = None
    addresses: dict[str, str] = {}
    roles: dict[str, str] = {}
    name = ""
    if spv is None:
        if deal is None:
            found = sorted(p for p in folder.glob("*.json") if is_deal_manifest(p)) if folder.is_dir() else []
            if len(found) != 1:
                where = f"{folder}" if found else f"{folder} (none there)"
                raise OperationError(f"give --deal NAME or --spv ADDRESS: {len(found)} deals deployed on chain "
                                     f"{chain_id} in {where}" + (f": {', '.join(p.stem for p in found)}" if found else ""))
            manifest = found[0]
        else:
            manifest = folder / f"{Path(deal).stem}.json"
            if not manifest.exists():
                raise OperationError(f"no deal {deal!r} deployed on chain {chain_id}: {manifest} does not exist "
                                     "(deploy it with `chainabs deploy`, or give --spv ADDRESS)")
        data = json.loads(manifest.read_text())
        if int(data.get("chain_id", -1)) != chain_id:
            raise OperationError(f"{manifest} is the manifest of chain {data.get('chain_id')}, the node is chain {chain_id}")
        addresses = {k: v["address"] for k, v in data.get("contracts", {}).items()}
        roles = {str(k): str(v) for k, v in (data.get("meta", {}).get("roles") or {}).items() if isinstance(v, str)}
        name = str(data.get("deal", manifest.stem))
        if "spv" not in addresses:
            raise OperationError(f"{manifest}: the deal's SPV is not deployed yet (run `chainabs deploy` again to finish)")
        spv = addresses["spv"]
    if not Web3.is_address(str(spv)):
        raise OperationError(f"--spv {spv!r}: not an address")
    spv = Web3.to_checksum_address(str(spv))
    if not w3.eth.get_code(spv):
        hint = " (was the local chain restarted? the manifest is stale)" if manifest else ""
        raise OperationError(f"no contract at {spv} on chain {chain_id}{hint}")
    spv_c = BoundContract(w3, "SPV", spv)
    try:
        terms = spv_c.terms()
        token_addresses = spv_c.classTokens()
    except Exception:  # noqa: BLE001 - a contract that is not an SPV
        raise OperationError(f"{spv} on chain {chain_id} is not a ChainABS SPV") from None
    tokens = [BoundContract(w3, "TrancheToken", a) for a in token_addresses]
    currency = BoundContract(w3, "TestStablecoin", terms[0])
    identity = BoundContract(w3, "IdentityRegistry", tokens[0].identityRegistry())
    d = Deal(w3=w3, chain_id=chain_id, spv=spv_c, tokens=tokens, currency=currency,
             registry=BoundContract(w3, "AssetRegistry", terms[1]), identity=identity, pool_id=int(terms[2]),
             originator=Web3.to_checksum_address(terms[3]), decimals=int(currency.decimals()),
             symbol=str(currency.symbol()), name=name, manifest=manifest, roles=roles)
    d.addresses = {"spv": spv, "currency": currency.address, "registry": d.registry.address,
                   "identity": identity.address, **{f"class{i}": t.address for i, t in enumerate(tokens)}}
    for key, value in addresses.items():
        d.addresses.setdefault(key, value)
    return d


def class_index(d: Deal, text: str) -> int:
    """A class named by its letter (A = the most senior), its token symbol, its class name or its index."""
    wanted = str(text).strip()
    symbols = d.symbols
    names = [str(t.name()) for t in d.tokens]
    for i, (symbol, name) in enumerate(zip(symbols, names, strict=True)):
        if wanted.lower() in (symbol.lower(), name.lower(), name.split()[-1].lower()):
            return i
    if len(wanted) == 1 and wanted.isalpha() and ord(wanted.upper()) - ord("A") < len(symbols):
        return ord(wanted.upper()) - ord("A")
    if wanted.isdigit() and int(wanted) < len(symbols):
        return int(wanted)
    raise OperationError(f"--class {text!r}: the deal's classes are "
                         + ", ".join(f"{chr(65 + i)} ({s}, {n.split()[-1]})" for i, (s, n) in enumerate(zip(symbols, names, strict=True))))


# ------------------------------------------------------------------------------------------------ checks


def chain_time(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def require_role(contract: BoundContract, role: str, signer: Signer, what: str) -> None:
    """Refuse before sending when ``signer`` lacks AccessControl ``role`` on ``contract``."""
    if not contract.hasRole(role_id(role), signer.address):
        raise OperationError(f"{what}: {signer.address} does not hold {role} on the {contract.kind} {contract.address}")


def require_gas_money(w3: Web3, signer: Signer) -> None:
    """Refuse an account without any of the chain's coin to pay gas (on chains that charge for it)."""
    if int(w3.eth.get_balance(signer.address)) == 0 and not default_sender().local:
        raise OperationError(f"account {signer.address} has no ETH on chain {w3.eth.chain_id} to pay for gas "
                             "(fund it from a faucet)")


def require_currency(d: Deal, holder: str, amount: int, what: str) -> None:
    """Refuse when ``holder`` holds less than ``amount`` of the deal currency."""
    balance = int(d.currency.balanceOf(holder))
    if balance < amount:
        raise OperationError(f"{what}: {holder} holds {d.units(balance)}, needs {d.units(amount)}")


def approve_if_needed(d: Deal, owner: Signer, spender: str, amount: int) -> None:
    """Approve ``spender`` for ``amount`` of the currency unless the allowance already covers it."""
    from chainabs.chain.sender import transact

    if amount and int(d.currency.allowance(owner.address, spender)) < amount:
        transact(d.currency.approve, spender, int(amount), sender=owner)


def phase(d: Deal) -> str:
    return PHASES[int(d.spv.phase())]


def require_phase(d: Deal, wanted: str, what: str) -> None:
    now = phase(d)
    if now != wanted:
        raise OperationError(f"{what}: the deal is {now}, not {wanted}")


# ------------------------------------------------------------------------------------------------ offering


def read_investor_file(path: str | Path) -> pd.DataFrame:
    """An investor CSV (address, jurisdiction, investor_type, expiry as unix time or YYYY-MM-DD)."""
    from chainabs.model.inputs import read_csv

    frame = read_csv(path)  # one line naming the file for a missing, empty, non-UTF-8 or malformed one
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame


def investor_problems(frame: pd.DataFrame, now: int, allowed: dict[int, bool] | None = None) -> list[str]:
    """Every bad field of every row of an investor table (rows numbered as in the file: 1 = first data row), by
    the rules of :func:`chainabs.chain.tokens.validate_investors`; with ``allowed`` (jurisdiction -> allowed on chain) a
    jurisdiction the identity registry does not allow is named too."""
    from chainabs.model.inputs import missing_column_messages

    missing = missing_column_messages(frame.columns, tokenlib.INVESTOR_COLUMNS, "file")
    if missing:
        return list(missing.values())
    problems: list[str] = []
    seen: dict[str, int] = {}
    for row in range(len(frame)):
        one = _typed(frame.iloc[[row]].reset_index(drop=True))
        bad = tokenlib.investor_row_problems(row + 1, next(one.itertuples(index=False)), now)
        if bad:  # every field that breaks its rule
            problems += bad
            continue
        key = str(one.at[0, "address"]).lower()
        if key in seen:
            problems.append(f"row {row + 1}: field 'address' {one.at[0, 'address']} duplicates row {seen[key]}")
        seen.setdefault(key, row + 1)
        code = int(one.at[0, "jurisdiction"])
        if allowed is not None and not allowed.get(code, True):
            problems.append(f"row {row + 1}: field 'jurisdiction' = {code} is not allowed in the identity registry "
                            "(its admin allows it: add --allow-jurisdictions)")
    return problems


def _typed(one: pd.DataFrame) -> pd.DataFrame:
    """Text cells as the validator checks them: integers where they are integers, dates as unix time."""
    out = one.copy()
    for col in ("jurisdiction", "investor_type", "expiry"):
        if col not in out.columns:
            continue
        text = str(out.at[0, col]).strip()
        value: Any = text
        if text.lstrip("-").isdigit():
            value = int(text)
        elif col == "expiry":
            try:
                value = int(pd.Timestamp(text, tz="UTC").timestamp())
            except ValueError:
                value = text
        out[col] = pd.Series([value], dtype=object)
    return out


def register_investors(d: Deal, agent: Signer, path: str | Path, *, allow_jurisdictions: bool = False,
                       batch: int = 100) -> dict[str, Any]:
    """The KYC agent registers the investors of a CSV file: every bad row named and nothing sent on a bad
    file; investors already eligible are skipped (a re-run sends only what is missing)."""
    from chainabs.chain.sender import transact

    frame = read_investor_file(path)
    codes = sorted({int(c) for c in frame.get("jurisdiction", []) if str(c).strip().isdigit()})
    allowed = {c: bool(d.identity.isJurisdictionAllowed(c)) for c in codes if 0 < c < 2**16}
    problems = investor_problems(frame, chain_time(d.w3), None if allow_jurisdictions else allowed)
    if problems:
        raise InvestorFileError(str(path), problems)
    table = pd.concat([_typed(frame.iloc[[i]].reset_index(drop=True)) for i in range(len(frame))], ignore_index=True)
    table = tokenlib.validate_investors(table, now=chain_time(d.w3))
    require_role(d.identity, "KYC_AGENT_ROLE", agent, "investors register")
    to_allow = [c for c, ok in allowed.items() if not ok]
    if to_allow:
        require_role(d.identity, "DEFAULT_ADMIN_ROLE", agent, "--allow-jurisdictions")
    require_gas_money(d.w3, agent)
    tokenlib.allow_jurisdictions(d.identity, agent, to_allow)
    todo = table[[not d.identity.isEligible(a) for a in table["address"]]]
    for start in range(0, len(todo), batch):
        part = todo.iloc[start : start + batch]
        transact(d.identity.registerInvestors, [Web3.to_checksum_address(a) for a in part["address"]],
                 [int(v) for v in part["jurisdiction"]], [int(v) for v in part["investor_type"]],
                 [int(v) for v in part["expiry"]], sender=agent)
    return {"registered": [Web3.to_checksum_address(a) for a in todo["address"]],
            "already_registered": len(table) - len(todo), "jurisdictions_allowed": to_allow}


def subscribe(d: Deal, investor: Signer, klass: str, amount: int, *, retained: bool = False,
              accept_unverified_pool: bool = False) -> dict[str, Any]:
    """``investor`` pays ``amount`` (base units) for as many units of the class (approving the currency as
    needed); ``retained`` subscribes into the lock-up partition (the originator's risk retention). Refused, before
    anything is sent, when the pool's sealed Merkle root does not match its registered loans (the root is the
    originator's claim, ``docs/trust.md``: loan proofs against a false one prove nothing), unless
    ``accept_unverified_pool``."""
    from chainabs.chain.registry import (COMMITMENT_MISMATCH, COMMITMENT_NOT_SEALED, COMMITMENT_VERIFIED,
                                         pool_commitment)
    from chainabs.chain.sender import transact

    i = class_index(d, klass)
    require_phase(d, "Offering", "subscribe")
    if amount <= 0:
        raise OperationError("subscribe: --amount must be more than 0")
    left = int(d.spv.dealState()[2][i]) - int(d.spv.subscribed(i))  # the class's size less what is subscribed
    if amount > left:
        raise OperationError(f"subscribe: {refusal_text(d, 'OverSubscribed', (i, amount, left))}; nothing sent")
    require_gas_money(d.w3, investor)
    require_currency(d, investor.address, amount, "subscribe")
    found = COMMITMENT_VERIFIED if accept_unverified_pool else pool_commitment(d.registry, d.pool_id)
    if found == COMMITMENT_MISMATCH:
        raise OperationError(f"subscribe: pool {d.pool_id}'s sealed Merkle root does not match its registered loans, "
                             "so loan proofs against it prove nothing (chainabs status: pool commitment); pass "
                             "--accept-unverified-pool to subscribe anyway")
    if found == COMMITMENT_NOT_SEALED:
        raise OperationError(f"subscribe: pool {d.pool_id} is not sealed: there is no Merkle root to prove its loans "
                             "against; pass --accept-unverified-pool to subscribe anyway")
    if found != COMMITMENT_VERIFIED:
        raise OperationError(f"subscribe: pool {d.pool_id}'s sealed Merkle root {found}; try another node, or pass "
                             "--accept-unverified-pool to subscribe anyway")
    approve_if_needed(d, investor, d.spv.address, amount)
    fn = d.spv.subscribeRetained if retained else d.spv.subscribe
    transact(fn, i, int(amount), sender=investor)
    return {"class": d.symbols[i], "amount": int(amount), "retained": retained,
            "units_held": int(d.tokens[i].balanceOf(investor.address))}


def close(d: Deal, arranger: Signer) -> dict[str, Any]:
    """The arranger funds the reserve (approval as needed) and closes the deal: the pool's true sale."""
    from chainabs.chain.sender import transact

    require_phase(d, "Offering", "close")
    require_role(d.spv, "ARRANGER_ROLE", arranger, "close")
    reserve = int(d.spv.terms()[6])
    require_gas_money(d.w3, arranger)
    require_currency(d, arranger.address, reserve, "close (reserve funding)")
    approve_if_needed(d, arranger, d.spv.address, reserve)
    receipt = transact(d.spv.closeDeal, sender=arranger)
    event = receipt.event("DealClosed")
    return {"pool": int(event["poolId"]), "purchase_price": int(event["purchasePrice"]),
            "reserve_funded": int(event["reserveFunded"])}


def cancel_offering(d: Deal, caller: Signer) -> dict[str, Any]:
    """Cancel the offering (the arranger before the deadline, anyone after it)."""
    require_phase(d, "Offering", "cancel-offering")
    require_gas_money(d.w3, caller)
    event = spvlib.cancel_offering(d.spv, caller).event("OfferingCancelled")
    return {"subscriptions": int(event["subscriptions"]), "after_deadline": bool(event["afterDeadline"])}


def refund(d: Deal, caller: Signer, holder: str | None = None) -> dict[str, Any]:
    """After a cancelled offering: cancel ``holder``'s units (default the caller's) and pay it back (``refunded``
    0 and nothing sent when it holds none)."""
    require_phase(d, "Cancelled", "refund")
    holder = Web3.to_checksum_address(holder or caller.address)
    if not any(int(t.balanceOf(holder)) for t in d.tokens):
        return {"holder": holder, "refunded": 0}  # nothing to refund (already refunded, or never subscribed)
    require_gas_money(d.w3, caller)
    return {"holder": holder, "refunded": spvlib.refund(d.spv, caller, holder)}


# ------------------------------------------------------------------------------------------------ periods


def pending_report(d: Deal) -> tuple[int, PeriodReport, dict[str, Any]]:
    """The pending report (period, report, its ``ReportSubmitted`` event's other fields), read from chain."""
    period = int(d.spv.pendingServicingPeriod())
    if period == 0:
        raise OperationError(f"no report is pending (periods closed: {int(d.spv.dealState()[0])}); the servicer "
                             "submits one with `chainabs service TAPE`")
    spv_abi = load_abi("SPV")
    start = deployment_block(d.w3, d.spv.address)
    events = [e for e in read_events(d.w3, EventDecoder(d.w3, {d.spv.address: ("SPV", spv_abi)}), start)
              if e.event == "ReportSubmitted" and int(e.args["period"]) == period]
    if not events:
        raise OperationError(f"period {period}: its ReportSubmitted event is not on chain")
    event = events[-1]
    report = PeriodReport(**report_fields(event.args["report"]))
    return period, report, {"collections": int(event.args["collections"]), "tape_uri": str(event.args["tapeUri"]),
                            "servicer": str(event.args["servicer"]), "block": event.block_number}


def close_period(d: Deal, caller: Signer) -> dict[str, Any]:
    """Run the waterfall on the pending report once its payment date has come (anyone may)."""
    require_phase(d, "Active", "close-period")
    period, report, _ = pending_report(d)
    due, now = int(d.spv.paymentDate(period)), chain_time(d.w3)
    if now < due:
        raise OperationError(f"close-period: period {period} is payable on {format_date(due)}, the chain's time "
                             f"is {format_date(now)}")
    require_gas_money(d.w3, caller)
    result = spvlib.result_of(spvlib.close_period(d.spv, caller, report))
    return {"period": period, "interest_paid": list(result.interest_paid), "principal_paid": list(result.principal_paid),
            "residual": int(result.residual), "pool_balance": int(report.pool_ending_balance)}


def clean_up_call(d: Deal, originator: Signer) -> dict[str, Any]:
    """The originator buys what is left of the pool into the pending period (approving its price)."""
    from chainabs.chain.sender import transact

    require_phase(d, "Active", "clean-up-call")
    require_role(d.spv, "ORIGINATOR_ROLE", originator, "clean-up-call")
    period, report, _ = pending_report(d)
    live, defaulted = spvlib.clean_up_price(d.spv, report)
    params = spvlib.read_params(d.spv)  # DealParams: original pool balance [1], clean-up call bps [-1]
    level = int(params[1]) * int(params[-1]) // 10_000
    if live == 0 or live > level:  # the SPV's own test, before an approval is sent for nothing
        raise OperationError(f"clean-up-call: {refusal_text(d, 'CleanUpCallNotAvailable', (live, level))}; "
                             "nothing sent")
    price = live + defaulted
    require_gas_money(d.w3, originator)
    require_currency(d, originator.address, price, "clean-up-call")
    approve_if_needed(d, originator, d.spv.address, price)
    receipt = transact(d.spv.exerciseCleanUpCall, report.as_abi(), sender=originator)
    return {"period": period, "price": price, "pool_balance": live, "defaulted_claims": defaulted,
            "tx": receipt.tx_hash}


def end(d: Deal, caller: Signer) -> dict[str, Any]:
    """End the deal (paid off, its pool sold by a clean-up call, or past legal final): the rest goes to the equity
    class."""
    require_phase(d, "Active", "end")
    require_gas_money(d.w3, caller)
    receipt = spvlib.end_deal(d.spv, caller)
    event = receipt.event("DealEnded")
    # the fees' and the classes' carried shortfalls the end settled (paid from the deal's cash, the rest lost)
    settled = [e for name in ("FeeShortfallSettled", "InterestShortfallSettled") for e in receipt.events.get(name, ())]
    return {"period": int(event["period"]), "released_to_equity": int(event["releasedToEquity"]),
            "final_write_down": int(event["finalWriteDown"]), "legal_final": bool(event["legalFinal"]),
            "shortfalls_paid": sum(int(e["paid"]) for e in settled),
            "shortfalls_lost": sum(int(e["lost"]) for e in settled)}


def withdraw_fees(d: Deal, caller: Signer) -> dict[str, Any]:
    """Pay every fee recipient what it earned and was not paid (fees with nothing owed cost no gas; ``paid`` is
    empty and nothing is sent when no fee is owed)."""
    recipients = list(d.spv.feeRecipients())
    owed = [int(d.spv.feeOwed(k)) for k in range(len(recipients))]
    if not any(owed):
        return {"paid": {}}  # no fee is owed: nothing sent (a scheduled run finds nothing to do)
    require_gas_money(d.w3, caller)
    paid = {}
    for k, amount in enumerate(owed):
        if amount:
            tx = spvlib.withdraw_fees(d.spv, caller, k)
            paid[recipients[k]] = int(tx.event("FeesWithdrawn")["amount"]) if "FeesWithdrawn" in tx.events else 0
    return {"paid": paid}


def claim(d: Deal, caller: Signer, holders: Sequence[str] = ()) -> dict[str, Any]:
    """Withdraw interest and principal from every token that owes some: the caller's own, or (``holders``)
    each holder's, paid to the holder (``claimFor``: anyone may trigger it). Tokens owing nothing are not
    called: no gas is spent on nothing (``claimed`` is empty when nothing is owed)."""
    from chainabs.chain.sender import transact

    who = [Web3.to_checksum_address(h) for h in holders] or [caller.address]
    owed = {h: [tuple(int(v) for v in t.withdrawableOf(h)) for t in d.tokens] for h in who}
    if not any(sum(o) for per in owed.values() for o in per):
        return {"claimed": {}}  # nothing owed: nothing sent (a scheduled run finds nothing to do)
    require_gas_money(d.w3, caller)
    out: dict[str, dict[str, dict[str, int]]] = {}
    for holder in who:
        for token, (interest, principal) in zip(d.tokens, owed[holder], strict=True):
            if not interest + principal:
                continue
            if holder == caller.address:
                receipt = transact(token.claim, sender=caller)
            else:
                receipt = transact(token.claimFor, holder, sender=caller)
            event = receipt.event("FundsWithdrawn")
            out.setdefault(holder, {})[str(token.symbol())] = {"interest": int(event["interest"]),
                                                              "principal": int(event["principal"])}
    return {"claimed": out}


def recover_wallet(d: Deal, kyc_agent: Signer, controller: Signer, lost: str, replacement: str,
                   investor_id: str | None = None) -> dict[str, Any]:
    """Move a lost wallet's units and unclaimed funds to the investor's replacement wallet on every token of
    the deal where it holds something: the KYC agent first links both wallets to one investor (unless
    already linked; ``investor_id`` a reference to the KYC file, default derived from the lost wallet), then
    the controller recovers them (ERC-1644 controller operation, a ``WalletRecovered`` event)."""
    from chainabs.chain.sender import transact

    lost, replacement = (Web3.to_checksum_address(a) for a in (lost, replacement))
    if not d.identity.isEligible(replacement):
        raise OperationError(f"recover-wallet: the replacement {replacement} is not a registered, eligible investor "
                             "(register it first with `chainabs investors register`)")
    holding = [t for t in d.tokens if int(t.balanceOf(lost)) or sum(int(v) for v in t.withdrawableOf(lost))]
    if not holding:
        raise OperationError(f"recover-wallet: {lost} holds nothing in the deal's tokens")
    for token in holding:
        require_role(token, "CONTROLLER_ROLE", controller, "recover-wallet")
    require_gas_money(d.w3, controller)
    linked = bool(d.identity.isSameInvestor(lost, replacement))
    if not linked:
        require_role(d.identity, "KYC_AGENT_ROLE", kyc_agent, "recover-wallet (linking the wallets)")
        require_gas_money(d.w3, kyc_agent)
        ident = bytes(d.identity.investorIdOf(lost))
        if ident == b"\0" * 32:
            ident = Web3.keccak(text=investor_id or f"investor:{lost.lower()}")
        transact(d.identity.setInvestorId, [lost, replacement], ident, sender=kyc_agent)
    moved = {}
    for token in holding:
        # What the lost wallet could withdraw (currency units, interest and principal). The event's credits are
        # cumulative and scaled by 2**32: what was already paid out is in them, and moves with them.
        interest, principal = (int(v) for v in token.withdrawableOf(lost))
        event = tokenlib.recover_wallet(token, controller, lost, replacement).event("WalletRecovered")
        moved[str(token.symbol())] = {"units": int(event["units"]), "interest": interest, "principal": principal}
    return {"lost": lost, "replacement": replacement, "linked_now": not linked, "moved": moved}


ROLE_TARGETS = ("tokens", "spv", "identity", "registry")


def grant_role(d: Deal, admin: Signer, role: str, account: str, on: str) -> dict[str, Any]:
    """The admin grants AccessControl ``role`` to ``account`` on the deal's ``on`` (every tranche token, the
    SPV, the identity registry or the asset registry), where it is not held yet."""
    from chainabs.chain.sender import transact

    if on not in ROLE_TARGETS:
        raise OperationError(f"--on {on!r}: one of {', '.join(ROLE_TARGETS)}")
    if not Web3.is_address(account):
        raise OperationError(f"{account!r} is not an address")
    account = Web3.to_checksum_address(account)
    targets = {"tokens": d.tokens, "spv": [d.spv], "identity": [d.identity], "registry": [d.registry]}[on]
    role = role.upper()
    granted = []
    for contract in targets:
        if role not in contract._names and role != "DEFAULT_ADMIN_ROLE":
            raise OperationError(f"{contract.kind} has no role {role}")
        if contract.hasRole(role_id(role), account):
            continue
        require_role(contract, "DEFAULT_ADMIN_ROLE", admin, f"grant {role}")
        require_gas_money(d.w3, admin)
        transact(contract.grantRole, role_id(role), account, sender=admin)
        granted.append(contract.address)
    return {"role": role, "account": account, "granted_on": granted}


# ------------------------------------------------------------------------------------------------ test currency


def deploy_test_currency(w3: Web3, owner: Signer, name: str, symbol: str, decimals: int) -> dict[str, Any]:
    """Deploy the project's test stablecoin (``TestStablecoin``: ERC-20 whose owner mints) from ``owner``."""
    path = BUILD_CONTRACTS / "TestStablecoin.json"
    if not path.exists():
        raise OperationError(f"{path} is missing: compile the project first (make build / brownie compile)")
    art = json.loads(path.read_text())
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    data = factory.constructor(name, symbol, int(decimals)).data_in_transaction
    require_gas_money(w3, owner)
    receipt = default_sender().send(owner, None, data, description=f"deploy TestStablecoin {symbol}")
    return {"currency": receipt.contract_address, "symbol": symbol, "decimals": int(decimals), "owner": owner.address}


def mint_test_currency(w3: Web3, owner: Signer, currency: str, recipients: Sequence[str], amount: int) -> dict[str, Any]:
    """The test stablecoin's owner mints ``amount`` (base units) to each recipient."""
    from chainabs.chain.sender import transact

    token = BoundContract(w3, "TestStablecoin", currency)
    if not w3.eth.get_code(token.address):
        raise OperationError(f"no contract at {token.address} on chain {w3.eth.chain_id}")
    if str(token.owner()).lower() != owner.address.lower():
        raise OperationError(f"mint: {owner.address} is not the owner of {token.address} (its owner is {token.owner()})")
    require_gas_money(w3, owner)
    to = [Web3.to_checksum_address(r) for r in recipients]
    for address in to:
        transact(token.mint, address, int(amount), sender=owner)
    return {"currency": token.address, "minted": int(amount), "to": to}


# ------------------------------------------------------------------------------------------------ collateral

#: The key of a deal's collateral registry in its deployment manifest (``contracts``).
COLLATERAL_KEY = "collateral_registry"


def collateral_registry(d: Deal) -> BoundContract | None:
    """The deal's ``CollateralRegistry`` (recorded in its manifest by :func:`deploy_collateral`), or None."""
    address = d.addresses.get(COLLATERAL_KEY)
    return BoundContract(d.w3, "CollateralRegistry", address) if address else None


def _require_collateral(d: Deal, what: str) -> BoundContract:
    coll = collateral_registry(d)
    if coll is None:
        raise OperationError(f"{what}: deal {d.name or d.spv.address} has no collateral registry (deploy one with "
                             "`chainabs collateral deploy --deal NAME`)")
    if not d.w3.eth.get_code(coll.address):
        raise OperationError(f"{what}: no contract at the collateral registry {coll.address} on chain {d.chain_id}")
    return coll


def _create_address(sender: str, nonce: int) -> str:
    """The address of the contract ``sender`` creates with transaction ``nonce``."""
    import rlp
    from eth_utils import keccak

    return Web3.to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


def _deploy_recorded(d: Deal, key: str, contract: str, args: Sequence[Any], deployer: Signer, what: str
                     ) -> tuple[str, str | None, bool]:
    """Deploy project contract ``contract(*args)`` from ``deployer`` once per deal, recorded in the deal's manifest
    under ``key``: returns ``(address, tx, deployed)``. Safe to run again: a contract already recorded is kept,
    and one whose creation was sent by a killed run (recorded as pending with its predicted address before the
    send) is found instead of deployed twice."""
    from chainabs.chain.deploy import Manifest

    known = d.addresses.get(key)
    if known and d.w3.eth.get_code(known):
        return Web3.to_checksum_address(known), None, False
    if d.manifest is None:
        raise OperationError(f"{what}: give --deal NAME (the deal's manifest records the {contract}; a deal found "
                             "by --spv has none)")
    manifest = Manifest.load(d.manifest.stem, d.chain_id, d.manifest.parent.parent)
    pending = manifest.pending.get(key)
    if pending and d.w3.eth.get_code(pending["address"]):
        address, tx = Web3.to_checksum_address(pending["address"]), None
    else:
        path = BUILD_CONTRACTS / f"{contract}.json"
        if not path.exists():
            raise OperationError(f"{path} is missing: compile the project first (make build / brownie compile)")
        art = json.loads(path.read_text())
        data = d.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(*args).data_in_transaction
        require_gas_money(d.w3, deployer)
        nonce = default_sender().next_nonce(deployer)
        manifest.pending[key] = {"sender": deployer.address, "nonce": nonce,
                                 "address": _create_address(deployer.address, nonce)}
        manifest.save()  # before sending: a kill from here on leaves the predicted address behind
        receipt = default_sender().send(deployer, None, data, nonce=nonce, description=f"deploy {contract}")
        address, tx = Web3.to_checksum_address(str(receipt.contract_address)), receipt.tx_hash
    manifest.pending.pop(key, None)
    manifest.contracts[key] = {"contract": contract, "address": address, "tx": tx}
    manifest.save()
    d.addresses[key] = address
    return address, tx, True


def deploy_collateral(d: Deal, deployer: Signer) -> dict[str, Any]:
    """Deploy the deal's ``CollateralRegistry`` (over its asset registry) and record it in the deal's manifest;
    safe to run again (:func:`_deploy_recorded`)."""
    address, _, deployed = _deploy_recorded(d, COLLATERAL_KEY, "CollateralRegistry", (d.registry.address,), deployer,
                                            "collateral deploy")
    return {"collateral_registry": address, "deployed": deployed}


# ------------------------------------------------------------------------------------------------ trading venue

#: The key of a deal's trading venue in its deployment manifest (``contracts``).
MARKET_KEY = "market"


def open_market(d: Deal, admin: Signer, classes: Sequence[str] = ()) -> dict[str, Any]:
    """A trading venue (``TrancheMarket``) for the deal's currency, its tranches listed: deployed from ``admin``
    (who gets its admin role and LISTER_ROLE) and recorded in the deal's manifest, then each class of
    ``classes`` (symbols; default every class) listed. Safe to run again: the recorded venue is kept, the
    role and listings already there are skipped. Refuses, before sending, a venue on another currency and an
    ``admin`` who can neither list nor grant the role."""
    from chainabs.chain.sender import transact

    symbols = d.symbols
    wanted = list(classes) or symbols
    unknown = [c for c in wanted if c not in symbols]
    if unknown:
        raise OperationError(f"market open: no class {', '.join(unknown)} in the deal (its classes: {', '.join(symbols)})")
    # A venue already recorded is returned without sending anything: it is checked before anything is sent to it.
    address, tx, deployed = _deploy_recorded(d, MARKET_KEY, "TrancheMarket", (d.currency.address, admin.address),
                                              admin, "market open")
    venue = BoundContract(d.w3, "TrancheMarket", address)
    if str(venue.currency()).lower() != d.currency.address.lower():
        raise OperationError(f"market open: the recorded venue {venue.address} trades against {venue.currency()}, "
                             f"not the deal's currency {d.currency.address}")
    lister = role_id("LISTER_ROLE")
    if not venue.hasRole(lister, admin.address):
        require_role(venue, "DEFAULT_ADMIN_ROLE", admin, "market open (grant LISTER_ROLE)")
        transact(venue.grantRole, lister, admin.address, sender=admin)
    listed, already = [], []
    for token, symbol in zip(d.tokens, symbols, strict=True):
        if symbol not in wanted:
            continue
        if venue.listing(token.address)[0]:
            already.append(symbol)
            continue
        transact(venue.list, token.address, sender=admin)
        listed.append(symbol)
    return {"market": address, "deployed": deployed, "tx": tx, "listed": listed, "already_listed": already,
            "currency": d.currency.address}


def read_collateral_file(d: Deal, path: str | Path) -> pd.DataFrame:
    """A collateral file (CSV / Parquet, :mod:`chainabs.model.collateral`) typed and checked against the deal:
    every bad row and field is named (:class:`chainabs.model.tape.TapeValidationError`), and every loan must be a
    live loan of the deal's pool (one line naming the rows that are not)."""
    from chainabs.chain.registry import asset_states
    from chainabs.model.assets import CLOSED_STATUSES, asset_id
    from chainabs.model.collateral import check_collateral
    from chainabs.model.tape import read_tape

    from chainabs.model.inputs import InputFileError

    try:
        frame = read_tape(path)
    except InputFileError as exc:  # names the file already
        raise OperationError(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise OperationError(f"{path}: {exc}") from None
    from chainabs.chain.calls import Views, view_calls

    typed = check_collateral(frame)
    ids = [asset_id(d.originator, str(lid)) for lid in typed["loan_id"]]
    fn = Views(d.registry.abi, d.registry.address)
    known = [int(n) == 1 for n in view_calls(d.w3, [fn.countRegistered([a]) for a in ids])]
    states = dict(zip([a for a, k in zip(ids, known, strict=True) if k],
                      asset_states(d.registry, [a for a, k in zip(ids, known, strict=True) if k]), strict=True))
    bad = []
    for i, (lid, a) in enumerate(zip(typed["loan_id"], ids, strict=True)):
        if a not in states:
            bad.append(f"row {i + 1} loan {lid} (not registered)")
        elif states[a][2] != d.pool_id or states[a][0] in CLOSED_STATUSES:
            bad.append(f"row {i + 1} loan {lid} (pool {states[a][2]}, {states[a][0]})")
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise OperationError(f"{path}: {len(bad)} row(s) are not live loans of pool {d.pool_id} of originator "
                             f"{d.originator}: {'; '.join(bad[:5])}{more}; nothing was sent")
    return typed


def record_collateral(d: Deal, originator: Signer, path: str | Path) -> dict[str, Any]:
    """The originator records a collateral file for the deal's pool, in batches that each land whole; loans
    already recorded are skipped (a run killed half way is finished by running it again)."""
    from chainabs.chain import collateral as collib

    coll = _require_collateral(d, "collateral record")
    if originator.address.lower() != d.originator.lower():
        raise OperationError(f"collateral record: the pool's originator {d.originator} records its loans' "
                             f"collateral, not {originator.address} (ORIGINATOR_PRIVATE_KEY or --account)")
    typed = read_collateral_file(d, path)
    done = collib.recorded(coll, d.originator, [str(x) for x in typed["loan_id"]])
    require_gas_money(d.w3, originator)
    receipts = collib.record_collateral(coll, originator, typed)
    count, value = collib.pool_collateral(coll, d.pool_id)
    return {"recorded": len(typed) - len(done), "already_recorded": len(done), "transactions": len(receipts),
            "pool_collateral_count": count, "pool_appraised_value": value}


def release_collateral(d: Deal, caller: Signer, loan_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """Anyone releases from the pool's collateral tally the collateral of loans that left the pool or closed
    (bought back, prepaid, repaid, disposed of, charged off); ``loan_ids``: the loans to look at (default every
    loan the pool ever registered, from the registry's events). Nothing to release sends nothing."""
    from chainabs.chain import collateral as collib
    from chainabs.chain.registry import pool_asset_ids

    coll = _require_collateral(d, "collateral release")
    if loan_ids is None:
        ids = pool_asset_ids(d.registry, d.pool_id)
    else:
        from chainabs.model.assets import asset_id

        ids = [asset_id(d.originator, str(lid)) for lid in loan_ids]
    todo = collib.releasable(coll, ids)
    if todo:
        require_gas_money(d.w3, caller)
    receipts = collib.release(coll, caller, todo)
    count, value = collib.pool_collateral(coll, d.pool_id)
    return {"released": len(todo), "transactions": len(receipts), "pool_collateral_count": count,
            "pool_appraised_value": value}


def collateral_status(d: Deal) -> dict[str, Any]:
    """The pool's collateral tally and how much of it belongs to loans that left the pool or closed."""
    from chainabs.chain import collateral as collib
    from chainabs.chain.registry import pool_asset_ids

    coll = _require_collateral(d, "collateral status")
    ids = pool_asset_ids(d.registry, d.pool_id)
    count, value = collib.pool_collateral(coll, d.pool_id)
    return {"collateral_registry": coll.address, "pool_loans": len(ids), "pool_collateral_count": count,
            "pool_appraised_value": value, "releasable": len(collib.releasable(coll, ids))}


def identity_cache_status(d: Deal) -> dict[str, Any]:
    """The deal's tokens' identity caches (docs/token.md, "Identity cache"): which classes keep one (a listener of the
    identity registry; its cache on and its generation), and the registry's listeners that are not the deal's tokens
    (they run code on every restrictive KYC change, so each one should be known)."""
    mine = {str(t.address).lower() for t in d.tokens}
    listeners = [str(a) for a in d.identity.identityListeners()]
    listening = {a.lower() for a in listeners}
    classes = []
    for symbol, token in zip(d.symbols, d.tokens, strict=True):
        enabled, generation = token.identityCache()
        classes.append({"symbol": symbol, "cache": bool(enabled), "generation": int(generation),
                        "listener": str(token.address).lower() in listening})
    return {"identity_registry": d.identity.address, "classes": classes,
            "other_listeners": [a for a in listeners if a.lower() not in mine]}
