"""Where a transaction's gas goes: an opcode trace (``debug_traceTransaction``, the node's default struct
logger, as anvil serves it) attributed to storage reads (cold / warm), storage writes (zero to non-zero, first
write of a non-zero slot, dirty rewrites), calls (cold / warm accounts), logs, code copies and the rest, per
contract reached, plus the intrinsic gas (21,000 and calldata) and the refund.

``python -m chainabs.dev.gasprofile`` runs the token and period-close scenarios of the benchmarks
(``chainabs.dev.benchmarks.token`` / ``spv``) on a local chain (``CHAINABS_PORT``) and prints one table per
measured transaction; ``profile(tx_hash)`` does it for any transaction of the connected node.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

#: Opcodes that run another contract's code; their own cost is what the caller pays beyond the callee's steps.
CALLS = {"CALL", "STATICCALL", "DELEGATECALL", "CALLCODE"}
#: EIP-2929 / EIP-3529 costs of SSTORE by case (evm paris), as the struct logger reports them.
SSTORE_KINDS = {
    22_100: "SSTORE zero->non-zero (cold)",
    20_000: "SSTORE zero->non-zero (warm)",
    5_000: "SSTORE first write of a non-zero slot (cold)",
    2_900: "SSTORE first write of a non-zero slot (warm)",
    2_200: "SSTORE unchanged value (cold)",
    100: "SSTORE dirty slot / unchanged",
}


@dataclass
class Profile:
    """Gas of one transaction by category (``parts``) and by contract reached (``by_contract``)."""

    tx_hash: str
    gas_used: int
    intrinsic: int
    refund: int
    parts: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    by_contract: dict[str, int] = field(default_factory=dict)
    by_function: dict[str, int] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, int, int]]:
        """(category, count, gas), largest first, with the intrinsic gas and the refund; sums to ``gas_used``."""
        rows = [("intrinsic (21,000 + calldata)", 1, self.intrinsic)]
        rows += sorted(((k, self.counts.get(k, 0), v) for k, v in self.parts.items()), key=lambda r: -r[2])
        if self.refund:
            rows.append(("storage refund", 1, -self.refund))
        return rows

    def markdown(self, title: str, top_functions: int = 20) -> str:
        lines = [f"#### {title}: {self.gas_used:,} gas", "", "| part | count | gas |", "|---|---:|---:|"]
        lines += [f"| {k} | {n} | {g:,} |" for k, n, g in self.rows()]
        lines += ["", "| contract (code run) | gas of its own steps |", "|---|---:|"]
        lines += [f"| {k} | {g:,} |" for k, g in sorted(self.by_contract.items(), key=lambda r: -r[1])]
        if self.by_function:
            top = sorted(self.by_function.items(), key=lambda r: -r[1])[:top_functions]
            lines += ["", "| function (innermost, from the compiler's source map) | gas of its own steps |", "|---|---:|"]
            lines += [f"| {k} | {g:,} |" for k, g in top]
        return "\n".join(lines) + "\n"


def _category(op: str, cost: int) -> str:
    if op == "SLOAD":
        return "SLOAD cold" if cost >= 2_100 else "SLOAD warm"
    if op == "SSTORE":
        return SSTORE_KINDS.get(cost, f"SSTORE ({cost})")
    if op in CALLS:
        return f"{op} to a cold account" if cost >= 2_600 else f"{op} to a warm account"
    if op.startswith("LOG"):
        return "LOG (events)"
    if op == "EXTCODESIZE":
        return "EXTCODESIZE (callee code check: pays the callee's cold account access)"
    if op in {"EXTCODECOPY", "EXTCODEHASH", "BALANCE"}:
        return f"{op} (account access)"
    if op == "KECCAK256":
        return "KECCAK256 (mapping keys, hashes)"
    return "computation, memory, calldata, dispatch"


def attribute(steps: list[dict[str, Any]], names: dict[str, str] | None = None, entry: str = "",
              pcmaps: dict[str, dict[str, Any]] | None = None,
              ) -> tuple[dict[str, int], dict[str, int], dict[str, int], dict[str, int]]:
    """Gas by category, count by category, gas by contract and gas by function (``pcmaps``: code address ->
    brownie's ``pcMap`` of that code) of a struct-logger trace.

    A step's cost is the gas drop to the next step at its depth; a call's own cost (account access, value,
    memory) is that drop less what its callee's steps consumed.
    """
    names = {k.lower(): v for k, v in (names or {}).items()}
    parts: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    by_contract: dict[str, int] = defaultdict(int)
    by_function: dict[str, int] = defaultdict(int)
    pcmaps = {k.lower(): v for k, v in (pcmaps or {}).items()}
    # next step at the same depth (the return point of a call), found with a stack of open steps per depth
    n = len(steps)
    next_same: list[int | None] = [None] * n
    open_at: dict[int, int] = {}
    for i, s in enumerate(steps):
        d = s["depth"]
        for depth in [k for k in open_at if k > d]:
            del open_at[depth]
        if d in open_at:
            next_same[open_at[d]] = i
        open_at[d] = i
    inner: list[int] = [0] * n  # gas consumed by the callee of a call step
    owner: dict[int, str] = {}  # call step -> code address of the caller
    frames: list[tuple[int, str]] = [(-1, entry.lower())]  # (call step, code address)
    consumed: list[int] = [0]
    last_fn: dict[int, str] = {}
    for i, s in enumerate(steps):
        d = s["depth"]
        while len(frames) > d:  # returned from a callee: charge its consumption to the call step
            call_step, _ = frames.pop()
            used = consumed.pop()
            if call_step >= 0:
                inner[call_step] = used
                consumed[-1] += used
        op = s["op"]
        j = next_same[i]
        if op in CALLS:
            stack = s.get("stack") or []
            target = ("0x" + format(int(str(stack[-2]), 16), "040x")) if len(stack) >= 2 else "?"
            owner[i] = frames[-1][1]
            frames.append((i, target))
            consumed.append(0)
            last_fn.pop(len(frames), None)
            continue
        cost = int(s["gas"]) - int(steps[j]["gas"]) if j is not None else int(s.get("gasCost", 0))
        consumed[-1] += cost
        code = frames[-1][1]
        by_contract[names.get(code, code)] += cost
        pcmap = pcmaps.get(code)
        if pcmap is not None:
            mapped = pcmap.get(s["pc"]) or pcmap.get(str(s["pc"])) or {}  # brownie keys pcs as int in memory
            fn = mapped.get("fn")
            # compiler helpers (storage access, ABI coding) carry no function: charge the last one seen in the frame
            fn = last_fn[len(frames)] = fn or last_fn.get(len(frames)) or "(dispatch)"
            by_function[f"{names.get(code, code)}: {fn}"] += cost
        parts[_category(op, cost)] += cost
        counts[_category(op, cost)] += 1
    while len(frames) > 1:
        call_step, _ = frames.pop()
        used = consumed.pop()
        inner[call_step] = used
        consumed[-1] += used
    for i, s in enumerate(steps):
        if s["op"] not in CALLS:
            continue
        j = next_same[i]
        total = int(s["gas"]) - int(steps[j]["gas"]) if j is not None else int(s.get("gasCost", 0))
        own = total - inner[i]
        cat = _category(s["op"], own)
        parts[cat] += own
        counts[cat] += 1
        by_contract[names.get(owner[i], owner[i])] += own
    return dict(parts), dict(counts), dict(by_contract), dict(by_function)


def project_pcmaps() -> dict[str, dict[str, Any]]:
    """Code address -> source map of every contract of the loaded brownie project deployed in this session."""
    return {address: pcmap for address, (_, pcmap) in _project_code().items()}


def project_names() -> dict[str, str]:
    """Code address -> contract name of every contract of the loaded brownie project deployed in this session."""
    return {address: name for address, (name, _) in _project_code().items()}


def _project_code() -> dict[str, tuple[str, dict[str, Any]]]:
    from brownie import project

    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for proj in project.get_loaded_projects():
        for name in proj.keys():
            container = proj[name]
            pcmap = container._build.get("pcMap")
            if pcmap:
                for inst in container:
                    out[str(inst.address).lower()] = (name, pcmap)
    return out


def profile(tx_hash: str, names: dict[str, str] | None = None,
            pcmaps: dict[str, dict[str, Any]] | None = None) -> Profile:
    """Profile a mined transaction of the connected node (``names``: address -> label for the table;
    ``pcmaps``: see :func:`project_pcmaps`, for the gas by function)."""
    from brownie import web3

    tx = web3.eth.get_transaction(tx_hash)
    receipt = web3.eth.get_transaction_receipt(tx_hash)
    trace = web3.provider.make_request(
        "debug_traceTransaction", [tx_hash, {"disableStorage": True, "disableMemory": True, "enableMemory": False}])
    if "error" in trace:
        raise RuntimeError(f"debug_traceTransaction {tx_hash}: {trace['error']}")
    steps = trace["result"]["structLogs"]
    data = bytes(tx["input"])
    intrinsic = 21_000 + sum(16 if b else 4 for b in data)
    parts, counts, by_contract, by_function = attribute(steps, names, entry=str(tx["to"]), pcmaps=pcmaps)
    executed = sum(parts.values())
    gas_used = int(receipt["gasUsed"])
    return Profile(tx_hash=str(tx_hash if isinstance(tx_hash, str) else tx_hash.hex()), gas_used=gas_used,
                   intrinsic=intrinsic, refund=intrinsic + executed - gas_used, parts=parts, counts=counts,
                   by_contract=by_contract, by_function=by_function)


def _token_scenario() -> list[tuple[str, Any]]:
    """The token benchmark's measured transactions (``chainabs.dev.benchmarks.token.tranche_gas``)."""
    from brownie import accounts
    from brownie import chain as bchain

    from chainabs.chain import signers, tokens
    from chainabs.chain.sender import transact
    from chainabs.dev.benchmarks.token import US, _setup

    admin = signers.deployer()
    a, b = accounts[1], accounts[2]
    currency, registry, token = _setup([a, b], admin)
    tokens.register_investors(registry, admin, [{"address": str(accounts[3]), "jurisdiction": US,
                                                 "investor_type": 1, "expiry": bchain.time() + 10**8}])
    names = {str(currency.address): "currency", str(registry.address): "IdentityRegistry",
             str(token.address): "TrancheToken"}
    transact(token.distribute, 1_000_000, 1_000_000, sender=admin)
    transact(currency.mint, a, 1, sender=admin)
    transact(token.transfer, b, 1_000, sender=a)
    transact(token.transfer, b, 1_000, sender=a)
    transact(token.claim, sender=a)
    transact(token.distribute, 1_000_000, 1_000_000, sender=admin)
    out = [("tranche_transfer_gas_first_after_distribution", transact(token.transfer, b, 1_000, sender=a))]
    out.append(("tranche_transfer_gas (warm)", transact(token.transfer, b, 1_000, sender=a)))
    out.append(("tranche_transfer_gas_new_holder", transact(token.transfer, accounts[3], 1_000, sender=a)))
    transact(token.distribute, 1_000_000, 1_000_000, sender=admin)
    out.append(("tranche_claim_gas", transact(token.claim, sender=a)))
    out.append(("tranche_distribute_gas_steady", transact(token.distribute, 1_234_567, 7_654_321, sender=admin)))
    return [(title, (r, names)) for title, r in out]


def _close_scenario() -> list[tuple[str, Any]]:
    """The period-close benchmark's deal: the first close and the steady one (the 6th)."""
    from chainabs.chain import spv as spvlib
    from chainabs.dev.benchmarks.spv import WARM_PERIODS, _deal, _submit
    from chainabs.dev.sandbox import roll_rate_reports

    d, wallets = _deal(1_000, 11, prefix="A")
    names = {str(d.spv.address): "SPV", str(d.currency.address): "currency"}
    for i, t in enumerate(d.tokens):
        names[str(t.address)] = f"TrancheToken class {i}"
    out = []
    for k, projected in enumerate(roll_rate_reports(d, wac=0.16, cpr=0.12)[: WARM_PERIODS + 1]):
        served = _submit(d, projected)
        receipt = spvlib.close_period(d.spv, wallets[9], served.report)
        if k == 0:
            out.append(("period_close_gas_first", receipt))
            out.append(("submit_report_gas_first", served.submitted))
        if k == WARM_PERIODS:
            out.append(("period_close_gas (steady)", receipt))
            out.append(("submit_report_gas (steady)", served.submitted))
    return [(title, (r, names)) for title, r in out]


def _enable_steps_tracing() -> None:
    """anvil returns struct logs only when launched with ``--steps-tracing``: add it to the arguments
    :func:`chainabs.chain.connection.configure_local_chain` gives the anvil brownie launches (this process only)."""
    from chainabs.chain import connection

    base = connection.anvil_state_args
    if getattr(base, "steps_tracing", False):
        return

    def with_tracing() -> list[str]:
        return [*base(), "--steps-tracing"]

    with_tracing.steps_tracing = True  # type: ignore[attr-defined]
    connection.anvil_state_args = with_tracing  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    import sys
    import warnings

    from chainabs.chain import connection

    warnings.filterwarnings("ignore", category=FutureWarning)
    which = (argv if argv is not None else sys.argv[1:]) or ["token", "close"]
    _enable_steps_tracing()
    connection.configure_local_chain(gas_limit=30_000_000, accounts=20)
    connection.connect()
    scenarios = {"token": _token_scenario, "close": _close_scenario}
    for name in which:
        if name not in scenarios:
            print(f"unknown scenario {name!r}: choose from {', '.join(scenarios)}", file=sys.stderr)
            return 2
        for title, (receipt, names) in scenarios[name]():
            labels = {**project_names(), **{k.lower(): v for k, v in names.items()}}
            print(profile(receipt.tx_hash, labels, project_pcmaps()).markdown(title))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
