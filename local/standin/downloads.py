"""Serving result images at their signed URLs, answering like OSS when access is refused.

Checks, in order: all of ``Signature``, ``Expires``, ``OSSAccessKeyId`` present (else 403 AccessDenied),
signature matches key and Expires (else 403 SignatureDoesNotMatch), not past Expires (else 403
AccessDenied "Request has expired."), object still stored (else 404 NoSuchKey). Errors are OSS's XML.
"""

import re
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from local.standin.http_util import send
from local.standin.service import Vendor
from local.standin.stats import Stats
from local.standin.store import ACCESS_KEY_ID, PREVIEW_PREFIX, SHEET_SUFFIX, object_key

PATH = re.compile(r"^/(result_wm|result)/(.+)\.jpg$", re.DOTALL)


def is_result_path(raw_path: str) -> bool:
    return PATH.match(unquote(urlsplit(raw_path).path)) is not None


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _deny(handler: BaseHTTPRequestHandler, status: int, code: str, message: str, extra: str = "") -> None:
    host = escape(handler.headers.get("Host", ""))
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n'
        f"  <Code>{code}</Code>\n  <Message>{escape(message)}</Message>\n"
        f"  <RequestId>{uuid.uuid4().hex.upper()[:24]}</RequestId>\n  <HostId>{host}</HostId>\n{extra}"
        "</Error>\n"
    ).encode()
    send(handler, status, body, "application/xml")


def serve_result(handler: BaseHTTPRequestHandler, vendor: Vendor, stats: Stats) -> None:
    parts = urlsplit(handler.path)
    match = PATH.match(unquote(parts.path))
    if match is None:
        stats.download("missing")
        _deny(handler, 404, "NoSuchKey", "The specified key does not exist.")
        return
    prefix, stem = match.group(1), match.group(2)
    query = parse_qs(parts.query)
    signature = query.get("Signature", [""])[0]
    expires_raw = query.get("Expires", [""])[0]
    if not signature or not expires_raw.isdigit() or query.get("OSSAccessKeyId", [""])[0] != ACCESS_KEY_ID:
        stats.download("denied")
        _deny(handler, 403, "AccessDenied", "You have no right to access this object because of bucket acl.")
        return
    expires = int(expires_raw)
    key = f"{prefix}/{stem}.jpg"
    if not vendor.signer.verify(key, expires, signature):
        stats.download("denied")
        _deny(handler, 403, "SignatureDoesNotMatch", "The request signature we calculated does not match.")
        return
    now = vendor.clock()
    if now > expires:
        stats.download("denied")
        times = f"  <Expires>{_iso(expires)}</Expires>\n  <ServerTime>{_iso(now)}</ServerTime>\n"
        _deny(handler, 403, "AccessDenied", "Request has expired.", times)
        return
    result, sheet = vendor.store.get(stem), False
    if result is None and stem.endswith(SHEET_SUFFIX):
        result, sheet = vendor.store.get(stem.removesuffix(SHEET_SUFFIX)), True
    if result is None or object_key(prefix, result.name, sheet) != key:
        stats.download("missing")
        _deny(handler, 404, "NoSuchKey", "The specified key does not exist.")
        return
    stats.download("preview" if prefix == PREVIEW_PREFIX else "final")
    send(handler, 200, result.blob(prefix, sheet), "image/jpeg")
