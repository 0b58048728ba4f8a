"""Deployment benchmarks: gas of a whole consumer-loan deal deployed from its spec (chainabs.chain.deployment)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from rich.console import Console

from chainabs.dev.benchmarks import benchmark


@benchmark("deploy", needs_chain=True)
def deal_deploy_gas() -> dict[str, float]:
    """Gas of every transaction of a consumer-loan deployment without a tape (currency, registry and its
    roles, identity registry, three tranche tokens, SPV and their roles), by kind, and its total."""
    from brownie import web3

    from chainabs.chain import deployment

    with tempfile.TemporaryDirectory(prefix="chainabs-bench-deploy-") as root:
        result = deployment.deploy_deal("consumer_loan", manifest_root=Path(root), test_investors=0,
                                        out=Console(file=io.StringIO()))
        manifest = deployment.Manifest.load(result.deal, result.chain_id, Path(root))
        contracts = {k: int(v["gas_used"]) for k, v in manifest.contracts.items()}
        steps = sum(int(v["gas_used"]) for v in manifest.steps.values())
        pool = int(web3.eth.get_transaction_receipt(manifest.meta["pool_tx"])["gasUsed"])
    return {
        "deploy_registry_gas": contracts["registry"],
        "deploy_tranche_token_gas": contracts["class0"],
        "deploy_spv_gas": contracts["spv"],
        "deploy_deal_total_gas": sum(contracts.values()) + steps + pool,
    }
