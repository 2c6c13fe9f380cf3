"""Small response helpers shared by the request handlers."""

import json
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

JSON_TYPE = "application/json; charset=utf-8"
DRAIN_LIMIT = 16 << 20


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Send a complete response; a client that already hung up is not an error worth a traceback."""
    try:
        handler.send_response(status)
        if content_type:
            handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        # Every market answer carries a request id, vendor or gateway alike.
        handler.send_header("X-Ca-Request-Id", str(uuid.uuid4()).upper())
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        if handler.close_connection:
            # Say so, or a keep-alive client reuses the socket we are about to close.
            handler.send_header("Connection", "close")
        handler.end_headers()
        if body and handler.command != "HEAD":
            handler.wfile.write(body)
        handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
        handler.close_connection = True


def send_json(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    send(handler, status, body, JSON_TYPE)


def read_body(handler: BaseHTTPRequestHandler, limit: int) -> bytes | None:
    """The request body, or None when it is over ``limit`` (then the connection is closed unread)."""
    try:
        length = int(handler.headers.get("Content-Length") or 0)
    except ValueError:
        length = 0
    if length > limit:
        # Drain (up to a bound) so the client finishes sending and reads the refusal, not a reset.
        remaining = min(length, DRAIN_LIMIT)
        while remaining > 0:
            chunk = handler.rfile.read(min(remaining, 64 << 10))
            if not chunk:
                break
            remaining -= len(chunk)
        handler.close_connection = True
        return None
    return handler.rfile.read(length) if length > 0 else b""
