"""A long random campaign over the state machines (``make fuzz``; not part of CI).

Runs every machine in ``tests/stateful/`` with a new random seed, many more examples and longer runs than the
derandomized CI campaign, then prints the steps each machine ran and the violations found (failed machines,
with the seed that reproduces them). Exit status 1 when a violation was found.

    python tools/fuzz.py [--examples N] [--steps M] [--seed S] [--port P]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS_LINE = re.compile(r"STATE MACHINE (.+?): steps=(\d+) runs=(\d+)")
RESULT_LINE = re.compile(r"^(PASSED|FAILED|ERROR) tests/stateful/(\S+)|tests/stateful/(\S+?)::\S+ (PASSED|FAILED|ERROR)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=150, help="examples (runs) per machine (default 150)")
    parser.add_argument("--steps", type=int, default=30, help="steps per run (default 30)")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: a new random one)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CHAINABS_PORT", "8545")), help="chain port")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    env = dict(os.environ, CHAINABS_FUZZ_EXAMPLES=str(args.examples), CHAINABS_FUZZ_STEPS=str(args.steps),
               CHAINABS_PORT=str(args.port))
    cmd = [sys.executable, "-m", "pytest", "tests/stateful", "-s", "-rA", "-p", "no:cacheprovider",
           f"--hypothesis-seed={seed}"]
    print(f"fuzz: seed {seed}, {args.examples} runs of up to {args.steps} steps per machine: {' '.join(cmd)}", flush=True)
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True, check=False)
    output = proc.stdout + proc.stderr
    steps = {m.group(1): int(m.group(2)) for m in STEPS_LINE.finditer(output)}
    failed = sorted({line.split("::")[0] for line in output.splitlines() if line.startswith(("FAILED", "ERROR"))})
    minutes = (time.monotonic() - started) / 60
    for machine, n in sorted(steps.items()):
        print(f"  {machine:10s} {n:8,d} steps")
    print(f"fuzz: {sum(steps.values()):,} steps in {minutes:.1f} min, seed {seed}; violations found: {len(failed)}")
    for f in failed:
        print(f"  VIOLATION {f} (reproduce: python tools/fuzz.py --seed {seed} --examples {args.examples} "
              f"--steps {args.steps})")
    if proc.returncode != 0 and not failed:
        print(f"fuzz: the campaign did not run to its end (pytest exit status {proc.returncode}): no verdict")
    if failed or proc.returncode not in (0,):
        log = ROOT / "reports" / f"fuzz-{seed}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(output)
        print(f"fuzz: full output in {log}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
