"""The local stack as the benchmarks use it: one stack per run, handlers tapped, events built.

A :class:`Tap` replaces a function's handler on the stack with a wrapper that times each invocation
and tallies its AWS calls and vendor HTTP (:mod:`bench.probe`). Invocations arriving through the stack
(S3 upload -> notification -> SQS -> pump -> async invoker) are timed where Lambda would bill them:
from the handler's entry to its return. :meth:`Tap.direct` runs the same wrapper on the calling
thread, which is how the API sections replay one event many times beside the floor.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, unquote_plus, urlsplit

from bench import probe
from bench.probe import Tally
from local.stack import Ports, Stack, start_stack
from local.stack.access import Call as FunctionCall
from local.stack.apigateway import Request, compile_routes, find_route, proxy_event
from local.stack.aws import FAKE_CREDENTIALS
from local.stack.lambdas import LocalFunction

MAKE: Final = "MakePhotoFunction"
GET: Final = "GetPhotoFunction"
# Throughput needs 20 make-photo environments; sequential sections are unaffected by the number.
CONCURRENCY: Final = 20
# Lambda retries a failed asynchronous invocation after about 1 and 2 minutes; a benchmark waits for
# every upload to end, so a retry must come within seconds (the semantics are the same).
RETRY_DELAYS: Final = (0.2, 0.4)


def s3_record(event: dict[str, Any]) -> dict[str, Any]:
    """The first S3 record of an S3 event, or of the upload queue's SQS record around one."""
    record: dict[str, Any] = event["Records"][0]
    if "body" in record:  # the upload queue: the S3 event is the message's body
        inner: dict[str, Any] = json.loads(record["body"])["Records"][0]
        return inner
    return record


def event_key(event: dict[str, Any]) -> str:
    """The S3 key of an S3 event (decoded; also inside the upload queue's SQS record), the photo of an
    EventBridge event, or the path parameter of an API event."""
    records = event.get("Records")
    if records:
        return unquote_plus(s3_record(event)["s3"]["object"]["key"])
    if isinstance(event.get("detail"), dict):
        return str(event["detail"].get("key", ""))
    return str((event.get("pathParameters") or {}).get("key", ""))


@dataclass
class Invocation:
    event: dict[str, Any]
    seconds: float
    tally: Tally
    result: Any = None
    error: BaseException | None = None
    held: bool = False
    cpu_s: float = 0.0  # CPU of the handler's own thread (client side of AWS and vendor calls included)
    ended: float = field(default_factory=time.monotonic)  # made right when the handler returned

    @property
    def started(self) -> float:
        return self.ended - self.seconds

    @property
    def key(self) -> str:
        return event_key(self.event)

    @property
    def outcome(self) -> str:
        if self.error is not None:
            return f"error {type(self.error).__name__}"
        if isinstance(self.result, dict) and "results" in self.result:
            return ",".join(r["outcome"] for r in self.result["results"])
        if isinstance(self.result, dict) and "batchItemFailures" in self.result:
            # make-photo's partial batch response: the bench uploads each key once, so a message
            # Lambda deletes is a photo made; a failed one comes back.
            return "came back" if self.result["batchItemFailures"] else "MADE"
        if isinstance(self.result, dict) and "statusCode" in self.result:
            return str(self.result["statusCode"])
        return "held" if self.held else "?"


Invoke = Callable[[dict[str, Any], str | None], Any]


class Tap:
    """Wraps a function's ``invoke`` (what every event source of the stack calls): each invocation is
    timed from the invoker's side, as Lambda bills it plus the hand-over to the environment's process.
    The handler runs in that process, so its tally is filled from outside (:class:`Attribution`): its
    AWS calls as the front of moto records them (named by the function's access key), its vendor
    exchanges as the stand-in serves them. Its CPU is the child processes' (:func:`children_cpu`)."""

    def __init__(self, function: LocalFunction) -> None:
        self.function = function
        self.invoke: Invoke = function.invoke  # what runs inside the tap: ours, or the floor (see swapped)
        self.calls: list[Invocation] = []
        self._changed = threading.Condition()
        # Events for which this returns True are recorded but not run (a child process runs them).
        self.hold: Callable[[dict[str, Any]], bool] | None = None
        function.invoke = self._run  # type: ignore[method-assign]

    def _run(self, event: dict[str, Any], request_id: str | None = None) -> Any:
        if self.hold is not None and self.hold(event):
            self._record(Invocation(event, 0.0, Tally(), result={"held": True}, held=True))
            return {"held": True}
        with probe.tallying() as tally, ATTRIBUTION.running(self.function.spec.logical_id, tally):
            started = time.perf_counter()
            try:
                result = self.invoke(event, request_id)
            except BaseException as exc:
                self._record(Invocation(event, time.perf_counter() - started, tally, error=exc))
                raise
            self._record(Invocation(event, time.perf_counter() - started, tally, result))
        return result

    def _record(self, invocation: Invocation) -> None:
        with self._changed:
            self.calls.append(invocation)
            self._changed.notify_all()

    @property
    def count(self) -> int:
        with self._changed:
            return len(self.calls)

    def wait_for(self, count: int, timeout: float) -> list[Invocation]:
        """Block until ``count`` invocations have ended; returns them all."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.calls) >= count, timeout):
                raise TimeoutError(f"{self.function.spec.name}: {len(self.calls)} of {count} invocations")
            return list(self.calls)

    @contextmanager
    def swapped(self, invoke: Invoke) -> Iterator[None]:
        """Run ``invoke`` instead of ours, through the same stack (the floor's throughput)."""
        ours, self.invoke = self.invoke, invoke
        try:
            yield
        finally:
            self.invoke = ours

    def direct(self, event: dict[str, Any]) -> Invocation:
        """Invoke from this thread (a warm environment, once one exists) and return what it did."""
        self._run(event)
        with self._changed:
            return self.calls[-1]


class Attribution:
    """Which invocation a call seen outside the function's process belongs to: the one invocation of
    the calling function in flight (AWS calls, named by the front), or the one invocation of any tapped
    function in flight (vendor exchanges: the stand-in cannot tell its callers apart). With two in
    flight the call is not attributed (counted in ``unattributed``): the sections that read tallies
    (``bench.api``, ``bench.cost``) run one invocation at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: list[tuple[str, Tally]] = []
        self.unattributed = 0

    @contextmanager
    def running(self, function: str, tally: Tally) -> Iterator[None]:
        entry = (function, tally)
        with self._lock:
            self._active.append(entry)
        try:
            yield
        finally:
            with self._lock:
                # By identity: two tallies with the same counts are equal, and are not the same one.
                self._active = [e for e in self._active if e[1] is not tally]

    def tally(self, function: str | None) -> Tally | None:
        with self._lock:
            found = [t for f, t in self._active if function is None or f == function]
            if len(found) == 1:
                return found[0]
            if found:
                self.unattributed += 1
            return None

    def aws_call(self, call: FunctionCall, body: bytes, seconds: float) -> None:
        """The front's observer: a function's AWS call, once moto answered it."""
        if call.presigned:
            return  # a presigned URL used by someone else (the vendor), not the function's API call
        tally = self.tally(call.function)
        if tally is None:
            return
        params: dict[str, Any] = {}
        if call.service == "dynamodb":
            with contextlib.suppress(ValueError):
                params = json.loads(body or b"{}")
        probe.add_aws_call(tally, call.service, call.operation, params, seconds, len(body))

    def vendor_exchange(self, path: str, seconds: float, body_bytes: int) -> None:
        tally = self.tally(None)
        if tally is not None:
            probe.add_vendor_exchange(tally, path, seconds, body_bytes)


ATTRIBUTION: Final = Attribution()


def children_cpu() -> float:
    """CPU seconds of this process's finished children: the environments, once the stack stopped."""
    times = os.times()
    return times.children_user + times.children_system


# CPU seconds of each call the stand-in answered, measured on its request thread (it runs in this
# process, beside moto and the handlers, so the process's CPU is shared out among the three).
VENDOR_CPU: Final[list[float]] = []
_vendor_cpu_lock = threading.Lock()


def _meter_vendor() -> None:
    from local.standin import server

    original = server.Handler._vendor_call
    if getattr(original, "_bench_metered", False):
        return

    def metered(handler: server.Handler, call: str) -> None:
        cpu = time.thread_time()
        try:
            original(handler, call)
        finally:
            with _vendor_cpu_lock:
                VENDOR_CPU.append(time.thread_time() - cpu)

    metered._bench_metered = True  # type: ignore[attr-defined]
    server.Handler._vendor_call = metered  # type: ignore[method-assign, assignment]
    route = server.Handler._route

    def seen(handler: server.Handler) -> None:
        """Every exchange (API calls and result downloads), timed and sized on the stand-in's side."""
        writer = _Counting(handler.wfile)
        handler.wfile = writer  # type: ignore[assignment]
        started = time.perf_counter()
        try:
            route(handler)
        finally:
            handler.wfile = writer.inner
            path = urlsplit(handler.path).path
            if not path.startswith("/_admin/"):
                ATTRIBUTION.vendor_exchange(path, time.perf_counter() - started, writer.body_bytes())

    server.Handler._route = seen  # type: ignore[method-assign, assignment]


class _Counting:
    """A handler's output stream that counts what goes through it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.written = 0
        self.headers = 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        if not self.headers:
            end = bytes(data).find(b"\r\n\r\n")
            if end >= 0:
                self.headers = end + 4
        written: int = self.inner.write(data)
        return written

    def flush(self) -> None:
        self.inner.flush()

    def body_bytes(self) -> int:
        return max(0, self.written - self.headers)


class BenchStack:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        probe.install(stack.vendor_url)
        _meter_vendor()
        stack.aws_faults.observe(ATTRIBUTION.aws_call)
        self.make = Tap(stack.functions[MAKE])
        self.get = Tap(stack.functions[GET])
        api = stack.template.apis[0]
        self._routes = compile_routes(api.routes)
        self._api = api
        self._port = int(stack.api_url.split(":")[2].split("/")[0])

    def upload_and_wait(self, key: str, body: bytes, timeout: float = 60.0) -> Invocation:
        """Upload (no metadata: the deployment's defaults) and wait for make-photo to finish it."""
        seen = self.make.count
        return self.wait_key(self.stack.upload(key, body), seen, timeout)

    def wait_key(self, full_key: str, seen: int, timeout: float) -> Invocation:
        """The first invocation for ``full_key`` after the ``seen`` first ones."""
        deadline = time.monotonic() + timeout
        while True:
            calls = self.make.wait_for(seen + 1, max(0.0, deadline - time.monotonic()))
            for invocation in calls[seen:]:
                if invocation.key == full_key:
                    return invocation
            seen = len(calls)

    def api_event(self, method: str, route: str, key: str, query: str = "") -> dict[str, Any]:
        """The proxy event the local API Gateway would build for ``method /route/key?query``."""
        raw_path = f"/{route}/{quote(key, safe='/')}"
        found = find_route(self._routes, method, raw_path)
        if found is None:
            raise ValueError(f"no route for {method} {raw_path}")
        request = Request(
            method=method,
            raw_path=raw_path,
            query=query,
            headers=[("Host", f"127.0.0.1:{self._port}"), ("User-Agent", "bench")],
            body=b"",
            source_ip="127.0.0.1",
            port=self._port,
        )
        return proxy_event(
            request,
            found[0],
            found[1],
            stage=self._api.stage,
            api_id=self._api.rest_api_id,
            account_id=self.stack.template.pseudo.account_id,
        )

    def vendor_latency(self, milliseconds: int) -> None:
        self.stack.vendor_faults({"latency_ms": milliseconds or None})

    def version_of(self, invocation: Invocation) -> str | None:
        version: str | None = s3_record(invocation.event)["s3"]["object"].get("versionId")
        return version


@contextmanager
def bench_stack() -> Iterator[BenchStack]:
    with (
        start_stack(
            ports=Ports.ephemeral(),
            parameters={"MakePhotoConcurrency": str(CONCURRENCY)},
            retry_delays=RETRY_DELAYS,
        ) as stack,
        functions_environment(stack),
    ):
        yield BenchStack(stack)


@contextmanager
def functions_environment(stack: Stack) -> Iterator[None]:
    """The functions' own variables (bucket, table, vendor URL, ...), the region and their endpoint (the
    front of moto), with the local user's fake credentials, in this process's environment while the
    block runs: the floors and the bench's child processes (:mod:`bench.child`) work against the stack
    as the functions do, from outside their environments."""
    variables: dict[str, str] = {}
    for spec in stack.template.functions:
        variables.update(spec.environment)
    variables |= {
        "AWS_ENDPOINT_URL": stack.functions_aws_url,
        "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["aws_secret_access_key"],
        "AWS_REGION": stack.region,
        "AWS_DEFAULT_REGION": stack.region,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    saved = {name: os.environ.get(name) for name in (*variables, "AWS_SESSION_TOKEN", "AWS_PROFILE")}
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
