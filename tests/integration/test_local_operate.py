"""A deal deployed with ``chainabs deploy`` on a local chain runs through its offering and closing with the node's
accounts alone (usability review, session 29).

Before: ``deploy`` gave every role to the deployer (account 0) while the operation commands signed a local chain's
roles with fixed accounts (the originator account 3, the servicer account 2...): ``subscribe --retained`` was refused
(``AccessControlUnauthorizedAccount``), the originator was not KYC'd for its retained class, the arranger held no
currency for the reserve, and ``deploy``'s next-step hint dropped the node and manifest folder it was given.
"""

from __future__ import annotations

import json
import shlex

from chainabs.model.numbers import format_units
from plugins.explorer import anvil_key

DEAL = "consumer_loan"


def test_a_locally_deployed_deal_runs_with_the_nodes_accounts(tmp_path, capsys, monkeypatch, web3, SPV):
    from chainabs.apps import cli

    url = web3.provider.endpoint_uri
    root = tmp_path / "my deals.v2"
    argv = ["deploy", DEAL, "--rpc", url, "--yes", "--tape", "synthetic:800", "--investors", "2",
            "--manifest-dir", str(root)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    # The spec's closing date has passed on this chain: the shift of the deal's dates is said, once.
    assert " ".join(out.split()).count("has passed on this chain: the deal's dates are shifted by") == 1, out
    hint = next(line for line in out.splitlines() if line.startswith("operate it: "))
    assert shlex.split(hint.removeprefix("operate it: ").removesuffix(" (see docs/deploy.md)")) == [
        "chainabs", "status", "--deal", DEAL, "--rpc", url, "--manifest-dir", str(root)]
    manifest = json.loads((root / str(web3.eth.chain_id) / f"{DEAL}.json").read_text())
    roles = manifest["meta"]["roles"]
    spv = SPV.at(manifest["contracts"]["spv"]["address"])
    sizes = [int(v) for v in spv.dealState()[2]]
    assert "deal size" in out and format_units(sum(sizes), 6) in out  # currency units, not only base units

    common = ["--rpc", url, "--deal", DEAL, "--manifest-dir", str(root), "--json"]

    def run(*args: str) -> dict:
        status = cli.main([*args, *common])
        captured = capsys.readouterr()
        assert status == 0, captured.err
        return json.loads(captured.out.strip().splitlines()[-1])

    # The test investors (local accounts 10 and 11) subscribe with their keys, as investors always sign.
    for i, cls in enumerate(("A", "B")):
        monkeypatch.setenv("INVESTOR_PRIVATE_KEY", anvil_key(10 + i))
        run("subscribe", "--class", cls, "--amount", format_units(sizes[i], 6))
    monkeypatch.delenv("INVESTOR_PRIVATE_KEY")
    # The originator retains the equity class, signed by the node's account the manifest records for it.
    equity = str(run("status")["result"]["tranches"][2]["symbol"])
    done = run("subscribe", "--class", equity, "--amount", format_units(sizes[2], 6), "--retained")
    assert {t["from"] for t in done["transactions"]} == {roles["originator"]}
    # The arranger funds the reserve and closes: the pool's true sale.
    done = run("close")
    assert done["result"]["purchase_price"] == sum(sizes)
    assert {t["from"] for t in done["transactions"]} == {roles["arranger"]}
    assert run("status")["result"]["phase"] == "Active"
    # The investor command finds the deal's tokens in its manifest (no addresses given, no TRANCHE_TOKENS).
    monkeypatch.delenv("TRANCHE_TOKENS", raising=False)
    monkeypatch.setenv("INVESTOR_PRIVATE_KEY", anvil_key(10))
    assert cli.main(["investor", "--rpc", url, "--deal", DEAL, "--manifest-dir", str(root)]) == 0
    shown = capsys.readouterr().out
    a_symbol = str(run("status")["result"]["tranches"][0]["symbol"])
    assert f"positions of {web3.eth.accounts[10]}" in " ".join(shown.split()) and a_symbol in shown, shown
    assert format_units(sizes[0], 6) in shown, shown  # exact, in currency units
