"""Each vendor call as its own X-Ray subsegment, without the X-Ray SDK.

The SDK (through Powertools' Tracer) adds about 150 ms to every cold start, half the floor's whole
budget, for one thing we need: a subsegment per vendor call under the function's segment, which
Lambda creates itself when the function's tracing is Active. X-Ray documents the wire format for
that: a JSON subsegment document, after a one-line header, in one UDP datagram to the daemon that
Lambda runs beside the function.

Lambda gives both addresses in the environment, per invocation: ``_X_AMZN_TRACE_ID`` (Root, Parent,
Sampled) changes with every request, so it is read when a call is traced, not at cold start. Without
them (tests, the local stack) or when the request is not sampled, nothing is sent.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlsplit

HEADER = b'{"format": "json", "version": 1}\n'


@dataclass(frozen=True)
class TraceContext:
    root: str
    parent: str

    @classmethod
    def current(cls, env: Mapping[str, str] = os.environ) -> TraceContext | None:
        """The invocation's trace, if X-Ray samples it."""
        fields = dict(
            part.split("=", 1) for part in env.get("_X_AMZN_TRACE_ID", "").split(";") if "=" in part
        )
        if fields.get("Sampled") != "1" or not fields.get("Root") or not fields.get("Parent"):
            return None
        return cls(fields["Root"], fields["Parent"])


@dataclass
class Call:
    """What a traced call reports about itself before it ends."""

    status: int | None = None
    error: bool = False  # the call was refused (4xx-like): the caller's or the input's fault
    fault: bool = False  # the call failed (5xx, timeout, connection)
    throttle: bool = False
    annotations: dict[str, str] = field(default_factory=dict)


@contextmanager
def subsegment(name: str, method: str, url: str, env: Mapping[str, str] = os.environ) -> Iterator[Call]:
    """Time the block and, when traced, send it as a remote subsegment; never fails the call."""
    call = Call()
    context = TraceContext.current(env)
    start = time.time()
    try:
        yield call
    except BaseException:
        call.fault = call.fault or not call.error
        raise
    finally:
        if context is not None:
            _send(_document(name, method, url, call, context, start, time.time()), env)


def _document(
    name: str, method: str, url: str, call: Call, context: TraceContext, start: float, end: float
) -> dict[str, Any]:
    parts = urlsplit(url)
    document: dict[str, Any] = {
        "name": name,
        "id": secrets.token_hex(8),
        "trace_id": context.root,
        "parent_id": context.parent,
        "type": "subsegment",
        "namespace": "remote",
        "start_time": start,
        "end_time": end,
        # No query string: it may name a vendor image; never a secret, but not needed either.
        "http": {"request": {"method": method, "url": f"{parts.scheme}://{parts.netloc}{parts.path}"}},
    }
    if call.status is not None:
        document["http"]["response"] = {"status": call.status}
    for flag in ("error", "fault", "throttle"):
        if getattr(call, flag):
            document[flag] = True
    if call.annotations:
        document["annotations"] = call.annotations
    return document


def _send(document: dict[str, Any], env: Mapping[str, str]) -> None:
    host, _, port = env.get("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:2000").rpartition(":")
    with suppress(OSError, ValueError):  # tracing must never cost a photo
        _socket().sendto(HEADER + json.dumps(document).encode(), (host, int(port)))


@cache
def _socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    return sock
