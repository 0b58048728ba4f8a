"""`brownie run scripts/deploy.py main <spec> --network <name> -- [options]`: deploy a deal from its spec
(`chainabs deploy`; `chainabs deploy --help` lists the options). Options come after `--` (brownie's own
parser rejects them before it) or as words: `yes`, `tape=synthetic:800`. Re-running resumes from the manifest
deployments/<chainid>/<deal>.json. See docs/deploy.md.
"""

from chainabs.apps.cli import script


def main(spec: str = "consumer_loan", *flags: str) -> None:
    if spec == "--" or spec.startswith("-"):
        flags, spec = (spec, *flags), "consumer_loan"
    script("deploy", spec, flags=flags)
