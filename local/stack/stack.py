"""Start and stop the whole system on this machine: ``start_stack(...) -> Stack``.

Order matters: moto and the vendor stand-in first (their URLs are parameters of the template), then
the template is resolved with ``VendorBaseUrl`` overridden to the stand-in (an ordinary parameter
override, as ``sam deploy --parameter-overrides`` would do), its resources are created, each function
gets its role's credentials and its pool of execution environments (processes, started on demand:
:mod:`local.stack.runtime`), and only then do events flow and the API listen. ``stop()`` undoes
it in reverse; a failure half-way stops what was already started.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote

import requests
from botocore.credentials import ReadOnlyCredentials

from local.stack import eventbridge, s3_events
from local.stack.access import Call, CallLog, Recorder
from local.stack.api import LocalApi
from local.stack.aws import (
    MotoServer,
    check_port_free,
    client,
    create_resources,
    function_credentials,
)
from local.stack.events import DeliveryLog, EventPump, subscribe
from local.stack.faultproxy import FaultProxy
from local.stack.iam import Evaluator
from local.stack.invoke_access import InvokeAccess, check_s3_may_invoke
from local.stack.lambdas import DEFAULT_RETRY_DELAYS, AsyncInvoker, LocalFunction, sqs_destination
from local.stack.least_privilege import Report, check
from local.stack.naming import Pseudo
from local.stack.runtime import EnvironmentConfig
from local.stack.template import TEMPLATE_PATH, StackTemplate, load

APPCODE_PARAMETER: Final = "AppCodeSecretName"  # the template names the secret; the stack creates it
VENDOR_PARAMETER: Final = "VendorBaseUrl"
DEFAULT_APPCODE: Final = "local-appcode"  # obviously fake; the stand-in accepts whatever it is given
FINISHED: Final = ("READY", "FAILED")


@dataclass(frozen=True)
class Ports:
    """0 picks a free port (tests); the defaults are what `make up` prints."""

    aws: int = 4566
    api: int = 3000
    vendor: int = 8750

    @classmethod
    def ephemeral(cls) -> Ports:
        return cls(0, 0, 0)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Ports:
        default = cls()
        return cls(
            aws=int(env.get("IDPHOTO_AWS_PORT", default.aws)),
            api=int(env.get("IDPHOTO_API_PORT", default.api)),
            vendor=int(env.get("IDPHOTO_VENDOR_PORT", default.vendor)),
        )


class Stack:
    """A running local stack. URLs, names, clients, and helpers for tests, demo and benchmarks."""

    def __init__(
        self,
        template: StackTemplate,
        aws_url: str,
        vendor_url: str,
        appcode: str,
        cleanup: contextlib.ExitStack,
        front: FaultProxy,
    ) -> None:
        self.template = template
        self.aws_url = aws_url
        # Where the functions reach AWS: the front of moto that records their calls and injects faults.
        self.functions_aws_url = front.url
        self.aws_faults = front
        self.vendor_url = vendor_url
        self.appcode = appcode
        self.api_url = ""
        self.region = template.pseudo.region
        # The bucket and prefix that trigger a function: where a person uploads.
        upload = next(e for f in template.functions for e in f.s3_events)
        self.bucket = upload.bucket
        self.upload_prefix = dict(upload.filter_rules).get("prefix", "")
        self.table = template.tables[0].name
        self.failed_queue_url = template.outputs.get("FailedEventsQueueUrl", "")
        self.functions: dict[str, LocalFunction] = {}
        self.invokers: dict[str, AsyncInvoker] = {}
        self.deliveries = DeliveryLog()  # every S3 event document handed to a function
        self.standin: Any = None  # the vendor stand-in's handle (local.standin.server.StandinHandle)
        self.calls = CallLog()  # every AWS call the functions made (and Lambda made for them)
        self.evaluator = Evaluator()  # the IAM policy evaluator, one node process
        self.secret_arns: dict[str, str] = {}
        self.eventbridge: eventbridge.EventBridge | None = None  # the template's rules, delivered
        self._cleanup = cleanup
        self._http = requests.Session()
        self._uploads: Any = None  # the S3 client of upload(), made once (a client costs ~10 ms of CPU)
        self._uploads_lock = threading.Lock()

    # --- clients and helpers ----------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A new client: tests may register hooks on it without touching anyone else's."""
        return client(service, self.aws_url, self.region)

    def upload(
        self,
        key: str,
        body: bytes,
        metadata: Mapping[str, str] | None = None,
        content_type: str = "image/jpeg",
    ) -> str:
        """PutObject under the upload prefix (``key`` may include it); returns the full key."""
        full_key = key if key.startswith(self.upload_prefix) else self.upload_prefix + key
        with self._uploads_lock:  # boto3 clients are thread-safe once made, not while being made
            if self._uploads is None:
                self._uploads = self.client("s3")
        self._uploads.put_object(
            Bucket=self.bucket,
            Key=full_key,
            Body=body,
            Metadata=dict(metadata or {}),
            ContentType=content_type,
        )
        return full_key

    def photo_url(self, key: str, route: str = "photos") -> str:
        return f"{self.api_url}/{route}/{quote(key, safe='/')}"

    def photo(self, key: str) -> requests.Response:
        return self._http.get(self.photo_url(key), timeout=35)

    def wait_for_photo(self, key: str, timeout: float = 90.0, poll_s: float = 0.2) -> dict[str, Any]:
        """GET /photos/{key} until READY or FAILED (404 and PROCESSING mean "not yet")."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.photo(key)
            if answer.status_code == 200 and answer.json()["status"] in FINISHED:
                body: dict[str, Any] = answer.json()
                return body
            if answer.status_code not in (200, 404):
                raise AssertionError(f"GET {key}: HTTP {answer.status_code} {answer.text}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{key} not finished after {timeout:.0f} s: {answer.text}")
            time.sleep(poll_s)

    def finals(self, key: str, color: str | None = None) -> requests.Response:
        params = {"color": color} if color else None
        return self._http.post(self.photo_url(key, "finals"), params=params, timeout=35)

    def vendor_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._http.get(f"{self.vendor_url}/_admin/stats", timeout=5).json()
        return stats

    def vendor_faults(self, faults: Mapping[str, Any]) -> None:
        self._http.post(f"{self.vendor_url}/_admin/faults", json=dict(faults), timeout=5).raise_for_status()

    def vendor_reset(self) -> None:
        self._http.post(f"{self.vendor_url}/_admin/reset", timeout=5).raise_for_status()

    def redeliver(self, key: str) -> str:
        """Deliver the latest event document of ``key`` again, as S3's at-least-once delivery may: the
        same document, queued for the same function as a new asynchronous invocation (new request id)."""
        deliveries = self.deliveries.of(key)
        if not deliveries:
            raise LookupError(f"no event of {key!r} was delivered yet")
        latest = deliveries[-1]
        invoke = self.invokers[latest.function].invoke
        return self.deliveries.deliver(latest.function, invoke, latest.event, redelivered=True)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once no asynchronous event is queued, running or waiting for a retry."""
        deadline = time.monotonic() + timeout
        return all(i.wait_idle(max(0.0, deadline - time.monotonic())) for i in self.invokers.values())

    def update_function(self, logical_id: str, *, timeout_s: float) -> None:
        """Like UpdateFunctionConfiguration: new settings, and its environments start cold."""
        self.functions[logical_id].timeout_s = timeout_s
        self.functions[logical_id].cold_start()

    def cold_start(self) -> None:
        """Retire every environment: the next invocations read clients, settings and the secret afresh."""
        for function in self.functions.values():
            function.cold_start()

    def least_privilege(self) -> Report:
        """The functions' calls so far against their roles (denied and unused grants)."""
        return check(self.template, self.calls.snapshot(), self.evaluator, self.secret_arns)

    # --- lifecycle --------------------------------------------------------------------------------

    def stop(self) -> None:
        self._cleanup.close()
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()


def start_stack(
    *,
    ports: Ports | None = None,
    parameters: Mapping[str, str] | None = None,
    retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    concurrency: Mapping[str, int] | None = None,
    stack_name: str = "idphoto-local",
    appcode: str = DEFAULT_APPCODE,
    template_path: Path = TEMPLATE_PATH,
    host: str = "127.0.0.1",
    environment: Mapping[str, str] | None = None,
) -> Stack:
    """Start moto, the vendor stand-in, the functions and the API; ``stop()`` (or ``with``) ends it.

    ``parameters`` override the template's (``VendorBaseUrl`` is always the stand-in's URL);
    ``concurrency`` overrides a function's ReservedConcurrentExecutions, by logical id;
    ``environment`` adds to every function's variables (as ``sam local --env-vars`` does).
    The functions reach moto through the front (:mod:`local.stack.faultproxy`), which records their
    calls; ``stack.aws_faults`` configures its faults. Tests' own clients (``stack.client``) reach moto.
    """
    ports = ports or Ports.from_env()
    cleanup = contextlib.ExitStack()  # becomes the stack's: each step registers its own undo
    try:
        moto = MotoServer(host, ports.aws)
        cleanup.callback(moto.stop)
        vendor = _start_vendor(host, ports.vendor, appcode)
        cleanup.callback(vendor.stop)
        overrides = {**(parameters or {}), VENDOR_PARAMETER: vendor.url}
        pseudo = Pseudo(stack_name=stack_name)
        template = load(template_path, overrides=overrides, pseudo=pseudo, sqs_endpoint=moto.url)
        calls = CallLog()
        recorder = Recorder(calls)
        front = FaultProxy(moto.url, host, recorder=recorder)
        cleanup.callback(front.stop)
        stack = Stack(template, moto.url, vendor.url, appcode, cleanup, front)
        stack.calls = calls
        stack.standin = vendor
        cleanup.callback(stack.evaluator.close)
        s3_events.install()
        stack.secret_arns = create_resources(
            template, moto.url, (template.parameters[APPCODE_PARAMETER], appcode)
        )
        credentials = function_credentials(template, moto.url)
        for logical_id, issued in credentials.items():
            recorder.register(str(issued.access_key), logical_id)
        _start_functions(stack, cleanup, credentials, retry_delays, concurrency or {}, environment or {})
        _start_events(stack, cleanup)
        invoke_access = InvokeAccess(
            stack.evaluator,
            region=pseudo.region,
            account_id=pseudo.account_id,
            roles={role.logical_id: role for role in template.roles},
        )
        stack.eventbridge = eventbridge.start(stack, cleanup)
        api = LocalApi(
            template.apis[0],
            stack.functions,
            account_id=pseudo.account_id,
            access=invoke_access,
            host=host,
            port=ports.api,
        )
        cleanup.callback(api.stop)
        stack.api_url = api.url
        return stack
    except BaseException:
        cleanup.close()
        raise


def _start_vendor(host: str, port: int, appcode: str) -> Any:
    from local.standin import start_server  # imported late: it loads the segmentation model

    check_port_free(host, port)
    return start_server(host=host, port=port, appcode=appcode)


def _start_functions(
    stack: Stack,
    cleanup: contextlib.ExitStack,
    credentials: Mapping[str, ReadOnlyCredentials],
    delays: Sequence[float],
    concurrency: Mapping[str, int],
    environment: Mapping[str, str],
) -> None:
    template = stack.template
    sqs = stack.client("sqs")
    for declared in template.functions:
        spec = dataclasses.replace(declared, environment={**declared.environment, **environment})
        config = EnvironmentConfig(spec, credentials[spec.logical_id], stack.functions_aws_url, stack.region)
        function = LocalFunction(config, concurrency.get(spec.logical_id))
        stack.functions[spec.logical_id] = function
        cleanup.callback(function.stop)
        on_failure = None
        if spec.on_failure is not None and spec.on_failure.kind == "SQS":
            queue = template.queue_by_arn(spec.on_failure.arn)
            url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
            on_failure = _recorded(stack.calls, spec.logical_id, url, sqs_destination(sqs, url))
        invoker = AsyncInvoker(function, retry_delays=delays, on_failure=on_failure)
        stack.invokers[spec.logical_id] = invoker
        cleanup.callback(invoker.stop)


def _recorded(
    calls: CallLog, function: str, queue_url: str, send: Callable[[dict[str, Any]], None]
) -> Callable[[dict[str, Any]], None]:
    """Lambda sends the on-failure record with the function's execution role: it is the role's call."""

    def recorded(record: dict[str, Any]) -> None:
        calls.add(Call(function, "sqs", "SendMessage", {"QueueUrl": queue_url}))
        send(record)

    return recorded


def _start_events(stack: Stack, cleanup: contextlib.ExitStack) -> None:
    buckets = {bucket.name: bucket.arn for bucket in stack.template.buckets}
    for spec in stack.template.functions:
        for event in spec.s3_events:
            check_s3_may_invoke(
                stack.evaluator, spec, buckets[event.bucket], stack.template.pseudo.account_id
            )
    sqs = stack.client("sqs")
    subscriptions = subscribe(
        stack.client("s3"), sqs, stack.template.functions, stack.template.pseudo.stack_name
    )
    for subscription in subscriptions:
        function = subscription.function.logical_id
        deliver = stack.deliveries.tap(function, stack.invokers[function].invoke)
        pump = EventPump(sqs, subscription, deliver)
        cleanup.callback(pump.stop)
