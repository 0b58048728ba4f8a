"""What a close reads: the class tokens come with the terms' code, and a class's interest-shortfall slot is read
only while `Core.shortfallClasses` flags it. A shortfall carried, grown and cured must still equal the model."""

from __future__ import annotations

import dataclasses

from eth_abi import encode

from chainabs.dev.sandbox import roll_rate_reports
from plugins.spvtests import assert_reconciled, run_period


DEAL_PARAMS = ("(uint256,uint256,(uint256,bool)[],(uint256,uint256)[],uint256,uint256,uint256,uint256,uint8,"
               "(uint8,uint256,bool,bool,bool)[],uint256)")


def _flags(d) -> int:
    """`Core.shortfallClasses`: bits 32..39 of the SPV's Core slot (storage slot 2: after AccessControl's roles
    and ReentrancyGuard's status)."""
    from brownie import web3

    word = int.from_bytes(web3.eth.get_storage_at(d.spv.address, 2), "big")
    return (word >> 32) & 0xFF


def test_a_shortfall_is_flagged_carried_and_cleared_as_the_model_says(deal, stranger):
    d = deal
    reports = roll_rate_reports(d, months=4)
    # No interest collected for two periods: the classes the reserve does not cover carry a shortfall.
    starved = [dataclasses.replace(r, interest_collections=0) for r in reports[:2]] + reports[2:]
    seen = []
    for n, report in enumerate(starved, start=1):
        run_period(d, report, stranger)
        assert_reconciled(d.spv, d.model, f"period {n}")
        carried = d.model.state.interest_shortfalls
        expected = sum(1 << i for i, s in enumerate(carried) if s)
        assert _flags(d) == expected, f"period {n}: flags {_flags(d):b}, model shortfalls {carried}"
        seen.append(expected)
    assert seen[0] != 0, "the starved period left no shortfall: the test does not exercise the flags"
    assert seen[-1] != seen[1], "no shortfall was cured after interest came back"


def test_the_terms_code_gives_the_tokens_and_the_encoded_terms(deal):
    d = deal
    assert [str(a) for a in d.spv.classTokens()] == [t.address for t in d.tokens]
    # `dealParamsEncoded` is exactly abi.encode(params), the tokens' words in front of it left out.
    assert bytes(d.spv.dealParamsEncoded()) == encode([DEAL_PARAMS], [d.model.params.as_abi()])
