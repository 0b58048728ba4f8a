"""The `chainabs` command: every subcommand answers --help, and errors end as one line with status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chainabs.apps import cli

COMMANDS = ("demo", "deploy", "onboard", "simulate", "report", "monitor", "verify-tape", "service", "challenge",
            "investor", "market", "explorer", "investors", "subscribe", "close", "cancel-offering", "refund",
            "close-period", "claim", "recover-wallet", "clean-up-call", "end", "withdraw-fees", "grant-role", "status",
            "test-currency", "documents", "collateral", "spec")
CHAINABS = Path(sys.executable).with_name("chainabs")


def test_the_command_has_every_subcommand_of_the_scripts():
    sub = next(a for a in cli.parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_each_subcommand(command, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: chainabs {command}")
    if command not in ("simulate", "market", "documents", "investors", "test-currency", "collateral", "spec"):  # no chain, or their actions carry the options
        assert "--rpc" in out and "--network" in out  # every chain command runs on any node


def test_the_installed_console_script(tmp_path):
    assert CHAINABS.exists(), "make installs the chainabs command into .venv/bin (pip install -e .)"
    done = subprocess.run([str(CHAINABS), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "verify-tape" in done.stdout


def test_json_output_is_alone_on_stdout_when_brownie_launches_the_chain(tmp_path):
    """With --json, stdout is one JSON object even when brownie starts a local chain for the command: its
    'Launching anvil' and, at exit, 'Terminating local RPC client' lines go to stderr."""
    import json
    import os

    from chainabs.dev.testing import PORTS_PER_WORKER, worker_port
    from plugins.deploy import free_port

    port = free_port(worker_port() + 1, worker_port() + PORTS_PER_WORKER - 1)
    env = dict(os.environ, CHAINABS_PORT=str(port))
    done = subprocess.run([str(CHAINABS), "deploy", "no-such-deal", "--json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "Launching 'anvil" in done.stderr and "Terminating local RPC client" in done.stderr
    answer = json.loads(done.stdout)  # nothing else on stdout
    assert answer["command"] == "deploy" and "no-such-deal" in answer["error"]


@pytest.mark.parametrize("argv, says", [
    (["report", "0x" + "12" * 20, "--rpc", "http://127.0.0.1:9"], "no JSON-RPC|Could not connect|Connection"),
    (["verify-tape", "0x" + "12" * 20, "1", "no-such-tape.csv", "--rpc", "http://127.0.0.1:9"], ""),
    (["monitor", "--rpc", "http://127.0.0.1:9"], "give an SPV address"),
    (["explorer", "--spv", "0x" + "12" * 20, "--rpc", "http://127.0.0.1:9"], "no JSON-RPC node answers at http://127.0.0.1:9"),
    (["explorer", "--spv", "0x1234", "--rpc", "http://127.0.0.1:9"], "'0x1234' is not an Ethereum address"),

    (["monitor", "0x" + "12" * 20, "--rpc", "http://127.0.0.1:9", "--rules", "no-such-rules.yaml"],
     "no-such-rules.yaml"),
    (["monitor", "--watch", "X:0x" + "12" * 20, "--rules", "m.yaml"], "rules follow a deal"),
])
def test_errors_are_one_line_without_a_traceback(argv, says, tmp_path, capsys, monkeypatch):
    """In process (the command's own error handling); the first also as a process of its own, where nothing
    else (an import, a warning) may print a traceback around the one line."""
    if argv[0] == "report":
        done = subprocess.run([sys.executable, "-m", "chainabs", *argv], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)
        code, err = done.returncode, done.stderr
    else:
        monkeypatch.chdir(tmp_path)
        code, err = cli.main(argv), capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"chainabs {argv[0]}: error: "), err
    assert "Traceback" not in err
    if says:
        import re

        assert re.search(says, lines[0]), lines[0]


def test_a_list_of_problems_follows_its_one_line_summary(capsys):
    assert cli.main(["simulate", "--deal", "no_such_deal"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "chainabs simulate: error: invalid deal spec:" and "file not found" in err[1]


def test_a_missing_local_node_says_how_to_put_it_on_path():
    """``chainabs demo`` run outside ``make`` with the project's tools off PATH: brownie cannot launch anvil."""
    said = cli._message(FileNotFoundError(2, "No such file or directory", "anvil"))
    assert said.startswith("anvil (the local chain's node) is not on PATH") and "source tools/dev-env.sh" in said
    other = cli._message(FileNotFoundError(2, "No such file or directory", "tape.csv"))
    assert other == "[Errno 2] No such file or directory: 'tape.csv'"


def test_the_project_loads_from_any_folder(tmp_path):
    """``chainabs`` run from another folder loads (and compiles if needed) the checkout's brownie project: the
    compiler's relative remappings used to resolve from the caller's folder (``node_modules/@openzeppelin/...``
    not found)."""
    code = "from chainabs.chain.connection import load_project; import os; p = load_project(); print(os.getcwd(), len(p))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    folder, contracts = done.stdout.split()[-2:]
    assert folder == str(tmp_path) and int(contracts) > 10  # the caller's folder is given back


def test_script_flags_as_words_or_after_the_separator():
    assert cli.brownie_script_args(["--", "--yes", "--tape", "x.csv"]) == ["--yes", "--tape", "x.csv"]
    assert cli.brownie_script_args(["yes", "tape=x.csv", "max-polls=3", "0xabc"]) == [
        "--yes", "--tape=x.csv", "--max-polls=3", "0xabc"]


def test_spec_check_names_the_file_and_field_of_every_problem(tmp_path, capsys):
    """``chainabs spec check``: a good spec is ok (exit 0); a bad date and a YAML syntax error are one line each
    naming the file (exit 2), never a traceback."""
    from chainabs.paths import PROJECT_ROOT

    good = PROJECT_ROOT / "deals" / "consumer_loan.yaml"
    assert cli.main(["spec", "check", str(good)]) == 0
    assert capsys.readouterr().out.strip() == f"{good}: ok"
    text = good.read_text()
    bad_date = tmp_path / "bad date.yaml"
    bad_date.write_text(text.replace("closing: ", "closing: 2025-13-45  # was ", 1))
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\ntitle: [unclosed\n")
    assert cli.main(["spec", "check", str(bad_date), str(broken)]) == 2
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert any(line.startswith(f"{bad_date}: dates.closing: ") and "not a date" in line for line in lines), out
    assert any(line.startswith(f"{broken}: line ") for line in lines), out
    assert all(line.startswith((str(bad_date), str(broken))) for line in lines), out
    assert "Traceback" not in out + err



def test_traceback_is_accepted_after_the_subcommand_too(tmp_path, capsys):
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: [unclosed\n")
    assert cli.main(["spec", "check", str(bad), "--traceback"]) == 2  # parsed, not "unrecognized arguments"
    assert f"{bad}: line " in capsys.readouterr().out
