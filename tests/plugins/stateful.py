"""Settings of the state machines (tests/stateful/): a short derandomized campaign in CI (``make test``), a long
random one under ``make fuzz`` (``CHAINABS_FUZZ_EXAMPLES`` examples of ``CHAINABS_FUZZ_STEPS`` steps each, a new
seed every run, see ``tools/fuzz.py``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from hypothesis import settings

FUZZ_EXAMPLES_ENV = "CHAINABS_FUZZ_EXAMPLES"
FUZZ_STEPS_ENV = "CHAINABS_FUZZ_STEPS"


def fuzzing() -> bool:
    """True under ``make fuzz``."""
    return bool(os.environ.get(FUZZ_EXAMPLES_ENV, "").strip())


def machine_settings(ci_examples: int, ci_steps: int, **extra: Any) -> settings:
    """Hypothesis settings of a state machine: the CI campaign, or the fuzz campaign's size when fuzzing (then
    not derandomized: every run explores new sequences)."""
    if fuzzing():
        return settings(max_examples=int(os.environ[FUZZ_EXAMPLES_ENV]),
                        stateful_step_count=int(os.environ.get(FUZZ_STEPS_ENV, "25")), deadline=None,
                        database=None, derandomize=False, **extra)
    return settings(max_examples=ci_examples, stateful_step_count=ci_steps, deadline=None, database=None, **extra)


def report_steps(machine: str, counts: Mapping[str, int]) -> None:
    """Print the machine's figures on one line (``tools/fuzz.py`` adds up the ``steps``)."""
    steps = counts.get("steps", counts.get("steps checked", 0))
    print(f"\nSTATE MACHINE {machine}: steps={steps} runs={counts.get('runs', 0)} {dict(sorted(counts.items()))}")
