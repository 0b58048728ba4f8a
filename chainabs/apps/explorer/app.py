"""The explorer web app (FastAPI, Jinja2 templates): server-rendered pages over JSON endpoints, a live stream
of new blocks (server-sent events), the browser libraries served from the project's own ``node_modules``.

Pages: ``/deal``, ``/pool``, ``/loan/{loan id or asset id}``, ``/investor/{address}``, ``/regulator``; each
has its JSON under ``/api/...`` (``docs/explorer.md``). Any page with ``?fragment=1`` returns its content
only: the live script swaps it in when a new block changed the data, without reloading the page.

Extension point: :class:`ExplorerPage` entries given to :func:`create_app` add a page to the navigation and
their routes to the app (the secondary market's order book and trades will be one).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from chainabs.apps import display
from chainabs.apps.explorer import views
from chainabs.apps.explorer.indexer import Indexer, _unreachable
from chainabs.chain.abis import SHIPPED, load_abi
from chainabs.chain.read.loans import LoanNotFound
from chainabs.model import numbers
from chainabs.paths import PROJECT_ROOT

HERE = Path(__file__).resolve().parent
#: Browser libraries, served from the project's node_modules (pinned in package-lock.json; never a CDN).
NODE_MODULES = PROJECT_ROOT / "node_modules"
VENDOR: dict[str, Path] = {
    "ethers.umd.min.js": NODE_MODULES / "ethers" / "dist" / "ethers.umd.min.js",
    "chart.umd.min.js": NODE_MODULES / "chart.js" / "dist" / "chart.umd.min.js",
}
#: Seconds between two looks at the indexer's status by an open live stream; between two heartbeats.
STREAM_TICK = 0.25
STREAM_HEARTBEAT = 10.0
#: Where base.html's live content starts and ends (``?fragment=1`` returns what is between).
CONTENT_START, CONTENT_END = "<!--content-->", "<!--/content-->"


@dataclass(frozen=True)
class ExplorerPage:
    """A page added to the explorer: its navigation label and path, and the routes serving it (HTML and
    JSON). The router's handlers reach the deal through ``request.app.state.indexer`` and render with
    ``request.app.state.render(request, template, context)``; ``templates`` is a folder searched after the
    explorer's own."""

    label: str
    path: str
    router: APIRouter
    templates: Path | None = None


@dataclass
class Nav:
    items: list[tuple[str, str]] = field(default_factory=lambda: [
        ("Deal", "/deal"), ("Pool", "/pool"), ("Loan", "/loan"), ("Investor", "/investor"), ("Regulator", "/regulator")])


def _environment(extra: Sequence[Path]) -> Environment:
    env = Environment(loader=FileSystemLoader([str(HERE / "templates"), *map(str, extra)]),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters.update({
        "bps": numbers.format_bps, "pct": numbers.format_pct, "date": numbers.format_date,
        "datetime": numbers.format_datetime, "factor": numbers.format_factor, "count": numbers.format_count,
        "short": display.short_hex, "label": display.label,
    })
    return env


def create_app(indexer: Indexer, *, pages: Sequence[ExplorerPage] = ()) -> FastAPI:
    """The explorer over ``indexer``'s deal (started by the caller)."""
    app = FastAPI(title="ChainABS explorer", docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json")
    nav = Nav()
    for page in pages:
        nav.items.append((page.label, page.path))
        app.include_router(page.router)
    env = _environment([p.templates for p in pages if p.templates is not None])
    app.state.indexer = indexer
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def money() -> display.Money:
        cur = indexer.page("deal")["currency"]
        return display.Money(int(cur["decimals"]), str(cur["symbol"]))

    def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
        m = money() if indexer.snapshot is not None else display.Money(0, "")
        snap = indexer.snapshot or {}
        ctx = {
            "request": request, "nav": nav.items, "path": request.url.path, "status": indexer.status,
            "title": (snap.get("deal") or {}).get("title", "ChainABS explorer"), "spv": indexer.spv,
            "chain_id": indexer.chain_id, "money": m,
            "amount": lambda v, places=2: "" if v is None else m.amount(int(v), places),
            "units": lambda v: "" if v is None else numbers.format_amount(int(v), m.decimals, "", 2),
            "compact": lambda v: m.compact(v),
            "cell": lambda kind, value: Markup(display.cell_html(kind, value, m)),
            "kind_of": display.column_kind, **context,
        }
        html = env.get_template(template).render(ctx)
        if request.query_params.get("fragment") == "1":  # the live script swaps this in: the content only
            html = html[html.index(CONTENT_START) + len(CONTENT_START) : html.rindex(CONTENT_END)]
        return HTMLResponse(html, status_code=status_code)

    app.state.render = render

    #: Paths still served once the chain was reset: the status, its live stream, the page's own files.
    reset_exempt = ("/static/", "/vendor/", "/api/status", "/api/stream", "/api/abi/", "/api/docs", "/api/openapi.json",
                    "/favicon.ico")

    @app.middleware("http")
    async def chain_reset(request: Request, call_next: Callable[[Request], Any]) -> Response:
        """Once the chain indexed is gone (a node reset), every page and endpoint of the deal says so (503)
        instead of serving the deal as it was."""
        if indexer.reset and not request.url.path.startswith(reset_exempt):
            message = indexer.status.error
            if request.url.path.startswith("/api/"):
                return JSONResponse({"error": message, "status": indexer.status.to_json()}, status_code=503)
            return render(request, "unavailable.html", {"message": message, "reset": True}, 503)
        return await call_next(request)

    def not_found(request: Request, message: str, status_code: int = 404) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status_code)
        return render(request, "notfound.html", {"message": message, "code": status_code}, status_code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return not_found(request, f"there is no page at {request.url.path}")
        return not_found(request, str(exc.detail), exc.status_code)

    def unavailable(request: Request, exc: Exception) -> Response:
        said = " ".join(str(exc).split())[:200] or type(exc).__name__
        message = f"node unreachable, retrying ({said})" if _unreachable(exc) else f"chain data error: {said}"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message, "status": indexer.status.to_json()}, status_code=503)
        return render(request, "unavailable.html", {"message": message, "unreachable": _unreachable(exc)}, 503)

    def snapshot_page(request: Request, name: str, template: str, extra: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Response:
        if indexer.snapshot is None:
            why = indexer.status.error or "the deal is not indexed yet"
            return unavailable(request, ConnectionError(why) if indexer.status.node == "unreachable" else RuntimeError(why))
        data = indexer.page(name)
        if extra is not None:
            data = extra(data)
        return render(request, template, {"data": data, "page": name})

    # ------------------------------------------------------------------------------------------------ pages
    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/deal")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/deal", response_class=HTMLResponse, include_in_schema=False)
    def deal_page(request: Request) -> Response:
        return snapshot_page(request, "deal", "deal.html")

    @app.get("/pool", response_class=HTMLResponse, include_in_schema=False)
    def pool_page(request: Request) -> Response:
        return snapshot_page(request, "pool", "pool.html")

    @app.get("/regulator", response_class=HTMLResponse, include_in_schema=False)
    def regulator_page(request: Request, rule: str | None = None, severity: str | None = None) -> Response:
        return snapshot_page(request, "regulator", "regulator.html",
                             lambda v: views.filter_regulator(v, rule=rule or None, severity=severity or None))

    @app.get("/loan", response_class=HTMLResponse, include_in_schema=False)
    def loan_search(request: Request, q: str | None = None) -> Response:
        if q and q.strip():
            return RedirectResponse(f"/loan/{q.strip()}", status_code=303)
        return render(request, "loan_search.html", {"page": "loan"})

    @app.get("/loan/{query}", response_class=HTMLResponse, include_in_schema=False)
    def loan_page(request: Request, query: str) -> Response:
        try:
            data = indexer.with_reader(lambda d: views.loan_view(d, query))
        except LoanNotFound as exc:
            return not_found(request, str(exc))
        except Exception as exc:  # noqa: BLE001 - the node failed mid-request
            return unavailable(request, exc)
        return render(request, "loan.html", {"data": data, "page": "loan"})

    @app.get("/investor", response_class=HTMLResponse, include_in_schema=False)
    def investor_search(request: Request, address: str | None = None) -> Response:
        if address and address.strip():
            return RedirectResponse(f"/investor/{address.strip()}", status_code=303)
        return render(request, "investor_search.html", {"page": "investor"})

    @app.get("/investor/{address}", response_class=HTMLResponse, include_in_schema=False)
    def investor_page(request: Request, address: str) -> Response:
        try:
            data = indexer.with_reader(lambda d: views.investor_view(d, address))
        except ValueError as exc:
            return not_found(request, str(exc), 400)
        except views.UnknownInvestor as exc:
            return not_found(request, str(exc))
        except Exception as exc:  # noqa: BLE001
            return unavailable(request, exc)
        return render(request, "investor.html", {"data": data, "page": "investor"})

    # ------------------------------------------------------------------------------------------------ JSON
    api = APIRouter(prefix="/api")

    def snapshot_json(name: str) -> Any:
        if indexer.snapshot is None:
            raise HTTPException(503, f"the deal is not indexed yet: {indexer.status.node} {indexer.status.error}")
        return indexer.page(name)

    @api.get("/status")
    def status() -> dict[str, Any]:
        """The indexer's view of the node: ok / starting / unreachable / error, latest and indexed block."""
        return {**indexer.status.to_json(), "spv": indexer.spv, "chain_id": indexer.chain_id}

    @api.get("/deal")
    def deal_json() -> Any:
        """The deal now: phase, dates, tranches, reserve, triggers, fees, documents, ledger."""
        return snapshot_json("deal")

    @api.get("/pool")
    def pool_json() -> Any:
        """The pool now and per period: registry aggregates, delinquency, losses, concentration, strata."""
        return snapshot_json("pool")

    @api.get("/regulator")
    def regulator_json(rule: str | None = None, severity: str | None = None, limit: int = views.REGULATOR_ROWS) -> Any:
        """Alerts by rule and severity, privileged actions, forced transfers (newest first)."""
        return views.filter_regulator(snapshot_json("regulator"), rule=rule, severity=severity, limit=max(limit, 0))

    @api.get("/loan/{query}")
    def loan_json(request: Request, query: str) -> Any:
        """A loan by loan id or asset id: record, state, history and its Merkle proof checked on chain."""
        try:
            return indexer.with_reader(lambda d: views.loan_view(d, query))
        except LoanNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - the node failed mid-request: 503, said in one line
            return unavailable(request, exc)

    @api.get("/investor/{address}")
    def investor_json(request: Request, address: str) -> Any:
        """An investor's positions, claimable and claimed funds, history."""
        try:
            return indexer.with_reader(lambda d: views.investor_view(d, address))
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        except views.UnknownInvestor as exc:
            raise HTTPException(404, str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - the node failed mid-request
            return unavailable(request, exc)

    @api.get("/abi/{name}")
    def abi(name: str) -> Any:
        """A shipped contract ABI (the wallet calls use the tranche token's)."""
        if name not in SHIPPED:
            raise HTTPException(404, f"no ABI named {name!r}; shipped: {', '.join(SHIPPED)}")
        return load_abi(name)

    @api.get("/stream")
    async def stream(request: Request) -> StreamingResponse:
        """Server-sent events: a ``status`` event (the /api/status body) now and at every change."""

        async def events() -> Any:
            last: tuple[Any, ...] | None = None
            quiet = 0.0
            while not indexer.stopped:
                s = indexer.status
                key = (s.node, s.error, s.version, s.head)
                if key != last:
                    last, quiet = key, 0.0
                    body = {**s.to_json(), "spv": indexer.spv, "chain_id": indexer.chain_id}
                    yield f"event: status\ndata: {json.dumps(body)}\n\n"
                elif quiet >= STREAM_HEARTBEAT:
                    quiet = 0.0
                    yield ": heartbeat\n\n"
                await asyncio.sleep(STREAM_TICK)
                quiet += STREAM_TICK
                if await request.is_disconnected():
                    break

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    app.include_router(api)

    @app.exception_handler(HTTPException)
    async def api_error(request: Request, exc: HTTPException) -> Response:
        return not_found(request, str(exc.detail), exc.status_code)

    @app.get("/vendor/{name}", include_in_schema=False)
    def vendor(name: str) -> Response:
        path = VENDOR.get(name)
        if path is None:
            raise HTTPException(404, f"no vendored file {name!r}")
        if not path.exists():
            raise HTTPException(500, f"{path} is missing: run `make install` (npm ci) in the project")
        return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "max-age=3600"})

    return app
