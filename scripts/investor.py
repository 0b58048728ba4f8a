"""An investor's positions and claims across tranche tokens.

    INVESTOR_PRIVATE_KEY=0x... brownie run scripts/investor.py main <token,token,...> [show|claim] [account]

Tokens come from the first argument or ``TRANCHE_TOKENS`` (comma-separated addresses). The key comes from
``INVESTOR_PRIVATE_KEY`` or a brownie account (third argument or ``INVESTOR_ACCOUNT``).
"""

from __future__ import annotations

import os

from chainabs.chain import connection as chain
from chainabs.chain import tokens


def main(token_list: str = "", action: str = "show", account: str = "") -> None:
    chain.ensure_connected()
    investor = tokens.investor_account(account or None)
    addresses = [a.strip() for a in (token_list or os.environ.get("TRANCHE_TOKENS", "")).split(",") if a.strip()]
    if not addresses:
        raise SystemExit("no tranche tokens: pass them as the first argument or set TRANCHE_TOKENS")
    if action not in ("show", "claim"):
        raise SystemExit(f"unknown action {action!r}: use show or claim")
    contracts = [tokens.contract_at("TrancheToken", a) for a in addresses]
    if action == "claim":
        for token in contracts:
            interest, principal = tokens.claim(token, investor)
            print(f"claimed {token.symbol()}: interest {interest} principal {principal} (base units)")
    frame = tokens.positions(contracts, investor)
    decimals = int(contracts[0].decimals())
    print(f"investor {investor.address}")
    print(tokens.render_positions(frame, decimals))
