"""Where a command's ``--json`` object goes: stdout, and nothing else there.

A ``chainabs`` process run with ``--json`` (:func:`chainabs.apps.cli.run`) keeps the stdout it started with for
its one JSON object and sends everything else printed to stdout to stderr: brownie's own lines (``Launching
'anvil ...'`` when it starts a local chain, ``Terminating local RPC client...`` at exit) would otherwise make
stdout unreadable as JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

_JSON_STREAM: list[TextIO] = []


def keep_stdout_for_json() -> None:
    """From now on, this process's stdout carries only what :func:`emit_json` writes; other output goes to stderr."""
    if not _JSON_STREAM:
        _JSON_STREAM.append(sys.stdout)
        sys.stdout = sys.stderr


def emit_json(obj: Any, **dumps: Any) -> None:
    """Write ``obj`` as one JSON document (``json.dumps`` options in ``dumps``) to the command's stdout."""
    stream = _JSON_STREAM[0] if _JSON_STREAM else sys.stdout
    print(json.dumps(obj, **dumps), file=stream, flush=True)
