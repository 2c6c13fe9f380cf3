"""Which photo a request names: the key, taken from the request path as API Gateway delivers it.

A key may hold spaces, ``+``, ``%``, non-ASCII characters and slashes; clients percent-encode it in the
URL (``100% sure.jpg`` -> ``100%25%20sure.jpg``), slashes may stay. What API Gateway hands the function:

* ``path`` (REST API, payload 1.0) keeps the client's percent-encoding (live captures published in
  hotsock/voker#8, cited by middleapi/standard-server#93: REST APIs, Function URLs and ALB preserve the
  encoding; HTTP APIs decode). It is the only unambiguous source: decoded exactly once, it is the key,
  whether the key contains ``%``, ``%25`` or ``%20`` as text.
* ``pathParameters`` are reported both decoded and still encoded by users of REST proxy
  integrations (e.g. dherault/serverless-offline#638 against fireprox#44), and a decoded value cannot be
  told apart from an encoded one when the key itself contains ``%``. They are only a cross-check here,
  and the way they came is reported (:class:`Decoding`) so a deployment's first smoke test says which.

Should a gateway ever deliver ``path`` decoded (it would then hold characters no encoded path can
hold: a space, non-ASCII, a ``%`` not followed by two hex digits), it is taken as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import unquote

MAX_KEY_LENGTH: Final = 1024  # S3's own limit, in bytes of UTF-8
# What may appear literally in an encoded path (RFC 3986 pchar and "/"), "%" only as "%XX".
_ENCODED_PATH: Final = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*")


class Decoding(StrEnum):
    """How API Gateway delivered ``pathParameters`` for one request."""

    DECODED = "decoded"  # pathParameters held the key itself
    ENCODED = "encoded"  # pathParameters held the key as the client encoded it
    PLAIN = "plain"  # nothing in the key needed encoding: cannot tell
    MISMATCH = "mismatch"  # pathParameters agree with neither (or are missing)


class MalformedKey(ValueError):
    """The path names no valid key (empty, invalid UTF-8, control characters, too long)."""


@dataclass(frozen=True)
class RequestedKey:
    key: str  # as uploaded (without the upload prefix when the client left it out)
    raw: str  # as it came in the path
    decoding: Decoding


def resource_prefix(resource: str) -> str:
    """``/photos/{key+}`` -> ``/photos/``: what precedes the greedy parameter in the resource."""
    return resource.split("{", 1)[0]


def requested_key(path: str, resource: str, path_parameters: dict[str, str] | None) -> RequestedKey:
    """The key a REST API event names, from its ``path`` (stage already stripped by API Gateway).

    The resource's literal prefix is searched for rather than required at the start: through a custom
    domain, ``path`` also carries the base path mapping (``/api/photos/...``).
    """
    prefix = resource_prefix(resource)
    at = path.find(prefix) if prefix else -1
    if at < 0:
        raise MalformedKey("the path does not match the route")
    raw = path[at + len(prefix) :]
    key = _decode(raw) if _ENCODED_PATH.fullmatch(raw) else raw
    _check(key)
    return RequestedKey(key, raw, decoding_of((path_parameters or {}).get("key"), raw, key))


def decoding_of(parameter: str | None, raw: str, key: str) -> Decoding:
    if parameter is None:
        return Decoding.MISMATCH
    if raw == key:
        return Decoding.PLAIN if parameter == key else Decoding.MISMATCH
    if parameter == key:
        return Decoding.DECODED
    if parameter == raw:
        return Decoding.ENCODED
    return Decoding.MISMATCH


def _decode(raw: str) -> str:
    try:
        return unquote(raw, errors="strict")  # "+" stays "+": a path is not form encoding
    except UnicodeDecodeError as exc:
        raise MalformedKey("the key is not valid UTF-8 once percent-decoded") from exc


def _check(key: str) -> None:
    if not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_LENGTH:
        raise MalformedKey("the path must name the uploaded object's key (1 to 1024 bytes)")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise MalformedKey("the key must not contain control characters")
