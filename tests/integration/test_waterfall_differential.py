"""Differential test: for random deals and random multi-period collection paths, the Solidity library
(through WaterfallHarness on anvil) returns exactly the Python model's results and next state, every period.
The state is carried forward by the Python model and passed back to the contract each period."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from plugins.waterfall import chain_close, deals, paths, report_from_shape

from chainabs.model import waterfall as wf
from chainabs.model.spec import load_deal, sample_deals
from chainabs.model import terms


def _compare_path(harness, p: wf.DealParams, s: wf.DealState, path) -> int:
    closes = 0
    for period, shape in enumerate(path, start=1):
        r = report_from_shape(s, shape)
        expected = wf.close_period(p, s, r)
        got = chain_close(harness, p, s, r)
        if got != expected:  # field-by-field message for the first difference
            for name, a, b in zip(("result", "state"), got, expected):
                diff = {f.name: (getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
                        if getattr(a, f.name) != getattr(b, f.name)}
                assert not diff, f"period {period} {name} differs (chain, model): {diff}"
        closes += 1
        s = expected[1]
    return closes


@settings(max_examples=200, deadline=None)
@given(deal=deals(), path=paths)
def test_library_equals_model_on_random_deals_and_paths(waterfall_harness, deal, path):
    p, s = deal
    assert _compare_path(waterfall_harness, p, s, path) == len(path)


@settings(max_examples=10, deadline=None)
@given(path=paths)
def test_library_equals_model_on_the_sample_deals(waterfall_harness, path):
    for spec_path in sample_deals():
        spec = load_deal(spec_path)
        p, s = terms.params_from_spec(spec), terms.initial_state(spec)
        _compare_path(waterfall_harness, p, s, path * 2)
