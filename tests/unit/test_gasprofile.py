"""The gas profiler's attribution on a hand-built struct-logger trace: every unit of gas lands in exactly one
category and one contract, a call's own cost excludes what its callee spent, and storage costs are split by
EIP-2929 / EIP-3529 case."""

from __future__ import annotations

from chainabs.dev.gasprofile import Profile, attribute

TOKEN = "0x00000000000000000000000000000000000000aa"
REGISTRY = "0x00000000000000000000000000000000000000bb"


def _trace() -> list[dict]:
    # depth 1 (token): PUSH1, SLOAD cold, STATICCALL to the registry (2,600 cold account) whose callee spends
    # 2,100 + 3 + 0, then SSTORE (2,900), LOG1 (1,756), STOP
    g = 100_000
    steps = [{"pc": 0, "op": "PUSH1", "gas": g, "gasCost": 3, "depth": 1, "stack": []}]
    g -= 3
    steps.append({"pc": 2, "op": "SLOAD", "gas": g, "gasCost": 2_100, "depth": 1, "stack": ["0x1"]})
    g -= 2_100
    call_gas = g
    steps.append({"pc": 3, "op": "STATICCALL", "gas": g, "gasCost": 90_000, "depth": 1,
                  "stack": ["0x0", "0x0", "0x0", "0x0", REGISTRY, "0xffff"]})
    inner = 60_000
    steps.append({"pc": 0, "op": "SLOAD", "gas": inner, "gasCost": 2_100, "depth": 2, "stack": ["0x2"]})
    steps.append({"pc": 1, "op": "PUSH1", "gas": inner - 2_100, "gasCost": 3, "depth": 2, "stack": []})
    steps.append({"pc": 3, "op": "RETURN", "gas": inner - 2_103, "gasCost": 0, "depth": 2, "stack": []})
    g = call_gas - 2_600 - 2_103  # after the call: its own 2,600 and the callee's 2,103
    steps.append({"pc": 4, "op": "SSTORE", "gas": g, "gasCost": 2_900, "depth": 1, "stack": []})
    g -= 2_900
    steps.append({"pc": 5, "op": "LOG1", "gas": g, "gasCost": 1_756, "depth": 1, "stack": []})
    g -= 1_756
    steps.append({"pc": 6, "op": "STOP", "gas": g, "gasCost": 0, "depth": 1, "stack": []})
    return steps


def test_every_gas_unit_is_attributed_once():
    steps = _trace()
    parts, counts, by_contract, by_function = attribute(
        steps, {TOKEN: "token", REGISTRY: "registry"}, entry=TOKEN,
        pcmaps={TOKEN: {2: {"fn": "Token.read"}, 4: {"fn": "Token.write"}}})
    spent = steps[0]["gas"] - steps[-1]["gas"]
    assert sum(parts.values()) == sum(by_contract.values()) == spent == 3 + 2_100 + 2_600 + 2_103 + 2_900 + 1_756
    assert parts["SLOAD cold"] == 4_200 and counts["SLOAD cold"] == 2
    assert parts["STATICCALL to a cold account"] == 2_600
    assert parts["SSTORE first write of a non-zero slot (warm)"] == 2_900
    assert parts["LOG (events)"] == 1_756
    assert by_contract == {"token": 3 + 2_100 + 2_600 + 2_900 + 1_756, "registry": 2_103}
    # helpers without a function in the source map are charged to the last function seen in the frame
    assert by_function["token: Token.read"] == 2_100
    assert by_function["token: Token.write"] == 2_900 + 1_756


def test_profile_rows_add_up_to_the_receipt():
    p = Profile(tx_hash="0x1", gas_used=50_000, intrinsic=21_500, refund=1_000,
                parts={"SLOAD cold": 21_000, "computation, memory, calldata, dispatch": 8_500})
    assert sum(g for _, _, g in p.rows()) == p.gas_used
    assert "50,000 gas" in p.markdown("t")


def test_the_profiled_token_scenario_runs_the_benchmarks_transactions(web3):
    """``python -m chainabs.dev.gasprofile token`` sends the token benchmark's transactions (the profile itself
    needs an anvil with ``--steps-tracing``): each is mined, and the three contracts are named."""
    from chainabs.dev.gasprofile import _token_scenario

    scenario = dict(_token_scenario())
    assert list(scenario) == ["tranche_transfer_gas_first_after_distribution", "tranche_transfer_gas (warm)",
                              "tranche_transfer_gas_new_holder", "tranche_claim_gas", "tranche_distribute_gas_steady"]
    for title, (receipt, names) in scenario.items():
        assert int(web3.eth.get_transaction_receipt(receipt.tx_hash)["status"]) == 1, title
        assert sorted(names.values()) == ["IdentityRegistry", "TrancheToken", "currency"]
    assert scenario["tranche_transfer_gas (warm)"][0].gas_used < scenario["tranche_transfer_gas_new_holder"][0].gas_used
