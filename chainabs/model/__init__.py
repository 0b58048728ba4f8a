"""The pure model layer: deal specs, loan and servicing tapes, Merkle commitments, the waterfall and the
deal model, cash-flow projections (standard formulas, roll rates, Monte Carlo), metrics and analytics,
synthetic data.

Nothing here talks to a chain: no web3, no brownie. Everything above (``chainabs.chain``,
``chainabs.apps``) builds on it; it imports nothing from them (``tests/unit/test_layers.py``).
"""
