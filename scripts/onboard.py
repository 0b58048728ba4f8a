"""`brownie run scripts/onboard.py main <tape> [registry] [pool] [kind] [today]`: onboard a loan tape.

<tape>      a CSV / Parquet tape, or synthetic:<n> for a seeded synthetic tape
[registry]  AssetRegistry address (default: deploy one; the signer becomes originator)
[pool]      pool id, or "new" (default) for a pool with the default criteria of <kind>
[kind]      consumer_loan (default) | trade_receivable | lease
[today]     validation date YYYY-MM-DD (default: today)
"""

from chainabs.chain import registry


def main(tape: str, registry_address: str = "", pool: str = "new", kind: str = "consumer_loan", today: str = "") -> None:
    registry.run_onboarding(tape, registry_address or None, pool, kind, today or None)
