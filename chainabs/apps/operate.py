"""The deal-operation commands (``chainabs investors register``, ``subscribe``, ``close``, ``cancel-offering``,
``refund``, ``service``, ``close-period``, ``claim``, ``recover-wallet``, ``clean-up-call``, ``end``,
``withdraw-fees``, ``grant-role``, ``test-currency``, ``market open``, ``status``): how they find the node, the deal and the
signer, ask before sending on a live network, and print what they did (or ``--json``).

* **Node**: ``--rpc URL``, ``--network NAME`` (a brownie network's host) or the local chain on
  ``CHAINABS_PORT`` (e.g. the anvil brownie launched). No brownie is started: a command takes about a second.
* **Deal**: ``--deal NAME`` (``deployments/<chainid>/NAME.json``, as ``chainabs deploy`` wrote it), ``--spv
  ADDRESS``, or the chain's only deployed deal.
* **Signer**: :func:`chainabs.chain.signers.select` (``--keystore``, ``--account``, the role's
  ``<ROLE>_PRIVATE_KEY``, a local chain's unlocked role account). Each command's role is in :data:`ROLES`.
* **Live networks** (any chain id but anvil's and Ganache's): before each transaction the command prints what
  it sends, to which contract, its gas estimate and its cost at the current fee, and asks ``Send? [y/N]``;
  ``--yes`` sends without asking; with no terminal and no ``--yes`` nothing is sent (one-line refusal).
* Amounts are entered and shown in currency units (``1,000,000`` or ``1000000.5``), never base units.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from web3 import Web3

from chainabs.apps.display import print_table
from chainabs.apps.output import emit_json
from chainabs.chain import bound, signers
from chainabs.chain import operations as ops
from chainabs.chain.connection import ChainConfigError
from chainabs.chain.sender import Receipt, Sender, Signer, TxError
from chainabs.model.market import MarketError, parse_amount
from chainabs.model.numbers import format_bps, format_date, format_factor, format_units

#: The role whose key each sending command uses (``chainabs.chain.signers.ROLE_KEYS`` lists the variables).
ROLES: dict[str, str] = {
    "investors register": "kyc_agent", "subscribe": "investor", "close": "arranger", "cancel-offering": "arranger",
    "refund": "investor", "service": "servicer", "close-period": "servicer", "claim": "investor",
    "recover-wallet": "controller", "clean-up-call": "originator", "end": "trustee", "withdraw-fees": "trustee",
    "grant-role": "arranger", "test-currency deploy": "currency_owner", "test-currency mint": "currency_owner",
    "collateral deploy": "originator", "collateral record": "originator", "collateral release": "servicer",
    "market open": "arranger",
}


class Refused(ChainConfigError):
    """A live-network transaction not confirmed: nothing (more) was sent."""


@dataclass
class Options:
    """What every deal-operation command takes (see the module doc)."""

    command: str
    rpc: str | None = None
    network: str | None = None
    deal: str | None = None
    spv: str | None = None
    manifest_dir: Path | None = None
    yes: bool = False
    json: bool = False
    keystore: str | None = None
    account: str | None = None
    key_env: str | None = None


class RecordingSender(Sender):
    """A sender that keeps the receipt of everything it sent (what a command reports)."""

    def __init__(self, w3: Web3) -> None:
        super().__init__(w3)
        self.sent: list[Receipt] = []

    def send(self, *args: Any, **kwargs: Any) -> Receipt:
        receipt = super().send(*args, **kwargs)
        self.sent.append(receipt)
        return receipt


@dataclass
class Context:
    """An open command: its node, the bound sender, the deal (when it has one) and where it prints."""

    options: Options
    w3: Web3
    sender: RecordingSender
    console: Console
    deal: ops.Deal | None = None

    def signer(self, role: str, *, own_options: bool = True) -> Signer:
        """The signer of ``role`` (the command's ``--keystore`` / ``--account`` / ``--key-env`` apply when
        ``own_options``; a second role of the same command takes its own variable or a local account: on a local
        chain the one the deal's manifest records for the role)."""
        o = self.options
        recorded = self.deal.roles if self.deal is not None and self.sender.local else {}
        return signers.select(role, keystore=o.keystore if own_options else None,
                              account=o.account if own_options else None, key_env=o.key_env if own_options else None,
                              w3=self.w3, local=self.sender.local, recorded=recorded)

    def amount(self, text: str, what: str = "--amount") -> int:
        """Currency units as typed -> base units of the deal's currency."""
        if self.deal is None:
            raise ops.OperationError(f"{what}: no deal to take the currency's decimals from")
        try:
            return parse_amount(text, self.deal.decimals, what)
        except MarketError as exc:
            raise ops.OperationError(str(exc)) from None


# ------------------------------------------------------------------------------------------------ confirmation


def reviewer(ctx: Context, ask: Callable[[str], str] = input, isatty: Callable[[], bool] | None = None
             ) -> Callable[[Any, str], None]:
    """The check each transaction of an operation command passes before it is signed (:func:`confirmation`),
    naming the deal's contracts."""
    names = {}
    if ctx.deal is not None:
        names = {Web3.to_checksum_address(a): k for k, a in ctx.deal.addresses.items()}
    return confirmation(ctx.sender, ctx.options.command, yes=ctx.options.yes, names=names, ask=ask, isatty=isatty)


def confirmation(sender: Any, command: str, *, yes: bool, names: Mapping[str, str] | None = None,
                 ask: Callable[[str], str] = input, isatty: Callable[[], bool] | None = None
                 ) -> Callable[[Any, str], None]:
    """The check each transaction of ``sender`` passes before it is signed (its ``review`` hook): nothing on a
    local chain; on a live network the transaction, its gas estimate and its cost at the current fee on stderr,
    then ``yes`` (``--yes``) or a terminal's answer; refused (:class:`Refused`) without either. ``names``:
    address -> name for the line."""
    names = dict(names or {})
    tty = isatty or (lambda: sys.stdin.isatty())

    def review(tx: Any, what: str) -> None:
        if sender.local:
            return
        gas = int(tx["gas"])
        price = int(tx.get("maxFeePerGas") or tx.get("gasPrice") or 0)
        base = int(sender.w3.eth.get_block("latest").get("baseFeePerGas") or price)
        now = min(price, base + int(tx.get("maxPriorityFeePerGas", 0))) if price else 0
        to = tx.get("to")
        target = f"{names.get(to, 'contract')} {to}" if to else "a new contract"
        line = (f"{command}: {what} -> {target} from {tx['from']}; gas {gas:,}; cost "
                f"{Web3.from_wei(gas * now, 'ether'):.6f} ETH at {now / 1e9:.3f} gwei (at most "
                f"{Web3.from_wei(gas * price, 'ether'):.6f} ETH)")
        print(line, file=sys.stderr)
        if yes:
            return
        if not tty():
            raise Refused(f"chain {sender.chain_id} is a live network: {what} not sent (no terminal to confirm; "
                          "add --yes to send without asking)")
        try:
            answer = ask("Send? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            raise Refused(f"{what} not sent: cancelled at the confirmation")

    return review


def node_url(options: Options) -> str:
    """The node: ``--rpc`` / ``--network``, else the chain brownie is connected to in this process (a
    ``brownie run`` script, the tests), else the local chain on ``CHAINABS_PORT``."""
    if not options.rpc and not options.network and "brownie" in sys.modules:
        from brownie import network

        if network.is_connected():
            from chainabs.chain.connection import endpoint

            return endpoint()
    return bound.node_url(options.rpc, options.network)


@contextmanager
def opened(options: Options, console: Console | None = None, *, needs_deal: bool = True) -> Iterator[Context]:
    """Connect, bind a recording sender for the library, find the deal, install the confirmation."""
    console = console or Console()
    w3 = bound.connect(node_url(options))
    sender = RecordingSender(w3)
    with bound.session(w3, sender):
        ctx = Context(options, w3, sender, console)
        if needs_deal:
            ctx.deal = ops.find_deal(w3, deal=options.deal, spv=options.spv, root=options.manifest_dir)
        sender.review = reviewer(ctx)
        try:
            yield ctx
        except TxError as exc:  # a deal contract's refusal: in words, amounts in the deal's currency
            words = ops.explain_refusal(ctx.deal, exc.error) if ctx.deal is not None and exc.error else None
            if words is None:
                raise
            raise ops.OperationError(str(exc).replace(str(exc.error), words)) from None


# ------------------------------------------------------------------------------------------------ output


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def report(ctx: Context, result: dict[str, Any], summary: str) -> dict[str, Any]:
    """Print what the command did: each transaction (hash, gas) and ``summary``, or one JSON object."""
    txs = [{"what": _what(r), "tx": r.tx_hash, "block": r.block_number, "gas_used": r.gas_used, "from": r.sender,
            "to": r.to or r.contract_address} for r in ctx.sender.sent]
    out = {"command": ctx.options.command, "chain_id": ctx.sender.chain_id,
           "deal": ctx.deal.name if ctx.deal else None, "spv": ctx.deal.spv.address if ctx.deal else None,
           "decimals": ctx.deal.decimals if ctx.deal else None, "transactions": txs, "result": _plain(result)}
    if ctx.options.json:
        emit_json(out, indent=None, sort_keys=True)
        return out
    for t in txs:
        ctx.console.print(f"sent {t['what']}: tx {t['tx']} (block {t['block']}, gas {t['gas_used']:,})",
                          highlight=False, soft_wrap=True)
    ctx.console.print(summary if txs else f"{summary} (nothing sent)", highlight=False, soft_wrap=True)
    return out


def _what(receipt: Receipt) -> str:
    data = bytes(receipt.input)
    if receipt.to is None:
        return "contract creation"
    from chainabs.chain.abis import SHIPPED, load_abi
    from eth_utils import function_signature_to_4byte_selector

    for name in SHIPPED:
        for entry in load_abi(name):
            if entry.get("type") == "function":
                sig = f"{entry['name']}({','.join(_type(i) for i in entry['inputs'])})"
                if function_signature_to_4byte_selector(sig) == data[:4]:
                    return entry["name"]
    return "call"


def _type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        return f"({','.join(_type(c) for c in item['components'])})" + item["type"][5:]
    return item["type"]


# ------------------------------------------------------------------------------------------------ commands


def investors_register(options: Options, path: Path, *, allow_jurisdictions: bool = False,
                       console: Console | None = None) -> dict[str, Any]:
    with opened(options, console) as ctx:
        d = ctx.deal
        r = ops.register_investors(d, ctx.signer("kyc_agent"), path, allow_jurisdictions=allow_jurisdictions)
        text = (f"{len(r['registered'])} investor(s) registered in the identity registry {d.identity.address}"
                + (f", {r['already_registered']} already registered" if r["already_registered"] else "")
                + (f"; jurisdictions allowed: {r['jurisdictions_allowed']}" if r["jurisdictions_allowed"] else ""))
        return report(ctx, r, text)


def subscribe(options: Options, klass: str, amount: str, *, retained: bool = False,
              accept_unverified_pool: bool = False, console: Console | None = None) -> dict[str, Any]:
    with opened(options, console) as ctx:
        d = ctx.deal
        who = ctx.signer("originator" if retained else "investor")
        r = ops.subscribe(d, who, klass, ctx.amount(amount), retained=retained,
                          accept_unverified_pool=accept_unverified_pool)
        return report(ctx, r, f"{who.address} subscribed {d.units(r['amount'])} of {r['class']}"
                      f"{' (retained, locked up)' if retained else ''}; holds {d.units(r['units_held'])} of it")


def close(options: Options, console: Console | None = None) -> dict[str, Any]:
    with opened(options, console) as ctx:
        d = ctx.deal
        r = ops.close(d, ctx.signer("arranger"))
        return report(ctx, r, f"deal closed: pool {r['pool']} bought for {d.units(r['purchase_price'])}, reserve "
                      f"funded with {d.units(r['reserve_funded'])}")


def cancel_offering(options: Options, console: Console | None = None) -> dict[str, Any]:
    with opened(options, console) as ctx:
        d = ctx.deal
        r = ops.cancel_offering(d, ctx.signer("arranger"))
        return report(ctx, r, f"offering cancelled ({d.units(r['subscriptions'])} subscribed; each holder gets it "
                      "back with `chainabs refund`)")


def refund(options: Options, holder: str | None = None, console: Console | None = None) -> dict[str, Any]:
    with opened(options, console) as ctx:
        d = ctx.deal
        r = ops.refund(d, ctx.signer("investor"), holder)
        if not r["refunded"]:
            return report(ctx, r, f"refund: {r['holder']} holds no units of the deal: nothing to refund")
        return report(ctx, r, f"{r['holder']} refunded {d.units(r['refunded'])}")


def close_period(options: Options, console: Console | None = None) -> dict[str, Any]:
    with opened(options, console) as ctx:
        d = ctx.deal
        r = ops.close_period(d, ctx.signer("servicer"))
        paid = ", ".join(f"{s} {d.units(i)} interest + {d.units(p)} principal"
                         for s, i, p in zip(d.symbols, r["interest_paid"], r["principal_paid"], strict=True))
        return report(ctx, r, f"period {r['period']} closed: {paid}; pool {d.units(r['pool_balance'])}")


def claim(options: Options, holders: list[str] | None = None, console: Console | None = None) -> dict[str, Any]:
    with opened(options, console) as ctx:
        d = ctx.deal
        signer = ctx.signer("investor")
        r = ops.claim(d, signer, holders or ())
        if not r["claimed"]:
            who = ", ".join(holders or [signer.address])
            return report(ctx, r, f"claim: nothing to claim for {who} on the deal's {len(d.tokens)} tokens")
        got = "\n".join(f"{h}: " + ", ".join(f"{s} {d.units(v['interest'])} interest + {d.units(v['principal'])} "
                                              "principal" for s, v in per.items()) for h, per in r["claimed"].items())
        return report(ctx, r, f"claimed:\n{got}")


def recover_wallet(options: Options, lost: str, replacement: str, investor_id: str | None = None,
                   console: Console | None = None) -> dict[str, Any]:
    with opened(options, console) as ctx:
        d = ctx.deal
        kyc = ctx.signer("kyc_agent", own_options=False)
        r = ops.recover_wallet(d, kyc, ctx.signer("controller"), lost, replacement, investor_id)
        moved = ", ".join(f"{s}: {d.units(v['units'])} units, {d.units(v['interest'] + v['principal'])} unclaimed"
                          for s, v in r["moved"].items())
        return report(ctx, r, f"wallet {r['lost']} recovered to {r['replacement']}: {moved}")


def clean_up_call(options: Options, console: Console | None = None) -> dict[str, Any]:
    with opened(options, console) as ctx:
        d = ctx.deal
        r = ops.clean_up_call(d, ctx.signer("originator"))
        return report(ctx, r, f"clean-up call exercised into period {r['period']}: paid {d.units(r['price'])} "
                      f"(pool {d.units(r['pool_balance'])}, defaulted claims {d.units(r['defaulted_claims'])}); the "
                      "certificates return to the originator when the period closes")


def end(options: Options, console: Console | None = None) -> dict[str, Any]:
    with opened(options, console) as ctx:
        d = ctx.deal
        r = ops.end(d, ctx.signer("trustee"))
        shortfalls = ""
        if r["shortfalls_paid"] or r["shortfalls_lost"]:
            shortfalls = (f"; carried fee and interest shortfalls: {d.units(r['shortfalls_paid'])} paid, "
                          f"{d.units(r['shortfalls_lost'])} lost")
        return report(ctx, r, f"deal ended after period {r['period']}: {d.units(r['released_to_equity'])} released "
                      f"to the equity class, final write-down {d.units(r['final_write_down'])}{shortfalls}")


def withdraw_fees(options: Options, console: Console | None = None) -> dict[str, Any]:
    with opened(options, console) as ctx:
        d = ctx.deal
        r = ops.withdraw_fees(d, ctx.signer("trustee"))
        if not r["paid"]:
            return report(ctx, r, "withdraw-fees: no fee is owed to anyone")
        paid = ", ".join(f"{who} {d.units(amount)}" for who, amount in r["paid"].items())
        return report(ctx, r, f"fees paid: {paid}")


def grant_role(options: Options, role: str, account: str, on: str, console: Console | None = None) -> dict[str, Any]:
    with opened(options, console) as ctx:
        r = ops.grant_role(ctx.deal, ctx.signer("arranger"), role, account, on)
        where = "\n".join(f"  {a}" for a in r["granted_on"]) or "  (already held everywhere)"
        return report(ctx, r, f"{r['role']} granted to {r['account']} on:\n{where}")


def test_currency_deploy(options: Options, symbol: str, decimals: int, name: str | None = None,
                         console: Console | None = None) -> dict[str, Any]:
    with opened(options, console, needs_deal=False) as ctx:
        r = ops.deploy_test_currency(ctx.w3, ctx.signer("currency_owner"), name or f"Test {symbol}", symbol, decimals)
        return report(ctx, r, f"test stablecoin {symbol} ({decimals} decimals), owner {r['owner']}:\n{r['currency']}\n"
                      f"(deploy a deal on it with CURRENCY_ADDRESS={r['currency']}; mint with `chainabs test-currency "
                      "mint`)")


def test_currency_mint(options: Options, recipients: list[str], amount: str, currency: str | None = None,
                       console: Console | None = None) -> dict[str, Any]:
    import os

    with opened(options, console, needs_deal=False) as ctx:
        address = currency or os.environ.get("CURRENCY_ADDRESS", "").strip() or None
        if address is None:
            ctx.deal = ops.find_deal(ctx.w3, deal=options.deal, spv=options.spv, root=options.manifest_dir)
            address = ctx.deal.currency.address
        token = bound.BoundContract(ctx.w3, "TestStablecoin", address)
        decimals = int(token.decimals())
        try:
            units = parse_amount(amount, decimals, "--amount")
        except MarketError as exc:
            raise ops.OperationError(str(exc)) from None
        r = ops.mint_test_currency(ctx.w3, ctx.signer("currency_owner"), address, recipients, units)
        return report(ctx, r, f"minted {format_units(units, decimals, str(token.symbol()))} to each of "
                      f"{len(r['to'])} account(s)")


def service(options: Options, tape: Path, *, tape_uri: str = "", batch: int | None = None,
            console: Console | None = None) -> dict[str, Any]:
    """The servicer's period (``chainabs.apps.servicing.service``) on the deal found as every command finds it."""
    from chainabs.apps import servicing

    with opened(options, console) as ctx:
        d = ctx.deal
        servicer = ctx.signer("servicer")
        agent = None
        try:
            agent = ctx.signer("disposal_agent", own_options=False)
        except signers.SignerError:
            agent = None
        quiet = Console(quiet=True) if options.json else ctx.console
        r = servicing.service(d.spv.address, tape, tape_uri=tape_uri, console=quiet, servicer=servicer,
                              agent=agent, batch=batch)
        if ops.collateral_registry(d) is not None:
            # loans the period closed and loans bought back (no longer in the tape) leave the pool's collateral
            # tally (anyone may): every loan the pool ever registered is looked at
            r["collateral"] = ops.release_collateral(d, servicer)
            if not options.json:
                ctx.console.print(_collateral_line(d, r["collateral"]), highlight=False)
        if options.json:
            return report(ctx, r, "")
        return r  # servicing.service printed its summary (updates, report, pool, collections, gas)


def _collateral_line(d: ops.Deal, r: dict[str, Any]) -> str:
    line = (f"collateral of pool {d.pool_id}: {r['pool_collateral_count']:,} loans, appraised "
            f"{d.units(r['pool_appraised_value'])}")
    if "recorded" in r:
        line = (f"recorded the collateral of {r['recorded']:,} loans ({r['already_recorded']:,} already on chain) "
                f"in {r['transactions']} transaction(s); " + line)
    if "released" in r:
        line = f"released the collateral of {r['released']:,} loans that left the pool or closed; " + line
    if "releasable" in r:
        line += (f"; {r['releasable']:,} of them left the pool or closed and can be released "
                 f"(`chainabs collateral release`)\nregistry {r['collateral_registry']}")
    return line


def collateral(options: Options, action: str, path: Path | None = None, console: Console | None = None
               ) -> dict[str, Any]:
    """``chainabs collateral deploy | record FILE | release | status`` on the deal found as every command finds
    it: deploy its collateral registry (recorded in the manifest), record a collateral file (the originator),
    release the collateral of loans that left the pool or closed (anyone; the servicer's key by default), show
    the pool's tally."""
    with opened(options, console) as ctx:
        d = ctx.deal
        assert d is not None
        if action == "deploy":
            r = ops.deploy_collateral(d, ctx.signer("originator"))
            what = "deployed" if r["deployed"] else "already deployed"
            return report(ctx, r, f"collateral registry of {d.name or d.spv.address} {what}:\n"
                          f"{r['collateral_registry']}")
        if action == "status":
            r = ops.collateral_status(d)
            if options.json:
                return report(ctx, r, "")
            ctx.console.print(_collateral_line(d, r), highlight=False)
            return r
        if action == "record":
            assert path is not None
            r = ops.record_collateral(d, ctx.signer("originator"), path)
        else:
            r = ops.release_collateral(d, ctx.signer("servicer"))
        return report(ctx, r, _collateral_line(d, r))


def market_open(options: Options, classes: list[str] | None = None, console: Console | None = None) -> dict[str, Any]:
    """``chainabs market open [--class SYMBOL ...]``: a trading venue for the deal's currency, recorded in the
    deal's manifest, with the deal's tranches (or the classes named) listed; the arranger's key by default."""
    with opened(options, console) as ctx:
        d = ctx.deal
        assert d is not None
        r = ops.open_market(d, ctx.signer("arranger"), classes or ())
        listed = ", ".join(r["listed"]) or "none"
        before = f" ({', '.join(r['already_listed'])} already listed)" if r["already_listed"] else ""
        what = "deployed" if r["deployed"] else "already deployed"
        return report(ctx, r, f"trading venue of {d.name or d.spv.address} {what}, listed now: {listed}{before}:\n"
                      f"{r['market']}\n(trade on it with MARKET_ADDRESS={r['market']} chainabs market book|bid|ask|take)")


# ------------------------------------------------------------------------------------------------ status


def status(options: Options, console: Console | None = None) -> dict[str, Any]:
    """The deal in one screen: phase, dates, tranches with their balances, pool, reserve, triggers, fees,
    the pending report, the tranches' ERC-1643 documents, and every address (one per line)."""
    from chainabs.chain.read import overview
    from chainabs.chain.read.deal import read_deal
    from chainabs.chain.registry import COMMITMENT_VERIFIED, pool_commitment

    with opened(options, console) as ctx:
        d = ctx.deal
        reader = read_deal(ctx.w3, d.spv.address)
        state = overview.deal_state(reader)
        tranches = overview.tranche_overview(reader)
        triggers = overview.trigger_overview(reader, state)
        reserve = overview.reserve_overview(reader, state)
        fees = overview.fee_overview(reader)
        docs = overview.documents(reader)
        info = d.registry.poolInfo(d.pool_id)
        # the sealed root against the registered leaves (the root is the originator's claim; see docs/trust.md)
        commitment = pool_commitment(d.registry, d.pool_id)
        pending = None
        if state["report_pending"]:
            period, rep, extra = ops.pending_report(d)
            pending = {"period": period, "collections": extra["collections"], "tape_uri": extra["tape_uri"],
                       "pool_ending_balance": rep.pool_ending_balance,
                       "payment_date": int(d.spv.paymentDate(period))}
        offering = None
        if state["phase"] == "Offering":  # what each class offers and what is subscribed so far
            sizes = [int(v) for v in state["class_balances"]]  # the classes' sizes until the closing
            subscribed = [int(d.spv.subscribed(i)) for i in range(len(sizes))]
            offering = [{"symbol": sym, "size": size, "subscribed": sub, "left": size - sub}
                        for sym, size, sub in zip(d.symbols, sizes, subscribed, strict=True)]
        out = {
            "phase": state["phase"], "periods_closed": state["periods_closed"], "offering": offering,
            "next_payment_date": state["next_payment_date"], "pool_balance": state["pool_balance"],
            "pool": {"id": d.pool_id, "loans": int(info[5]), "owner": str(info[1]),
                     "commitment_verified": commitment == COMMITMENT_VERIFIED, "commitment": commitment},
            "reserve": {k: reserve[k] for k in ("balance", "target", "floor")},
            "tranches": _records(tranches[["symbol", "name", "coupon_bps", "original_face", "current_principal",
                                           "factor", "interest_distributed", "principal_distributed",
                                           "cumulative_write_down", "holders", "address"]]),
            "triggers": _records(triggers[["test", "threshold_bps", "value_bps", "breached"]]),
            "fees": _records(fees[["fee", "recipient", "paid", "owed"]]),
            "pending_report": pending, "documents": _records(docs),
            "spv_currency_balance": int(d.currency.balanceOf(d.spv.address)),
            "collateral": ops.collateral_status(d) if ops.collateral_registry(d) is not None else None,
            "identity_cache": ops.identity_cache_status(d),
            "addresses": dict(d.addresses),
        }
        if options.json:
            return report(ctx, out, "")
        _print_status(ctx, out)
        return out


def _identity_cache_line(cache: dict[str, Any]) -> str:
    """One line: the classes whose tokens cache their holders' KYC clearances, and any listener of the identity
    registry that is not one of the deal's tokens."""
    on = [r["symbol"] for r in cache["classes"] if r["cache"] and r["listener"]]
    off = [r["symbol"] for r in cache["classes"] if not (r["cache"] and r["listener"])]
    line = "identity cache: " + (f"on for {', '.join(on)}" if on else "off")
    if on and off:
        line += f"; off for {', '.join(off)} (they ask the registry on every transfer)"
    others = cache["other_listeners"]
    return line + (f"; OTHER LISTENERS of the identity registry (not this deal's tokens): {', '.join(others)}"
                   if others else "; no other listener")


def _records(frame: Any) -> list[dict[str, Any]]:
    """Rows as dicts of plain values, a missing value as None (never NaN: JSON has no NaN)."""
    return [{k: (None if v is None or (isinstance(v, float) and v != v) else _plain(v)) for k, v in row.items()}
            for row in frame.astype(object).to_dict("records")]


def _print_status(ctx: Context, s: dict[str, Any]) -> None:
    d, c = ctx.deal, ctx.console
    u = d.units
    c.print(f"[bold]{d.name or 'deal'}[/] on chain {d.chain_id}: {s['phase']}, {s['periods_closed']} period(s) closed; "
            f"next payment date {format_date(s['next_payment_date'])}", highlight=False)
    c.print(f"pool {s['pool']['id']}: balance {u(s['pool_balance'])}; reserve {u(s['reserve']['balance'])}"
            + (f" (target {u(s['reserve']['target'])})" if s["reserve"]["target"] is not None else "")
            + f"; SPV holds {u(s['spv_currency_balance'])}", highlight=False)
    c.print("pool commitment: " + s["pool"]["commitment"], highlight=False)
    if s["offering"]:
        c.print("offering: " + "; ".join(f"{r['symbol']} {u(r['subscribed'])} subscribed of {u(r['size'])} "
                                        f"({u(r['left'])} left)" for r in s["offering"]), highlight=False, soft_wrap=True)
    if s["collateral"] is not None:
        c.print(_collateral_line(d, s["collateral"]).split("\n")[0], highlight=False)
    c.print(_identity_cache_line(s["identity_cache"]), highlight=False, soft_wrap=True)
    p = s["pending_report"]
    c.print(f"pending report: period {p['period']}, collections {u(p['collections'])}, pool {u(p['pool_ending_balance'])}, "
            f"payable {format_date(p['payment_date'])}" if p else "pending report: none", highlight=False)
    t = Table(title=f"tranches (amounts in {d.symbol})")
    n = lambda amount: format_units(int(amount), d.decimals)  # noqa: E731 - cells without the symbol: never cut
    for col in ("class", "coupon", "original", "outstanding", "factor", "interest paid", "principal paid",
                "written down", "holders"):
        t.add_column(col, justify="left" if col == "class" else "right")
    for r in s["tranches"]:
        t.add_row(r["symbol"], format_bps(r["coupon_bps"]), n(r["original_face"]), n(r["current_principal"]),
                  format_factor(r["factor"]), n(r["interest_distributed"]), n(r["principal_distributed"]),
                  n(r["cumulative_write_down"]), str(r["holders"]))
    print_table(c, t)
    c.print("triggers: " + "; ".join(f"{r['test']} {format_bps(r['value_bps'])} vs {format_bps(r['threshold_bps'])}"
                                     + (" BREACHED" if r["breached"] else "") for r in s["triggers"]), highlight=False)
    c.print("fees: " + ("; ".join(f"fee {r['fee']} (to {r['recipient']}) earned {u(r['paid'])}, withdrawn "
                                  f"{u(r['paid'] - r['owed'])}, owed {u(r['owed'])}" for r in s["fees"])
                        or "none"), highlight=False, soft_wrap=True)
    if s["documents"]:
        c.print("documents:", highlight=False)
        for r in s["documents"]:
            c.print(f"  {r['token']} {r['name']}: {r['uri']} hash {r['hash']}", highlight=False, soft_wrap=True)
    else:
        c.print("documents: none attached", highlight=False)
    c.print("addresses:", highlight=False)
    for key, address in s["addresses"].items():
        c.print(f"  {key:<14} {address}", highlight=False, soft_wrap=True)
