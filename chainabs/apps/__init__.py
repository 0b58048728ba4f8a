"""Applications on the library: the ``chainabs`` command, the demo, simulations, reports, the monitor,
tape verification, onboarding and the investor's view. They use the chain and model layers; nothing below
imports them (``tests/unit/test_layers.py``).
"""
