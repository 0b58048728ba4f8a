"""The explorer's ``Green`` page over a green deal's use-of-proceeds ledger (``chainabs explorer --green``):
allocation and impact rebuilt from the ledger's events, JSON at ``/api/green``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from chainabs.apps.explorer.app import ExplorerPage
from chainabs.apps.green import green_json
from chainabs.chain.green import read_green


def explorer_page(ledger: str) -> ExplorerPage:
    """The explorer's ``Green`` page (``/green``, JSON at ``/api/green``) over a green deal's ledger."""
    router = APIRouter()

    def data(request: Request) -> dict[str, Any]:
        indexer = request.app.state.indexer
        return green_json(read_green(indexer.reader.w3 if indexer.reader is not None else indexer.rpc, ledger))

    @router.get("/api/green")
    def api(request: Request) -> JSONResponse:
        return JSONResponse(data(request))

    @router.get("/green")
    def page(request: Request) -> Any:
        return request.app.state.render(request, "green.html", {"green": data(request), "page": "green"})

    return ExplorerPage("Green", "/green", router, Path(__file__).resolve().parent / "green_templates")
