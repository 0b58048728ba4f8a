/* ChainABS explorer, browser side: live updates (server-sent events), charts (Chart.js), the investor's
   wallet (ethers over EIP-1193: connect, claim, add a tranche token). No build step: ethers and Chart.js are
   served by the explorer from the project's node_modules. */
(() => {
  "use strict";

  const body = document.body;
  const decimals = Number(body.dataset.decimals || 0);
  const symbol = body.dataset.symbol || "";
  const dealChain = Number(body.dataset.chainId || 0);
  let version = Number(body.dataset.version || 0);

  // ------------------------------------------------------------------------------------------ formatting
  function compact(units) {
    const sign = units < 0 ? "-" : "";
    let v = Math.abs(units);
    const steps = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "k"]];
    let text = v === 0 ? "0" : String(Number(v.toPrecision(3)));
    for (const [limit, suffix] of steps) {
      if (v >= limit) { text = Number((v / limit).toPrecision(3)) + suffix; break; }
    }
    return `${sign}${symbol} ${text}`;
  }

  function amount(baseUnits) {
    // baseUnits: a bigint or a number of base units -> "SYM 1,234.56"
    const units = Number(window.ethers ? ethers.formatUnits(baseUnits, decimals) : Number(baseUnits) / 10 ** decimals);
    return `${symbol} ${units.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  }

  function dateTime(seconds) {
    if (!seconds) return "";
    return new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  // ------------------------------------------------------------------------------------------ live updates
  const banner = document.getElementById("banner");

  function showBanner(text) {
    if (!banner) return;
    banner.textContent = text;
    banner.classList.toggle("show", Boolean(text));
  }

  function setStatus(s) {
    const number = document.getElementById("block-number");
    const live = document.getElementById("live");
    if (number && s.block >= 0 && number.textContent !== s.block.toLocaleString("en-US")) {
      number.textContent = s.block.toLocaleString("en-US");
      if (live) { live.classList.add("flash"); setTimeout(() => live.classList.remove("flash"), 600); }
    }
    const time = document.getElementById("block-time");
    if (time && s.block_time) time.textContent = dateTime(s.block_time);
    const dot = document.getElementById("node-dot");
    if (dot) dot.className = "dot " + (s.node === "ok" ? "ok" : "bad");
    if (s.node === "ok" || s.node === "starting") showBanner("");
    else if (s.node === "unreachable") showBanner("node unreachable, retrying…");
    else if (s.node === "reset") {
      // final: the deal as shown no longer exists; the server's page (503) says so in place of the content
      showBanner(s.error || "the chain was reset; restart the explorer");
      if (!document.querySelector("#content [data-reset]")) refresh(true);
    }
    else showBanner("chain data error: " + (s.error || "unknown") + " (retrying)");
    // a new snapshot, or a page that could not be built (node away) and may be now
    if (s.node === "ok" && (s.version !== version || document.querySelector("#content [data-retry]"))) {
      version = s.version;
      body.dataset.version = String(version);
      refresh();
    }
  }

  let refreshing = false;
  let again = false;
  let againAny = false;
  async function refresh(anyStatus = false) {
    const content = document.getElementById("content");
    if (!content || (content.querySelector("[data-live=off]") && !anyStatus)) return;
    if (refreshing) { again = true; againAny = againAny || anyStatus; return; }
    refreshing = true;
    try {
      const url = new URL(window.location.href);
      url.searchParams.set("fragment", "1");
      const reply = await fetch(url, { cache: "no-store" });
      if (reply.ok || anyStatus) {
        content.innerHTML = await reply.text();
        init(content);
        body.dataset.refreshed = String(Number(body.dataset.refreshed || 0) + 1);
      }
    } catch (err) {
      // the explorer itself is away: the stream's error handler says so
    } finally {
      refreshing = false;
      if (again) { const any = againAny; again = false; againAny = false; refresh(any); }
    }
  }

  function connect() {
    if (!window.EventSource) return;
    const source = new EventSource("/api/stream");
    source.addEventListener("status", (ev) => setStatus(JSON.parse(ev.data)));
    source.onerror = () => {
      if (source.readyState !== EventSource.OPEN) showBanner("explorer server unreachable, retrying…");
    };
  }

  // ------------------------------------------------------------------------------------------ charts
  const charts = [];

  function drawCharts(root) {
    const holder = root.querySelector("#chart-data");
    if (!holder || !window.Chart) return;
    while (charts.length) charts.pop().destroy();
    const data = JSON.parse(holder.textContent);
    const perf = data.performance || [];
    const labels = perf.map((p) => p.payment_date);
    const unit = 10 ** decimals;
    const currencyAxis = (title) => ({
      beginAtZero: true, title: { display: true, text: title },
      ticks: { callback: (v) => compact(v) },
    });
    const pctAxis = (title, position) => ({
      beginAtZero: true, position, title: { display: true, text: title },
      ticks: { callback: (v) => `${Number(v).toLocaleString("en-US", { maximumFractionDigits: 2 })}%` }, grid: { drawOnChartArea: position !== "right" },
    });
    const tooltip = {
      callbacks: {
        label: (ctx) => {
          const v = ctx.parsed.y;
          return `${ctx.dataset.label}: ` + (ctx.dataset.yAxisID === "pct" || ctx.dataset.percent
            ? `${v.toFixed(2)}%` : `${symbol} ${v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`);
        },
      },
    };
    const dq = document.getElementById("chart-delinquency");
    if (dq) {
      charts.push(new Chart(dq, {
        type: "bar",
        data: {
          labels,
          datasets: [
            { label: "30-59 days", data: perf.map((p) => p.delinquent_30 / unit), backgroundColor: "#f2c94c", stack: "dq", order: 1 },
            { label: "60-89 days", data: perf.map((p) => p.delinquent_60 / unit), backgroundColor: "#f2994a", stack: "dq", order: 1 },
            { label: "90+ days", data: perf.map((p) => p.delinquent_90_plus / unit), backgroundColor: "#eb5757", stack: "dq", order: 1 },
            { type: "line", label: "60+ days, % of pool", data: perf.map((p) => p.delinquent_60_plus_pct), yAxisID: "pct",
              borderColor: "#1f5fbf", backgroundColor: "#1f5fbf", pointRadius: 2, order: 0 },
          ],
        },
        options: {
          animation: false, responsive: true, maintainAspectRatio: false,
          scales: { x: { stacked: true, title: { display: true, text: "payment date" } },
                    y: { ...currencyAxis(`delinquent principal (${symbol})`), stacked: true },
                    pct: pctAxis("60+ days delinquent", "right") },
          plugins: { legend: { position: "bottom" }, tooltip },
        },
      }));
    }
    const loss = document.getElementById("chart-loss");
    if (loss) {
      const datasets = [{ label: "cumulative net loss, % of the original pool", data: perf.map((p) => p.cumulative_net_loss_pct),
                          borderColor: "#b42318", backgroundColor: "#b42318", pointRadius: 2, percent: true }];
      if (data.cnl_trigger_bps !== null && data.cnl_trigger_bps !== undefined) {
        datasets.push({ label: `trigger (${(data.cnl_trigger_bps / 100).toFixed(2)}%)`, data: perf.map(() => data.cnl_trigger_bps / 100),
                        borderColor: "#5b6675", borderDash: [6, 4], pointRadius: 0, percent: true });
      }
      charts.push(new Chart(loss, {
        type: "line",
        data: { labels, datasets },
        options: {
          animation: false, responsive: true, maintainAspectRatio: false,
          scales: { x: { title: { display: true, text: "payment date" } }, y: pctAxis("% of the original pool", "left") },
          plugins: { legend: { position: "bottom" }, tooltip },
        },
      }));
    }
  }

  // ------------------------------------------------------------------------------------------ wallet
  function wallet() {
    if (!window.ethereum) throw new Error("no browser wallet found (an EIP-1193 wallet such as MetaMask)");
    return window.ethereum;
  }

  function reason(err) {
    if (!err) return "unknown error";
    const code = err.code ?? err.info?.error?.code;
    if (code === "ACTION_REJECTED" || code === 4001) return "rejected in the wallet";
    if (err.revert && err.revert.name) return `${err.revert.name}(${err.revert.args.map(String).join(", ")})`;
    if (err.shortMessage) return err.shortMessage;
    return err.message || String(err);
  }

  async function ensureChain() {
    const current = Number(await wallet().request({ method: "eth_chainId" }));
    if (!dealChain || current === dealChain) return;
    try {
      await wallet().request({ method: "wallet_switchEthereumChain", params: [{ chainId: "0x" + dealChain.toString(16) }] });
    } catch (err) {
      throw new Error(`the wallet is on chain ${current}; this deal is on chain ${dealChain}`);
    }
  }

  async function connectWallet() {
    const status = document.getElementById("wallet-status");
    try {
      const accounts = await wallet().request({ method: "eth_requestAccounts" });
      if (!accounts || !accounts.length) throw new Error("the wallet gave no account");
      window.location.href = "/investor/" + ethers.getAddress(accounts[0]);
    } catch (err) {
      if (status) status.textContent = "wallet: " + reason(err);
    }
  }

  function setClaim(state, text) {
    const box = document.getElementById("claim-status");
    if (!box) return;
    box.className = "claim-status " + state;
    box.dataset.state = state;
    box.textContent = text;
  }

  let tokenAbi = null;
  async function claim(button) {
    const buttons = document.querySelectorAll("button.claim");
    buttons.forEach((b) => { b.disabled = true; });
    const what = button.dataset.symbol;
    setClaim("pending", `${what}: pending, waiting for the wallet…`);
    try {
      await ensureChain();
      const provider = new ethers.BrowserProvider(wallet());
      const signer = await provider.getSigner();
      const me = await signer.getAddress();
      tokenAbi = tokenAbi || await (await fetch("/api/abi/TrancheToken")).json();
      const token = new ethers.Contract(button.dataset.token, tokenAbi, signer);
      const holder = button.dataset.holder;
      const own = me.toLowerCase() === holder.toLowerCase();
      const tx = own ? await token.claim() : await token.claimFor(holder);
      setClaim("pending", `${what}: pending, transaction ${tx.hash} sent${own ? "" : ` by ${me} for ${holder}`}, waiting to be mined…`);
      const receipt = await tx.wait();
      if (!receipt || receipt.status !== 1) throw new Error(`transaction ${tx.hash} reverted`);
      const paid = receipt.logs.map((log) => { try { return token.interface.parseLog(log); } catch (e) { return null; } })
        .find((ev) => ev && ev.name === "FundsWithdrawn");
      const text = paid ? `${amount(paid.args.interest)} interest and ${amount(paid.args.principal)} principal paid to ${holder}`
        : "nothing was owed";
      setClaim("mined", `${what}: mined in block ${receipt.blockNumber.toLocaleString("en-US")}: ${text} (transaction ${receipt.hash})`);
      refresh();
    } catch (err) {
      setClaim("failed", `${what}: failed: ${reason(err)}`);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  async function watchAsset(button) {
    const status = document.getElementById("watch-status");
    try {
      const added = await wallet().request({
        method: "wallet_watchAsset",
        params: { type: "ERC20", options: { address: button.dataset.address, symbol: button.dataset.symbol,
                                            decimals: Number(button.dataset.decimals) } },
      });
      if (status) status.textContent = `${button.dataset.symbol}: ${added ? "added to your wallet" : "not added"}`;
    } catch (err) {
      if (status) status.textContent = `${button.dataset.symbol}: ${reason(err)}`;
    }
  }

  async function copy(button) {
    const text = button.dataset.copy;
    try {
      await navigator.clipboard.writeText(text);
    } catch (err) {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    const before = button.textContent;
    button.textContent = "copied";
    setTimeout(() => { button.textContent = before; }, 1200);
  }

  document.addEventListener("click", (ev) => {
    const target = ev.target.closest("button");
    if (!target) return;
    if (target.classList.contains("claim")) claim(target);
    else if (target.classList.contains("watch")) watchAsset(target);
    else if (target.classList.contains("copy")) copy(target);
    else if (target.id === "connect-wallet") connectWallet();
  });

  function init(root) {
    drawCharts(root);
  }

  init(document);
  connect();
})();
