"""``chainabs``: the command line of ChainABS (installed into ``.venv/bin`` by ``make``; also
``python -m chainabs``).

Every subcommand runs the same way on a chain brownie launches, on a node already running and on a live
network:

* sending commands (``demo``, ``deploy``, ``onboard``, ``challenge``, ``investor``): without options, brownie's local
  development chain (anvil on ``CHAINABS_PORT``, default 8545, launched unless a node already listens there);
  ``--rpc URL`` a node already running (a local chain id is used like a development node, with its unlocked
  accounts; any other chain as a live network); ``--network NAME`` a brownie network (``brownie networks
  list``), e.g. a public testnet;
* reading commands (``report``, ``monitor``, ``verify-tape``, ``explorer``): chain data only, from ``--rpc URL``
  (default ``http://127.0.0.1:$CHAINABS_PORT``) or the host of ``--network NAME``;
* ``simulate`` needs no chain;
* the deal-operation commands (``investors register``, ``subscribe``, ``close``, ``cancel-offering``, ``refund``,
  ``service``, ``close-period``, ``claim``, ``recover-wallet``, ``clean-up-call``, ``end``, ``withdraw-fees``,
  ``grant-role``, ``test-currency``, ``status``) find the deal in ``deployments/<chainid>/<deal>.json`` (or by
  ``--spv``) and reach the node without brownie (``--rpc``, ``--network``, else ``CHAINABS_PORT``); see
  :mod:`chainabs.apps.operate`.

Errors are printed on one line (``--traceback`` shows the Python traceback too); the exit status is 2 for an
error, 1 when ``verify-tape`` finds mismatches, 0 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from chainabs.apps.output import emit_json, keep_stdout_for_json
from chainabs.chain import connection
from chainabs.chain.abis import AbiError
from chainabs.chain.deploy import DeploymentError
from chainabs.chain.events import EventReadError
from chainabs.chain.operations import InvestorFileError, OperationError
from chainabs.chain.registry import OnboardingError
from chainabs.chain.sender import TxError
from chainabs.chain.tokens import InvestorDataError
from chainabs.model.servicing import ServicingError
from chainabs.model.spec import DealSpecError
from chainabs.model.tape import TapeValidationError

#: Errors a user can act on: printed without their type, exit status 2.
USER_ERRORS: tuple[type[BaseException], ...] = (
    connection.ChainConfigError, DeploymentError, TapeValidationError, DealSpecError, TxError, OnboardingError,
    AbiError, EventReadError, InvestorDataError, ServicingError, ValueError, FileNotFoundError, ConnectionError,
    OperationError, InvestorFileError,
)
#: How many problems of a list (tape issues, spec problems) an error line names.
SHOWN_PROBLEMS = 20
#: The local chains' node programs (brownie launches them by name from PATH; `make` installs them).
LOCAL_NODES = frozenset({"anvil", "ganache", "ganache-cli"})


def _decimals(text: str) -> list[float]:
    """A comma-separated list of decimals (``0.05,0.1``)."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated decimals like 0.05,0.1") from None


# ------------------------------------------------------------------------------------------------- networks


def _add_signer_options(parser: argparse.ArgumentParser, role: str) -> None:
    """``--keystore`` / ``--account``: who signs a brownie-run command (:mod:`chainabs.chain.signers`)."""
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--keystore", metavar="FILE", help=f"sign as the {role} with an encrypted JSON keystore "
                     "(password from CHAINABS_KEYSTORE_PASSWORD or asked)")
    who.add_argument("--account", metavar="NAME", help=f"sign as the {role} with a brownie account "
                     "(~/.brownie/accounts/NAME.json)")


def _add_network_options(parser: argparse.ArgumentParser, *, reading: bool) -> None:
    where = parser.add_mutually_exclusive_group()
    if reading:
        where.add_argument("--rpc", metavar="URL", help="JSON-RPC endpoint to read from "
                                                          "(default http://127.0.0.1:$CHAINABS_PORT, port 8545)")
        where.add_argument("--network", metavar="NAME", help="a brownie network: read from its node")
    else:
        where.add_argument("--rpc", metavar="URL", help="a node already running (default: brownie's local chain)")
        where.add_argument("--network", metavar="NAME", help="a brownie network, e.g. a testnet added with "
                                                             "`brownie networks add`")


def _connect(args: argparse.Namespace) -> None:
    """Connect brownie as the options say; refuse a ``--network`` other than the one already connected."""
    from brownie import network

    if network.is_connected():
        if args.network and args.network != network.show_active():
            raise connection.ChainConfigError(f"connected to {network.show_active()!r}, not {args.network!r} (with "
                                              "`brownie run`, give --network to brownie, before --)")
        connection.forget_new_artifacts(connection.load_project())  # `brownie run`: no stale records left behind
        return
    connection.connect(args.network, rpc=args.rpc)


def _read_url(args: argparse.Namespace) -> str:
    """The RPC URL a reading command reads from."""
    if args.rpc:
        return str(args.rpc)
    if args.network:
        _connect(args)
        return connection.endpoint()
    return f"http://127.0.0.1:{connection.chain_port()}"


# ------------------------------------------------------------------------------------------------- commands


def _demo(args: argparse.Namespace, console: Console) -> int:
    from chainabs.apps import demo

    _connect(args)
    demo.run(args.loans, args.seed, args.out, verbose=args.verbose, console=console, deal=args.deal,
             periods=args.periods)
    return 0


def _deploy(args: argparse.Namespace, console: Console) -> int:
    from chainabs.chain import deployment

    _connect(args)
    if args.json:  # the steps and any confirmation on stderr, one JSON object on stdout
        console = Console(stderr=True, width=console.width)
    result = deployment.deploy_deal(args.spec, tape=args.tape, currency=args.currency, registry=args.registry,
                                    pool_id=args.pool, assume_yes=args.yes, manifest_root=args.manifest_dir,
                                    test_investors=args.investors, seed=args.seed, verify=not args.no_verify,
                                    keystore=args.keystore, account=args.account, out=console)
    if args.json:
        emit_json({"command": "deploy", "deal": result.deal, "chain_id": result.chain_id,
                   "manifest": str(result.manifest_path), "addresses": dict(result.addresses),
                   "pool_id": result.pool_id, "deal_units": result.deal_units,
                   "pool_sealed": result.pool_sealed, "investors": list(result.investors)}, sort_keys=True)
        return 0
    console.print(f"addresses (also in {result.manifest_path}):", highlight=False, soft_wrap=True)
    for key, address in result.addresses.items():  # unwrapped, one per line: ready to paste into a wallet
        console.print(f"  {key:<14} {address}", highlight=False, soft_wrap=True)
    console.print(f"operate it: {_status_command(args, result.deal)} (see docs/deploy.md)", highlight=False,
                  soft_wrap=True)
    return 0


def _status_command(args: argparse.Namespace, deal: str) -> str:
    """The ``chainabs status`` command line reaching the deal just deployed (the same node and manifest root)."""
    argv = ["chainabs", "status", "--deal", deal]
    if args.rpc:
        argv += ["--rpc", args.rpc]
    elif args.network:
        argv += ["--network", args.network]
    if args.manifest_dir:
        argv += ["--manifest-dir", str(args.manifest_dir)]
    return shlex.join(argv)


def _onboard(args: argparse.Namespace, console: Console) -> int:
    from chainabs.apps.onboard import run_onboarding

    _connect(args)
    run_onboarding(args.tape, args.registry, args.pool, args.kind, args.today, console=console,
                   keystore=args.keystore, account=args.account, track_obligors=args.track_obligors)
    return 0


def _simulate(args: argparse.Namespace, console: Console) -> int:
    from chainabs.apps import simulate

    simulate.run(args.deal, mode=args.mode, cprs=args.cpr, cdrs=args.cdr, severities=args.severity, wac=args.wac,
                 term=args.term, loans=args.loans, paths=args.paths, seed=args.seed, out=args.out,
                 scheduler=args.scheduler)
    return 0


def _report(args: argparse.Namespace, console: Console) -> int:
    from chainabs.apps.reports import report_deal
    from chainabs.model.rules import load_rules

    report_deal(_read_url(args), args.spv, out=args.out, start_block=args.start_block, console=console,
                market=args.market, rules=load_rules(args.rules) if args.rules else None, green=args.green,
                reit=args.reit)
    return 0


def _monitor(args: argparse.Namespace, console: Console) -> int:
    from chainabs.apps import monitor

    url = _read_url(args)
    from chainabs.model.rules import load_rules

    if args.rules and not args.spv:
        raise ValueError("--rules: the regulator rules follow a deal; give its SPV address")
    config = load_rules(args.rules) if args.rules else None
    watch, start, classifier = monitor.watch_list(url, args.spv, args.watch, market=args.market)
    monitor.follow(url, watch, args.state, start_block=start if args.start_block is None else args.start_block,
                   interval=args.interval, max_polls=args.max_polls, quiet=args.quiet, classifier=classifier,
                   market=args.market, market_config=args.market_config, spv=args.spv, rules=config,
                   green=args.green)
    return 0


def _verify_tape(args: argparse.Namespace, console: Console) -> int:
    from chainabs.apps.verify import verify_file

    mismatches = verify_file(_read_url(args), args.spv, args.period, args.tape, out=args.out, console=console)
    return 0 if mismatches.empty else 1


def _operate_options(args: argparse.Namespace) -> Any:
    from chainabs.apps.operate import Options

    action = getattr(args, "action", None) or getattr(args, "market_command", None)
    command = args.command + (f" {action}" if action else "")
    return Options(command=command, rpc=args.rpc, network=args.network, deal=getattr(args, "deal", None),
                   spv=getattr(args, "spv", None),
                   manifest_dir=args.manifest_dir, yes=getattr(args, "yes", False), json=args.json,
                   keystore=getattr(args, "keystore", None), account=getattr(args, "account", None),
                   key_env=getattr(args, "key_env", None))


def _service(args: argparse.Namespace, console: Console) -> int:
    from chainabs.apps import operate

    if len(args.items) > 2:
        raise ValueError("service: give the period's tape (and, in the older form, the SPV address before it)")
    if len(args.items) == 2:  # the older form: service SPV TAPE
        if args.spv and args.spv.lower() != args.items[0].lower():
            raise ValueError(f"service: two SPVs given ({args.items[0]} and --spv {args.spv})")
        args.spv = args.items[0]
    operate.service(_operate_options(args), Path(args.items[-1]), tape_uri=args.tape_uri, batch=args.batch,
                    console=console)
    return 0


def _operation(name: str) -> Callable[[argparse.Namespace, Console], int]:
    """The runner of deal-operation command ``name`` (:mod:`chainabs.apps.operate`)."""

    def run(args: argparse.Namespace, console: Console) -> int:
        from chainabs.apps import operate

        o = _operate_options(args)
        calls: dict[str, Callable[[], Any]] = {
            "investors": lambda: operate.investors_register(o, Path(args.csv), console=console,
                                                            allow_jurisdictions=args.allow_jurisdictions),
            "subscribe": lambda: operate.subscribe(o, args.klass, args.amount, retained=args.retained,
                                                   accept_unverified_pool=args.accept_unverified_pool, console=console),
            "close": lambda: operate.close(o, console=console),
            "cancel-offering": lambda: operate.cancel_offering(o, console=console),
            "refund": lambda: operate.refund(o, args.holder, console=console),
            "close-period": lambda: operate.close_period(o, console=console),
            "claim": lambda: operate.claim(o, args.holders, console=console),
            "recover-wallet": lambda: operate.recover_wallet(o, args.lost, args.replacement, args.investor_id,
                                                             console=console),
            "clean-up-call": lambda: operate.clean_up_call(o, console=console),
            "end": lambda: operate.end(o, console=console),
            "withdraw-fees": lambda: operate.withdraw_fees(o, console=console),
            "grant-role": lambda: operate.grant_role(o, args.role, args.to, args.on, console=console),
            "status": lambda: operate.status(o, console=console),
            "market-open": lambda: operate.market_open(o, args.classes, console=console),
            "collateral": lambda: operate.collateral(o, args.action, Path(args.file) if getattr(args, "file", None)
                                                     else None, console=console),
            "test-currency": lambda: (operate.test_currency_deploy(o, args.symbol, args.decimals, args.name,
                                                                   console=console)
                                      if args.action == "deploy" else
                                      operate.test_currency_mint(o, args.to, args.amount, args.currency,
                                                                 console=console)),
        }
        calls[name]()
        return 0

    return run


def _challenge(args: argparse.Namespace, console: Console) -> int:
    from chainabs.apps import servicing

    _connect(args)
    faults = servicing.challenge(args.spv, args.tape, previous_path=args.previous,
                                 prove=args.prove, console=console, keystore=args.keystore, account=args.account)
    return 1 if faults and not args.prove else 0


def _explorer(args: argparse.Namespace, console: Console) -> int:
    from chainabs.apps.explorer.server import serve

    pages = []
    if args.green:
        from chainabs.apps.green_explorer import explorer_page

        pages.append(explorer_page(args.green))
    serve(_read_url(args), args.spv, host=args.host, port=args.port, interval=args.interval,
          start_block=args.start_block, console=console, pages=pages)
    return 0


def _investor(args: argparse.Namespace, console: Console) -> int:
    from chainabs.apps import investor

    tokens = args.tokens or [a.strip() for a in os.environ.get("TRANCHE_TOKENS", "").split(",") if a.strip()]
    _connect(args)
    if not tokens:  # the deal's, found as the operation commands find it
        tokens = investor.deal_tokens(deal=args.deal, spv=args.spv, manifest_dir=args.manifest_dir)
    investor.run(tokens, claim_funds=args.claim, account=args.account, keystore=args.keystore, console=console)
    return 0


def _spec_check(args: argparse.Namespace, console: Console) -> int:
    from chainabs.model.spec import check_spec

    bad = False
    for path in args.files:
        lines = check_spec(path)
        bad = bad or bool(lines)
        for line in lines or [f"{path}: ok"]:
            console.print(line, highlight=False, soft_wrap=True, markup=False)
    return 2 if bad else 0


def _market(args: argparse.Namespace, console: Console) -> int:
    from chainabs.apps import market

    venue = market.open_market(_read_url(args), args.market, deal=args.deal, spv=args.spv,
                               manifest_dir=args.manifest_dir)
    action = args.market_command
    if action == "book":
        market.book(venue, args.token, levels=args.levels, maker=args.maker, console=console)
    elif action == "trades":
        market.trades(venue, token=args.token, start_block=args.start_block, out=args.out, console=console)
    else:
        from chainabs.apps.operate import confirmation

        signer = market.signer_from(key_env=args.key_env, account=args.account, keystore=args.keystore)
        # on a live network each transaction is shown, then sent on --yes or a terminal's answer
        venue.sender.review = confirmation(venue.sender, f"market {action}", yes=args.yes,
                                           names={venue.address: "market"})
        if action in ("bid", "ask"):
            market.post(venue, signer, args.token, action, price=args.price, quantity=args.quantity, days=args.days,
                        expiry=args.expiry, counterparty=args.counterparty, partition=args.partition,
                        console=console)
        elif action == "take":
            market.take(venue, signer, args.order, quantity=args.quantity, cash_limit=args.cash_limit, console=console)
        else:
            market.cancel(venue, signer, args.order, console=console)
    return 0


def _add_market_parser(sub: Any) -> None:
    """``chainabs market open|book|bid|ask|take|cancel|trades`` (the secondary market, issue 14)."""
    text = ("The secondary market: order book, quotes, delivery-versus-payment fills and the trade tape. Prices per "
            "100 of current principal (99.5), amounts in currency units (1,000.5).")
    p = sub.add_parser("market", help=text, description=text)
    p.set_defaults(run=_market)
    actions = p.add_subparsers(dest="market_command", required=True, metavar="ACTION")

    def action(name: str, help_text: str, signs: bool) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=help_text, description=help_text)
        _add_network_options(a, reading=True)
        a.add_argument("--market", metavar="ADDRESS", help="the venue (default MARKET_ADDRESS, else the one "
                       "`chainabs market open` recorded in the deal's manifest)")
        a.add_argument("--deal", metavar="NAME", help="the deal whose recorded venue to use (default: the chain's "
                       "only deployed deal)")
        a.add_argument("--spv", metavar="ADDRESS", help="the deal by its SPV address (instead of --deal)")
        a.add_argument("--manifest-dir", type=Path, default=None, metavar="DIR",
                       help="manifest root (default CHAINABS_DEPLOYMENTS_DIR or deployments/)")
        if signs:
            who = a.add_mutually_exclusive_group()
            who.add_argument("--key-env", default="INVESTOR_PRIVATE_KEY", metavar="VAR",
                             help="environment variable holding the signer's hex key (default INVESTOR_PRIVATE_KEY)")
            who.add_argument("--account", metavar="NAME", help="sign with this brownie account (asks its password)")
            who.add_argument("--keystore", type=Path, metavar="FILE", help="sign with an encrypted JSON keystore "
                             "(password from CHAINABS_KEYSTORE_PASSWORD or asked)")
            a.add_argument("--yes", action="store_true",
                           help="on a live network, send without asking (each transaction and its cost is shown)")
        return a

    a = action("book", "Both sides of a tranche's book, best first, and the best bid and ask.", False)
    a.add_argument("token", help="the tranche token")
    a.add_argument("--levels", type=int, default=10, help="price levels per side")
    a.add_argument("--maker", default=None, metavar="ADDRESS", help="also list this account's open orders")
    for side in ("bid", "ask"):
        a = action(side, f"Post a {'buy' if side == 'bid' else 'sell'} order.", True)
        a.add_argument("token", help="the tranche token")
        a.add_argument("--price", required=True, help="per 100 of current principal, e.g. 99.5")
        a.add_argument("--quantity", required=True, help="units (currency units of original face), e.g. 1,000")
        a.add_argument("--days", type=float, default=30.0, help="valid for this many days (default 30)")
        a.add_argument("--expiry", type=int, default=None, help="expiry as unix time (instead of --days)")
        a.add_argument("--counterparty", default=None, metavar="ADDRESS", help="only this account may take it")
        a.add_argument("--partition", choices=("unrestricted", "locked"), default="unrestricted",
                       help=argparse.SUPPRESS if side == "bid" else "partition the units come from")
    a = action("take", "Take an order (buy from an ask, sell into a bid), fully or partly.", True)
    a.add_argument("order", help="the order id (0x-hex or decimal)")
    a.add_argument("--quantity", default=None, help="units to take (default: all that is left)")
    a.add_argument("--cash-limit", default=None, help="most cash to pay (buying) / least to receive (selling)")
    a = action("cancel", "Cancel what is left of an order (its maker; anyone once it expired).", True)
    a.add_argument("order", help="the order id (0x-hex or decimal)")
    text = ("Deploy a trading venue for the deal's currency, record it in the deal's manifest and list the deal's "
            "tranches (the arranger's key; safe to run again: the recorded venue is kept, listings are skipped).")
    a = actions.add_parser("open", help=text, description=text)
    a.set_defaults(run=_operation("market-open"))
    _add_deal_options(a, role="arranger")
    a.add_argument("--class", dest="classes", action="append", metavar="SYMBOL",
                   help="list only this class (repeat for more; default every class)")
    a = action("trades", "The trade tape and the volume, VWAP and last price per tranche per period.", False)
    a.add_argument("--token", default=None, help="one tranche only")
    a.add_argument("--start-block", type=int, default=None, help="first block (default: the venue's deployment)")
    a.add_argument("--out", type=Path, default=None, help="write the tape as CSV here")


def _add_deal_options(p: argparse.ArgumentParser, *, role: str | None, deal: bool = True) -> None:
    """Node, deal, output and (``role``: the command sends) signer and confirmation options."""
    where = p.add_mutually_exclusive_group()
    where.add_argument("--rpc", metavar="URL", help="the node (default http://127.0.0.1:$CHAINABS_PORT, port 8545)")
    where.add_argument("--network", metavar="NAME", help="a brownie network's node (`brownie networks list`)")
    if deal:
        p.add_argument("--deal", metavar="NAME", help="the deal of deployments/<chainid>/NAME.json (default: the "
                       "chain's only deployed deal)")
        p.add_argument("--spv", metavar="ADDRESS", help="the deal's SPV address (instead of --deal)")
    p.add_argument("--manifest-dir", type=Path, default=None,
                   help="manifest root (default CHAINABS_DEPLOYMENTS_DIR or deployments/)")
    p.add_argument("--json", action="store_true", help="print one JSON object (amounts in base units)")
    if role is None:
        return
    from chainabs.chain.signers import ROLE_KEYS

    keys = " or ".join(ROLE_KEYS.get(role, (f"{role.upper()}_PRIVATE_KEY",)))
    p.add_argument("--yes", "-y", action="store_true", help="live networks: send without asking")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--keystore", metavar="FILE", help="sign with an encrypted JSON keystore (password from "
                     "CHAINABS_KEYSTORE_PASSWORD or asked)")
    who.add_argument("--account", metavar="NAME", help="sign with a brownie account (~/.brownie/accounts/NAME.json)")
    who.add_argument("--key-env", metavar="VAR", help=f"environment variable holding the hex key (default {keys}; "
                     "on a local chain without it, the role's unlocked account)")


def _documents(args: argparse.Namespace, console: Console) -> int:
    from chainabs.apps import documents

    o = _operate_options(args)
    if args.action == "list":
        out = documents.list_documents(o, check=args.check, console=console)
        return 1 if args.check is not None and (out["local"] != "match").any() else 0
    if args.action == "set":
        documents.set_document(o, args.name, args.file, args.uri, console=console)
    else:
        documents.attach_report(o, args.period, out=args.out, base_uri=args.base_uri, console=console)
    return 0


def _add_documents_parser(sub: Any) -> None:
    """``chainabs documents list|set|attach-report`` (:mod:`chainabs.apps.documents`)."""
    text = ("A deal's documents (ERC-1643 on every tranche token): list them with their SHA-256 hashes and check "
            "local copies, attach a document, attach a closed period's investor report.")
    p = sub.add_parser("documents", help=text, description=text)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help_text: str, role: str | None) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=help_text, description=help_text)
        a.set_defaults(run=_documents)
        _add_deal_options(a, role=role)
        return a

    a = action("list", "Every document: name, URI, SHA-256 hash, tokens; --check DIR compares local copies "
               "(exit status 1 if one differs or is missing).", None)
    a.add_argument("--check", type=Path, action="append", default=None, metavar="DIR",
                   help="folder holding copies of the documents (repeat for several, e.g. the deal's documents and "
                   "its reports' folder)")
    a = action("set", "Attach a document to every tranche (hash computed from the file; DOCUMENT_ROLE: the "
               "arranger).", "arranger")
    a.add_argument("name", help="document name (at most 32 bytes), e.g. offering_circular")
    a.add_argument("file", type=Path, help="the document file")
    a.add_argument("--uri", required=True, help="where investors read the document")
    a = action("attach-report", "Rebuild a closed period's investor report from chain data, write it and attach "
               "its hash as investor-report-<period>.", "arranger")
    a.add_argument("period", type=int, help="the closed period")
    a.add_argument("--out", type=Path, default=None, help="folder of the report file")
    a.add_argument("--base-uri", default="", help="URI prefix where the reports are published")


def _add_operation_parsers(sub: Any) -> None:
    """Every step of a deployed deal's life (:mod:`chainabs.apps.operate`)."""

    def command(name: str, text: str, role: str | None, *, deal: bool = True,
                parent: Any = None, run_name: str | None = None) -> argparse.ArgumentParser:
        p = (parent or sub).add_parser(name, help=text, description=text)
        p.set_defaults(run=_operation(run_name or name))
        _add_deal_options(p, role=role, deal=deal)
        return p

    inv = sub.add_parser("investors", help="Investors of a deal: KYC registration.",
                         description="Investors of a deal: KYC registration.")
    actions = inv.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = command("register", "The KYC agent registers the investors of a CSV file (address, jurisdiction, "
                "investor_type, expiry as unix time or YYYY-MM-DD): every bad row is named and nothing is sent on a "
                "bad file; investors already registered are skipped.", "kyc_agent", parent=actions, run_name="investors")
    p.add_argument("csv", help="the investor file")
    p.add_argument("--allow-jurisdictions", action="store_true",
                   help="the signer (the identity registry's admin) first allows the file's jurisdictions")

    p = command("subscribe", "An investor buys units of a class in the offering, paying in the deal currency "
                "(approved as needed).", "investor")
    p.add_argument("--class", dest="klass", required=True, help="A (most senior), B..., or the token symbol")
    p.add_argument("--amount", required=True, help="currency units, e.g. 1,000,000")
    p.add_argument("--retained", action="store_true", help="the originator's retained units (lock-up partition; "
                   "signed as the originator, ORIGINATOR_PRIVATE_KEY)")
    p.add_argument("--accept-unverified-pool", action="store_true",
                   help="subscribe even if the pool's sealed Merkle root does not match its registered loans")
    command("close", "The arranger funds the reserve and closes the deal: the pool is sold to the SPV.", "arranger")
    command("cancel-offering", "Cancel the offering (the arranger before the deadline, anyone after it).", "arranger")
    p = command("refund", "After a cancelled offering: a holder's units are cancelled and paid back.", "investor")
    p.add_argument("--holder", default=None, metavar="ADDRESS", help="whose units (default: the signer's)")

    p = command("service", "The servicer's period from its loan-level tape: registry updates in batches "
                "(recovery steps by the disposal agent, DISPOSAL_AGENT_PRIVATE_KEY), commitment and report with the "
                "collections; safe to run again after a kill: nothing is sent twice.", "servicer")
    p.set_defaults(run=_service)
    p.add_argument("items", nargs="+", metavar="TAPE", help="the period's servicing tape (CSV / Parquet); the "
                   "older form `service SPV TAPE` is accepted")
    p.add_argument("--tape-uri", default="", help="where the tape is published (default: its file name)")
    p.add_argument("--batch", type=int, default=None, help="registry updates per transaction (default 150)")

    command("close-period", "Run the waterfall on the pending report once its payment date has come (anyone "
            "may; signed as the servicer by default).", "servicer")
    p = command("claim", "An investor withdraws its interest and principal from every tranche token that owes it "
                "some (tokens owing nothing are not called); with --for, anyone triggers it for holders (paid to "
                "them).", "investor")
    p.add_argument("--for", dest="holders", action="append", default=None, metavar="ADDRESS",
                   help="claim for this holder (repeatable; the funds go to the holder)")
    p = command("recover-wallet", "Move a lost wallet's units and unclaimed funds to the investor's replacement "
                "wallet on every token: the KYC agent links the wallets (KYC_PRIVATE_KEY), the controller "
                "(CONTROLLER_ROLE on the tokens) recovers.", "controller")
    p.add_argument("--lost", required=True, metavar="ADDRESS")
    p.add_argument("--replacement", required=True, metavar="ADDRESS", help="a registered wallet of the same investor")
    p.add_argument("--investor-id", default=None, help="reference of the investor's KYC file (hashed; default "
                   "derived from the lost wallet)")
    command("clean-up-call", "The originator buys the rest of the pool into the pending period (below the "
            "clean-up level).", "originator")
    command("end", "End the deal (paid off, called by the clean-up call, or past legal final): the rest goes to the "
            "equity class.", "trustee")
    command("withdraw-fees", "Pay every fee recipient what it earned (anyone may; fees owing nothing are not "
            "called).", "trustee")
    p = command("grant-role", "The admin grants a role on the deal's tokens, SPV or registries (e.g. "
                "CONTROLLER_ROLE to the trustee for wallet recoveries).", "arranger")
    p.add_argument("role", help="e.g. CONTROLLER_ROLE, PAUSER_ROLE, DOCUMENT_ROLE, KYC_AGENT_ROLE, TRUSTEE_ROLE")
    p.add_argument("to", metavar="ADDRESS")
    p.add_argument("--on", default="tokens", choices=("tokens", "spv", "identity", "registry"))
    command("status", "The deal in one screen: phase, tranches, pool, reserve, triggers, fees, next payment date, "
            "pending report, documents and every address.", None)

    col = sub.add_parser("collateral", help="A secured deal's collateral registry: deploy it, record the loans' "
                         "collateral (vehicles, property, equipment), release what left the pool, show the tally.",
                         description="A secured deal's collateral registry (one entry per secured loan: kind, "
                         "identifier hash, appraisal, lien document hash): deploy it, record a collateral file, "
                         "release the collateral of loans that left the pool or closed, show the pool's tally. "
                         "`chainabs service` releases it too once the deal has one.")
    actions = col.add_subparsers(dest="action", required=True, metavar="ACTION")
    command("deploy", "Deploy the deal's collateral registry and record it in the deal's manifest (safe to run "
            "again).", "originator", parent=actions, run_name="collateral")
    p = command("record", "The originator records a collateral file (CSV / Parquet: loan_id, kind, identifier, "
                "appraised_value in base units, appraisal_date, lien_hash): every bad row is named and nothing is "
                "sent on a bad file; loans already recorded are skipped.", "originator", parent=actions,
                run_name="collateral")
    p.add_argument("file", help="the collateral file")
    command("release", "Release the collateral of loans that left the pool or closed from the pool's tally "
            "(anyone may).", "servicer", parent=actions, run_name="collateral")
    command("status", "The pool's collateral tally and what can be released.", None, parent=actions,
            run_name="collateral")

    cur = sub.add_parser("test-currency", help="A test stablecoin for a testnet deal: deploy it, mint it.",
                         description="A test stablecoin for a testnet deal: deploy it, mint it.")
    actions = cur.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = command("deploy", "Deploy the project's test stablecoin (its owner mints).", "currency_owner", deal=False,
                parent=actions, run_name="test-currency")
    p.add_argument("--symbol", default="CNHT")
    p.add_argument("--decimals", type=int, default=6)
    p.add_argument("--name", default=None)
    p = command("mint", "The test stablecoin's owner mints currency to accounts.", "currency_owner",
                parent=actions, run_name="test-currency")
    p.add_argument("--to", action="append", required=True, metavar="ADDRESS", help="repeatable")
    p.add_argument("--amount", required=True, help="currency units each, e.g. 1,000,000")
    p.add_argument("--currency", default=None, metavar="ADDRESS",
                   help="the stablecoin (default CURRENCY_ADDRESS, else the deal's currency)")


# ------------------------------------------------------------------------------------------------- parser


def parser() -> argparse.ArgumentParser:
    """The ``chainabs`` command line."""
    top = argparse.ArgumentParser(prog="chainabs", description="Asset-backed securitization on Ethereum: deals, "
                                  "tapes, servicing, reports and simulations.")
    top.add_argument("--traceback", action="store_true", help="show the Python traceback of an error")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace, Console], int], text: str,
                network: str | None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(run=run)
        if network:
            _add_network_options(p, reading=network == "read")
        return p

    p = command("demo", _demo, "The consumer-loan deal end to end on a local chain: tape, registry, deployment, "
                "offering, closing, periods, end of deal, reports.", "send")
    p.add_argument("--loans", type=int, default=2_000, help="loans in the originator's synthetic book")
    p.add_argument("--seed", type=int, default=7, help="seed of the book and of the servicing allocation")
    p.add_argument("--out", type=Path, default=None, help="reports folder (default reports/consumer_loan)")
    p.add_argument("--verbose", action="store_true", help="print every deployment step")
    p.add_argument("--deal", default="consumer_loan", choices=("consumer_loan", "auto_loan", "green_auto_loans",
                                                                 "reit_rent", "supply_chain_receivables"),
                   help="sample deal: the consumer-loan deal, the secured auto-loan deal with collateral, "
                        "repossessions and sales, the green EV-loan deal (use of proceeds and impact on chain), "
                        "the REIT (leases on properties, rent distributed to unit holders), or supply-chain "
                        "receivables confirmed by their debtors on chain")

    p.add_argument("--periods", type=int, default=None, metavar="N",
                   help="stop after N periods and leave the deal live (not ended) for the explorer; writes "
                        "deployments/<chainid>/<deal>.json and prints the explorer command")

    p = command("deploy", _deploy, "Deploy a whole deal from its spec (resumable from "
                "deployments/<chainid>/<deal>.json; asks before sending on a live network).", "send")
    p.add_argument("spec", nargs="?", default="consumer_loan", help="deals/<name>.yaml or a sample deal name")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before sending (live networks)")
    p.add_argument("--json", action="store_true", help="print one JSON object (deal, chain, manifest, addresses) on "
                   "stdout, the steps on stderr")
    p.add_argument("--tape", help="tape to onboard: a CSV / Parquet path or synthetic:<n>")
    p.add_argument("--currency", help="existing stablecoin address (default CURRENCY_ADDRESS or the spec's)")
    p.add_argument("--registry", help="existing AssetRegistry address (default REGISTRY_ADDRESS or deploy one)")
    p.add_argument("--pool", type=int, help="existing pool id of the originator (default POOL_ID or create one)")
    p.add_argument("--manifest-dir", type=Path, help="manifest root (default CHAINABS_DEPLOYMENTS_DIR or deployments/)")
    p.add_argument("--investors", type=int, default=5, help="test investors (local chains)")
    p.add_argument("--seed", type=int, default=0, help="seed of a synthetic tape")
    p.add_argument("--no-verify", action="store_true", help="skip source verification (runs with ETHERSCAN_TOKEN)")
    _add_signer_options(p, "arranger (default ARRANGER_/DEPLOYER_PRIVATE_KEY or _ACCOUNT)")

    p = command("onboard", _onboard, "Validate a loan tape (every bad row printed, nothing sent), register and "
                "pool it in gas-sized batches, seal the pool and check the chain equals the tape. Resumable.", "send")
    p.add_argument("tape", help="a CSV / Parquet tape, or synthetic:<n>")
    p.add_argument("--registry", help="AssetRegistry address (default: deploy one; the signer becomes originator)")
    p.add_argument("--pool", default="new", help='pool id, or "new" for a pool with the default criteria of --kind')
    p.add_argument("--kind", default="consumer_loan", choices=("consumer_loan", "trade_receivable", "lease"))
    p.add_argument("--today", help="validation date YYYY-MM-DD (default: today, or the pool's cut-off if later)")
    p.add_argument("--track-obligors", action="store_true", help="a new pool keeps its obligors' live exposures "
                   "(needed for revolving purchases under an obligor limit; ~34k gas more per new obligor)")
    _add_signer_options(p, "originator who onboards, the pool's owner (default ARRANGER_/DEPLOYER_PRIVATE_KEY or _ACCOUNT)")

    p = command("simulate", _simulate, "Scenario grid (CPR x CDR x severity) and loan-level Monte Carlo of a deal "
                "spec through the deal model: WAL, yield, duration, losses, breakeven CDR.", None)
    p.add_argument("--deal", default="consumer_loan", help="deal spec name in deals/ or a path")
    p.add_argument("--mode", choices=("grid", "mc", "both"), default="both")
    p.add_argument("--cpr", type=_decimals, default=[0.05, 0.10, 0.15, 0.20, 0.30])
    p.add_argument("--cdr", type=_decimals, default=[0.0, 0.02, 0.05, 0.10, 0.20])
    p.add_argument("--severity", type=_decimals, default=[0.4, 0.6, 0.8])
    p.add_argument("--wac", type=float, default=0.16, help="pool weighted average coupon (decimal)")
    p.add_argument("--term", type=int, default=24, help="pool weighted average remaining term (months)")
    p.add_argument("--loans", type=int, default=2_000)
    p.add_argument("--paths", type=int, default=500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=None, help="folder (default reports/simulation/<deal>)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                   help="run the Monte Carlo paths on this Dask scheduler's workers (same results; docs/cashflows.md)")

    p = command("report", _report, "Investor, pool and regulator reports rebuilt from chain data only (CSV, PNG, "
                "one HTML page).", "read")
    p.add_argument("spv", help="the deal's SPV address")
    p.add_argument("--out", type=Path, default=None, help="folder (default reports/<deal>)")
    p.add_argument("--start-block", type=int, default=None, help="first block to read (default: the deal's first)")
    p.add_argument("--market", metavar="ADDRESS", help="trading venue whose trades of the deal's tranches get a "
                   "section (default MARKET_ADDRESS)")
    p.add_argument("--rules", type=Path, default=None, metavar="YAML",
                   help="regulator rule thresholds (monitor config file or deal spec; see docs/reports.md)")
    p.add_argument("--green", metavar="ADDRESS", default=None,
                   help="a green deal's use-of-proceeds ledger: allocation and impact reports and its rule")
    p.add_argument("--reit", metavar="ADDRESS", default=None,
                   help="a REIT's collateral registry (its properties): distributions per unit and NAV per unit")

    p = command("monitor", _monitor, "Follow new blocks: print and append to <state>/events.jsonl every alert and "
                "privileged action and, following a deal, to <state>/alerts.jsonl every regulator rule alert, "
                "resuming after a restart with nothing lost or repeated.", "read")
    p.add_argument("spv", nargs="?", help="follow the whole deal of this SPV")
    p.add_argument("--green", metavar="ADDRESS", default=None,
                   help="a green deal's use-of-proceeds ledger: its events and the green_allocation_overdue rule")
    p.add_argument("--watch", action="append", default=[], metavar="NAME:ADDRESS",
                   help="a contract to follow (shipped ABI name and address); repeatable")
    p.add_argument("--state", type=Path, default=None, help="folder of checkpoint and events (default "
                   "reports/monitor/<chainid>/<spv>; a checkpoint of another chain or deal is refused)")
    p.add_argument("--start-block", type=int, default=None, help="first block (default: the deal's first)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    p.add_argument("--max-polls", type=int, default=None, help="stop after this many polls")
    p.add_argument("--quiet", action="store_true", help="write events.jsonl only")
    p.add_argument("--market", metavar="ADDRESS", help="also follow this trading venue, with the trade surveillance "
                   "(alerts for trades far from the last price or between related parties)")
    p.add_argument("--market-config", type=Path, default=None, help="surveillance settings (default config/market.yaml)")
    p.add_argument("--rules", type=Path, default=None, metavar="YAML",
                   help="rule thresholds: a monitor config file or a deal spec with a monitor: section "
                        "(default thresholds otherwise; see docs/reports.md)")

    p = command("verify-tape", _verify_tape, "Check a copy of a period's servicing tape against the chain: Merkle "
                "root, report aggregates, every loan against the asset registry.", "read")
    p.add_argument("spv", help="the deal's SPV address")
    p.add_argument("period", type=int, help="the period the tape reports")
    p.add_argument("tape", type=Path, help="the servicing tape (CSV / Parquet)")
    p.add_argument("--out", type=Path, default=None, help="write the mismatches as CSV here")

    p = command("challenge", _challenge, "Audit the pending report's servicing tape against the SPV's commitment, "
                "the registry and the previous tape; --prove sends the proof of the first fault to the deal's "
                "court. Exit status 1 when a fault is found and not proven.", "send")
    p.add_argument("spv", help="SPV address")
    p.add_argument("tape", type=Path, help="the pending period's servicing tape as published")
    p.add_argument("--previous", type=Path, default=None, help="the previous period's tape (periods after the first)")
    p.add_argument("--prove", action="store_true", help="send the proof (key from CHALLENGER_PRIVATE_KEY or "
                   "CHALLENGER_ACCOUNT)")
    _add_signer_options(p, "challenger (default CHALLENGER_PRIVATE_KEY or CHALLENGER_ACCOUNT)")

    p = command("explorer", _explorer, "The investor and regulator explorer: a live web app over a deal (deal, pool, "
                "loans with their Merkle proofs checked on chain, investors with a wallet Claim button, regulator), "
                "following new blocks; JSON behind every page.", "read")
    p.add_argument("--spv", required=True, metavar="ADDRESS", help="the deal's SPV address")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8700, help="port to listen on (default 8700; checked by the explorer)")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between two looks at the node's head")
    p.add_argument("--start-block", type=int, default=None, help="first block to read (default: the deal's first)")
    p.add_argument("--green", metavar="ADDRESS", default=None,
                   help="a green deal's use-of-proceeds ledger: adds the Green page (allocation and impact)")

    p = command("investor", _investor, "An investor's positions and claimable funds across tranche tokens (key "
                "from INVESTOR_PRIVATE_KEY or a brownie account).", "send")
    p.add_argument("tokens", nargs="*", help="tranche token addresses (default TRANCHE_TOKENS, comma-separated, "
                   "else the deal's tokens)")
    p.add_argument("--deal", metavar="NAME", help="the deal whose tokens to show (default: the chain's only deal)")
    p.add_argument("--spv", metavar="ADDRESS", help="the deal by its SPV address (instead of --deal)")
    p.add_argument("--manifest-dir", type=Path, default=None, metavar="DIR",
                   help="manifest root (default CHAINABS_DEPLOYMENTS_DIR or deployments/)")
    p.add_argument("--claim", action="store_true", help="claim interest and principal first (tokens owing nothing "
                   "are not called)")
    _add_signer_options(p, "investor (default INVESTOR_PRIVATE_KEY or INVESTOR_ACCOUNT)")

    spec = sub.add_parser("spec", help="Deal specs: check a spec file before deploying it.",
                          description="Deal specs: check a spec file before deploying it.")
    spec_actions = spec.add_subparsers(dest="spec_command", required=True, metavar="ACTION")
    text = ("Check deal spec files (YAML): every problem on one line naming the file and the field (or a YAML "
            "error's line and column), or '<file>: ok'. Exit status 2 when a spec has a problem. No chain needed.")
    p = spec_actions.add_parser("check", help=text, description=text)
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="deal spec files, e.g. deals/consumer_loan.yaml")
    p.set_defaults(run=_spec_check)

    _add_market_parser(sub)
    _add_documents_parser(sub)
    _add_operation_parsers(sub)
    return top


def _message(exc: BaseException) -> str:
    """One line for an error (the first problems of a list-carrying error after it, indented)."""
    if isinstance(exc, TapeValidationError):
        shown = "\n".join(f"  {issue}" for issue in exc.issues[:SHOWN_PROBLEMS])
        more = f"\n  ... and {len(exc.issues) - SHOWN_PROBLEMS} more" if len(exc.issues) > SHOWN_PROBLEMS else ""
        return f"{len(exc.issues)} tape issue(s), nothing was sent:\n{shown}{more}"
    if isinstance(exc, InvestorFileError):
        return f"{exc}:\n" + "\n".join(f"  {problem}" for problem in exc.problems)
    if isinstance(exc, DealSpecError):
        return "invalid deal spec:\n" + "\n".join(f"  {exc.source}: {path}: {msg}" if path else f"  {exc.source}: {msg}"
                                                  for path, msg in exc.problems)
    if isinstance(exc, FileNotFoundError) and exc.filename in LOCAL_NODES:
        return (f"{exc.filename} (the local chain's node) is not on PATH: `make` installs it into node_modules/.bin; "
                "run `source tools/dev-env.sh` first, or give --rpc URL of a node already running")
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, USER_ERRORS) else f"{type(exc).__name__}: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``chainabs`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--traceback" in argv:  # accepted anywhere on the line, not only before the subcommand
        argv = ["--traceback", *(a for a in argv if a != "--traceback")]
    args = parser().parse_args(argv)
    console = Console(width=max(Console().width, 110))
    warnings.filterwarnings("ignore", category=FutureWarning)  # brownie's own deprecation notices
    # brownie's note on attaching to a local node that already has blocks (the normal case with --rpc): noise
    warnings.filterwarnings("ignore", message="Development network has a block height")
    try:
        return int(args.run(args, console))
    except KeyboardInterrupt:
        console.print(f"chainabs {args.command}: interrupted", style="bold red", highlight=False)
        return 130
    except Exception as exc:  # noqa: BLE001 - every error ends as one line (with --traceback, the trace too)
        if args.traceback:
            traceback.print_exc()
        print(f"chainabs {args.command}: error: {_message(exc)}", file=sys.stderr)
        if getattr(args, "json", False):
            emit_json({"command": args.command, "error": _message(exc)})
        return 2


def run() -> None:
    """Console-script entry point. With ``--json``, stdout carries the one JSON object only
    (:func:`chainabs.apps.output.keep_stdout_for_json`)."""
    if "--json" in sys.argv[1:]:
        keep_stdout_for_json()
    sys.exit(main())


def script(command: str, *arguments: str, flags: Sequence[str] = ()) -> None:
    """Run ``chainabs <command> <arguments> <flags>`` from a ``brownie run scripts/<x>.py`` entry point
    (``flags`` as :func:`brownie_script_args` reads them); a failure ends the script with its exit status."""
    status = main([command, *arguments, *brownie_script_args(flags)])
    if status:
        raise SystemExit(status)


def brownie_script_args(tokens: Sequence[str]) -> list[str]:
    """Arguments given to a ``brownie run scripts/<x>.py main ...`` entry point, as ``chainabs`` options.

    brownie's own parser rejects unknown ``--options`` before a ``--`` separator, so scripts take them after
    ``--`` or as words: ``yes`` for ``--yes``, ``name=value`` for ``--name=value``.
    """
    out: list[str] = []
    for token in tokens:
        if token == "--":
            continue
        if not token.startswith("-") and "=" in token and token.split("=", 1)[0].replace("-", "").isalpha():
            token = "--" + token
        elif token in ("yes", "no-verify", "claim", "verbose", "quiet", "prove"):
            token = "--" + token
        out.append(token)
    return out
