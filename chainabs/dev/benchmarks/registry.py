"""Asset-registry benchmarks: onboarding gas per asset at 1k and 10k assets, tape validation speed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from chainabs.chain import connection as chain
from chainabs.chain import signers
from chainabs.model import synthetic
from chainabs.chain import registry as rc
from chainabs.model import tape as tp
from chainabs.dev.benchmarks import benchmark, median_seconds


def _onboard_gas_per_asset(n: int, seed: int, *, kind: str = "consumer_loan",
                           track_obligors: bool = False) -> tuple[float, int]:
    """Fresh registry and pool, a synthetic tape of ``n`` assets of ``kind`` onboarded with the default batch
    sizing: gas of all registerAndPool transactions divided by ``n`` (seal excluded, reported apart)."""
    from brownie import accounts

    admin = signers.deployer()
    originator = accounts[3] if chain.is_local() else admin
    registry = rc.deploy_registry(admin, originators=(originator,))
    criteria = synthetic.default_criteria(kind)
    if kind != "consumer_loan":
        criteria = synthetic.default_criteria(kind, max_region_bps=10_000, max_industry_bps=10_000,
                                              max_obligor_bps=10_000)
    pool = rc.create_pool(registry, originator, criteria, track_obligors=track_obligors)
    tape = synthetic.generate_tape(n, kind=kind, seed=seed, prefix=f"B{n}-")
    result = rc.onboard(registry, pool, tape, originator, today=synthetic.DEFAULT_CUTOFF, progress=False)
    return result.gas_per_asset, result.seal_gas


@benchmark("registry_onboard", needs_chain=True)
def onboard_gas() -> dict[str, float]:
    """Register + pool gas per asset, amortized over gas-sized batches, at 1,000 and 10,000 assets; and at 1,000
    in a pool that tracks its obligors (consumer loans, one obligor each: the worst case; trade receivables,
    whose debtors recur)."""
    g1, s1 = _onboard_gas_per_asset(1_000, seed=101)
    g10, s10 = _onboard_gas_per_asset(10_000, seed=102)
    t1, _ = _onboard_gas_per_asset(1_000, seed=101, track_obligors=True)
    r1, _ = _onboard_gas_per_asset(1_000, seed=106, kind="trade_receivable")
    rt1, _ = _onboard_gas_per_asset(1_000, seed=106, kind="trade_receivable", track_obligors=True)
    return {
        "onboard_gas_per_asset_1k": round(g1),
        "onboard_gas_per_asset_10k": round(g10),
        "onboard_gas_per_asset_tracked_obligors_1k": round(t1),
        "onboard_gas_per_receivable_1k": round(r1),
        "onboard_gas_per_receivable_tracked_obligors_1k": round(rt1),
        "registry_seal_gas_1k": s1,
        "registry_seal_gas_10k": s10,
    }


@benchmark("registry_tape", needs_chain=False)
def tape_validation() -> dict[str, float]:
    """Seconds to read and fully validate (schema, types, rules, concentration) a 100,000-row CSV tape."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tape.csv"
        tp.write_tape(synthetic.generate_tape(100_000, seed=103), path)
        criteria = synthetic.default_criteria()

        def run() -> None:
            _, issues = tp.validate_tape(tp.read_tape(path), criteria, today=synthetic.DEFAULT_CUTOFF)
            assert not issues

        return {"tape_validate_100k_s": round(median_seconds(run, repeats=5), 3)}


@benchmark("registry_collateral", needs_chain=True)
def collateral_gas() -> dict[str, float]:
    """A 1,000-loan auto pool: onboarding gas per asset (the same path as unsecured pools: collateral is not on
    it) and the collateral registry's gas per vehicle recorded (in batches of ``RECORD_BATCH``)."""
    from brownie import accounts

    from chainabs.chain import collateral as cc
    from chainabs.model.collateral import check_collateral

    admin = signers.deployer()
    originator = accounts[3] if chain.is_local() else admin
    registry = rc.deploy_registry(admin, originators=(originator,))
    criteria = synthetic.default_criteria("auto_loan")
    pool = rc.create_pool(registry, originator, criteria)
    tape = synthetic.generate_tape(1_000, kind="auto_loan", seed=104, prefix="BA-")
    tape = tp.select_eligible(tape, criteria, today=synthetic.DEFAULT_CUTOFF)
    onboarded = rc.onboard(registry, pool, tape, originator, today=synthetic.DEFAULT_CUTOFF, progress=False)
    coll = cc.deploy_collateral_registry(registry, admin)
    vehicles = check_collateral(synthetic.generate_collateral(tape, seed=104), list(tape["loan_id"]))
    receipts = cc.record_collateral(coll, originator, vehicles)
    return {"onboard_gas_per_asset_auto_1k": round(onboarded.gas_per_asset),
            "collateral_record_gas_per_asset": round(sum(r.gas_used for r in receipts) / len(vehicles))}


#: Batch size of the onboarding gas profile (a mid-size batch: its fixed costs are amortized as in the 1k run).
PROFILE_BATCH = 400


def trace_gas_by_kind(sender: str, to: str, data: bytes) -> dict[str, int]:
    """Gas of a call by kind, from the node's ``debug_traceCall`` struct logs at the latest block (anvil traces
    calls, not mined transactions, without ``--steps-tracing``): the intrinsic cost (21,000 base and calldata
    bytes, 4 per zero and 16 per non-zero byte) and, per opcode class, the gas the trace charges (memory
    expansion is charged to the opcode that expands it)."""
    from brownie import web3

    zeros = data.count(0)
    out: dict[str, int] = {"base": 21_000, "calldata": 4 * zeros + 16 * (len(data) - zeros)}
    call = {"from": sender, "to": to, "data": "0x" + data.hex(), "gas": hex(30_000_000)}
    trace = web3.provider.make_request(
        "debug_traceCall", [call, "latest", {"disableStack": True, "disableMemory": True, "disableStorage": True}]
    )
    steps = (trace.get("result") or {}).get("structLogs") or []
    if not steps:
        raise RuntimeError(f"debug_traceCall gave no struct logs: {str(trace)[:200]}")
    top = steps[0]["depth"]
    kinds = {"SSTORE": "sstore", "SLOAD": "sload", "KECCAK256": "keccak", "SHA3": "keccak",
             "LOG0": "log", "LOG1": "log", "LOG2": "log", "LOG3": "log", "LOG4": "log"}
    for step in steps:
        if step["depth"] != top:
            continue  # calls out of the registry (none on the onboarding path) are charged at their CALL
        kind = kinds.get(step["op"], "other")
        out[kind] = out.get(kind, 0) + int(step["gasCost"])
    out["total"] = int(trace["result"]["gas"])
    out["refund"] = sum(v for k, v in out.items() if k != "total") - out["total"]
    return out


@benchmark("registry_onboard_profile", needs_chain=True)
def onboard_profile() -> dict[str, float]:
    """Per-asset attribution of one ``registerAndPool`` batch of ``PROFILE_BATCH`` consumer loans (fresh pool):
    calldata, storage writes and reads, logs, hashing and the rest of execution, each divided by the batch size."""
    from brownie import accounts

    from chainabs.chain.sender import transact

    admin = signers.deployer()
    originator = accounts[3] if chain.is_local() else admin
    registry = rc.deploy_registry(admin, originators=(originator,))
    pool = rc.create_pool(registry, originator, synthetic.default_criteria())
    tape = synthetic.generate_tape(PROFILE_BATCH, seed=105, prefix="P-")
    ordered = rc.prepare_tape(tape, rc.pool_criteria(registry, pool), today=synthetic.DEFAULT_CUTOFF)
    records = tp.pack_records(ordered)
    data = bytes.fromhex(registry.registerAndPool.encode_input(pool, records)[2:])
    parts = trace_gas_by_kind(str(originator.address), str(registry.address), data)
    receipt = transact(registry.registerAndPool, pool, records, sender=originator)
    if receipt.gas_used != parts["total"]:
        raise RuntimeError(f"traced {parts['total']:,} gas, the transaction used {receipt.gas_used:,}")
    n = len(records)
    return {f"onboard_profile_{k}_per_asset": round(v / n, 1) for k, v in parts.items()}
