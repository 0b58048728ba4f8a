"""Batch sizing of onboarding: :func:`chainabs.chain.registry.fit_batch` fills a gas budget from gas estimates."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainabs.chain import registry as rc


def _linear(fixed: int, marginal: int, calls: list[int]):
    def estimate(n: int) -> int:
        calls.append(n)
        return fixed + marginal * n

    return estimate


def test_fit_batch_fills_the_budget_from_an_undersized_guess():
    calls: list[int] = []
    n = rc.fit_batch(_linear(1_200_000, 28_650, calls), 460, 15_000_000, limit=623)
    assert n == (15_000_000 - 1_200_000) // 28_650  # 481: the largest size that fits
    assert len(calls) <= 3


def test_fit_batch_shrinks_an_oversized_guess():
    calls: list[int] = []
    n = rc.fit_batch(_linear(300_000, 29_000, calls), 600, 15_000_000, limit=623)
    assert n == (15_000_000 - 300_000) // 29_000
    assert calls[0] == 600


def test_fit_batch_respects_the_limit_and_returns_at_least_one():
    assert rc.fit_batch(_linear(0, 1, []), 10, 1_000_000, limit=50) == 50
    assert rc.fit_batch(_linear(2_000_000, 30_000, []), 10, 1_000_000, limit=50) == 1


@settings(max_examples=200, deadline=None, derandomize=True)  # a pure function: no chain, no brownie isolation
@given(
    fixed=st.integers(21_000, 2_000_000),
    marginal=st.integers(5_000, 60_000),
    guess=st.integers(1, 700),
    budget=st.integers(3_000_000, 16_000_000),
)
def test_fit_batch_never_exceeds_the_budget(fixed, marginal, guess, budget):
    limit = 623
    n = rc.fit_batch(_linear(fixed, marginal, []), guess, budget, limit=limit)
    assert 1 <= n <= limit
    if fixed + marginal <= budget:
        assert fixed + marginal * n <= budget


@pytest.mark.parametrize("max_tx_bytes, expected", [(120_000, 623), (192 * 12 + 300, 12), (100, 1)])
def test_records_per_tx(max_tx_bytes, expected):
    assert rc.records_per_tx(max_tx_bytes) == expected
