"""Foundation benchmarks: deploying the deal currency."""

from __future__ import annotations

from chainabs.chain import connection as chain
from chainabs.chain import signers
from chainabs.chain.sender import deploy
from chainabs.dev.benchmarks import benchmark


@benchmark("currency", needs_chain=True)
def currency_deploy_gas() -> dict[str, float]:
    """Gas to deploy the test stablecoin (a reference point for the other gas figures)."""
    proj = chain.load_project()
    _, receipt = deploy(proj.TestStablecoin, "Test USD", "tUSD", 6, sender=signers.deployer())
    return {"currency_deploy_gas": receipt.gas_used}
