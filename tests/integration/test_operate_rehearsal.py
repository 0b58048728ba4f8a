"""Rehearsal of a real testnet life: an anvil with Sepolia's chain id and a fresh HOME, and a small deal's whole
life run only through `chainabs` subprocesses signed with raw keys (no brownie account, no unlocked account):
test currency, deployment with a tape, KYC of the investors, subscriptions, closing, three servicing periods
from tapes (the first one killed half way and run again: nothing sent twice), period closes, a wallet
recovery, the clean-up call, the end of the deal, fee withdrawals and claims. The SPV ends holding nothing.

The test itself only moves the chain's clock (a testnet's days pass by themselves) and funds the keys with ETH.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from eth_account import Account
from plugins.deploy import PROJECT_LINKS, SEPOLIA_CHAIN_ID, free_port, run_until
from web3 import Web3

from chainabs.chain.abis import load_abi
from chainabs.dev.testing import PORTS_PER_WORKER, ExternalAnvil, worker_port
from chainabs.model import servicing as sv
from chainabs.model.waterfall import PeriodReport
from chainabs.paths import PROJECT_ROOT

CHAINABS = Path(sys.executable).with_name("chainabs")
DEAL = "rehearsal"
LOANS = 24


def _spec(path: Path) -> Path:
    """The consumer-loan deal with concentration limits a 24-loan pool can meet."""
    spec = yaml.safe_load((PROJECT_ROOT / "deals" / "consumer_loan.yaml").read_text())
    spec["name"] = DEAL
    spec["title"] = "ChainABS Rehearsal Trust"
    spec["eligibility"]["concentration"] = {"max_region_bps": 10_000, "max_industry_bps": 10_000,
                                            "max_obligor_bps": 10_000}
    spec.pop("monitor", None)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    # the deal's documents (offering circular, trust deed) sit beside the spec, as in deals/
    shutil.copytree(PROJECT_ROOT / "deals" / "documents" / "consumer_loan", path.parent / "documents" / "consumer_loan",
                    dirs_exist_ok=True)
    return path


class Life:
    """The rehearsal chain, the project copy the commands run in, and the keys of the deal's parties."""

    def __init__(self, root: Path, anvil: ExternalAnvil) -> None:
        self.root, self.anvil = root, anvil
        self.w3 = Web3(Web3.HTTPProvider(anvil.url))
        self.cwd, self.home = root / "project", root / "home"
        (self.cwd / "build").mkdir(parents=True)
        self.home.mkdir()
        for name in PROJECT_LINKS:
            (self.cwd / name).symlink_to(PROJECT_ROOT / name)
        for sub in ("contracts", "interfaces"):
            shutil.copytree(PROJECT_ROOT / "build" / sub, self.cwd / "build" / sub)
        (self.cwd / ".env").write_text("")
        names = ("deployer", "originator", "servicer", "trustee", "alice", "bob", "carol", "carol2")
        self.keys = {n: Account.create() for n in names}
        for acct in self.keys.values():
            anvil.fund(acct.address, 100 * 10**18)
        self.log: list[tuple[str, float, int, int]] = []  # command, seconds, transactions, gas

    def addr(self, name: str) -> str:
        return self.keys[name].address

    def key(self, name: str) -> str:
        return self.keys[name].key.hex()

    def env(self, **keys: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.endswith("_PRIVATE_KEY") and not k.startswith(("ROLE_", "CURRENCY_", "DEPLOYER_", "POOL_ID",
                                                                         "REGISTRY_", "ETHERSCAN_"))}
        env.update(HOME=str(self.home), PYTHONPATH=str(PROJECT_ROOT), COLUMNS="120",
                   CHAINABS_DEPLOYMENTS_DIR=str(self.root / "deployments"))
        env.update({f"{role.upper()}_PRIVATE_KEY": self.key(who) for role, who in keys.items()})
        return env

    def start(self, *args: str, log: Path, **keys: str) -> subprocess.Popen:
        fh = log.open("w")
        return subprocess.Popen([str(CHAINABS), *args], cwd=self.cwd, env=self.env(**keys), stdin=subprocess.DEVNULL,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)

    def run(self, *args: str, deal: bool = True, **keys: str) -> dict:
        """``chainabs <args> --rpc URL [--deal rehearsal] --json`` signed with ``keys`` (role -> party); its JSON."""
        argv = [*args, "--rpc", self.anvil.url, "--json", *(["--deal", DEAL] if deal else []),
                *(["--yes"] if keys else [])]
        started = time.monotonic()
        done = subprocess.run([str(CHAINABS), *argv], cwd=self.cwd, env=self.env(**keys), capture_output=True,
                              text=True, timeout=180, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"chainabs {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        out = json.loads(done.stdout.strip().splitlines()[-1])
        self.log.append((" ".join(args[:2]), time.monotonic() - started, len(out["transactions"]),
                         sum(t["gas_used"] for t in out["transactions"])))
        return out

    def run_all(self, *commands: tuple[tuple[str, ...], dict[str, str]]) -> list[dict]:
        """Independent commands (different signers) side by side, as the parties would; their JSON, in order."""
        started = time.monotonic()
        procs = [subprocess.Popen([str(CHAINABS), *args, "--rpc", self.anvil.url, "--json", "--deal", DEAL, "--yes"],
                                  cwd=self.cwd, env=self.env(**keys), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, stdin=subprocess.DEVNULL) for args, keys in commands]
        outs = []
        for (args, _), proc in zip(commands, procs, strict=True):
            stdout, stderr = proc.communicate(timeout=180)
            assert proc.returncode == 0, f"chainabs {' '.join(args)}:\n{stdout}\n{stderr}"
            outs.append(json.loads(stdout.strip().splitlines()[-1]))
        took = time.monotonic() - started
        for (args, _), out in zip(commands, outs, strict=True):
            self.log.append((" ".join(args[:2]) + " (side by side)", took, len(out["transactions"]),
                             sum(t["gas_used"] for t in out["transactions"])))
        return outs

    def contract(self, name: str, address: str):
        return self.w3.eth.contract(address=address, abi=load_abi(name))

    def warp_to(self, timestamp: int) -> None:
        """A testnet's calendar, faster: the next block at ``timestamp``."""
        if int(self.w3.eth.get_block("latest")["timestamp"]) < timestamp:
            self.anvil.rpc("evm_setNextBlockTimestamp", [timestamp])
            self.anvil.rpc("evm_mine", [])


@pytest.fixture(scope="module")
def life(tmp_path_factory):
    base = worker_port()
    root = tmp_path_factory.mktemp("operate")
    with ExternalAnvil(free_port(base + 1, base + PORTS_PER_WORKER - 1), chain_id=SEPOLIA_CHAIN_ID) as anvil:
        yield Life(root, anvil)


def _tapes(cutoff: pd.DataFrame, tmp: Path) -> list[tuple[pd.DataFrame, Path]]:
    """Three periods: a fifth of the pool prepaid, then most of it (the pool falls under the clean-up level),
    then a quiet month into which the originator calls the rest."""
    rates = cutoff.set_index(cutoff["loan_id"].astype(str))["rate_bps"].astype("int64")
    previous = sv.opening_tape(cutoff)
    total = int(cutoff["principal"].sum())
    out = []
    for period, (prepaid, scheduled) in enumerate(((0.2, 0.02), (0.7, 0.01), (0.0, 0.002)), start=1):
        balance = int(previous.loc[previous["status"] == "Performing", "ending_principal"].sum())
        target = PeriodReport(interest_collections=balance // 100, scheduled_principal=int(total * scheduled),
                              prepayments=int(total * prepaid), recoveries=0, defaults=0, delinquent_30=0,
                              delinquent_60=0, delinquent_90_plus=0, pool_ending_balance=0)
        tape = sv.allocate_period(previous, rates, target, period)
        out.append((tape, sv.write_servicing_tape(tape, tmp / f"period-{period:03d}.csv")))
        previous = tape
    return out


def _inproc(life, monkeypatch, capsys, *argv: str, deal: bool = True, **keys: str) -> tuple[int, str, str]:
    """``chainabs <argv>`` in this process (no start-up cost) against the rehearsal chain: status, stdout, stderr."""
    from chainabs.apps import cli

    for name, value in life.env(**keys).items():
        if name.endswith("_PRIVATE_KEY") or name == "CHAINABS_DEPLOYMENTS_DIR":
            monkeypatch.setenv(name, value)
    status = cli.main([*argv, "--rpc", life.anvil.url, *(["--deal", DEAL] if deal else [])])
    out, err = capsys.readouterr()
    return status, out, err


def test_a_deal_lives_its_whole_life_through_the_command_line(life, tmp_path, monkeypatch, capsys):
    from chainabs.chain.deployment import load_pool_tape
    from chainabs.model.spec import load_deal

    w3 = life.w3
    began = time.monotonic()
    spec_path = _spec(tmp_path / "rehearsal.yaml")
    cutoff = load_pool_tape(f"synthetic:{LOANS}", load_deal(spec_path))
    tape_csv = tmp_path / "pool.csv"
    cutoff.to_csv(tape_csv, index=False)

    # Test currency (on a testnet: deploy the test stablecoin, or name an existing ERC-20). Not a step of the
    # deal's life: run in this process, no start-up cost.
    status, out, _ = _inproc(life, monkeypatch, capsys, "test-currency", "deploy", "--yes", "--json",
                             deal=False, currency_owner="deployer")
    currency = json.loads(out.strip().splitlines()[-1])["result"]["currency"]

    # Deployment with the tape (the one command that starts brownie).
    roles = {"ROLE_ORIGINATOR": life.addr("originator"), "ROLE_SERVICER": life.addr("servicer"),
             "ROLE_TRUSTEE": life.addr("trustee")}
    env = {**life.env(deployer="deployer", originator="originator"), **roles, "CURRENCY_ADDRESS": currency}
    started, first = time.monotonic(), w3.eth.block_number + 1
    done = subprocess.run([str(CHAINABS), "deploy", str(spec_path), "--rpc", life.anvil.url, "--tape", str(tape_csv),
                           "--yes", "--json"], cwd=life.cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)  # stdout is the one JSON object, the steps went to stderr
    deployed = [w3.eth.get_transaction_receipt(tx) for n in range(first, w3.eth.block_number + 1)
                for tx in w3.eth.get_block(n)["transactions"]]
    life.log.append(("deploy", time.monotonic() - started, len(deployed), sum(r["gasUsed"] for r in deployed)))
    manifest = json.loads((life.root / "deployments" / str(SEPOLIA_CHAIN_ID) / f"{DEAL}.json").read_text())
    assert result["chain_id"] == SEPOLIA_CHAIN_ID and result["deal"] == DEAL and result["pool_sealed"]
    assert result["addresses"] == {k: v["address"] for k, v in manifest["contracts"].items()}
    spv = life.contract("SPV", manifest["contracts"]["spv"]["address"])
    tokens = [life.contract("TrancheToken", a) for a in spv.functions.classTokens().call()]
    sizes = [int(v) for v in spv.functions.dealState().call()[2]]
    size = sum(sizes)
    unit = 10**6

    # Everyone who pays gets test currency: investors, the originator (retention, clean-up call), the arranger
    # (reserve), the servicer (collections).
    payers = ("alice", "bob", "carol", "originator", "deployer", "servicer")
    status, out, _ = _inproc(life, monkeypatch, capsys, "test-currency", "mint",
                             *[x for p in payers for x in ("--to", life.addr(p))], "--amount", f"{size // unit + 1:,}",
                             "--yes", "--json", currency_owner="deployer")
    assert status == 0 and len(json.loads(out.strip().splitlines()[-1])["transactions"]) == len(payers)

    # KYC: three investors, the wallet carol will move to and the originator (it retains the equity class); a bad file first (every bad row named, nothing sent).
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"address": [life.addr("alice"), "0x1234", life.addr("bob"), life.addr("alice")],
                  "jurisdiction": [156, 156, 0, 156], "investor_type": [1, 1, 1, 1],
                  "expiry": ["2035-01-01"] * 4}).to_csv(bad, index=False)
    nonce = w3.eth.get_transaction_count(life.addr("deployer"))
    failed = subprocess.run([str(CHAINABS), "investors", "register", str(bad), "--rpc", life.anvil.url, "--deal", DEAL],
                            cwd=life.cwd, env=life.env(kyc="deployer"), capture_output=True, text=True, timeout=60)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert "5 problem(s), nothing was sent" in lines[0] and len(lines) == 6, failed.stderr
    assert "row 1: field 'jurisdiction' = 156 is not allowed" in lines[1] and "--allow-jurisdictions" in lines[1]
    assert lines[2].startswith("  row 2: field 'address'") and lines[3].startswith("  row 3: field 'jurisdiction'")
    assert "row 4: field 'address'" in lines[4] and "duplicates row 1" in lines[4] and "row 4" in lines[5]
    assert w3.eth.get_transaction_count(life.addr("deployer")) == nonce
    good = tmp_path / "investors.csv"
    pd.DataFrame({"address": [life.addr(n) for n in ("alice", "bob", "carol", "carol2", "originator")],
                  "jurisdiction": 156, "investor_type": 1, "expiry": "2035-01-01"}).to_csv(good, index=False)
    out = life.run("investors", "register", str(good), "--allow-jurisdictions", kyc="deployer")
    assert len(out["result"]["registered"]) == 5

    # Offering: class A shared by alice and bob, B by carol, the originator retains the equity class.
    half = sizes[0] // 2
    # On a live network, without --yes and without a terminal, nothing is sent.
    refused = subprocess.run([str(CHAINABS), "subscribe", "--class", "A", "--amount", "1", "--rpc", life.anvil.url,
                              "--deal", DEAL], cwd=life.cwd, env=life.env(investor="alice"), capture_output=True,
                             text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert "approve -> currency" in refused.stderr and "gas" in refused.stderr and "ETH" in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("chainabs subscribe: error: chain 11155111 is a live "
                                                              "network: approve not sent")
    assert w3.eth.get_transaction_count(life.addr("alice")) == 0
    # More than the class has: refused in words before anything is sent (not even the approval), amounts in CNY.
    too_much = sizes[0] + 1_000 * unit
    nonce = w3.eth.get_transaction_count(life.addr("bob"))
    status, _, err = _inproc(life, monkeypatch, capsys, "subscribe", "--class", "A", "--amount",
                             f"{too_much / unit:,.6f}", "--yes", investor="bob")
    from chainabs.model.numbers import format_units

    cny = life.contract("TestStablecoin", currency).functions.symbol().call()
    assert status == 2 and err.strip().splitlines() == [
        f"chainabs subscribe: error: subscribe: class {tokens[0].functions.symbol().call()}: "
        f"{format_units(too_much, 6, cny)} asked, {format_units(sizes[0], 6, cny)} left in the offering "
        "(OverSubscribed); nothing sent"], err
    assert w3.eth.get_transaction_count(life.addr("bob")) == nonce
    # The subscriptions (and the admin's grant of the controller role to the trustee) side by side.
    life.run_all((("subscribe", "--class", "A", "--amount", f"{half / unit:,.6f}"), {"investor": "alice"}),
                 (("subscribe", "--class", "A", "--amount", str((sizes[0] - half) / unit)), {"investor": "bob"}),
                 (("subscribe", "--class", "B", "--amount", str(sizes[1] / unit)), {"investor": "carol"}),
                 (("subscribe", "--class", tokens[2].functions.symbol().call(), "--amount", str(sizes[2] / unit),
                   "--retained"), {"originator": "originator"}),
                 (("grant-role", "CONTROLLER_ROLE", life.addr("trustee"), "--on", "tokens"), {"arranger": "deployer"}))
    out = life.run("close", arranger="deployer")
    assert out["result"]["purchase_price"] == size

    # The deal's trading venue: deployed by the arranger, recorded in the manifest, every class listed; a second
    # run sends nothing; a class the deal does not have and a signer without the venue's admin role are refused
    # by name before anything is sent.
    symbols = [t.functions.symbol().call() for t in tokens]
    status, _, err = _inproc(life, monkeypatch, capsys, "market", "open", "--class", "Z9", "--yes",
                             arranger="deployer")
    assert status == 2 and "no class Z9 in the deal" in err and "Traceback" not in err, err
    out = life.run("market", "open", arranger="deployer")
    venue_address = out["result"]["market"]
    assert out["result"]["deployed"] and out["result"]["listed"] == symbols and out["result"]["already_listed"] == []
    assert [t["what"] for t in out["transactions"]] == ["contract creation", "grantRole", "list", "list", "list"]
    assert json.loads((life.root / "deployments" / str(SEPOLIA_CHAIN_ID) / f"{DEAL}.json").read_text()
                      )["contracts"]["market"]["address"] == venue_address
    venue = life.contract("TrancheMarket", venue_address)
    assert venue.functions.currency().call() == manifest["contracts"]["currency"]["address"]
    assert all(venue.functions.listing(t.address).call()[0] for t in tokens)
    again = life.run("market", "open", arranger="deployer")
    assert (again["result"]["market"], again["result"]["deployed"], again["transactions"]) == (venue_address, False, [])
    assert again["result"]["already_listed"] == symbols
    nonce = w3.eth.get_transaction_count(life.addr("alice"))
    status, _, err = _inproc(life, monkeypatch, capsys, "market", "open", "--yes", arranger="alice")
    assert status == 2 and f"{life.addr('alice')} does not hold DEFAULT_ADMIN_ROLE" in err, err
    assert w3.eth.get_transaction_count(life.addr("alice")) == nonce
    # The market commands find the venue the deal's manifest records (no --market, no MARKET_ADDRESS).
    monkeypatch.delenv("MARKET_ADDRESS", raising=False)
    status, out, err = _inproc(life, monkeypatch, capsys, "market", "book", tokens[0].address)
    assert status == 0 and f"{symbols[0]}: the book is empty" in out, (out, err)

    # The pool's collateral (a secured deal's vehicles): the registry deployed and recorded in the manifest, a bad
    # file refused naming its rows (nothing sent), the file recorded; a second run sends nothing.
    from chainabs.model.synthetic import generate_collateral

    vehicles = generate_collateral(cutoff, seed=5)
    nonce = w3.eth.get_transaction_count(life.addr("originator"))
    out = life.run("collateral", "deploy", originator="originator")
    coll_address = out["result"]["collateral_registry"]
    assert out["result"]["deployed"] and len(out["transactions"]) == 1
    manifest_path = life.root / "deployments" / str(SEPOLIA_CHAIN_ID) / f"{DEAL}.json"
    recorded = json.loads(manifest_path.read_text())
    assert recorded["contracts"]["collateral_registry"]["address"] == coll_address
    # A run killed after sending the creation left only its predicted address (pending): the next run finds the
    # contract there instead of deploying a second one; a run after that one sends nothing either.
    from chainabs.chain.operations import _create_address

    assert _create_address(life.addr("originator"), nonce) == coll_address
    killed = {**recorded, "contracts": {k: v for k, v in recorded["contracts"].items() if k != "collateral_registry"},
              "pending": {"collateral_registry": {"sender": life.addr("originator"), "nonce": nonce,
                                                  "address": coll_address}}}
    manifest_path.write_text(json.dumps(killed))
    for _ in range(2):
        out = life.run("collateral", "deploy", originator="originator")
        assert out["result"]["collateral_registry"] == coll_address and out["transactions"] == []
    assert json.loads(manifest_path.read_text())["pending"] == {}
    bad_vehicles = vehicles.copy()
    bad_vehicles.loc[3, "loan_id"] = "NOT-IN-POOL"
    bad_vehicles.loc[5, "appraised_value"] = 0
    bad_csv = tmp_path / "bad-vehicles.csv"
    bad_vehicles.to_csv(bad_csv, index=False)
    nonce = w3.eth.get_transaction_count(life.addr("originator"))
    status, _, err = _inproc(life, monkeypatch, capsys, "collateral", "record", str(bad_csv), "--yes",
                             originator="originator")
    assert status == 2 and "Traceback" not in err and "row 6" in err and "appraised_value" in err, err
    bad_vehicles.loc[5, "appraised_value"] = vehicles.loc[5, "appraised_value"]
    bad_vehicles.to_csv(bad_csv, index=False)
    status, _, err = _inproc(life, monkeypatch, capsys, "collateral", "record", str(bad_csv), "--yes",
                             originator="originator")
    assert status == 2 and "row 4 loan NOT-IN-POOL (not registered)" in err and "nothing was sent" in err, err
    assert w3.eth.get_transaction_count(life.addr("originator")) == nonce
    vehicles_csv = tmp_path / "vehicles.csv"
    vehicles.to_csv(vehicles_csv, index=False)
    out = life.run("collateral", "record", str(vehicles_csv), originator="originator")
    appraised = int(vehicles["appraised_value"].astype("int64").sum())
    secured = len(vehicles)  # the synthetic file gives most loans a vehicle, not all
    assert secured > LOANS // 2
    assert (out["result"]["recorded"], out["result"]["pool_collateral_count"]) == (secured, secured)
    assert out["result"]["pool_appraised_value"] == appraised
    again = life.run("collateral", "record", str(vehicles_csv), originator="originator")
    assert (again["result"]["recorded"], again["result"]["already_recorded"], again["transactions"]) == (0, secured, [])

    # Three periods. The first `service` is killed once half its registry updates are on chain, then run again.
    tapes = _tapes(cutoff, tmp_path)
    servicer = life.addr("servicer")
    committed = sv.commit_tape(tapes[0][0], life.addr("originator"), 1)
    updates = sv.registry_updates(sv.cutoff_registry(cutoff), committed)
    assert len(updates) >= 4
    start_nonce = w3.eth.get_transaction_count(servicer)
    start_block = w3.eth.block_number + 1
    killed_log = tmp_path / "service-killed.log"
    proc = life.start("service", str(tapes[0][1]), "--rpc", life.anvil.url, "--deal", DEAL, "--batch", "1", "--yes",
                      log=killed_log, servicer="servicer")
    assert run_until(proc, lambda: w3.eth.get_transaction_count(servicer) - start_nonce >= 2, timeout=120), \
        killed_log.read_text()
    assert spv.functions.pendingServicingPeriod().call() == 0
    closed_loans = 0
    for period, (tape, path) in enumerate(tapes, start=1):
        out = life.run("service", str(path), servicer="servicer")
        assert out["result"]["submitted"] and out["result"]["period"] == period
        # the loans the period closed (prepaid, repaid) leave the pool's collateral tally in the same command
        gone = tape["status"].isin(["Prepaid", "Repaid"]) & tape["loan_id"].astype(str).isin(vehicles["loan_id"])
        assert out["result"]["collateral"]["released"] == int(gone.sum()) - closed_loans
        closed_loans = int(gone.sum())
        assert out["result"]["collateral"]["pool_collateral_count"] == secured - closed_loans
        if period == 1:  # every registry update once, then the approval and the report: nothing twice
            registry = life.contract("AssetRegistry", manifest["contracts"]["registry"]["address"])
            sent = [tx for n in range(start_block, w3.eth.block_number + 1)
                    for tx in w3.eth.get_block(n, full_transactions=True)["transactions"] if tx["from"] == servicer]
            calls = [(registry.decode_function_input(tx["input"]) if tx["to"] == registry.address else (None, {}))
                     for tx in sent]
            sent_updates = [u["assetId"] if isinstance(u, dict) else u[0] for fn, args in calls if fn is not None
                            for u in args["updates"]]
            assert sorted(sent_updates) == sorted(u.asset_id for u in updates)  # each once
            released = sum(tx["to"] == coll_address for tx in sent)  # the loans the period closed
            assert released == 1  # one release transaction
            assert len(sent) == sum(fn is not None for fn, _ in calls) + 2 + released  # approval and report
            assert sum(fn is not None for fn, _ in calls) >= 3  # killed after two batches of one
        if period == 2:
            # what the command reports as moved is what carol could withdraw, to the unit (the event's credits are
            # cumulative and scaled by 2**32: they were shown raw, 2**32 times too large, before)
            owed = tokens[1].functions.withdrawableOf(life.addr("carol")).call()
            units = tokens[1].functions.balanceOf(life.addr("carol")).call()
            out = life.run("recover-wallet", "--lost", life.addr("carol"), "--replacement", life.addr("carol2"),
                           kyc="deployer", controller="trustee")
            assert out["result"]["moved"] == {tokens[1].functions.symbol().call(): {
                "units": units, "interest": owed[0], "principal": owed[1]}}
            assert tokens[1].functions.withdrawableOf(life.addr("carol2")).call() == owed
        if period == 3:
            out = life.run("clean-up-call", originator="originator")
            assert out["result"]["price"] == sv.period_report(tape).pool_ending_balance > 0
        life.warp_to(spv.functions.paymentDate(period).call())
        out = life.run("close-period", servicer="servicer")
        assert out["result"]["period"] == period
        if period == 1:  # the arranger publishes the period's investor report by its hash on every tranche
            out = life.run("documents", "attach-report", "1", "--out", str(tmp_path / "published"), arranger="deployer")
            published = Path(out["result"]["file"])
            assert out["result"]["name"] == "investor-report-1" and len(out["transactions"]) == 3
            assert out["result"]["hash"] == "0x" + hashlib.sha256(published.read_bytes()).hexdigest()
        if period == 1:  # alice is owed interest now; a key without ETH cannot trigger her claim
            unfunded = Account.create()
            monkeypatch.setenv("UNFUNDED_KEY", unfunded.key.hex())
            status, _, err = _inproc(life, monkeypatch, capsys, "claim", "--for", life.addr("alice"), "--key-env",
                                     "UNFUNDED_KEY")
            assert status == 2 and err.strip() == (f"chainabs claim: error: account {unfunded.address} has no ETH on "
                                                   "chain 11155111 to pay for gas (fund it from a faucet)")

    assert spv.functions.dealState().call()[1] == 0  # the pool is gone (paid and called)
    # The loans the clean-up call bought stay live in their pool (now the originator's again), with their
    # collateral: nothing to release, and a release sends nothing.
    left = secured - closed_loans
    assert left > 0
    status, out, _ = _inproc(life, monkeypatch, capsys, "collateral", "status")
    assert status == 0 and f"collateral of pool 1: {left:,} loans" in out, out
    assert "0 of them left the pool or closed" in out, out
    out = life.run("collateral", "release", servicer="trustee")  # anyone may send it
    assert (out["result"]["released"], out["result"]["pool_collateral_count"], out["transactions"]) == (0, left, [])
    out = life.run("end", trustee="trustee")
    fees, own, others = life.run_all(
        (("withdraw-fees",), {"trustee": "trustee"}),
        (("claim",), {"investor": "alice"}),  # her own
        (("claim", *[x for p in ("bob", "carol2", "originator") for x in ("--for", life.addr(p))]),
         {"investor": "carol"}))  # anyone may trigger a holder's claim; the holder is paid
    assert set(fees["result"]["paid"]) <= {life.addr("trustee"), life.addr("servicer")}
    assert list(own["result"]["claimed"]) == [life.addr("alice")]
    assert set(others["result"]["claimed"]) == {life.addr(p) for p in ("bob", "carol2", "originator")}
    # Nothing owed: nothing sent, and not a failure (a scheduled run finds nothing to do; safe to re-run).
    nobody = Account.create()
    monkeypatch.setenv("NOBODY_KEY", nobody.key.hex())
    for argv, says in ((("claim", "--for", life.addr("alice"), "--key-env", "NOBODY_KEY"),
                        f"claim: nothing to claim for {life.addr('alice')} on the deal's 3 tokens (nothing sent)"),
                       (("withdraw-fees", "--key-env", "NOBODY_KEY"), "withdraw-fees: no fee is owed to anyone (nothing sent)")):
        status, out, err = _inproc(life, monkeypatch, capsys, *argv, investor="bob")
        assert status == 0 and out.strip() == says, (out, err)
    # Refusals before anything is sent: a missing role, an account without ETH, a finished deal, no contract.
    for argv, says in ((("grant-role", "PAUSER_ROLE", life.addr("bob"), "--yes", "--key-env", "INVESTOR_PRIVATE_KEY"),
                        f"grant PAUSER_ROLE: {life.addr('bob')} does not hold DEFAULT_ADMIN_ROLE on the TrancheToken"),
                       (("close-period", "--key-env", "NOBODY_KEY"), "close-period: the deal is Ended, not Active"),
                       (("status", "--spv", life.addr("bob")), f"no contract at {life.addr('bob')} on chain 11155111")):
        status, _, err = _inproc(life, monkeypatch, capsys, *argv, investor="bob")
        assert status == 2 and err.strip().splitlines() == [f"chainabs {argv[0]}: error: " + err.split(": error: ")[1].strip()]
        assert says in err, err
    status, out, _ = _inproc(life, monkeypatch, capsys, "status")  # the one screen: every address unwrapped
    assert status == 0 and "Ended" in out and "documents:" in out, _
    assert f"collateral of pool 1: {left:,} loans, appraised " in out and coll_address in out
    for key, record in manifest["contracts"].items():
        assert f"  {key:<14} {record['address']}\n" in out
    status = life.run("status")["result"]
    assert "NaN" not in json.dumps(status) and all(t["value_bps"] is None or t["value_bps"] >= 0 for t in status["triggers"])
    assert status["phase"] == "Ended" and status["spv_currency_balance"] == 0
    assert (status["collateral"]["pool_collateral_count"], status["collateral"]["releasable"]) == (left, 0)
    listed = {(d["token"], d["name"]): d["hash"] for d in status["documents"]}  # deploy's two and the report
    assert {name for _, name in listed} == {"offering_circular", "trust_deed", "investor-report-1"}
    assert len(listed) == 3 * len(status["tranches"])
    deed = PROJECT_ROOT / "deals" / "documents" / "consumer_loan" / "trust_deed.md"
    assert {h for (_, n), h in listed.items() if n == "trust_deed"} == {"0x" + hashlib.sha256(deed.read_bytes()).hexdigest()}
    erc20 = life.contract("TestStablecoin", currency)
    assert erc20.functions.balanceOf(spv.address).call() == 0
    for token in tokens:  # everything distributed was claimed: the tokens hold nothing either
        assert erc20.functions.balanceOf(token.address).call() <= 10  # rounding dust at most
    assert tokens[1].functions.balanceOf(life.addr("carol")).call() == 0
    # No anvil account was ever used: every transaction was signed with a raw key.
    assert all(w3.eth.get_transaction_count(a) == 0 for a in w3.eth.accounts)
    total = time.monotonic() - began
    print(f"\nrehearsal: {len(life.log)} commands in {total:.1f} s")
    for command, seconds, txs, gas in life.log:
        print(f"  {command[:40]:<40} {seconds:5.1f} s  {txs:>2} tx  {gas:>10,} gas")
