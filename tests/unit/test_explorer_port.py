"""``chainabs explorer`` takes its port before anything else: a port in use or out of range is refused in one
line (exit status 2) before the deal is indexed, and nothing is printed as if the explorer had started."""

from __future__ import annotations

import socket

import pytest

from chainabs.apps import cli
from chainabs.apps.explorer import server
from chainabs.dev.testing import PORTS_PER_WORKER, worker_port
from plugins.deploy import free_port

#: No node answers here: an explorer that indexed before checking its port would fail on the node instead.
NO_NODE = "http://127.0.0.1:9"
SPV = "0x" + "12" * 20


@pytest.fixture
def busy_port():
    port = free_port(worker_port() + 1, worker_port() + PORTS_PER_WORKER - 1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        yield port


def test_a_port_in_use_is_refused_before_indexing(busy_port, capsys):
    status = cli.main(["explorer", "--rpc", NO_NODE, "--spv", SPV, "--port", str(busy_port)])
    out, err = capsys.readouterr()
    assert status == 2
    assert err.strip() == (f"chainabs explorer: error: port {busy_port} is in use: Address already in use on "
                           f"127.0.0.1:{busy_port}; give --port N (another free port)")
    assert "explorer: http" not in out and "indexed" not in out
    with pytest.raises(ValueError, match=f"port {busy_port} is in use"):
        server.ExplorerServer(server.Indexer(NO_NODE, SPV), port=busy_port).start()


@pytest.mark.parametrize("port", ["99999", "0", "-1", "65536"])
def test_a_port_out_of_range_is_one_line(port, capsys):
    status = cli.main(["explorer", "--rpc", NO_NODE, "--spv", SPV, "--port", port])
    out, err = capsys.readouterr()
    assert status == 2
    assert err.strip() == f"chainabs explorer: error: --port {port}: a port is a number from 1 to 65535"
    assert "Traceback" not in out + err and "explorer: http" not in out


def test_the_port_check_in_the_entry_function_itself():
    with pytest.raises(ValueError, match="from 1 to 65535"):
        server.serve(NO_NODE, SPV, port=70000)
    assert server.check_port(65535) == 65535 and server.check_port(1) == 1
    with pytest.raises(ValueError, match="cannot listen there"):
        server.reserve_port("no-such-host.invalid", 8700)
