"""Monte Carlo on a Dask cluster: a 2-worker ``LocalCluster`` gives exactly the in-process result.

The tape is cut into several loan chunks and path blocks (small module constants), so the cluster run sums
chunks computed in other processes and still matches the threads' run bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from chainabs.model import montecarlo as mc

distributed = pytest.importorskip("distributed")

KW = dict(paths=24, seed=17, cpr=0.12, cdr=0.15, severity=0.55, recovery_lag=2, servicing_fee=0.005,
          default_vol=0.6, prepay_vol=0.3, factor_corr=-0.2)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster) as c:
        yield c


def test_cluster_run_equals_in_process_run(client, monkeypatch):
    tape = mc.synthetic_tape(300, seed=5, term=18, max_age=4)
    monkeypatch.setattr(mc, "LOAN_CHUNK", 128)  # chunks of 128, 128 and 44 loans
    monkeypatch.setattr(mc, "BLOCK_ELEMENTS", 128 * 5)  # blocks of 5 paths
    monkeypatch.setattr(mc, "TASK_ELEMENTS", 128 * 10)  # two blocks per task
    local = mc.simulate(tape, workers=1, **KW)
    threads = mc.simulate(tape, workers=2, **KW)
    client.wait_for_workers(2, timeout=60)
    assert len(client.scheduler_info()["workers"]) == 2  # the remote run goes to two worker processes
    remote = mc.simulate(tape, executor=client.get_executor(), **KW)
    assert local.meta["loan_chunks"] == 3 and local.meta["block_paths"] == 5
    np.testing.assert_array_equal(local.cashflows, threads.cashflows)
    np.testing.assert_array_equal(local.cashflows, remote.cashflows)
    assert local.losses.std() > 0
    # Cutting the tape into chunks changes nothing but the random streams: identities hold on every path.
    c = local.column
    principal = (c("actual_amortization") + c("voluntary_prepayments") + c("principal_recovery")
                 + c("principal_loss") + c("amortization_from_defaults")).sum(axis=1)
    residual = local.original_balance - principal - c("performing_balance")[:, -1] - c("foreclosure_balance")[:, -1]
    assert np.abs(residual).max() <= 1e-9 * local.original_balance


def test_bad_assumptions_fail_before_any_task(client):
    tape = mc.synthetic_tape(20, seed=1, term=6)
    with pytest.raises(mc.AssumptionError, match="cdr: rate 1.5"):
        mc.simulate(tape, paths=2, seed=1, cdr=1.5, executor=client.get_executor())


def test_simulate_command_on_the_cluster_writes_the_local_results(client, tmp_path):
    """`chainabs simulate --mode mc --scheduler tcp://...` (here the LocalCluster's address) = the local run."""
    from chainabs.apps import cli

    common = ["simulate", "--deal", "trade_receivables", "--mode", "mc", "--wac", "0.08", "--term", "6",
              "--loans", "80", "--paths", "6"]
    assert cli.main([*common, "--out", str(tmp_path / "local")]) == 0
    assert cli.main([*common, "--out", str(tmp_path / "cluster"), "--scheduler", client.scheduler.address]) == 0
    local, cluster = ((tmp_path / d / "mc_losses.csv").read_bytes() for d in ("local", "cluster"))
    assert local == cluster and len(local.splitlines()) == 7
