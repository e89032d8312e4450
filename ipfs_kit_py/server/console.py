"""The web console at ``/`` and what surrounds it (issue 13).

- ``/``: the console page; ``/console/*``: its ES modules, stylesheet and icon, all
  shipped in the package (``server/static/console``), no build step, nothing from a CDN.
  The page uses only the public channels: ``/api/v0``, ``/ws``, ``/ws/notifications``,
  ``/ws/webrtc``, the gateway. It is same-origin with the API, so its calls pass the
  access guard; when the node requires a token, the page sends the one the user saved
  in it (``Authorization: Bearer``; WebSockets: the ``ipfs-kit-token.<t>`` subprotocol).
- ``/docs`` and ``/redoc``: Swagger UI and Redoc from the ``fastapi-offline`` package's
  files, served at ``/console/vendor/*`` (they work without internet).
- Unknown paths: Kubo's error shape under ``/api/v0``; elsewhere an HTML page linking
  to the console, or JSON for a client that asks for JSON (``Accept``).
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..node import Node
from .rpc_wire import ERR_NOT_FOUND

STATIC = Path(str(resources.files(__package__).joinpath("static").joinpath("console")))
VENDOR_FILES = {  # name served under /console/vendor/ -> file of the fastapi_offline package
    "swagger-ui-bundle.js": "swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui.css",
    "redoc.standalone.js": "redoc.standalone.js",
}
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
# Redoc's footer shows its logo from a CDN (an <img> that hides itself when the load fails);
# served from here instead, so the page requests nothing outside the node.
OFFLINE_PATCHES = {"redoc.standalone.js": [(b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"/console/icon.svg")]}
NO_CACHE = {"Cache-Control": "no-cache"}  # revalidated each load (ETag): a new version shows at once


def _vendor_dir() -> Path | None:
    try:
        import fastapi_offline
    except ModuleNotFoundError:
        return None
    return Path(fastapi_offline.__file__).parent / "static"


@functools.cache
def _patched(path: Path) -> bytes:
    data = path.read_bytes()
    for old, new in OFFLINE_PATCHES[path.name]:
        data = data.replace(old, new)
    return data


def static_file(name: str) -> Path | None:
    """The console file ``name`` (a relative path inside the static dir), or None."""
    if not name or name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in name.split("/")):
        return None
    path = STATIC / name
    return path if path.is_file() else None


def not_found_page(path: str) -> str:
    from html import escape

    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>Not found - ipfs_kit_py</title><link rel=\"stylesheet\" href=\"/console/console.css\">"
        "</head><body class=\"plain\"><main class=\"page\"><h1>Not found</h1>"
        f"<p>Nothing is served at <code>{escape(path)}</code>.</p>"
        "<p><a class=\"button primary\" href=\"/\">Open the console</a> "
        "<a class=\"button\" href=\"/docs\">API reference</a></p>"
        "<p class=\"muted\">Content is under <code>/ipfs/&lt;cid&gt;</code>; the Kubo-compatible RPC "
        "under <code>/api/v0</code>.</p></main></body></html>\n"
    )


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def register(app: FastAPI, node: Node) -> None:
    """Add the console routes, offline API docs and the 404 answers to ``app``."""

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type=TYPES[".html"], headers=NO_CACHE)

    async def asset(request: Request, name: str) -> Response:
        if name.startswith("vendor/"):
            vendor = _vendor_dir()
            target = VENDOR_FILES.get(name[len("vendor/"):])
            if vendor is None or target is None or not (vendor / target).is_file():
                return await not_found(request, StarletteHTTPException(404))
            headers = {"Cache-Control": "public, max-age=86400"}
            if target in OFFLINE_PATCHES:
                return Response(_patched(vendor / target), media_type=TYPES[".js"], headers=headers)
            return FileResponse(vendor / target, media_type=TYPES[Path(target).suffix], headers=headers)
        path = static_file(name)
        if path is None:
            return await not_found(request, StarletteHTTPException(404))
        return FileResponse(path, media_type=TYPES.get(path.suffix, "application/octet-stream"), headers=NO_CACHE)

    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - API reference",
            swagger_js_url="/console/vendor/swagger-ui-bundle.js",
            swagger_css_url="/console/vendor/swagger-ui.css", swagger_favicon_url="/console/icon.svg",
            swagger_ui_parameters={"validatorUrl": None})

    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - API reference",
                              redoc_js_url="/console/vendor/redoc.standalone.js",
                              redoc_favicon_url="/console/icon.svg", with_google_fonts=False)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", None)
        headers = getattr(exc, "headers", None)
        path = request.url.path
        if status != 404:  # Starlette's default answer, unchanged
            if status in (204, 304):
                return Response(status_code=status, headers=headers)
            return JSONResponse({"detail": detail}, status_code=status, headers=headers)
        if path == "/api/v0" or path.startswith("/api/v0/"):
            # Kubo answers unknown commands with a plain "404 page not found"; its clients
            # read errors as {"Message","Code","Type"}, which every other route here sends
            msg = f"unknown command: {path[len('/api/v0/'):] or path} (see /docs)"
            return JSONResponse({"Message": msg, "Code": ERR_NOT_FOUND, "Type": "error"}, status_code=404)
        if wants_json(request):
            return JSONResponse({"detail": detail or "Not Found"}, status_code=404)
        return HTMLResponse(not_found_page(path), status_code=404)

    app.add_api_route("/", index, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route("/console/{name:path}", asset, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(StarletteHTTPException, not_found)

