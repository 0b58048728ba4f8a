"""Chain access shared by scripts, tests and benchmarks.

One place decides how ChainABS talks to a node, so that the same code runs on a chain brownie launches,
on a node already listening on 127.0.0.1:8545 (brownie attaches to it) and on a live network:

* :func:`ensure_connected` loads the brownie project and connects to a network if nothing is connected.
* :func:`configure_fees` switches to EIP-1559 transactions wherever the chain has a base fee.
* :func:`deployer` picks the account that signs: a local unlocked account on development chains, a key
  from the environment or a brownie account on live networks.
* :func:`tx` builds the per-call transaction dict.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Chain ids of local development chains (anvil, ganache). Anything else is treated as live.
LOCAL_CHAIN_IDS = frozenset({31337, 1337})


class ChainConfigError(RuntimeError):
    """Raised when the environment does not provide what a network needs (key, RPC, address)."""


#: How long a mined transaction may be missing from eth_getTransactionByHash before it counts as dropped.
TX_LOOKUP_GRACE_S = 5.0


def harden_brownie() -> None:
    """Work around brownie's false "Tx dropped without known replacement" on anvil.

    brownie's confirmation poller first reads the sender's transaction count and then asks for the receipt
    (or the transaction); anvil can already count a transaction it mines while its receipt lookup still
    answers "not found", and brownie then declares the transaction dropped although it is mined. On local
    chains both lookups are retried for up to :data:`TX_LOOKUP_GRACE_S` seconds, so only a transaction that
    really stays unknown is reported as dropped. Live networks keep brownie's own polling. Idempotent.
    """
    import time

    from brownie import web3
    from web3.exceptions import TransactionNotFound

    eth = web3.eth
    if getattr(eth, "_chainabs_hardened", False):
        return

    def local() -> bool:
        try:
            return int(eth.chain_id) in LOCAL_CHAIN_IDS
        except Exception:  # noqa: BLE001 - not connected yet
            return False

    def with_grace(lookup: Any) -> Any:
        def patient(tx_hash: Any) -> Any:
            deadline = time.monotonic() + TX_LOOKUP_GRACE_S
            while True:
                try:
                    return lookup(tx_hash)
                except TransactionNotFound:
                    if time.monotonic() >= deadline or not local():
                        raise
                    time.sleep(0.1)

        return patient

    eth.get_transaction = with_grace(eth.get_transaction)  # type: ignore[method-assign]
    eth.get_transaction_receipt = with_grace(eth.get_transaction_receipt)  # type: ignore[method-assign]
    eth._chainabs_hardened = True  # type: ignore[attr-defined]


def ensure_libraries(container: Any, account: Any) -> None:
    """Deploy (once per chain session) every linked library ``container``'s bytecode needs, so that brownie can
    link it (brownie links to the library's most recent deployment it knows of)."""
    from brownie.network.contract import _get_linked_library_names

    proj = load_project()
    for name in sorted(_get_linked_library_names(container._build)):
        library = getattr(proj, name)
        if not len(library):
            library.deploy(tx(account))


def load_project() -> Any:
    """Load (once) and return the ChainABS brownie project, compiling what changed."""
    from brownie import project

    loaded = project.get_loaded_projects()
    if loaded:
        return loaded[0]
    return project.load(str(PROJECT_ROOT), name="ChainabsProject")


def ensure_connected(network_name: str | None = None) -> Any:
    """Load the project and connect to ``network_name`` (default network if None) unless connected.

    Returns the loaded project. Fee settings are configured for the connected chain.
    """
    from brownie import network

    harden_brownie()
    proj = load_project()
    if not network.is_connected():
        network.connect(network_name)
    configure_fees()
    return proj


def is_local() -> bool:
    """True when connected to a local development chain (chain id 31337 or 1337)."""
    from brownie import chain

    return chain.id in LOCAL_CHAIN_IDS


def configure_fees() -> None:
    """Send EIP-1559 transactions when the chain has a base fee; legacy ones otherwise (old Ganache).

    An anvil started with defaults, like every public network, rejects brownie's default legacy
    transaction with "max fee per gas less than block base fee"; this makes the same code work everywhere.
    """
    from brownie import network, web3

    block = web3.eth.get_block("latest")
    if block.get("baseFeePerGas") is not None:
        network.priority_fee("auto" if not is_local() else "1 gwei")
    else:
        network.gas_price("auto" if not is_local() else 0)


def deployer() -> Any:
    """The account that deploys and administers a deal on the connected network.

    Local chains: the first unlocked account. Live networks: ``DEPLOYER_PRIVATE_KEY`` (hex) or the
    brownie account named by ``DEPLOYER_ACCOUNT`` (asks for its password); never a key from a config file.
    """
    from brownie import accounts

    key = os.environ.get("DEPLOYER_PRIVATE_KEY", "").strip()
    name = os.environ.get("DEPLOYER_ACCOUNT", "").strip()
    if key:
        return accounts.add(key)
    if name:
        return accounts.load(name)
    if is_local() and len(accounts) > 0:
        return accounts[0]
    raise ChainConfigError(
        "no deployer: set DEPLOYER_PRIVATE_KEY (hex key) or DEPLOYER_ACCOUNT (a brownie account name) "
        "in the environment or in .env"
    )


#: Mnemonic of anvil's and Ganache's default development accounts (public test keys, local chains only).
DEV_MNEMONIC = "test test test test test test test test test test test junk"


def local_accounts(count: int, *, fund_wei: int = 10**21) -> list[Any]:
    """``count`` deterministic local accounts (the dev mnemonic's), funded with ETH where needed.

    A chain launched with fewer unlocked accounts (brownie's default is 10) still gets the same addresses.
    Local chains only.
    """
    from brownie import accounts

    if not is_local():
        raise ChainConfigError("local_accounts: only on a local development chain")
    if len(accounts) >= count:
        return list(accounts[:count])
    unlocked = list(accounts)  # before from_mnemonic appends the derived ones to the container
    derived = accounts.from_mnemonic(DEV_MNEMONIC, count=count)
    derived = derived if isinstance(derived, list) else [derived]
    funder = unlocked[0]
    out = []
    for i, acct in enumerate(derived):
        if i < len(unlocked) and unlocked[i].address == acct.address:
            out.append(unlocked[i])
            continue
        if acct.balance() < fund_wei // 10:
            funder.transfer(acct, fund_wei)
        out.append(acct)
    return out


def tx(sender: Any, **extra: Any) -> dict[str, Any]:
    """Transaction parameters for a call sent by ``sender``; ``extra`` adds e.g. ``gas_limit``."""
    params: dict[str, Any] = {"from": sender}
    params.update(extra)
    return params
