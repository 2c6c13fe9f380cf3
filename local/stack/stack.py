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
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote

import requests
from botocore.credentials import ReadOnlyCredentials

from local.stack import eventbridge, identity, redrive, s3_events, s3_post
from local.stack.access import Call, CallLog, Recorder
from local.stack.account import NEW_ACCOUNT, Account, check_deploy
from local.stack.api import LocalApi
from local.stack.aws import (
    FAKE_CREDENTIALS,
    MotoServer,
    check_port_free,
    client,
    create_resources,
    function_credentials,
    record_stack,
)
from local.stack.events import Delivery, DeliveryLog, EventPump, subscribe
from local.stack.faultproxy import FaultProxy
from local.stack.iam import Evaluator
from local.stack.invoke_access import InvokeAccess, check_s3_may_invoke, check_s3_may_send
from local.stack.lambdas import (
    DEFAULT_CONCURRENCY,
    DEFAULT_RETRY_DELAYS,
    AsyncInvoker,
    LocalFunction,
    sqs_destination,
)
from local.stack.least_privilege import Report, check
from local.stack.missing_keys import MissingKeys
from local.stack.naming import Pseudo
from local.stack.runtime import EnvironmentConfig
from local.stack.sqs_source import QueuePoller, Received
from local.stack.template import TEMPLATE_PATH, StackTemplate, load

APPCODE_PARAMETER: Final = "AppCodeSecretName"  # the template names the secret; the stack creates it
VENDOR_PARAMETER: Final = "VendorBaseUrl"
CORS_PARAMETER: Final = "UploadCorsOrigins"
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
        calls: CallLog,
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
        # The bucket and prefix whose new objects reach a function (through the upload queue, or
        # S3's direct notification of a function): where a person uploads.
        self.bucket, self.upload_prefix = _upload_location(template)
        self.table = template.tables[0].name
        self.failed_queue_url = template.outputs.get("FailedEventsQueueUrl", "")
        self.upload_queue_url = template.outputs.get("UploadQueueUrl", "")
        self.dead_letter_queue_url = template.outputs.get("UploadDeadLetterQueueUrl", "")
        self.dead_letter_queue_arn = template.outputs.get("UploadDeadLetterQueueArn", "")
        self.functions: dict[str, LocalFunction] = {}
        self.invokers: dict[str, AsyncInvoker] = {}
        # The event source mappings' pollers, by function logical id.
        self.queue_sources: dict[str, QueuePoller] = {}
        self._redelivered: set[str] = set()  # message ids sent by redeliver()
        # Held from redeliver()'s send until its message id is known: a poller can receive the message
        # before SendMessage has answered, and must not take the redelivery for a first delivery.
        self._redelivering = threading.Lock()
        self.deliveries = DeliveryLog()  # every S3 event document handed to a function
        self.standin: Any = None  # the vendor stand-in's handle (local.standin.server.StandinHandle)
        self.calls = calls  # every AWS call the functions made (and Lambda made for them)
        self.evaluator = Evaluator()  # the IAM policy evaluator, one node process
        self.secret_arns: dict[str, str] = {}
        self.eventbridge: eventbridge.EventBridge | None = None  # the template's rules, delivered
        self.missing_keys: MissingKeys | None = None  # S3's 403 for a missing key without ListBucket
        self.credentials: Mapping[str, ReadOnlyCredentials] = {}  # each function's role session
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

    def photo_body(self, key: str) -> dict[str, Any]:
        """GET /photos/{key}'s body, which must be a 200's: any other answer fails with what it was."""
        answer = self.photo(key)
        if answer.status_code != 200:
            raise AssertionError(f"GET {key}: HTTP {answer.status_code} {answer.text}")
        body: dict[str, Any] = answer.json()
        return body

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

    def finals(
        self, key: str, color: str | None = None, *, allow_noncompliant: bool = False
    ) -> requests.Response:
        """POST /finals; ``allow_noncompliant``: pay for a preview that failed its compliance check."""
        params = {"color": color} if color else {}
        if allow_noncompliant:
            params["allow_noncompliant"] = "true"
        return self._http.post(self.photo_url(key, "finals"), params=params or None, timeout=35)

    def vendor_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._http.get(f"{self.vendor_url}/_admin/stats", timeout=5).json()
        return stats

    def vendor_faults(self, faults: Mapping[str, Any]) -> None:
        self._http.post(f"{self.vendor_url}/_admin/faults", json=dict(faults), timeout=5).raise_for_status()

    def vendor_reset(self) -> None:
        self._http.post(f"{self.vendor_url}/_admin/reset", timeout=5).raise_for_status()

    def redeliver(self, key: str) -> str:
        """Deliver the latest event document of ``key`` again, as S3's at-least-once delivery may: the
        same document, as a second message in the function's queue (a new message id), or for a
        function S3 notifies directly, as a new asynchronous invocation (a new request id)."""
        deliveries = self.deliveries.of(key)
        if not deliveries:
            raise LookupError(f"no event of {key!r} was delivered yet")
        latest = deliveries[-1]
        source = self.queue_sources.get(latest.function)
        if source is not None:
            with self._redelivering:
                sent = self.client("sqs").send_message(
                    QueueUrl=source.queue_url, MessageBody=json.dumps(latest.event)
                )
                message_id = str(sent["MessageId"])
                self._redelivered.add(message_id)
            return message_id
        invoke = self.invokers[latest.function].invoke
        return self.deliveries.deliver(latest.function, invoke, latest.event, redelivered=True)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once no event is queued, running or waiting for a retry (an upload waiting out a
        visibility timeout in its queue is still waiting)."""
        deadline = time.monotonic() + timeout
        sources = all(q.wait_idle(max(0.0, deadline - time.monotonic())) for q in self.queue_sources.values())
        return sources and all(
            i.wait_idle(max(0.0, deadline - time.monotonic())) for i in self.invokers.values()
        )

    def received(self, function: str) -> Callable[[Received], None]:
        """What a queue's poller hands over, in the delivery log (by object key)."""

        def add(received: Received) -> None:
            if not received.key:
                return  # S3's s3:TestEvent names no object
            event = json.loads(received.body)
            with self._redelivering:
                redelivered = received.message_id in self._redelivered
            self.deliveries.add(Delivery(function, received.key, event, received.message_id, redelivered))

        return add

    def update_function(
        self, logical_id: str, *, timeout_s: float | None = None, environment: Mapping[str, str] | None = None
    ) -> None:
        """Like UpdateFunctionConfiguration: new settings (``environment`` replaces the named
        variables), and its environments start cold."""
        function = self.functions[logical_id]
        if timeout_s is not None:
            function.timeout_s = timeout_s
        if environment is not None:
            spec = dataclasses.replace(
                function.spec, environment={**function.spec.environment, **environment}
            )
            function.config = dataclasses.replace(function.config, spec=spec)
        function.cold_start()

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
    account: Account = NEW_ACCOUNT,
    visibility_timeout_s: int | None = None,
) -> Stack:
    """Start moto, the vendor stand-in, the functions and the API; ``stop()`` (or ``with``) ends it.

    ``parameters`` override the template's (``VendorBaseUrl`` is always the stand-in's URL);
    ``concurrency`` overrides how many environments of a function run at once, by logical id (its
    ReservedConcurrentExecutions; a queue's pollers follow its event source mapping's
    MaximumConcurrency); ``environment`` adds to every function's variables (as
    ``sam local --env-vars`` does).
    The functions reach moto through the front (:mod:`local.stack.faultproxy`), which records their
    calls and answers S3's 403 for a missing key (:mod:`local.stack.missing_keys`);
    ``stack.aws_faults`` configures its faults. Tests' own clients (``stack.client``) reach moto.
    ``account`` is the AWS account deployed into (default: a new one, :mod:`local.stack.account`); a
    template it would refuse raises :class:`local.stack.account.DeployRefused` before anything runs.
    ``visibility_timeout_s`` shortens the visibility timeout of the queues event source mappings read
    (AWS: 6 x the function's timeout; a local run wants a failed upload back in seconds), as
    ``retry_delays`` shortens Lambda's asynchronous retry delays.
    """
    ports = ports or Ports.from_env()
    # What the account refuses is refused before anything starts (moto's state is this process's:
    # a refused stack must not disturb another one running here). The vendor's URL is not known yet;
    # no check depends on it.
    check_deploy(
        load(
            template_path,
            overrides={**(parameters or {}), VENDOR_PARAMETER: "https://vendor.invalid"},
            pseudo=Pseudo(stack_name=stack_name),
        ),
        account,
    )
    cleanup = contextlib.ExitStack()  # becomes the stack's: each step registers its own undo
    try:
        moto = MotoServer(host, ports.aws)
        cleanup.callback(moto.stop)
        vendor = _start_vendor(host, ports.vendor, appcode)
        cleanup.callback(vendor.stop)
        if ports.api == 0:  # the page's origin names the API's port: pick it now
            ports = replace(ports, api=free_port(host))
        # The local API serves the upload page (local.stack.webpage): its origin may post the forms,
        # as an operator lists their page's origin, unless the caller says otherwise.
        page_origins = f"http://{host}:{ports.api},http://localhost:{ports.api}"
        overrides = {CORS_PARAMETER: page_origins, **(parameters or {}), VENDOR_PARAMETER: vendor.url}
        pseudo = Pseudo(stack_name=stack_name)
        template = load(template_path, overrides=overrides, pseudo=pseudo, sqs_endpoint=moto.url)
        calls = CallLog()
        recorder = Recorder(calls)
        front = FaultProxy(moto.url, host, recorder=recorder)
        cleanup.callback(front.stop)
        stack = Stack(template, moto.url, vendor.url, appcode, cleanup, front, calls)
        stack.standin = vendor
        cleanup.callback(stack.evaluator.close)
        s3_events.install()
        redrive.install()
        cleanup.callback(redrive.forget_tasks)
        stack.secret_arns = create_resources(
            template, moto.url, (template.parameters[APPCODE_PARAMETER], appcode)
        )
        record_stack(template, moto.url)
        roles = function_credentials(template, moto.url)
        stack.credentials = roles
        for logical_id, issued in roles.items():
            recorder.register(str(issued.access_key), logical_id)
        stack.missing_keys = MissingKeys(template, stack.evaluator, stack.calls)
        front.answers = stack.missing_keys.answer
        form_signers = _form_signers(template, roles)
        s3_post.install(lambda: form_signers, stack.calls.add)
        _start_functions(stack, cleanup, roles, retry_delays, concurrency or {}, environment or {})
        _start_events(stack, cleanup)
        _start_queue_sources(stack, cleanup, visibility_timeout_s)
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


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _form_signers(
    template: StackTemplate, roles: Mapping[str, ReadOnlyCredentials]
) -> dict[str, s3_post.Signer]:
    """Who may sign a POST form: each function's role session (as S3 events name it) and the local user."""
    signers = {
        FAKE_CREDENTIALS["aws_access_key_id"]: s3_post.Signer(
            FAKE_CREDENTIALS["aws_secret_access_key"], None, identity.s3_principal()
        )
    }
    for function in template.functions:
        issued = roles[function.logical_id]
        role_id = template.role(function.role_logical_id).role_id if function.role_logical_id else ""
        signers[str(issued.access_key)] = s3_post.Signer(
            str(issued.secret_key), issued.token, f"AWS:{role_id}:{function.name}", function.logical_id
        )
    return signers


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
    # An event source mapping's MaximumConcurrency is how many environments its pollers keep busy
    # ("Configuring maximum concurrency for Amazon SQS event sources"): an unreserved function gets
    # as many, beside the stack's default for its other sources.
    mapped = {m.function_logical_id: m.maximum_concurrency or 0 for m in template.event_source_mappings}
    sqs = stack.client("sqs")
    for declared in template.functions:
        spec = dataclasses.replace(declared, environment={**declared.environment, **environment})
        config = EnvironmentConfig(spec, credentials[spec.logical_id], stack.functions_aws_url, stack.region)
        cap = concurrency.get(spec.logical_id) or spec.reserved_concurrency
        if cap is None and mapped.get(spec.logical_id):
            cap = max(DEFAULT_CONCURRENCY, mapped[spec.logical_id])
        function = LocalFunction(config, cap)
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


def _upload_location(template: StackTemplate) -> tuple[str, str]:
    """The bucket and prefix of the first notification that leads to a function."""
    for bucket in template.buckets:
        for notification in bucket.queue_notifications:
            return bucket.name, dict(notification.filter_rules).get("prefix", "")
    upload = next(e for f in template.functions for e in f.s3_events)
    return upload.bucket, dict(upload.filter_rules).get("prefix", "")


def _start_queue_sources(
    stack: Stack, cleanup: contextlib.ExitStack, visibility_timeout_s: int | None
) -> None:
    """S3 -> queue (the bucket's notifications, checked against the queue policy as S3 checks it),
    queue -> function (an event source mapping's pollers, :mod:`local.stack.sqs_source`)."""
    template = stack.template
    account = template.pseudo.account_id
    queues = {queue.arn: queue for queue in template.queues}
    for bucket in template.buckets:
        for notification in bucket.queue_notifications:
            check_s3_may_send(stack.evaluator, queues[notification.queue_arn], bucket.arn, account)
    sqs = stack.client("sqs")
    for mapping in template.event_source_mappings:
        queue = queues[mapping.queue_arn]
        url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        if visibility_timeout_s is not None:
            sqs.set_queue_attributes(
                QueueUrl=url, Attributes={"VisibilityTimeout": str(visibility_timeout_s)}
            )
        function = mapping.function_logical_id
        poller = QueuePoller(
            sqs,
            mapping,
            url,
            stack.functions[function],
            region=stack.region,
            calls=stack.calls,
            on_received=stack.received(function),
        )
        stack.queue_sources[function] = poller
        cleanup.callback(poller.stop)
