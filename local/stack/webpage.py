"""The upload page (``web/``), served by the local API beside the stage, so that its API calls are
same-origin: ``http://127.0.0.1:<port>/`` is the page, ``/v1/...`` the API it calls.

Only the files in ``web/`` are served, by name (no directory listing, no path outside it). Not part of
the template: a deployment serves the page from wherever its operator hosts static files (docs/browser-uploads.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from local.stack.apigateway import GatewayAnswer

WEB_DIR: Final = Path(__file__).resolve().parents[2] / "web"
TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def page_answer(method: str, path: str, web_dir: Path = WEB_DIR) -> GatewayAnswer | None:
    """The file for ``GET /`` or ``GET /web/<name>``; None when the path is not the page's."""
    if method not in ("GET", "HEAD"):
        return None
    if path == "/":
        name = "index.html"
    elif path.startswith("/web/") and "/" not in path.removeprefix("/web/"):
        name = path.removeprefix("/web/")
    else:
        return None
    files = {p.name: p for p in web_dir.iterdir() if p.suffix in TYPES} if web_dir.is_dir() else {}
    if name not in files:
        return GatewayAnswer(404, [("Content-Type", "text/plain")], b"no such file\n")
    headers = [("Content-Type", TYPES[files[name].suffix]), ("Cache-Control", "no-store")]
    return GatewayAnswer(200, headers, files[name].read_bytes())
