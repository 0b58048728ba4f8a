"""Who signs a command's transactions: the one signer selection of every ``chainabs`` command that sends.

In this order:

1. ``--keystore FILE``: an encrypted JSON keystore (geth, MetaMask export, brownie's own accounts); its password
   from ``CHAINABS_KEYSTORE_PASSWORD`` or asked on the terminal;
2. ``--account NAME`` (or the role's account variable, e.g. ``SERVICER_ACCOUNT``, :data:`ROLE_ACCOUNTS`): a
   brownie account (``brownie accounts new NAME`` stores it as ``~/.brownie/accounts/NAME.json``, an encrypted
   keystore: read the same way, without starting brownie);
3. the hex private key in the command's role variable, e.g. ``INVESTOR_PRIVATE_KEY`` (:data:`ROLE_KEYS`);
4. on a local chain only (anvil, Ganache), and unless a variable was named (``--key-env``), the account the
   node holds unlocked for that role: the one the deal's manifest records for it (``meta.roles``, written by
   ``chainabs deploy`` and the demo), else :data:`LOCAL_ROLE_INDEX` (the demo's and the tests' role accounts).

Anything else is a one-line :class:`SignerError` naming the three ways to give a signer.

Every command selects its signer here, those that run on brownie too (``deploy``, ``onboard``, ``challenge
--prove``, ``investor``): :func:`brownie_signer` gives the selected signer as brownie's account. A variable a
testnet ``.env`` defines is not used on a local chain (:func:`chainabs.chain.connection.setting`), and a bad key
names where it came from.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from web3 import Web3

from chainabs.chain.connection import ChainConfigError, is_local, origin, setting
from chainabs.chain.sender import Signer

KEYSTORE_PASSWORD_ENV = "CHAINABS_KEYSTORE_PASSWORD"
#: Where brownie keeps its accounts (encrypted keystores).
BROWNIE_ACCOUNTS = Path("~/.brownie/accounts")
#: The environment variables holding each role's hex key, first found wins (the arranger deploys: its
#: deployment key stands for it).
ROLE_KEYS: dict[str, tuple[str, ...]] = {
    "arranger": ("ARRANGER_PRIVATE_KEY", "DEPLOYER_PRIVATE_KEY"),
    "kyc_agent": ("KYC_PRIVATE_KEY", "ARRANGER_PRIVATE_KEY", "DEPLOYER_PRIVATE_KEY"),
    "investor": ("INVESTOR_PRIVATE_KEY",),
    "originator": ("ORIGINATOR_PRIVATE_KEY",),
    "servicer": ("SERVICER_PRIVATE_KEY",),
    "disposal_agent": ("DISPOSAL_AGENT_PRIVATE_KEY", "SERVICER_PRIVATE_KEY"),
    "trustee": ("TRUSTEE_PRIVATE_KEY",),
    "controller": ("CONTROLLER_PRIVATE_KEY", "TRUSTEE_PRIVATE_KEY"),
    "currency_owner": ("CURRENCY_OWNER_PRIVATE_KEY", "DEPLOYER_PRIVATE_KEY"),
    "regulator": ("CHALLENGER_PRIVATE_KEY", "REGULATOR_PRIVATE_KEY"),
}
#: The environment variables naming each role's brownie account, first found wins (default ``<ROLE>_ACCOUNT``).
ROLE_ACCOUNTS: dict[str, tuple[str, ...]] = {
    "arranger": ("ARRANGER_ACCOUNT", "DEPLOYER_ACCOUNT"),
    "kyc_agent": ("KYC_ACCOUNT", "ARRANGER_ACCOUNT", "DEPLOYER_ACCOUNT"),
    "disposal_agent": ("DISPOSAL_AGENT_ACCOUNT", "SERVICER_ACCOUNT"),
    "controller": ("CONTROLLER_ACCOUNT", "TRUSTEE_ACCOUNT"),
    "currency_owner": ("CURRENCY_OWNER_ACCOUNT", "DEPLOYER_ACCOUNT"),
    "regulator": ("CHALLENGER_ACCOUNT", "REGULATOR_ACCOUNT"),
}
#: Local chains: the index of each role's unlocked account (``chainabs.chain.orchestration.role_accounts``).
LOCAL_ROLE_INDEX: dict[str, int] = {
    "arranger": 0, "kyc_agent": 0, "currency_owner": 0, "servicer": 2, "originator": 3, "trustee": 5,
    "controller": 5, "regulator": 6, "disposal_agent": 7,
}


class SignerError(ChainConfigError):
    """No usable signer (one line naming what to set)."""


class NoSignerError(SignerError):
    """No signer given at all for a role (nothing set, not a bad key or keystore)."""


def from_keystore(path: str | Path, *, ask: Callable[[str], str] = getpass.getpass) -> Signer:
    """The signer of an encrypted keystore file; password from ``CHAINABS_KEYSTORE_PASSWORD`` or ``ask``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise SignerError(f"keystore {path}: no such file")
    try:
        data = json.loads(path.read_text())
    except ValueError:
        raise SignerError(f"keystore {path}: not a JSON keystore") from None
    if not isinstance(data, dict) or not ("crypto" in data or "Crypto" in data):  # before asking a password for it
        raise SignerError(f"keystore {path}: not an encrypted keystore (no 'crypto' section)")
    password = os.environ.get(KEYSTORE_PASSWORD_ENV)
    if password is None:
        try:
            password = ask(f"password of {path.name}: ")
        except (EOFError, OSError):
            raise SignerError(f"keystore {path}: no password (set {KEYSTORE_PASSWORD_ENV} when there is no "
                              "terminal)") from None
    try:
        return Signer.from_keystore(path, password)
    except ValueError as exc:
        raise SignerError(f"keystore {path}: {exc}") from None


def from_key_env(names: Sequence[str]) -> Signer | None:
    """The signer of the first of ``names`` set in the environment (None when none is; a testnet ``.env``'s
    value is not used on a local chain)."""
    for name in names:
        key = setting(name)
        if key:
            try:
                return Signer.from_key(key)
            except (ValueError, TypeError):  # never echo the key: say which variable and where it came from
                raise SignerError(f"{origin(name)} is not a private key (64 hex digits)") from None
    return None


#: Roles a deal may leave to another (the manifest records only the one standing in).
STAND_INS: dict[str, str] = {"controller": "trustee", "disposal_agent": "servicer", "kyc_agent": "arranger",
                             "currency_owner": "arranger"}


def recorded_holder(role: str, roles: Mapping[str, str]) -> str | None:
    """The address a deal's manifest records for ``role`` (or for the role standing in for it), else None."""
    while role:
        if roles.get(role):
            return str(roles[role])
        role = STAND_INS.get(role, "")
    return None


def select(role: str, *, keystore: str | Path | None = None, account: str | None = None,
           key_env: str | None = None, w3: Web3 | None = None, local: bool = False,
           recorded: Mapping[str, str] | None = None, ask: Callable[[str], str] = getpass.getpass) -> Signer:
    """The signer of a command acting as ``role`` (see the module doc). ``key_env`` replaces the role's
    variables; ``w3`` and ``local`` allow the unlocked account of a local chain: the one ``recorded`` (the deal's
    role holders, role -> address) names for the role when the node holds it, else the role's default index."""
    if keystore:
        return from_keystore(keystore, ask=ask)
    if not account:
        account = next(filter(None, map(setting, ROLE_ACCOUNTS.get(role, (f"{role.upper()}_ACCOUNT",)))), None)
    if account:
        path = BROWNIE_ACCOUNTS.expanduser() / f"{account}.json"
        if not path.is_file():
            raise SignerError(f"--account {account}: no brownie account of that name ({path}); create it with "
                              f"`brownie accounts new {account}` or give --keystore FILE")
        return from_keystore(path, ask=ask)
    names = (key_env,) if key_env else ROLE_KEYS.get(role, (f"{role.upper()}_PRIVATE_KEY",))
    signer = from_key_env(names)
    if signer is not None:
        return signer
    if local and w3 is not None and role in LOCAL_ROLE_INDEX and not key_env:  # a variable named must be set
        unlocked = [Web3.to_checksum_address(a) for a in w3.eth.accounts]
        holder = recorded_holder(role, recorded or {})
        if holder is not None and Web3.is_address(holder) and Web3.to_checksum_address(holder) in unlocked:
            return Signer(Web3.to_checksum_address(holder))
        if len(unlocked) > LOCAL_ROLE_INDEX[role]:
            return Signer(unlocked[LOCAL_ROLE_INDEX[role]])
    raise NoSignerError(f"no {role.replace('_', ' ')} signer: set {' or '.join(names)} (hex key), or give "
                      "--keystore FILE or --account NAME (a brownie account)")


def optional(role: str, **options: Any) -> Signer | None:
    """:func:`select`, or None when no signer of ``role`` is given (a role another may stand in for)."""
    try:
        return select(role, **options)
    except NoSignerError:  # nothing given; a bad key or keystore still stops the command
        return None


def brownie_account(signer: Signer) -> Any:
    """Brownie's account for ``signer`` (for the commands that run on brownie): its key added to brownie's
    accounts, or the node's unlocked account."""
    from brownie import accounts

    if signer.key is not None:
        return accounts.add(signer.key.key)
    return accounts.at(signer.address, force=True)


def brownie_signer(role: str, *, keystore: str | Path | None = None, account: str | None = None,
                   required: bool = True) -> Any:
    """Brownie's account of ``role``'s signer on the connected network, for the commands that run on brownie:
    :func:`select` (on a local chain without one, the role's unlocked account); with ``required=False``, None
    when nothing is given for a role another may stand in for (:func:`optional`)."""
    from brownie import web3

    options: dict[str, Any] = {"keystore": keystore, "account": account, "w3": web3, "local": is_local()}
    chosen = select(role, **options) if required else optional(role, **options)
    return None if chosen is None else brownie_account(chosen)


def deployer(*, keystore: str | Path | None = None, account: str | None = None) -> Any:
    """Brownie's account of the arranger, who deploys and administers a deal on the connected network.

    Selected like every command's signer (:func:`select`): ``keystore``, the brownie
    ``account`` (or ``ARRANGER_ACCOUNT`` / ``DEPLOYER_ACCOUNT``), the hex key in ``ARRANGER_PRIVATE_KEY`` /
    ``DEPLOYER_PRIVATE_KEY``; on a local chain without them, the first unlocked account. Never a key from a
    config file.
    """
    return brownie_signer("arranger", keystore=keystore, account=account)
