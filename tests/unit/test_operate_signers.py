"""The deal-operation commands without a chain: who signs (keystore, brownie account, role variable, a local
chain's unlocked account, one-line refusals) and the confirmation every live-network transaction passes."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from eth_account import Account

from chainabs.apps import cli, operate
from chainabs.chain import signers

KEY = "0x" + "11" * 32
ADDRESS = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for role, names in signers.ROLE_KEYS.items():
        for name in (*names, *signers.ROLE_ACCOUNTS.get(role, ()), f"{role.upper()}_ACCOUNT"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(signers.KEYSTORE_PASSWORD_ENV, raising=False)
    monkeypatch.setattr(signers, "BROWNIE_ACCOUNTS", tmp_path / "accounts")
    return monkeypatch


def _never(prompt: str) -> str:
    raise AssertionError(f"asked {prompt!r}")


def test_the_role_variable_and_its_stand_ins(clean_env):
    with pytest.raises(signers.SignerError) as refused:
        signers.select("kyc_agent")
    assert str(refused.value) == ("no kyc agent signer: set KYC_PRIVATE_KEY or ARRANGER_PRIVATE_KEY or "
                                  "DEPLOYER_PRIVATE_KEY (hex key), or give --keystore FILE or --account NAME "
                                  "(a brownie account)")
    clean_env.setenv("DEPLOYER_PRIVATE_KEY", KEY)  # the arranger deploys: its key stands in
    assert signers.select("kyc_agent").address == ADDRESS
    other = Account.create()
    clean_env.setenv("KYC_PRIVATE_KEY", other.key.hex())
    assert signers.select("kyc_agent").address == other.address
    assert signers.select("kyc_agent", key_env="DEPLOYER_PRIVATE_KEY").address == ADDRESS
    clean_env.setenv("INVESTOR_PRIVATE_KEY", "0x1234")
    with pytest.raises(signers.SignerError, match="^INVESTOR_PRIVATE_KEY from the environment is not a private key"):
        signers.select("investor")


def test_optional_roles_and_account_variables(clean_env, tmp_path):
    """A role someone may stand in for is None when nothing is given, but a bad key still stops the command;
    the arranger's brownie account may be named by DEPLOYER_ACCOUNT, as the deployment always allowed."""
    assert signers.optional("disposal_agent") is None
    clean_env.setenv("SERVICER_PRIVATE_KEY", KEY)  # the servicer stands in for the disposal agent
    assert signers.optional("disposal_agent").address == ADDRESS
    clean_env.setenv("DISPOSAL_AGENT_PRIVATE_KEY", "0x12")
    with pytest.raises(signers.SignerError, match="^DISPOSAL_AGENT_PRIVATE_KEY from the environment is not"):
        signers.optional("disposal_agent")
    clean_env.setenv("DEPLOYER_ACCOUNT", "ops")
    with pytest.raises(signers.SignerError, match=r"^--account ops: no brownie account of that name"):
        signers.select("arranger")
    clean_env.setenv("CHALLENGER_PRIVATE_KEY", KEY)  # `challenge --prove` signs as the regulator
    assert signers.select("regulator").address == ADDRESS


def test_keystores_and_brownie_accounts(clean_env, tmp_path):
    encrypted = Account.encrypt(KEY, "pw", kdf="pbkdf2", iterations=1_000)  # fast to decrypt
    path = tmp_path / "k.json"
    path.write_text(json.dumps(encrypted))
    assert signers.select("investor", keystore=path, ask=lambda prompt: "pw").address == ADDRESS
    with pytest.raises(signers.SignerError, match="k.json: MAC mismatch"):
        signers.select("investor", keystore=path, ask=lambda prompt: "wrong")
    clean_env.setenv(signers.KEYSTORE_PASSWORD_ENV, "pw")  # no question without a terminal
    assert signers.select("investor", keystore=path, ask=_never).address == ADDRESS
    # A brownie account is its keystore in ~/.brownie/accounts, read without starting brownie.
    (tmp_path / "accounts").mkdir()
    (tmp_path / "accounts" / "ops.json").write_text(json.dumps(encrypted))
    assert signers.select("trustee", account="ops", ask=_never).address == ADDRESS
    clean_env.setenv("TRUSTEE_ACCOUNT", "ops")  # the role's brownie account by variable
    assert signers.select("trustee", ask=_never).address == ADDRESS
    clean_env.delenv("TRUSTEE_ACCOUNT")
    with pytest.raises(signers.SignerError, match="--account nobody: no brownie account of that name"):
        signers.select("trustee", account="nobody")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(signers.SignerError, match="not an encrypted keystore"):
        signers.select("trustee", keystore=tmp_path / "bad.json")
    clean_env.delenv(signers.KEYSTORE_PASSWORD_ENV)

    def no_terminal(prompt: str) -> str:
        raise EOFError

    with pytest.raises(signers.SignerError, match="set CHAINABS_KEYSTORE_PASSWORD when there is no terminal"):
        signers.select("trustee", keystore=path, ask=no_terminal)
    # A file that is not a keystore is refused before any password is asked for it.
    with pytest.raises(signers.SignerError, match="not an encrypted keystore"):
        signers.select("trustee", keystore=tmp_path / "bad.json", ask=_never)


def test_a_local_chain_lends_its_unlocked_role_accounts(clean_env):
    unlocked = [f"0x{i:040x}" for i in range(1, 11)]
    w3 = SimpleNamespace(eth=SimpleNamespace(accounts=unlocked))
    assert signers.select("servicer", w3=w3, local=True).address.lower() == unlocked[2]
    assert signers.select("originator", w3=w3, local=True).address.lower() == unlocked[3]
    with pytest.raises(signers.SignerError, match="no servicer signer"):  # never on a live chain
        signers.select("servicer", w3=w3, local=False)
    with pytest.raises(signers.SignerError, match="no investor signer"):  # investors sign for themselves
        signers.select("investor", w3=w3, local=True)


def test_a_local_chain_signs_with_the_role_holders_the_deal_records(clean_env):
    """A deal's manifest records its role holders (``chainabs deploy`` gives every role to the deployer unless told
    otherwise): on a local chain, a command signs with the recorded holder when the node holds it unlocked, with the
    role standing in for an unrecorded one, else with the role's default account."""
    unlocked = [f"0x{i:040x}" for i in range(1, 11)]
    w3 = SimpleNamespace(eth=SimpleNamespace(accounts=unlocked))
    deployer = unlocked[0]
    recorded = {"arranger": deployer, "originator": deployer, "servicer": deployer, "trustee": unlocked[5]}
    for role in ("originator", "servicer", "disposal_agent", "kyc_agent", "arranger"):
        assert signers.select(role, w3=w3, local=True, recorded=recorded).address.lower() == deployer, role
    assert signers.select("controller", w3=w3, local=True, recorded=recorded).address.lower() == unlocked[5]
    # A recorded holder the node does not hold (another node's key): the role's default account.
    elsewhere = {"servicer": "0x" + "ab" * 20}
    assert signers.select("servicer", w3=w3, local=True, recorded=elsewhere).address.lower() == unlocked[2]
    # Never on a live chain, and never for an investor.
    with pytest.raises(signers.SignerError, match="no servicer signer"):
        signers.select("servicer", w3=w3, local=False, recorded=recorded)
    with pytest.raises(signers.SignerError, match="no investor signer"):
        signers.select("investor", w3=w3, local=True, recorded={"investor": deployer})


def _ctx(*, local: bool, yes: bool):
    block = {"baseFeePerGas": 10**9}
    w3 = SimpleNamespace(eth=SimpleNamespace(get_block=lambda which: block))
    return operate.Context(operate.Options(command="close", yes=yes), w3,
                           SimpleNamespace(local=local, chain_id=11155111, w3=w3), console=None)


TX = {"from": ADDRESS, "to": "0x" + "ab" * 20, "gas": 100_000, "maxFeePerGas": 3 * 10**9,
      "maxPriorityFeePerGas": 10**9}


def test_a_live_transaction_is_shown_and_confirmed(capsys):
    operate.reviewer(_ctx(local=True, yes=False), ask=_never, isatty=lambda: False)(TX, "closeDeal")
    assert capsys.readouterr().err == ""  # local chains: never asked, nothing shown
    operate.reviewer(_ctx(local=False, yes=True), ask=_never, isatty=lambda: False)(TX, "closeDeal")
    shown = capsys.readouterr().err
    assert shown == (f"close: closeDeal -> contract {TX['to']} from {ADDRESS}; gas 100,000; cost 0.000200 ETH at "
                     "2.000 gwei (at most 0.000300 ETH)\n")
    with pytest.raises(operate.Refused, match="live network: closeDeal not sent .no terminal to confirm; add --yes"):
        operate.reviewer(_ctx(local=False, yes=False), ask=_never, isatty=lambda: False)(TX, "closeDeal")
    with pytest.raises(operate.Refused, match="closeDeal not sent: cancelled at the confirmation"):
        operate.reviewer(_ctx(local=False, yes=False), ask=lambda p: "n", isatty=lambda: True)(TX, "closeDeal")
    asked = []
    operate.reviewer(_ctx(local=False, yes=False), ask=lambda p: asked.append(p) or "y", isatty=lambda: True)(TX, "x")
    assert asked == ["Send? [y/N] "]


def test_errors_are_one_line_and_json_too(clean_env, capsys, tmp_path):
    status = cli.main(["close", "--rpc", "http://127.0.0.1:9", "--json"])
    out, err = capsys.readouterr()
    assert status == 2 and err.startswith("chainabs close: error: no JSON-RPC node answers at http://127.0.0.1:9")
    assert err.count("\n") == 1 and json.loads(out.strip().splitlines()[-1])["error"].startswith("no JSON-RPC node answers")
    status = cli.main(["investors", "register", "x.csv", "--rpc", "http://127.0.0.1:9", "--deal", "d"])
    assert status == 2 and capsys.readouterr().err.count("\n") == 1


def test_a_brownie_network_is_reached_without_brownie(tmp_path, monkeypatch):
    from chainabs.chain import bound

    config = tmp_path / "network-config.yaml"
    config.write_text("live:\n- name: Ethereum\n  networks:\n  - id: sepolia-rpc\n    host: $SEPOLIA_URL\n"
                      "    chainid: 11155111\ndevelopment:\n- id: development\n  host: http://127.0.0.1\n"
                      "  cmd_settings: {port: 8545}\n")
    monkeypatch.setenv("SEPOLIA_URL", "https://rpc.example/v3/abc")
    assert bound.network_host("sepolia-rpc", config) == "https://rpc.example/v3/abc"
    assert bound.network_host("development", config) == "http://127.0.0.1:8545"
    monkeypatch.delenv("SEPOLIA_URL")
    with pytest.raises(bound.ChainConfigError, match="needs an environment variable that is not set"):
        bound.network_host("sepolia-rpc", config)
    with pytest.raises(bound.ChainConfigError, match="no such brownie network"):
        bound.network_host("mainnet-fork", config)
    monkeypatch.setenv("CHAINABS_PORT", "8599")
    assert bound.node_url() == "http://127.0.0.1:8599"


def test_the_only_deal_is_found_beside_onboarding_records_and_manifests_moved_aside(tmp_path):
    """A chain's folder also keeps ``chainabs onboard``'s records and manifests moved aside (a reset local chain, a
    demo replacing a deal of the same name): none of them is a deal, so the chain's only deal is still found."""
    from chainabs.chain import operations as ops
    from chainabs.chain.deploy import is_deal_manifest

    folder = tmp_path / "31337"
    folder.mkdir()
    names = ["consumer_loan.json", "onboard-synthetic-60000-0123456789ab.json",
             "consumer_loan.replaced-20261205T001321.json", "consumer_loan.stale-20261204T234221.json"]
    for name in names:
        (folder / name).write_text('{"chain_id": 31337, "deal": "consumer_loan", "contracts": {}}')
    assert [is_deal_manifest(folder / n) for n in names] == [True, False, False, False]
    w3 = SimpleNamespace(eth=SimpleNamespace(chain_id=31337))
    with pytest.raises(ops.OperationError, match="consumer_loan.json: the deal's SPV is not deployed yet"):
        ops.find_deal(w3, root=tmp_path)  # the one deal, not "4 deals deployed"
