"""``python -m chainabs``: the ``chainabs`` command (:mod:`chainabs.apps.cli`)."""

from chainabs.apps.cli import run

run()
