"""Helpers for running ChainABS against a local chain in tests, benchmarks and the demo."""

from __future__ import annotations


def configure_local_chain(port: int = 8545, gas_limit: int = 30_000_000, accounts: int = 20) -> None:
    """Set how brownie launches its local anvil: port, block gas limit and number of funded accounts.

    Call before brownie connects. (brownie 1.22.2's compiled config loader cannot take these settings
    from ``brownie-config.yaml``, so they are applied to its in-memory network config here.)
    """
    from brownie._config import CONFIG

    for net_id in ("development", "ganache-cli"):
        net = CONFIG.networks.get(net_id)
        if not net:
            continue
        settings = net.setdefault("cmd_settings", {}) or {}
        settings.update({"port": port, "accounts": accounts, "gas_limit": gas_limit})
        net["cmd_settings"] = settings
