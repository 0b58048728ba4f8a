"""`brownie run scripts/investor.py main <token,token,...> [claim] [account=NAME]`: an investor's positions
and claims (`chainabs investor`; key from INVESTOR_PRIVATE_KEY or a brownie account)."""

from chainabs.apps.cli import script


def main(tokens: str = "", *flags: str) -> None:
    addresses = [a.strip() for a in tokens.split(",") if a.strip()]
    script("investor", *addresses, flags=flags)
