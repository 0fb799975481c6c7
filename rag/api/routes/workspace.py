"""The analyst workspace: the built web UI, served by the API itself (same origin, no CORS).

``index.html`` is never cached, so a new build is picked up at once; the assets it loads have
hashed names and are cached for a year. Every response carries a Content-Security-Policy that
allows no inline script and no other origin: text from documents, web pages and the model is
rendered by the UI as text or sanitised Markdown, and this is the second wall behind that.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from rag.errors import NotFound

UI_DIR = Path(__file__).resolve().parents[1] / "static" / "ui"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "frame-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
MEDIA_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".json": "application/json",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".bcmap": "application/octet-stream",
    ".pfb": "application/octet-stream",
    ".ttf": "font/ttf",
}
_SEGMENT = re.compile(r"^[\w][\w.-]*$")
NOT_BUILT = """<!doctype html><html lang="en"><meta charset="utf-8"><title>askdocs</title>
<body><h1>The workspace is not built</h1><p>Run <code>bash scripts/install.sh</code> on a machine with
<code>npm</code> to build it. The API (<a href="/docs">/docs</a>) and the CLI work without it.</p></body></html>"""

router = APIRouter(tags=["workspace"], include_in_schema=False)


@router.get("/")
async def index() -> Response:
    page = UI_DIR / "index.html"
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
    if not page.is_file():
        return HTMLResponse(NOT_BUILT, status_code=503, headers=headers)
    return HTMLResponse(page.read_bytes(), headers=headers)


@router.get("/assets/{path:path}")
async def asset(path: str) -> Response:
    """A built asset; only names made of plain segments under ``assets/``, never ``..``."""
    parts = path.split("/")
    target = UI_DIR.joinpath("assets", *parts)
    if not all(_SEGMENT.match(part) for part in parts) or not target.is_file():
        raise NotFound(f"no asset {path!r}")
    media = MEDIA_TYPES.get(target.suffix.lower(), "application/octet-stream")
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=31536000, immutable"}
    return FileResponse(target, media_type=media, headers=headers)  # streamed, with ETag and Last-Modified
