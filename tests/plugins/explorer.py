"""Explorer test helpers: a node proxy the tests can cut (the explorer's "node unreachable" state), the
system Chromium for Playwright, and an EIP-1193 provider injected into the page that signs with an anvil key.

Imported by tests/integration/test_explorer.py (not a fixture plugin: the explorer's fixtures live in that
module, next to the deal fixture they need, because brownie reverts the chain at the end of each module)."""

from __future__ import annotations

import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from eth_account import Account

from chainabs.chain.connection import DEV_MNEMONIC


class NodeProxy:
    """A JSON-RPC pass-through on ``127.0.0.1:port`` to ``upstream``: :meth:`stop` closes its socket (the
    node stops answering: connections are refused), :meth:`start` opens it again on the same port."""

    def __init__(self, upstream: str, port: int) -> None:
        self.upstream, self.port = upstream, port
        self.session = requests.Session()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> NodeProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                reply = proxy.session.post(proxy.upstream, data=body, timeout=30,
                                           headers={"Content-Type": "application/json"})
                self.send_response(reply.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="node-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def chromium_path() -> str | None:
    """The system Chromium Playwright drives (``make install`` provides one); None: Playwright's own."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and (path := shutil.which(name)):
            return path
    return None


def anvil_key(index: int) -> str:
    """The private key of the dev mnemonic's account ``index`` (anvil's and brownie's local accounts)."""
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}").key.hex()


#: A test EIP-1193 provider (``window.ethereum``): accounts and chain id from the test, transactions signed
#: in the page with the given key by ethers' Wallet (the explorer serves ethers) and sent to the node; with
#: ``reject`` every transaction is refused as a user would (EIP-1193 code 4001). Every request is logged in
#: ``window.__walletCalls``; the claim panel's states in ``window.__claimStates``.
INJECTED_WALLET = """
(() => {
  const cfg = %(config)s;
  window.__walletCalls = [];
  window.__claimStates = [];
  let wallet = null;
  function signer() {
    if (!wallet) wallet = new ethers.Wallet(cfg.key, new ethers.JsonRpcProvider(cfg.rpc, cfg.chainId, { staticNetwork: true }));
    return wallet;
  }
  window.ethereum = {
    isTestWallet: true,
    async request({ method, params }) {
      window.__walletCalls.push(method);
      switch (method) {
        case "eth_requestAccounts":
        case "eth_accounts":
          return [cfg.address];
        case "eth_chainId":
          return "0x" + cfg.chainId.toString(16);
        case "wallet_switchEthereumChain":
          return null;
        case "wallet_watchAsset":
          return true;
        case "eth_sendTransaction": {
          if (cfg.reject) { const err = new Error("User rejected the request."); err.code = 4001; throw err; }
          const tx = params[0];
          const sent = await signer().sendTransaction({
            to: tx.to, data: tx.data, value: tx.value ? BigInt(tx.value) : 0n,
            gasLimit: tx.gas ? BigInt(tx.gas) : undefined,
          });
          return sent.hash;
        }
        default:
          return signer().provider.send(method, params || []);
      }
    },
    on() {}, removeListener() {},
  };
  new MutationObserver(() => {
    const box = document.getElementById("claim-status");
    const state = box && box.dataset.state;
    if (state && window.__claimStates[window.__claimStates.length - 1] !== state) window.__claimStates.push(state);
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
})();
"""
