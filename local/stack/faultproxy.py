"""The functions' front to the local AWS (moto): every call recorded, and AWS failing the way AWS fails.

The functions talk to this proxy (their ``AWS_ENDPOINT_URL``); it hands every request to the recorder
(:class:`local.stack.access.Recorder`: which function, which call, for the least-privilege check),
forwards it to moto, hands moto's answer to a function's call to ``answers`` where AWS answers
otherwise (S3's 403 for a missing key, :mod:`local.stack.missing_keys`) and, when told to, answers instead with AWS's own error for the service, or lets moto apply the request and
then drops the connection, so botocore's standard retries meet real-looking failures. Configured like
the vendor stand-in's faults (:mod:`local.standin.faults`): counted faults per service and operation,
and a seeded rate over every call; ``GET/POST /_admin/faults``, ``GET /_admin/stats``,
``POST /_admin/reset`` (an S3 bucket name cannot start with ``_``, so these never shadow S3 paths).

Fault kinds and the answers, as AWS documents them:

* ``throttle``
  - DynamoDB: HTTP 400, JSON ``{"__type": "com.amazonaws.dynamodb.v20120810#<Code>", "message"}``
    with ``ProvisionedThroughputExceededException`` or ``ThrottlingException`` (seeded pick). Both are
    listed as HTTP 400, "OK to retry? Yes" in
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
  - S3: HTTP 503 ``SlowDown`` ("Please reduce your request rate."), XML
    ``<Error><Code/><Message/><RequestId/><HostId/></Error>``:
    https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
  - Secrets Manager: HTTP 400 ``ThrottlingException`` (JSON 1.1, ``__type``), the common error of
    AWS's JSON APIs: https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html
* ``internal``: HTTP 500 ``InternalServerError`` (DynamoDB, same page), ``InternalError`` (S3, same
  page), ``InternalServiceError`` (Secrets Manager, the error list of GetSecretValue:
  https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html).
* ``dropped``: the request is forwarded and applied by moto, then the connection is reset before any
  answer: the write happened, the client saw a connection error and (standard retry mode retries
  connection errors) sends it again.

The JSON error answers carry ``x-amzn-ErrorType`` and ``x-amzn-RequestId`` as AWS's JSON protocol
does; S3's carry ``x-amz-request-id`` (HEAD answers have no body, as S3's do not).

Only SDK calls are faulted (requests signed in an ``Authorization`` header). Presigned URLs (the
vendor fetching ``pic_url``, a client fetching its finals) pass through untouched: they are not calls
of our functions, and a failure there is the vendor's or the client's, tested elsewhere.

Not emulated (said loudly, not guessed): latency, partial bodies, 503 ``ServiceUnavailable``, errors of
SQS or any service not named above (forwarded untouched), and request-signature checks.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import socket
import struct
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import urlsplit

from local.stack.access import CREDENTIAL, Recorder, s3_operation
from local.stack.access import Call as FunctionCall

# Told of each function's call once moto answered it: the call, the request's body, the seconds moto took.
Observer = Callable[[FunctionCall, bytes, float], None]
# Given a function's call and moto's answer (status, headers, body), the answer AWS would give.
Answers = Callable[
    [FunctionCall, str, int, list[tuple[str, str]], bytes], tuple[int, list[tuple[str, str]], bytes]
]

SERVICES: Final = ("dynamodb", "s3", "secretsmanager")
KINDS: Final = ("throttle", "internal", "dropped")
MAX_ADMIN_BODY: Final = 64 << 10
_HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "expect",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
    }
)


class FaultSpecError(ValueError):
    """The admin asked for a fault the proxy cannot apply."""


@dataclass(frozen=True)
class Call:
    """What a request is, as far as faults care."""

    service: str  # dynamodb, s3, secretsmanager, ... ("" when unsigned: a presigned URL)
    operation: str  # PutItem, GetObject, GetSecretValue, ...
    text: str  # path, query and body as text: what a rule's ``match`` looks for


@dataclass
class Rule:
    """A counted fault: the next ``count`` calls of ``service`` (and ``operation``, and containing
    ``match``) after ``skip`` matching ones fail with ``kind``."""

    service: str
    kind: str
    count: int
    operation: str = ""
    match: tuple[str, ...] = ()  # every one of these must be in the request's text
    skip: int = 0

    def matches(self, call: Call) -> bool:
        return (
            call.service == self.service
            and self.operation in ("", call.operation)
            and all(part in call.text for part in self.match)
        )


def _rule(spec: object) -> Rule:
    if not isinstance(spec, dict):
        raise FaultSpecError("a rule must be an object")
    extra = sorted(set(spec) - {"service", "kind", "count", "operation", "match", "skip"})
    if extra:
        raise FaultSpecError(f"unknown rule field {extra[0]}")
    service, kind = spec.get("service"), spec.get("kind")
    if service not in SERVICES:
        raise FaultSpecError(f"rule.service must be one of {', '.join(SERVICES)}")
    if kind not in KINDS:
        raise FaultSpecError(f"rule.kind must be one of {', '.join(KINDS)}")
    count, skip = spec.get("count", 1), spec.get("skip", 0)
    for name, value in (("count", count), ("skip", skip)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1_000_000:
            raise FaultSpecError(f"rule.{name} must be an integer between 0 and 1000000")
    if count < 1:
        raise FaultSpecError("rule.count must be at least 1")
    operation, match = spec.get("operation", ""), spec.get("match", [])
    match = [match] if isinstance(match, str) else match
    if (
        not isinstance(operation, str)
        or not isinstance(match, list)
        or not all(isinstance(m, str) for m in match)
    ):
        raise FaultSpecError("rule.operation must be a string, rule.match a string or a list of them")
    return Rule(str(service), str(kind), count, operation, tuple(match), skip)


@dataclass
class Rate:
    """Every faultable call of ``services`` fails with probability ``rate``, its kind drawn from
    ``kinds``; seeded, so that one seed and one order of calls give one run."""

    rate: float
    seed: int
    services: tuple[str, ...] = SERVICES
    kinds: tuple[str, ...] = KINDS

    def __post_init__(self) -> None:
        self.dice = random.Random(self.seed)  # noqa: S311 - fault dice, not crypto


def _rate(spec: object) -> Rate:
    if not isinstance(spec, dict) or set(spec) - {"rate", "seed", "services", "kinds"}:
        raise FaultSpecError("rate must be an object with rate, and optional seed, services, kinds")
    rate, seed = spec.get("rate"), spec.get("seed", 0)
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
        raise FaultSpecError("rate.rate must be a number between 0 and 1")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise FaultSpecError("rate.seed must be a non-negative integer")
    services = tuple(spec.get("services", SERVICES))
    kinds = tuple(spec.get("kinds", KINDS))
    if not services or set(services) - set(SERVICES):
        raise FaultSpecError(f"rate.services must be some of {', '.join(SERVICES)}")
    if not kinds or set(kinds) - set(KINDS):
        raise FaultSpecError(f"rate.kinds must be some of {', '.join(KINDS)}")
    return Rate(float(rate), seed, services, kinds)


class AwsFaults:
    """The current faults and what was injected; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._rules: list[Rule] = []
            self._rate: Rate | None = None
            self._dice = random.Random(0)  # noqa: S311 - which documented code a throttle answers
            self.injected: Counter[tuple[str, str]] = Counter()  # (service, kind)
            self.by_operation: Counter[tuple[str, str, str]] = Counter()  # (service, operation, kind)
            self.calls: Counter[str] = Counter()  # faultable calls seen, by service

    def update(self, changes: dict[str, Any]) -> None:
        """``{"rules": [...]}`` replaces the counted faults, ``{"add": [...]}`` appends to them,
        ``{"rate": {...} | null}`` sets or clears the rate. Validated before anything changes."""
        unknown = sorted(set(changes) - {"rules", "add", "rate"})
        if unknown:
            raise FaultSpecError(f"unknown fault: {unknown[0]}")
        rules = [_rule(r) for r in _list(changes.get("rules"), "rules")] if "rules" in changes else None
        added = [_rule(r) for r in _list(changes.get("add"), "add")]
        rate = _rate(changes["rate"]) if changes.get("rate") is not None else None
        with self._lock:
            if rules is not None:
                self._rules = rules
            self._rules.extend(added)
            if "rate" in changes:
                self._rate = rate

    def decide(self, call: Call) -> str | None:
        """The fault kind for this call, or None to forward it untouched. Counted rules come first."""
        if not call.service:
            return None
        with self._lock:
            self.calls[call.service] += 1
            kind = self._counted(call) or self._rolled(call)
            if kind is not None:
                self.injected[(call.service, kind)] += 1
                self.by_operation[(call.service, call.operation, kind)] += 1
            return kind

    def _counted(self, call: Call) -> str | None:
        for rule in self._rules:
            if not rule.matches(call):
                continue
            if rule.skip:
                rule.skip -= 1
                return None
            rule.count -= 1
            if rule.count == 0:
                self._rules.remove(rule)
            return rule.kind
        return None

    def _rolled(self, call: Call) -> str | None:
        rate = self._rate
        if rate is None or call.service not in rate.services or rate.dice.random() >= rate.rate:
            return None
        return rate.dice.choice(rate.kinds)

    def pick(self, choices: tuple[str, ...]) -> str:
        with self._lock:
            return self._dice.choice(choices)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rules": [{**vars(r), "match": list(r.match)} for r in self._rules],
                "rate": None
                if self._rate is None
                else {
                    "rate": self._rate.rate,
                    "seed": self._rate.seed,
                    "services": list(self._rate.services),
                    "kinds": list(self._rate.kinds),
                },
            }

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self.calls),
                "injected": {f"{s}:{k}": n for (s, k), n in sorted(self.injected.items())},
                "by_operation": {f"{s}:{o}:{k}": n for (s, o, k), n in sorted(self.by_operation.items())},
            }


def _list(value: object, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FaultSpecError(f"{name} must be a list of rules")
    return value


# --- what a request is ----------------------------------------------------------------------------


def classify(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Call:
    """``headers`` with lower-case names. Service from the SigV4 credential scope, operation from
    ``X-Amz-Target`` (JSON protocols) or, for S3's REST protocol, as the call recorder names it
    (:func:`local.stack.access.s3_operation`)."""
    scope = CREDENTIAL.search(headers.get("authorization", ""))
    text = path + " " + body[:4096].decode("utf-8", "replace")
    if scope is None:
        return Call("", "", text)  # presigned or anonymous: not an SDK call of ours
    service = scope.group(2)
    target = headers.get("x-amz-target", "")
    if target:
        return Call(service, target.rpartition(".")[2], text)
    return Call(service, s3_operation(method, path, headers), text)


# --- AWS's error answers ----------------------------------------------------------------------------

_JSON_CONTENT_TYPE: Final = {"dynamodb": "application/x-amz-json-1.0"}  # others: JSON 1.1
_S3_MESSAGES: Final = {
    "SlowDown": "Please reduce your request rate.",
    "InternalError": "We encountered an internal error. Please try again.",
}


def error_answer(service: str, kind: str, method: str, pick: Any) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of AWS's answer for an injected ``throttle`` or ``internal``."""
    request_id = uuid.uuid4().hex.upper()[:16]
    if service == "s3":
        code, status = ("SlowDown", 503) if kind == "throttle" else ("InternalError", 500)
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{_S3_MESSAGES[code]}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        ).encode()
        headers = {"Content-Type": "application/xml", "x-amz-request-id": request_id}
        return status, headers, b"" if method == "HEAD" else xml
    if kind == "throttle":
        status = 400
        if service == "dynamodb":
            code = pick(("ProvisionedThroughputExceededException", "ThrottlingException"))
        else:
            code = "ThrottlingException"
        message = "Rate exceeded"
    else:
        status = 500
        code = "InternalServerError" if service == "dynamodb" else "InternalServiceError"
        message = "Internal server error"
    # DynamoDB names the type with its namespace; other JSON services with the bare code. botocore
    # reads either (the part after '#').
    error_type = f"com.amazonaws.dynamodb.v20120810#{code}" if service == "dynamodb" else code
    body = json.dumps({"__type": error_type, "message": message}).encode()
    headers = {
        "Content-Type": _JSON_CONTENT_TYPE.get(service, "application/x-amz-json-1.1"),
        "x-amzn-ErrorType": code,
        "x-amzn-RequestId": request_id,
    }
    return status, headers, body


# --- the proxy -----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and 100-continue for S3 uploads like S3 does
    server: _ProxyServer
    _upstream: http.client.HTTPConnection | None = None  # to moto, one per connection of a caller

    def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002
        return  # thousands of lines for one run otherwise

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_GET

    def _handle(self) -> None:
        body = self._read_body()
        if self.path.startswith("/_admin/"):
            self._admin(body)
            return
        sent = {k.lower(): v for k, v in self.headers.items()}
        recorded = None
        if self.server.recorder is not None:
            recorded = self.server.recorder.record(self.command, self.path, sent, body)
        call = classify(self.command, self.path, sent, body)
        kind = self.server.faults.decide(call)
        if kind in ("throttle", "internal"):
            status, error_headers, payload = error_answer(
                call.service, kind, self.command, self.server.faults.pick
            )
            self._send(status, error_headers, payload)
            return
        started = time.perf_counter()
        status, headers, payload = self._forward(body)
        if recorded is not None:
            for observer in self.server.observers:
                observer(recorded, body, time.perf_counter() - started)
        if kind == "dropped":  # applied by moto; the client never hears of it
            self._reset()
            return
        if recorded is not None and self.server.answers is not None:  # AWS's answer where moto's differs
            status, headers, payload = self.server.answers(recorded, self.command, status, headers, payload)
        self._send(status, headers, payload, keep_length=self.command == "HEAD")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """moto's answer, over a connection kept for as long as the caller keeps its own to us (a new
        connection per call cost the stack's process a connect and a server thread each time)."""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        reused = self._upstream is not None
        try:
            return self._exchange(body, headers)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self._close_upstream()
            if not reused:
                raise
            # moto closed the kept connection while it was idle: the request never reached it.
            return self._exchange(body, headers)

    def _exchange(self, body: bytes, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        if self._upstream is None:
            target = self.server.target
            self._upstream = http.client.HTTPConnection(
                target.hostname or "127.0.0.1", target.port, timeout=60
            )
        try:
            self._upstream.request(self.command, self.path, body=body, headers=headers)
            answer = self._upstream.getresponse()
            payload = answer.read()
        except BaseException:
            self._close_upstream()
            raise
        if answer.will_close:
            self._close_upstream()
        return answer.status, answer.getheaders(), payload

    def _close_upstream(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None

    def finish(self) -> None:
        self._close_upstream()
        super().finish()

    def _send(
        self,
        status: int,
        headers: dict[str, str] | list[tuple[str, str]],
        payload: bytes,
        *,
        keep_length: bool = False,
    ) -> None:
        self.send_response_only(status)
        items = headers.items() if isinstance(headers, dict) else headers
        for name, value in items:
            lower = name.lower()
            if lower in _HOP_BY_HOP or (lower == "content-length" and not keep_length):
                continue
            self.send_header(name, value)
        if not keep_length:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _reset(self) -> None:
        """Close with a TCP reset (SO_LINGER 0): the client sees ECONNRESET, no answer at all."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.close()

    def _admin(self, body: bytes) -> None:
        faults = self.server.faults
        route = (self.command, urlsplit(self.path).path)
        try:
            if route == ("GET", "/_admin/faults"):
                answer: dict[str, Any] = faults.snapshot()
            elif route == ("POST", "/_admin/faults"):
                if len(body) > MAX_ADMIN_BODY:
                    raise FaultSpecError("body too large")
                decoded = json.loads(body or b"{}")
                if not isinstance(decoded, dict):
                    raise FaultSpecError("body must be a JSON object")
                faults.update(decoded)
                answer = faults.snapshot()
            elif route == ("GET", "/_admin/stats"):
                answer = faults.stats()
            elif route == ("POST", "/_admin/reset"):
                faults.reset()
                answer = {"ok": True}
            else:
                self._send(404, {"Content-Type": "application/json"}, b'{"error": "no such admin route"}')
                return
        except (FaultSpecError, ValueError) as exc:
            error = json.dumps({"error": str(exc)}).encode()
            self._send(400, {"Content-Type": "application/json"}, error)
            return
        self._send(200, {"Content-Type": "application/json"}, json.dumps(answer).encode())


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], target: str, faults: AwsFaults, recorder: Recorder | None
    ) -> None:
        super().__init__(address, _Handler)
        self.target = urlsplit(target)
        self.faults = faults
        self.recorder = recorder
        self.answers: Answers | None = None
        self.observers: list[Observer] = []  # the bench's tallies of each invocation's calls

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the caller went away: a function's process killed mid-call (timeout, crash)
        super().handle_error(request, client_address)


class FaultProxy:
    """The proxy on ``host:port`` (0: a free one) in front of ``target`` (moto's URL)."""

    def __init__(
        self, target: str, host: str = "127.0.0.1", port: int = 0, recorder: Recorder | None = None
    ) -> None:
        self.faults = AwsFaults()
        self._server = _ProxyServer((host, port), target, self.faults, recorder)
        bound_host, bound_port = self._server.server_address[:2]
        self.url = f"http://{bound_host!s}:{bound_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="aws-fault-proxy", daemon=True
        )
        self._thread.start()

    def observe(self, observer: Observer) -> None:
        """Tell ``observer`` of every function's call once moto answered it."""
        self._server.observers.append(observer)

    @property
    def answers(self) -> Answers | None:
        return self._server.answers

    @answers.setter
    def answers(self, answers: Answers | None) -> None:
        self._server.answers = answers

    def set(self, changes: dict[str, Any]) -> None:
        self.faults.update(changes)

    def stats(self) -> dict[str, Any]:
        return self.faults.stats()

    def reset(self) -> None:
        self.faults.reset()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
