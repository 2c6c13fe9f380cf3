"""What one piece of work did: AWS API calls, vendor HTTP time, bytes moved, counted per thread.

Two class-level wraps, installed once per process, see every client whoever made it (our handlers'
cached clients, Powertools' Secrets Manager client, the floor's clients):

* ``botocore.client.BaseClient._make_api_call``: one entry per AWS API call (what AWS bills), by
  service and operation, with the bytes of an S3 ``PutObject`` body;
* ``requests.Session.send``: the wall time of every HTTP exchange with the vendor stand-in, body
  included (``send`` reads it when not streaming), and the bytes received.

Work is attributed to the :class:`Tally` active on the calling thread (see :func:`tallying`), so the
stack's own background clients (the S3-event pump long-polling SQS, the API's HTTP client) are never
counted. Both wraps cost the same few microseconds for ours and for the floor.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.client
import requests

VENDOR_API_PATHS = frozenset({"/aliyun_api/pic_handle_3", "/get_pic_3"})
# Called after a DynamoDB write or read with (operation, params, tally); the cost model uses it to
# size items. Runs with no tally active, so whatever it calls is not counted.
DynamoObserver = Callable[[str, dict[str, Any], "Tally"], None]


@dataclass
class Tally:
    aws: Counter[str] = field(default_factory=Counter)  # "s3:GetObject" -> calls
    aws_s: float = 0.0  # time inside AWS API calls (HTTP to moto included)
    aws_op_s: dict[str, float] = field(default_factory=dict)  # "s3:GetObject" -> seconds
    vendor_s: float = 0.0  # time inside HTTP exchanges with the vendor (API calls and result downloads)
    vendor_calls: Counter[str] = field(default_factory=Counter)  # API path or "result download" -> calls
    bytes_from_vendor: int = 0
    bytes_to_s3: int = 0
    dynamo: list[tuple[str, str, int, int]] = field(default_factory=list)  # op, key, before, after

    @property
    def aws_calls(self) -> int:
        return sum(self.aws.values())

    def ops(self) -> str:
        """``GetObject, PutItem, UpdateItem`` in call order of first appearance."""
        return ", ".join(f"{op.split(':')[1]}{f' x{n}' if n > 1 else ''}" for op, n in self.aws.items())


_local = threading.local()
_installed = False
_vendor_prefix = ""
_dynamo_observer: DynamoObserver | None = None


def current() -> Tally | None:
    tally: Tally | None = getattr(_local, "tally", None)
    return tally


@contextmanager
def tallying(tally: Tally | None = None) -> Iterator[Tally]:
    """Attribute this thread's AWS calls and vendor HTTP to ``tally`` until the block ends."""
    active = tally if tally is not None else Tally()
    previous = current()
    _local.tally = active
    try:
        yield active
    finally:
        _local.tally = previous


@contextmanager
def paused() -> Iterator[None]:
    previous = current()
    _local.tally = None
    try:
        yield
    finally:
        _local.tally = previous


def observe_dynamo(observer: DynamoObserver | None) -> None:
    global _dynamo_observer
    _dynamo_observer = observer


def install(vendor_url: str) -> None:
    """Wrap botocore and requests once; ``vendor_url`` tells vendor exchanges from the rest."""
    global _installed, _vendor_prefix
    _vendor_prefix = vendor_url.rstrip("/")
    if _installed:
        return
    _installed = True
    make_api_call = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]
    send = requests.Session.send

    def counted_api_call(self: botocore.client.BaseClient, operation: str, params: dict[str, Any]) -> Any:
        tally = current()
        if tally is None:
            return make_api_call(self, operation, params)
        service = self.meta.service_model.service_name
        tally.aws[f"{service}:{operation}"] += 1
        if operation == "PutObject":
            body = params.get("Body", b"")
            tally.bytes_to_s3 += len(body) if isinstance(body, bytes | str) else 0
        started = time.perf_counter()
        try:
            return make_api_call(self, operation, params)
        finally:
            took = time.perf_counter() - started
            tally.aws_s += took
            name = f"{service}:{operation}"
            tally.aws_op_s[name] = tally.aws_op_s.get(name, 0.0) + took
            # Failed conditional writes consume capacity too, so they are sized as well.
            if service == "dynamodb" and _dynamo_observer is not None:
                with paused():
                    _dynamo_observer(operation, params, tally)

    def timed_send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        tally = current()
        url = request.url or ""
        if tally is None or not url.startswith(_vendor_prefix):
            return send(self, request, **kwargs)
        started = time.perf_counter()
        response = send(self, request, **kwargs)
        tally.vendor_s += time.perf_counter() - started
        path = url[len(_vendor_prefix) :].split("?")[0]
        tally.vendor_calls[path if path in VENDOR_API_PATHS else "result download"] += 1
        if not kwargs.get("stream"):
            tally.bytes_from_vendor += len(response.content)
        return response

    botocore.client.BaseClient._make_api_call = counted_api_call  # type: ignore[attr-defined]
    requests.Session.send = timed_send  # type: ignore[method-assign]


def add_aws_call(
    tally: Tally, service: str, operation: str, params: dict[str, Any], seconds: float, body_bytes: int
) -> None:
    """One AWS call seen from outside the caller (the front of moto, for a function's process): the
    same accounting as the in-process wrap above."""
    name = f"{service}:{operation}"
    tally.aws[name] += 1
    if operation == "PutObject":
        tally.bytes_to_s3 += body_bytes
    tally.aws_s += seconds
    tally.aws_op_s[name] = tally.aws_op_s.get(name, 0.0) + seconds
    if service == "dynamodb" and _dynamo_observer is not None:
        with paused():
            _dynamo_observer(operation, params, tally)


def add_vendor_exchange(tally: Tally, path: str, seconds: float, body_bytes: int) -> None:
    """One HTTP exchange with the vendor seen from the stand-in's side (for a function's process)."""
    tally.vendor_s += seconds
    tally.vendor_calls[path if path in VENDOR_API_PATHS else "result download"] += 1
    tally.bytes_from_vendor += body_bytes


def per_operation(tallies: list[Tally]) -> str:
    """Median time of each AWS operation over ``tallies`` (per call): ``GetObject 9.1 ms, ...``."""
    samples: dict[str, list[float]] = {}
    for tally in tallies:
        for name, seconds in tally.aws_op_s.items():
            samples.setdefault(name, []).append(seconds / tally.aws[name])
    return ", ".join(
        f"{name.split(':')[1]} {statistics.median(values) * 1000:.1f} ms" for name, values in samples.items()
    )
