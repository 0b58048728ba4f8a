"""ChainABS: asset-backed securitization on Ethereum.

The Python library behind the scripts and tests: deal specs, loan tapes, Merkle commitments, cash-flow
projection, the reference waterfall model, the chain client and the reports.
"""

__version__ = "0.1.0"
