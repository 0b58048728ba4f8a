"""Helpers for running ChainABS against a local chain in tests, benchmarks and the demo."""

from __future__ import annotations


def configure_local_chain(port: int = 8545, gas_limit: int = 30_000_000, accounts: int = 20) -> None:
    """Set how brownie launches its local anvil: port, block gas limit and number of funded accounts.

    Call before brownie connects. (brownie 1.22.2's compiled config loader cannot take these settings
    from ``brownie-config.yaml``, so they are applied to its in-memory network config here.)
    """
    from brownie._config import CONFIG

    from chainabs.chain.connection import harden_brownie

    harden_brownie()

    for net_id in ("development", "ganache-cli"):
        net = CONFIG.networks.get(net_id)
        if not net:
            continue
        settings = net.setdefault("cmd_settings", {}) or {}
        settings.update({"port": port, "accounts": accounts, "gas_limit": gas_limit})
        net["cmd_settings"] = settings


class ExternalAnvil:
    """An anvil node started outside brownie, e.g. to rehearse a live-network deployment.

    Used as a context manager; ``url`` is its RPC endpoint. With ``chain_id=11155111`` brownie treats it
    like Sepolia: nothing is unlocked for the project's code, which must sign raw transactions.
    """

    def __init__(self, port: int, chain_id: int = 11155111, base_fee: int | None = None) -> None:
        self.port = port
        self.chain_id = chain_id
        self.base_fee = base_fee
        self.url = f"http://127.0.0.1:{port}"
        self._proc = None

    def __enter__(self) -> "ExternalAnvil":
        import shutil
        import subprocess
        import time

        import requests

        exe = shutil.which("anvil")
        if exe is None:
            raise RuntimeError("anvil is not on PATH (run `make install` or source tools/dev-env.sh)")
        cmd = [exe, "--port", str(self.port), "--chain-id", str(self.chain_id), "--silent"]
        if self.base_fee is not None:
            cmd += ["--block-base-fee-per-gas", str(self.base_fee)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError(f"anvil did not start on port {self.port}")

    def rpc(self, method: str, params: list | None = None) -> object:
        """Send one JSON-RPC request to the node and return its result."""
        import requests

        reply = requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=10).json()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def fund(self, address: str, wei: int) -> None:
        """Give ``address`` a balance of ``wei`` (anvil_setBalance)."""
        self.rpc("anvil_setBalance", [address, hex(wei)])

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except Exception:  # noqa: BLE001
                self._proc.kill()
            self._proc = None


def batch_call(calls: list[tuple[object, tuple]], block: str = "latest") -> list[object]:
    """Many contract view calls in one JSON-RPC batch request: ``calls`` is ``[(contract.fn, args), ...]``
    (brownie ``ContractCall`` objects); returns the decoded results in order, as ``fn(*args)`` would.

    Tests that read hundreds of figures after every step (state machines, reconciliations) spend most of
    their time in per-call HTTP round trips; one batch is one round trip. Raises ``RuntimeError`` naming
    the call if the node returns an error for any of them.
    """
    import requests
    from brownie import web3

    if not calls:
        return []
    payload = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_call",
         "params": [{"to": str(fn._address), "data": fn.encode_input(*args)}, block]}  # type: ignore[attr-defined]
        for i, (fn, args) in enumerate(calls)
    ]
    replies = requests.post(web3.provider.endpoint_uri, json=payload, timeout=60).json()
    by_id = {r["id"]: r for r in replies}
    out = []
    for i, (fn, args) in enumerate(calls):
        reply = by_id[i]
        if "error" in reply:
            raise RuntimeError(f"{fn._name}{tuple(args)}: {reply['error']}")  # type: ignore[attr-defined]
        out.append(fn.decode_output(reply["result"]))  # type: ignore[attr-defined]
    return out


#: Name under which :func:`wait_until_mined` registers its middleware.
MINED_ON_RETURN = "chainabs_mined_on_return"


def wait_until_mined(enable: bool = True, timeout: float = 30.0) -> None:
    """Make every transaction sent through brownie's web3 return only once its receipt exists (local chains).

    Anvil mines automatically but not atomically: the sender's nonce can move before the receipt is
    queryable, and brownie, which checks the nonce first, then declares the transaction "dropped without
    known replacement" although it was mined. Tests sending thousands of transactions on a loaded machine
    hit this now and then. With this middleware ``eth_sendTransaction`` / ``eth_sendRawTransaction``
    return after the receipt is there. ``enable=False`` removes it.
    """
    import time

    from brownie import web3
    from web3.middleware import Web3Middleware

    onion = web3.middleware_onion
    if not enable:
        if MINED_ON_RETURN in onion:
            onion.remove(MINED_ON_RETURN)
        return
    if MINED_ON_RETURN in onion:
        return

    class MinedOnReturn(Web3Middleware):
        def wrap_make_request(self, make_request):  # type: ignore[no-untyped-def]
            def middleware(method, params):  # type: ignore[no-untyped-def]
                response = make_request(method, params)
                if method in ("eth_sendTransaction", "eth_sendRawTransaction") and response.get("result"):
                    deadline = time.monotonic() + timeout
                    while time.monotonic() < deadline:
                        if make_request("eth_getTransactionReceipt", [response["result"]]).get("result"):
                            break
                        time.sleep(0.005)
                return response

            return middleware

    onion.add(MinedOnReturn, name=MINED_ON_RETURN)
