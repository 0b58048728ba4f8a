"""chainabs.chain.deployment: options, roles, currency checks, tapes, dates, verification and refusals before
anything is sent."""

from __future__ import annotations

import datetime as dt
import json
import io

import pytest
from brownie import chain, web3
from eth_account import Account
from rich.console import Console

from chainabs.apps import cli
from chainabs.chain import connection as chainlib
from chainabs.chain import deployment, signers
from chainabs.chain.deploy import Deployer, DeploymentError, Manifest
from chainabs.model import terms
from chainabs.model.spec import load_deal
from chainabs.model.synthetic import generate_tape
from chainabs.model.tape import TapeValidationError

ENV_SETTINGS = ("DEPLOYER_PRIVATE_KEY", "DEPLOYER_ACCOUNT", "CURRENCY_ADDRESS", "REGISTRY_ADDRESS", "POOL_ID",
                "ETHERSCAN_TOKEN", "ORIGINATOR_PRIVATE_KEY", *(f"ROLE_{r.upper()}" for r in deployment.ROLES))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV_SETTINGS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def spec():
    return load_deal("consumer_loan")


@pytest.fixture
def proj():
    from brownie import project

    return project.get_loaded_projects()[0]


def quiet() -> Console:
    return Console(file=io.StringIO(), width=160)


# ------------------------------------------------------------------------------------------------ options


def test_script_flags_after_a_separator_or_as_words():
    """`brownie run scripts/deploy.py main <spec> -- --yes ...` and `... main <spec> yes tape=...` reach
    `chainabs deploy` with the same options."""
    parse = cli.parser().parse_args
    a = parse(["deploy", "consumer_loan", *cli.brownie_script_args(
        ["--", "--yes", "--tape", "synthetic:300", "--pool", "3", "--no-verify"])])
    assert a.yes and a.tape == "synthetic:300" and a.pool == 3 and a.no_verify
    b = parse(["deploy", "consumer_loan", *cli.brownie_script_args(
        ["yes", "tape=data/tape.csv", "currency=0x" + "ab" * 20, "investors=2"])])
    assert b.yes and b.tape == "data/tape.csv" and b.currency == "0x" + "ab" * 20 and b.investors == 2
    c = parse(["deploy"])
    assert not c.yes and c.tape is None and c.spec == "consumer_loan" and c.investors == deployment.DEFAULT_TEST_INVESTORS
    with pytest.raises(SystemExit):
        parse(["deploy", "--unknown"])


def test_a_network_other_than_the_connected_one_is_refused(capsys):
    from brownie import network

    assert cli.main(["deploy", "consumer_loan", "--network", "sepolia"]) == 2
    err = capsys.readouterr().err
    assert "connected to 'development', not 'sepolia'" in err and len(err.strip().splitlines()) == 1
    assert network.show_active() == "development"


def test_deploy_and_onboard_sign_with_a_keystore_or_a_brownie_account(tmp_path, monkeypatch, capsys):
    """The brownie-run commands choose their signer as every command does (chainabs.chain.signers): a keystore or
    a brownie account given on the command line is used (here: missing, so refused in one line before sending)."""
    from brownie import web3

    monkeypatch.setattr(signers, "BROWNIE_ACCOUNTS", tmp_path)
    nonce = web3.eth.get_transaction_count(web3.eth.accounts[0])
    assert cli.main(["deploy", "consumer_loan", "--account", "ghost", "--manifest-dir", str(tmp_path)]) == 2
    assert cli.main(["onboard", "synthetic:5", "--keystore", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--account ghost: no brownie account of that name" in err[0]
    assert f"keystore {tmp_path / 'none.json'}: no such file" in err[1]
    assert web3.eth.get_transaction_count(web3.eth.accounts[0]) == nonce


# ------------------------------------------------------------------------------------------------ roles


def test_roles_default_to_the_deployer_and_follow_env_and_overrides(spec, admin, trustee, regulator, monkeypatch):
    roles = deployment.resolve_roles(spec, admin.address)
    assert set(roles) == set(deployment.ROLES) and set(roles.values()) == {admin.address}
    monkeypatch.setenv("ROLE_TRUSTEE", trustee.address.lower())
    roles = deployment.resolve_roles(spec, admin.address, {"regulator": regulator.address})
    assert roles["trustee"] == trustee.address and roles["regulator"] == regulator.address
    assert roles["kyc_agent"] == admin.address


def test_roles_written_in_the_spec_are_used(spec, admin, servicer):
    data = spec.model_dump(mode="python")
    data["roles"]["servicer"] = servicer.address
    from chainabs.model.spec import parse_deal

    assert deployment.resolve_roles(parse_deal(data), admin.address)["servicer"] == servicer.address


def test_bad_roles_are_refused(spec, admin, issuer, monkeypatch):
    with pytest.raises(ValueError, match="unknown role"):
        deployment.resolve_roles(spec, admin.address, {"underwriter": issuer.address})
    with pytest.raises(chainlib.ChainConfigError, match="must be the deployer"):
        deployment.resolve_roles(spec, admin.address, {"arranger": issuer.address})
    monkeypatch.setenv("ROLE_SERVICER", "0x1234")
    with pytest.raises(chainlib.ChainConfigError, match=r"role servicer: '0x1234' \(ROLE_SERVICER from the environment\) is not an address"):
        deployment.resolve_roles(spec, admin.address)


# ------------------------------------------------------------------------------------------------ currency


def test_currency_address_precedence(spec, monkeypatch):
    assert deployment.resolve_currency(spec) is None
    monkeypatch.setenv("CURRENCY_ADDRESS", "0x" + "01" * 20)
    assert deployment.resolve_currency(spec) == "0x" + "01" * 20
    assert deployment.resolve_currency(spec, "0x" + "02" * 20) == "0x" + "02" * 20


def test_currency_without_code_or_with_other_decimals_is_refused(admin, proj):
    with pytest.raises(chainlib.ChainConfigError, match="no contract at"):
        deployment.check_currency("0x" + "33" * 20, 6)
    eighteen = proj.TestStablecoin.deploy("Test DAI", "tDAI", 18, {"from": admin})
    with pytest.raises(chainlib.ChainConfigError, match="has 18 decimals, the spec says 6"):
        deployment.check_currency(eighteen.address, 6)
    deployment.check_currency(eighteen.address, 18)
    registry = proj.IdentityRegistry.deploy(admin, {"from": admin})
    with pytest.raises(chainlib.ChainConfigError, match="does not answer decimals"):
        deployment.check_currency(registry.address, 6)


def test_live_network_without_a_currency_is_refused_before_sending(tmp_path, monkeypatch):
    monkeypatch.setattr(chainlib, "is_local", lambda: False)
    key = Account.create()
    monkeypatch.setenv("DEPLOYER_PRIVATE_KEY", key.key.hex())
    with pytest.raises(chainlib.ChainConfigError, match="live network: set the stablecoin address"):
        deployment.deploy_deal("consumer_loan", manifest_root=tmp_path, out=quiet())
    assert web3.eth.get_transaction_count(key.address) == 0


def test_wrong_currency_decimals_stop_a_deployment(tmp_path, admin, proj):
    nonce_before = admin.nonce
    eighteen = proj.TestStablecoin.deploy("Test DAI", "tDAI", 18, {"from": admin})
    with pytest.raises(chainlib.ChainConfigError, match="18 decimals"):
        deployment.deploy_deal("consumer_loan", currency=eighteen.address, manifest_root=tmp_path, out=quiet())
    assert admin.nonce == nonce_before + 1  # only the test's own deployment


def test_originator_without_a_key_needs_an_existing_pool(tmp_path, admin):
    nonce = admin.nonce
    stranger = Account.create().address
    with pytest.raises(chainlib.ChainConfigError, match="ORIGINATOR_PRIVATE_KEY"):
        deployment.deploy_deal("consumer_loan", roles={"originator": stranger}, manifest_root=tmp_path, out=quiet())
    assert admin.nonce == nonce


def test_a_revolving_deal_over_a_pool_that_does_not_track_its_obligors_is_refused(tmp_path, admin):
    """Every purchase of such a deal would revert ObligorsNotTracked: the deployment is refused before sending."""
    from chainabs.chain import registry as rc
    from chainabs.model import synthetic

    registry = rc.deploy_registry(admin, originators=(admin,))
    criteria = synthetic.default_criteria("trade_receivable")
    untracked, tracked = (rc.create_pool(registry, admin, criteria, track_obligors=t) for t in (False, True))
    assert (rc.tracks_obligors(registry, untracked), rc.tracks_obligors(registry, tracked)) == (False, True)
    nonce = admin.nonce
    with pytest.raises(deployment.DeploymentError, match=rf"pool {untracked} does not track its obligors, but the "
                                                         r"deal revolves under an obligor limit of"):
        deployment.deploy_deal("supply_chain_receivables", registry=str(registry.address), pool_id=untracked,
                               manifest_root=tmp_path, assume_yes=True, out=quiet())
    assert admin.nonce == nonce


def test_roles_cannot_change_under_a_manifest(tmp_path, admin, trustee, proj):
    m = Manifest.load("consumer_loan", chain.id, tmp_path)
    m.meta["roles"] = deployment.resolve_roles(load_deal("consumer_loan"), admin.address)
    m.save()
    with pytest.raises(DeploymentError, match="roles recorded as"):
        deployment.deploy_deal("consumer_loan", roles={"trustee": trustee.address}, manifest_root=tmp_path,
                               out=quiet())


def test_testnet_settings_in_dotenv_are_ignored_on_a_local_chain_and_errors_name_their_source(
        tmp_path, monkeypatch, admin):
    """A testnet's CURRENCY_ADDRESS / DEPLOYER_PRIVATE_KEY kept in .env do not take over a local deployment
    (the same values exported in the shell do); an error caused by a setting names where it came from."""
    dotenv = tmp_path / ".env"
    testnet_key = Account.create()
    dotenv.write_text(f"CURRENCY_ADDRESS=0x{'44' * 20}\nDEPLOYER_PRIVATE_KEY={testnet_key.key.hex()}\nPOOL_ID=x7\n")
    monkeypatch.setattr(chainlib, "dotenv_file", lambda: dotenv)
    monkeypatch.setattr(chainlib, "IGNORED_DOTENV", set())
    for name, value in (("CURRENCY_ADDRESS", "0x" + "44" * 20), ("DEPLOYER_PRIVATE_KEY", testnet_key.key.hex()),
                        ("POOL_ID", "x7")):
        monkeypatch.setenv(name, value)  # what brownie does when it loads the project's .env
    assert chainlib.from_dotenv("CURRENCY_ADDRESS") and chainlib.setting("CURRENCY_ADDRESS") is None
    assert deployment.resolve_currency(load_deal("consumer_loan")) is None  # the local test stablecoin
    assert signers.deployer().address == admin.address  # not the testnet key
    assert chainlib.IGNORED_DOTENV == {"CURRENCY_ADDRESS", "DEPLOYER_PRIVATE_KEY"}
    assert chainlib.origin("CURRENCY_ADDRESS") == f"CURRENCY_ADDRESS from .env ({dotenv})"
    # exported in the shell (a value .env does not hold), a setting applies locally and errors say so
    monkeypatch.setenv("CURRENCY_ADDRESS", "0x" + "55" * 20)
    assert chainlib.setting("CURRENCY_ADDRESS") == "0x" + "55" * 20
    with pytest.raises(chainlib.ChainConfigError, match=r"0x5{40} \(CURRENCY_ADDRESS from the environment\)"):
        deployment.deploy_deal("consumer_loan", manifest_root=tmp_path, out=quiet())
    # on a live network the .env value is used, and a bad one is named with its file
    monkeypatch.delenv("CURRENCY_ADDRESS")
    monkeypatch.setattr(chainlib, "is_local", lambda: False)
    monkeypatch.setattr(chainlib, "_connected_local", lambda: False)
    with pytest.raises(chainlib.ChainConfigError, match=r"POOL_ID from \.env .*'x7' is not a pool id"):
        deployment._requested_pool({}, None)


# ------------------------------------------------------------------------------------------------ tape, dates


def test_synthetic_book_too_small_for_the_criteria_says_so(spec):
    with pytest.raises(DeploymentError, match="no eligible pool can be drawn from 300 synthetic loans"):
        deployment.load_pool_tape("synthetic:300", spec)
    tape = deployment.load_pool_tape("synthetic:800", spec)
    assert len(tape) == 741 and tape["principal"].sum() > 0


def test_a_tape_file_with_a_bad_row_is_refused_whole(spec, tmp_path):
    book = generate_tape(800, seed=0, cutoff=spec.dates.cut_off)
    book.loc[5, "rate_bps"] = 9_000
    path = tmp_path / "tape.csv"
    book.to_csv(path, index=False)
    with pytest.raises(TapeValidationError) as err:
        deployment.load_pool_tape(str(path), spec)
    assert any(i.loan_id == book.loc[5, "loan_id"] and i.field == "rate_bps" for i in err.value.issues)


def test_deal_dates_shift_only_when_closing_is_past(spec):
    as_written = terms.DealTimes.after(spec, now=0)
    assert dt.datetime.fromtimestamp(as_written.closing, dt.UTC).date() == spec.dates.closing
    now = int(dt.datetime(2030, 1, 1, tzinfo=dt.UTC).timestamp())
    shifted = terms.DealTimes.after(spec, now=now)
    assert now < shifted.closing <= now + 86_400
    assert shifted.first_payment - shifted.closing == as_written.first_payment - as_written.closing


# ------------------------------------------------------------------------------------------------ verification


class _Container:
    def __init__(self, outcome):
        self.outcome, self.published = outcome, []

    def at(self, address):
        return address

    def publish_source(self, contract):
        self.published.append(contract)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def test_sources_are_published_only_with_a_token_on_a_live_network(tmp_path, admin, monkeypatch):
    class Project:
        SPV = _Container(True)
        TrancheToken = _Container(ConnectionError("explorer down"))

    d = Deployer("v", admin, project=Project(), manifest_root=tmp_path)
    d.manifest.contracts = {
        "currency": {"contract": "IERC20Metadata", "address": "0x" + "01" * 20, "external": True},
        "spv": {"contract": "SPV", "address": "0x" + "02" * 20},
        "class0": {"contract": "TrancheToken", "address": "0x" + "03" * 20},
    }
    out = io.StringIO()
    monkeypatch.setattr(deployment, "console", Console(file=out, width=160))
    assert deployment.verify_sources(d) == {}  # local chain: nothing to publish
    monkeypatch.setattr(chainlib, "is_local", lambda: False)
    assert deployment.verify_sources(d) == {}
    assert "source verification skipped: set ETHERSCAN_TOKEN" in out.getvalue()
    assert Project.SPV.published == []
    monkeypatch.setenv("ETHERSCAN_TOKEN", "token")
    outcome = deployment.verify_sources(d)
    assert outcome == {"spv": "verified", "class0": "failed: explorer down"}
    assert Project.SPV.published == ["0x" + "02" * 20]
    saved = Manifest.load("v", chain.id, tmp_path).contracts
    assert saved["spv"]["verified"] is True and saved["class0"]["verified"] is False
    deployment.verify_sources(d)  # a re-run does not publish again what is verified
    assert len(Project.SPV.published) == 1 and len(Project.TrancheToken.published) == 2


def test_onboard_validates_the_tape_before_deploying_a_registry_or_creating_a_pool(tmp_path, admin):
    """`chainabs onboard` with a bad tape sends nothing: no registry, no pool, no orphan on chain."""
    from chainabs.apps.onboard import TapeRefused, run_onboarding
    from chainabs.model.synthetic import generate_tape

    tape = generate_tape(40, kind="consumer_loan", seed=3)
    tape.loc[7, "rate_bps"] = 99_999  # above the pool's rate cap
    path = tmp_path / "bad.csv"
    tape.to_csv(path, index=False)
    nonce = admin.nonce
    with pytest.raises(TapeRefused) as refused:  # every issue printed, the error counts them
        run_onboarding(str(path), console=quiet())
    assert any(issue.row == 8 for issue in refused.value.issues)
    assert admin.nonce == nonce  # nothing was sent: neither the registry nor the pool exists
    done = cli.main(["onboard", str(path), "--pool", "3"])
    assert done == 2  # an existing pool needs its registry: refused before anything is read or sent
    assert admin.nonce == nonce
    # a tracked pool takes at most MAX_TRACKED_OBLIGORS obligors over its life: a tape with more is refused first
    import chainabs.apps.onboard as onboard_app

    good = tmp_path / "good.csv"
    generate_tape(1_000, kind="consumer_loan", seed=0).to_csv(good, index=False)  # passes the pool criteria
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(onboard_app, "MAX_TRACKED_OBLIGORS", 10)
        with pytest.raises(ValueError, match=r"--track-obligors: the tape has \d+ distinct obligors; a tracked pool "
                                             r"takes at most 10 over its life"):
            run_onboarding(str(good), console=quiet(), track_obligors=True)
    assert admin.nonce == nonce


def test_stale_brownie_records_of_a_restarted_chain_are_pruned_before_connecting(tmp_path, registry_address):
    """brownie re-attaches every record in build/deployments/<chainid> when it connects and stops on the first
    contract without code (a restarted rehearsal chain): those records are removed first, live ones kept."""
    from types import SimpleNamespace

    from brownie._config import CONFIG

    folder = tmp_path / "deployments" / "31337"
    folder.mkdir(parents=True)
    gone = web3.to_checksum_address("0x" + "66" * 20)
    for address in (gone, registry_address):
        (folder / f"{address}.json").write_text(json.dumps({"contractName": "AssetRegistry"}))
    (tmp_path / "deployments" / "map.json").write_text(json.dumps({"31337": {"AssetRegistry": [gone, registry_address]}}))
    CONFIG.networks["chainabs-test-rehearsal"] = {"id": "chainabs-test-rehearsal", "host": web3.provider.endpoint_uri,
                                                   "chainid": "31337"}
    try:
        removed = chainlib.prune_stale_artifacts(SimpleNamespace(_build_path=tmp_path), "chainabs-test-rehearsal")
    finally:
        del CONFIG.networks["chainabs-test-rehearsal"]
    assert [p.stem for p in removed] == [gone]
    assert sorted(p.stem for p in folder.glob("*.json")) == [registry_address]
    assert json.loads((tmp_path / "deployments" / "map.json").read_text()) == {"31337": {"AssetRegistry": [registry_address]}}


@pytest.fixture
def registry_address(admin):
    from brownie import project

    return project.get_loaded_projects()[0].IdentityRegistry.deploy(admin, {"from": admin}).address
