"""Explorer benchmarks over the live demo deal (``chainabs demo --periods EXPLORER_BENCH_PERIODS`` on the bench
chain: the 2,000-loan consumer book, about 12,000 events).

* ``explorer_index_s``: the first index of the deal by a fresh indexer that knows only the RPC URL and the
  SPV address (contracts discovered, every event read and decoded, the deal, pool and regulator pages'
  data built). Target: 10 s or less.
* ``explorer_page_ms_deal`` / ``_pool`` / ``_investor``: one page over HTTP once indexed, median of
  :data:`PAGE_REPEATS` requests (the investor page is built per request from the indexed events and the
  token views). Target: 300 ms or less each.
* ``explorer_block_s``: rebuilding the snapshot after one new block (what a live page waits for).
"""

from __future__ import annotations

import io
import statistics
import time

import requests
from rich.console import Console

from chainabs.dev.benchmarks import benchmark

EXPLORER_BENCH_PERIODS = 12
PAGE_REPEATS = 7
#: The explorer's HTTP port in the benchmark (CHAINABS_PORT + 40 keeps clear of the chain's ten ports).
PORT_OFFSET = 40


@benchmark("explorer", needs_chain=True)
def explorer_speed() -> dict[str, float]:
    """First index of the demo deal (seconds), page times once indexed (ms), one block's refresh."""
    from chainabs.apps import demo
    from chainabs.apps.explorer.indexer import Indexer
    from chainabs.apps.explorer.server import ExplorerServer
    from chainabs.chain import connection

    live = demo.run(periods=EXPLORER_BENCH_PERIODS, console=Console(file=io.StringIO()))
    rpc = connection.endpoint()
    holder = next(iter(live["holders"].values()))[0]

    indexer = Indexer(rpc, live["spv"], interval=3600)  # no background polling while pages are timed
    start = time.perf_counter()
    indexer.index_once()
    index_s = time.perf_counter() - start
    assert indexer.reader is not None
    events = len(indexer.reader.events)

    server = ExplorerServer(indexer, port=connection.chain_port() + PORT_OFFSET).start()
    try:
        pages = {"deal": "/deal", "pool": "/pool", "investor": f"/investor/{holder}"}
        out: dict[str, float] = {}
        with requests.Session() as http:
            for name, path in pages.items():
                assert http.get(server.url + path, timeout=30).status_code == 200, path  # warm-up
                times = []
                for _ in range(PAGE_REPEATS):
                    t = time.perf_counter()
                    reply = http.get(server.url + path, timeout=30)
                    times.append(time.perf_counter() - t)
                    assert reply.status_code == 200, path
                out[f"explorer_page_ms_{name}"] = round(statistics.median(times) * 1000, 1)
        connection.connected_web3().provider.make_request("evm_mine", [])
        t = time.perf_counter()
        assert indexer.index_once()
        out["explorer_block_s"] = round(time.perf_counter() - t, 3)
    finally:
        server.stop()
    return {"explorer_index_s": round(index_s, 2), "explorer_events": events,
            "explorer_periods": EXPLORER_BENCH_PERIODS, **out}
