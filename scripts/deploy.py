"""`brownie run scripts/deploy.py main <spec> --network <name> -- [options]`: deploy a deal from its spec.

<spec>    deals/<name>.yaml or a bare sample name (default consumer_loan)
options   (after `--`, which keeps brownie's own parser from rejecting them; `yes` and `name=value` work too)
  --yes                 do not ask before sending on a live network (without a terminal the answer is no)
  --tape T              onboard a tape: CSV / Parquet path or synthetic:<n>
  --currency ADDR       existing stablecoin (default CURRENCY_ADDRESS, then the spec's currency.address)
  --registry ADDR       existing AssetRegistry (default REGISTRY_ADDRESS, else one is deployed)
  --pool ID             existing pool of the originator (default POOL_ID, else one is created)
  --manifest-dir DIR    manifest root (default CHAINABS_DEPLOYMENTS_DIR, else deployments/)
  --investors N         test investors on a local chain (default 5)
  --seed N              seed of a synthetic tape (default 0)
  --no-verify           skip source verification (it runs only when ETHERSCAN_TOKEN is set)

Re-running the same command resumes from the manifest deployments/<chainid>/<deal>.json. See docs/deploy.md.
"""

from chainabs.chain import deployment


def main(spec: str = "consumer_loan", *flags: str) -> None:
    deployment.main(spec, *flags)
