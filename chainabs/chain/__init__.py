"""The chain layer: the one transaction sender, ABIs and events, one client per contract family,
deployment and manifests, servicing sync, and the read side (deal data as typed tables).

Imports the model (``chainabs.model``) and nothing above it (``tests/unit/test_layers.py``).
"""
