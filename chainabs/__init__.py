"""ChainABS: asset-backed securitization on Ethereum, the Python library behind the ``chainabs`` command.

Four layers, imports going down only (``docs/architecture.md``, ``tests/unit/test_layers.py``):

* :mod:`chainabs.model`: pure model (deal specs, tapes, Merkle commitments, the waterfall and deal model,
  cash-flow projections, metrics);
* :mod:`chainabs.chain`: the one transaction sender, ABIs, contract clients, deployment, the read side;
* :mod:`chainabs.apps`: the ``chainabs`` command and its applications (demo, reports, monitor, ...);
* :mod:`chainabs.dev`: test helpers, the tests' sandbox deal, benchmarks.
"""

__version__ = "0.1.0"
