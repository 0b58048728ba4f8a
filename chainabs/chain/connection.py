"""How ChainABS reaches a node, and who signs there.

The same code runs on a chain brownie launches (its ``development`` network: anvil on ``CHAINABS_PORT``,
default 8545), on a node already running (``connect(rpc=URL)``: a local chain id is attached to like a
development node, anything else is a live network) and on a brownie network by name (``connect("sepolia")``).

* :func:`connect` loads the project and connects unless brownie is already connected;
* :func:`deployer` is the account that deploys and administers: a key or brownie account from the
  environment, else (local chains) the first unlocked account;
* :func:`local_accounts` gives local chains enough deterministic, funded accounts.

Transactions are sent by :mod:`chainabs.chain.sender`, never by brownie itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from web3 import Web3

from chainabs.chain.sender import LOCAL_CHAIN_IDS, transfer
from chainabs.paths import PROJECT_ROOT

#: Mnemonic of anvil's and Ganache's default development accounts (public test keys, local chains only).
DEV_MNEMONIC = "test test test test test test test test test test test junk"
#: Name under which :func:`connect` registers a node given by URL.
RPC_NETWORK = "chainabs-rpc"
DEFAULT_PORT = 8545


class ChainConfigError(RuntimeError):
    """The environment does not provide what a network needs (key, RPC, address)."""


def chain_port() -> int:
    """The port of the local chain: ``CHAINABS_PORT`` if set, else 8545."""
    return int(os.environ.get("CHAINABS_PORT", str(DEFAULT_PORT)))


_ANVIL_STATE_DIR: list[str] = []


def anvil_state_args() -> list[str]:
    """Arguments that keep the states anvil persists (a block's state once it falls out of anvil's memory window,
    up to about 1 GB per long session) in a temporary folder of this process, removed when it exits. By default
    anvil writes them under ``~/.foundry/anvil/tmp`` and never removes them when it is stopped: every test or
    demo run would leave its gigabytes behind. Empty when the temporary folder's path holds a space (brownie
    splits its launch command on spaces); anvil's default then applies."""
    if not _ANVIL_STATE_DIR:
        import atexit
        import shutil
        import tempfile

        folder = tempfile.mkdtemp(prefix="chainabs-anvil-")
        atexit.register(shutil.rmtree, folder, True)
        _ANVIL_STATE_DIR.append(folder)
    folder = _ANVIL_STATE_DIR[0]
    return [] if " " in folder else ["--cache-path", folder]


def configure_local_chain(port: int | None = None, *, gas_limit: int | None = None,
                          accounts: int | None = None) -> None:
    """Set how brownie launches its local anvil: the port (default :func:`chain_port`) and, when given, the
    block gas limit and the number of funded accounts (brownie's defaults otherwise: 12,000,000 and 10).
    Call before brownie connects.

    (brownie 1.22.2's compiled config loader cannot take these settings from ``brownie-config.yaml``, so they
    are applied to its in-memory network config here.)
    """
    from brownie._config import CONFIG

    wanted = {"port": chain_port() if port is None else port, "gas_limit": gas_limit, "accounts": accounts}
    for net_id in ("development", "ganache-cli"):
        net = CONFIG.networks.get(net_id)
        if not net:
            continue
        if str(net.get("cmd", "")).split(" ")[0] == "anvil":
            net["cmd"] = " ".join(["anvil", *anvil_state_args()])
        settings = net.setdefault("cmd_settings", {}) or {}
        settings.update({k: v for k, v in wanted.items() if v is not None})
        net["cmd_settings"] = settings


def ensure_libraries(container: Any, account: Any) -> None:
    """Deploy (once per chain session) every linked library ``container``'s bytecode needs, so that brownie can
    link it (brownie links to the library's most recent deployment it knows of)."""
    from brownie.network.contract import _get_linked_library_names

    from chainabs.chain.sender import deploy

    proj = load_project()
    for name in sorted(_get_linked_library_names(container._build)):
        library = getattr(proj, name)
        if not len(library):
            deploy(library, sender=account)


def load_project() -> Any:
    """Load (once) and return the ChainABS brownie project, compiling what changed: the brownie project the
    current folder is in (as brownie's own commands do: its build, its ``.env``), else the checkout this
    package belongs to."""
    from brownie import project

    loaded = project.get_loaded_projects()
    if loaded:
        return loaded[0]
    root = project.check_for_project(".") or PROJECT_ROOT
    # The compiler resolves the config's relative remappings (`@openzeppelin=node_modules/...`) from the current
    # folder: load from the project's own, so that `chainabs` works from any folder, then come back.
    previous = os.getcwd()
    os.chdir(root)
    try:
        return project.load(str(root), name="ChainabsProject")
    finally:
        os.chdir(previous)


def register_rpc(url: str) -> str:
    """Make the node at ``url`` a brownie network (:data:`RPC_NETWORK`); returns its id. A local chain id
    (anvil, Ganache) is attached to as a development node, so its unlocked accounts can be used; any other
    chain is a live network."""
    from brownie._config import CONFIG

    try:
        chain_id = int(Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10})).eth.chain_id)
    except Exception as exc:  # noqa: BLE001 - connection refused, not JSON-RPC, timeout...
        raise ChainConfigError(f"no JSON-RPC node answers at {url}: {exc}") from None
    network: dict[str, Any] = {"id": RPC_NETWORK, "name": f"node at {url}", "host": url, "chainid": str(chain_id)}
    if chain_id in LOCAL_CHAIN_IDS:
        network.update(cmd="anvil", cmd_settings={})
    CONFIG.networks[RPC_NETWORK] = network
    return RPC_NETWORK


def connect(network: str | None = None, *, rpc: str | None = None) -> Any:
    """Load the project and connect: to the node at ``rpc``, to the brownie network ``network``, or (neither)
    to brownie's default development network, launched on :func:`chain_port` unless a node already listens
    there. Nothing happens when brownie is already connected. Returns the project."""
    from brownie import network as brownie_network

    proj = load_project()
    if brownie_network.is_connected():
        return proj
    if rpc:
        network = register_rpc(rpc)
    elif network is None:
        configure_local_chain()
    if network is not None:
        prune_stale_artifacts(proj, network)
    brownie_network.connect(network)
    from brownie import web3 as brownie_web3

    tune_transport(brownie_web3)
    quiet_rpc_guard()
    forget_new_artifacts(proj)
    return proj


#: Host names of this machine: a node there is reached directly, never through an HTTP proxy of the environment.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def tune_transport(w3: Web3) -> Web3:
    """Make every JSON-RPC request to ``w3``'s node cheaper without changing any answer; returns ``w3``.

    * The chain id is asked once per connection (web3's request cache, for ``eth_chainId`` only). web3 asks it
      before every call, estimate and send to check the transaction's chain id: one extra request each.
    * A node on this machine is reached without reading the environment's proxy settings on every request
      (``requests``' ``trust_env``): that lookup cost ~1 ms per request, and an ``HTTP_PROXY`` without a
      matching ``NO_PROXY`` would even send the local node's traffic through the proxy.
    """
    from urllib.parse import urlparse

    from web3.types import RPCEndpoint

    provider = w3.provider
    if hasattr(provider, "cacheable_requests"):
        provider.cacheable_requests = {RPCEndpoint("eth_chainId")}
        provider.request_cache_validation_threshold = None
        provider.cache_allowed_requests = True
    uri = str(getattr(provider, "endpoint_uri", "") or "")
    manager = getattr(provider, "_request_session_manager", None)
    if uri and manager is not None and urlparse(uri).hostname in LOOPBACK_HOSTS:
        manager.cache_and_return_session(uri).trust_env = False
    return w3


class _FrameRef:
    """The part of an ``inspect.FrameInfo`` brownie's guard reads."""

    __slots__ = ("frame",)

    def __init__(self, frame: Any) -> None:
        self.frame = frame


def _two_frames() -> list[_FrameRef]:
    """``inspect.stack()[:2]`` as seen from brownie's guard (its own frame, then its caller's) without reading
    any source file."""
    guard = sys._getframe(1)
    return [_FrameRef(guard), _FrameRef(guard.f_back)]


def quiet_rpc_guard() -> None:
    """Make brownie's node-control calls (snapshot, revert, sleep, mine) cheap. Its guard that they come through
    ``chain`` (``brownie.network.rpc.internal``) builds a whole ``inspect.stack()``, reading every frame's source
    file, to look at one frame: ~70 ms per call in a test run. It now gets :func:`_two_frames`: the same frame,
    so it warns exactly when it warned before."""
    import importlib
    import types

    rpc = importlib.import_module("brownie.network.rpc")  # the module (``brownie.network.rpc`` is an Rpc object)
    if getattr(rpc.inspect, "stack", None) is not _two_frames:
        rpc.inspect = types.SimpleNamespace(stack=_two_frames)


def _artifact_folder(proj: Any, chain_id: Any) -> Path:
    return Path(proj._build_path) / "deployments" / str(chain_id)


def prune_stale_artifacts(proj: Any, network: str) -> list[Path]:
    """Before connecting to live network ``network``: remove brownie's records
    (``build/deployments/<chainid>/<address>.json``) of contracts that have no code on its node any more (a
    restarted rehearsal chain). brownie re-attaches every record when it connects and fails with
    ``ContractNotFound`` on the first stale one, before any project code runs. Returns the files removed."""
    from brownie._config import CONFIG

    settings = CONFIG.networks.get(network) or {}
    host, chain_id = settings.get("host"), settings.get("chainid")
    folder = _artifact_folder(proj, chain_id) if chain_id else None
    if not host or settings.get("cmd") or folder is None or not folder.is_dir():
        return []
    records = sorted(folder.glob("*.json"))
    if not records:
        return []
    try:
        w3 = Web3(Web3.HTTPProvider(os.path.expandvars(str(host)), request_kwargs={"timeout": 10}))
        stale = [p for p in records if Web3.is_address(p.stem) and len(w3.eth.get_code(Web3.to_checksum_address(p.stem))) == 0]
    except Exception:  # noqa: BLE001 - an unreachable node: brownie's own connect reports it
        return []
    for path in stale:
        path.unlink()
    _drop_from_map(proj, str(chain_id), {p.stem for p in stale})
    return stale


def _drop_from_map(proj: Any, chain_id: str, addresses: set[str]) -> None:
    """Remove ``addresses`` from brownie's ``build/deployments/map.json`` for ``chain_id``."""
    import json

    path = Path(proj._build_path) / "deployments" / "map.json"
    if not addresses or not path.is_file():
        return
    data = json.loads(path.read_text())
    for name, instances in (data.get(chain_id) or {}).items():
        data[chain_id][name] = [a for a in instances if a not in addresses]
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


_FORGETTING: list[bool] = []


def forget_new_artifacts(proj: Any) -> None:
    """On a live network: at exit, remove the records brownie wrote in ``build/deployments/<chainid>`` during
    this process (every contract object it attaches writes one). ChainABS keeps its own record, the deployment
    manifest; brownie's would be stale after a rehearsal chain restarts and stop every later run."""
    import atexit

    from brownie._config import CONFIG

    if CONFIG.network_type != "live" or _FORGETTING:
        return
    _FORGETTING.append(True)
    chain_id = CONFIG.active_network.get("chainid")
    folder = _artifact_folder(proj, chain_id)
    before = set(folder.glob("*.json")) if folder.is_dir() else set()

    def cleanup() -> None:
        created = (set(folder.glob("*.json")) if folder.is_dir() else set()) - before
        for path in created:
            path.unlink(missing_ok=True)
        _drop_from_map(proj, str(chain_id), {p.stem for p in created})

    atexit.register(cleanup)


def is_local() -> bool:
    """True when connected to a local development chain (chain id 31337 or 1337)."""
    from chainabs.chain.sender import bound_sender

    bound = bound_sender()
    if bound is not None:
        return bound.local
    from brownie import chain

    return chain.id in LOCAL_CHAIN_IDS


def connected_web3() -> Web3:
    """The Web3 of the bound session (:func:`chainabs.chain.sender.bound_sender`), else of the network brownie
    is connected to."""
    from chainabs.chain.sender import bound_sender

    bound = bound_sender()
    if bound is not None:
        return bound.w3
    from brownie import web3

    return web3


def advance_to(timestamp: int) -> int:
    """Local chains: move the chain's clock to unix time ``timestamp`` (at least) and mine a block there, unless
    the latest block is already past it; returns the latest block's time.

    A call that depends on the time (a period close once its payment date has come, the end of a deal after
    legal final) is estimated on the latest block, so a block must stand at that time. The clock is moved by
    the gap to the latest block with brownie's ``chain.sleep`` (which ``chain.revert()`` undoes): the node's
    clock, not brownie's estimate of it, decides.
    """
    from brownie import chain

    w3 = connected_web3()
    for _ in range(5):
        latest = int(w3.eth.get_block("latest")["timestamp"])
        if latest >= timestamp:
            return latest
        chain.sleep(int(timestamp) - latest)
        chain.mine()
    raise ChainConfigError(f"the node's clock does not reach {timestamp}: latest block at {latest}")


def endpoint() -> str:
    """The RPC URL of the connected node."""
    return str(connected_web3().provider.endpoint_uri)


#: Settings meant for a live network (keys, existing contracts, explorer token). On a local chain a value of
#: one of them that comes from ``.env`` is ignored (:func:`setting`): a testnet's settings kept in ``.env``
#: must not take over a local deployment. Exported in the shell, they apply everywhere.
LIVE_SETTINGS: tuple[str, ...] = (
    "DEPLOYER_PRIVATE_KEY", "DEPLOYER_ACCOUNT", "CURRENCY_ADDRESS", "REGISTRY_ADDRESS", "POOL_ID",
    "ORIGINATOR_PRIVATE_KEY", "ETHERSCAN_TOKEN", "ROLE_ARRANGER", "ROLE_ORIGINATOR", "ROLE_SERVICER",
    "ROLE_TRUSTEE", "ROLE_REGULATOR", "ROLE_KYC_AGENT", "ROLE_DISPOSAL_AGENT",
)
#: Live-network settings from .env ignored on a local chain in this process (reported once by the deployment).
IGNORED_DOTENV: set[str] = set()


def dotenv_file() -> Path:
    """The ``.env`` brownie loads: the one of the project in the current folder, else of this checkout."""
    from brownie import project

    here = project.check_for_project(".")
    return Path(here or PROJECT_ROOT) / ".env"


def dotenv_values_of() -> dict[str, str]:
    """The non-empty values ``.env`` defines (empty when there is no ``.env``)."""
    from dotenv import dotenv_values

    path = dotenv_file()
    if not path.is_file():
        return {}
    return {k: str(v).strip() for k, v in dotenv_values(path).items() if v is not None and str(v).strip()}


def from_dotenv(name: str) -> bool:
    """True when environment variable ``name``'s value is the one ``.env`` defines (brownie copied it from
    there into the environment when the project loaded)."""
    value = os.environ.get(name, "").strip()
    return bool(value) and dotenv_values_of().get(name) == value


def origin(name: str) -> str:
    """Where setting ``name`` came from, for error messages: ``NAME from .env`` or ``NAME from the environment``."""
    return f"{name} from .env ({dotenv_file()})" if from_dotenv(name) else f"{name} from the environment"


def setting(name: str) -> str | None:
    """Environment variable ``name`` (stripped; None when empty). On a local chain a live-network setting
    (:data:`LIVE_SETTINGS`) whose value comes from ``.env`` is ignored (and remembered in
    :data:`IGNORED_DOTENV`); export it in the shell to use it locally."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if name in LIVE_SETTINGS and _connected_local() and from_dotenv(name):
        IGNORED_DOTENV.add(name)
        return None
    return value


def _connected_local() -> bool:
    if "brownie.network" not in sys.modules:  # a command that never started brownie (bound sessions) did not
        return False  # load .env either: nothing to ignore, and no seconds spent importing brownie
    from brownie import network

    return network.is_connected() and is_local()


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
            transfer(funder, acct, fund_wei)
        out.append(acct)
    return out
