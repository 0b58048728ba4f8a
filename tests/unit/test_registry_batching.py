"""Batch sizing of onboarding: :func:`chainabs.chain.registry.fit_batch` fills a gas budget from gas estimates."""

from __future__ import annotations

import pytest
from brownie.test import given
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


class _DroppedRegistry:
    """A registry whose ``registerAndPool`` raises what brownie raises for a transaction it thinks dropped."""

    def __init__(self, message: str) -> None:
        self.message = message

    class _Fn:
        def __init__(self, message: str) -> None:
            self.message = message

        def __call__(self, *args, **kwargs):
            from brownie.exceptions import TransactionError

            raise TransactionError(self.message)

    @property
    def registerAndPool(self):  # noqa: N802 - contract method name
        return self._Fn(self.message)


TXID = "0x" + "ab" * 32


@pytest.mark.parametrize("status, outcome", [(1, 123_456), (0, rc.OnboardingError)])
def test_send_batch_asks_the_node_when_brownie_reports_a_drop(monkeypatch, status, outcome):
    from brownie import web3

    asked = []

    def receipt(txid, timeout):
        asked.append(txid)
        return {"status": status, "gasUsed": 123_456}

    monkeypatch.setattr(web3.eth, "wait_for_transaction_receipt", receipt)
    registry = _DroppedRegistry(f"Tx dropped without known replacement: {TXID}")
    if status:
        assert rc._send_batch(registry, 1, [], "0x" + "11" * 20) == outcome
    else:
        with pytest.raises(outcome):
            rc._send_batch(registry, 1, [], "0x" + "11" * 20)
    assert asked == [TXID]


def test_send_batch_reraises_other_transaction_errors():
    from brownie.exceptions import TransactionError

    with pytest.raises(TransactionError, match="nonce too low"):
        rc._send_batch(_DroppedRegistry("nonce too low"), 1, [], "0x" + "11" * 20)
