"""Invoking the handlers like Lambda does: a context object, and asynchronous invocation semantics.

Asynchronous invocation (how S3 invokes a function), as AWS documents it:

* events wait in a queue and run on at most ``ReservedConcurrentExecutions`` environments at a time
  (here: a thread pool of that size; without a reservation, the size the stack gives, else
  ``DEFAULT_CONCURRENCY``);
* an invocation that raises (or overruns its ``Timeout``) is retried up to ``MaximumRetryAttempts``
  times **with the same request id** (the handlers rely on that to take over their own claim); Lambda
  waits about 1 and then 2 minutes, here ``retry_delays`` (default 1 s, 2 s);
* events older than ``MaximumEventAgeInSeconds`` are dropped;
* when retries are exhausted (or the event is too old) the ``OnFailure`` destination receives AWS's
  invocation record (``version``, ``timestamp``, ``requestContext``, ``requestPayload``,
  ``responseContext``, ``responsePayload``).

A thread cannot be killed, so an invocation that overruns its timeout runs to its end, but its result
is discarded and it counts as failed, as Lambda would have killed it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from local.stack.access import running_as
from local.stack.runtime import Handler
from local.stack.template import FunctionSpec

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY: Final = 10
DEFAULT_RETRY_DELAYS: Final = (1.0, 2.0)


@dataclass
class LambdaContext:
    """The attributes and method of the Python runtime's context object that handlers use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    timeout_s: float
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    started: float = field(default_factory=time.monotonic)
    log_group_name: str = ""

    @property
    def log_stream_name(self) -> str:
        return f"{datetime.now(UTC):%Y/%m/%d}/[{self.function_version}]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_s - time.monotonic()) * 1000))


class FunctionTimeout(Exception):
    """The invocation ran longer than the function's Timeout (Lambda would have stopped it)."""


class LocalFunction:
    """One function: its configuration (timeout may be changed, like UpdateFunctionConfiguration)."""

    def __init__(self, spec: FunctionSpec, handler: Handler) -> None:
        self.spec = spec
        self.handler = handler
        self.timeout_s: float = spec.timeout_s

    def context(self, request_id: str | None = None) -> LambdaContext:
        return LambdaContext(
            function_name=self.spec.name,
            invoked_function_arn=self.spec.arn,
            memory_limit_in_mb=self.spec.memory_mb,
            aws_request_id=request_id or str(uuid.uuid4()),
            timeout_s=self.timeout_s,
            log_group_name=self.spec.log_group,
        )

    def invoke(self, event: dict[str, Any], request_id: str | None = None) -> Any:
        """Run the handler once; raises what it raises, or FunctionTimeout when it overran."""
        context = self.context(request_id)
        with running_as(self.spec.logical_id):  # its calls sign with its own role's credentials
            result = self.handler(event, context)
        elapsed = time.monotonic() - context.started
        if elapsed > context.timeout_s:
            raise FunctionTimeout(f"Task timed out after {context.timeout_s:.2f} seconds")
        return result


@dataclass
class _Event:
    payload: dict[str, Any]
    request_id: str
    received: float = field(default_factory=time.time)
    attempts: int = 0


@dataclass
class InvokerStats:
    invocations: int = 0
    errors: int = 0
    retries: int = 0
    dead_lettered: int = 0
    # The latest payloads with their request ids: what the function was really given (tests, debugging).
    recent: deque[tuple[str, dict[str, Any]]] = field(default_factory=lambda: deque(maxlen=200))


class AsyncInvoker:
    def __init__(
        self,
        function: LocalFunction,
        *,
        concurrency: int | None = None,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        on_failure: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.function = function
        self.concurrency = concurrency or function.spec.reserved_concurrency or DEFAULT_CONCURRENCY
        self._delays = tuple(retry_delays) or (0.0,)
        self._on_failure = on_failure
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"lambda-{function.spec.name}")
        self._timers: set[threading.Timer] = set()
        self._pending = 0  # events not finished yet: queued, running or waiting for a retry
        self._running = 0  # attempts running right now
        self._idle = threading.Condition()
        self._stopped = False
        self.stats = InvokerStats()

    def invoke(self, payload: dict[str, Any]) -> str:
        """Queue an event (InvocationType=Event); returns the request id it will run with."""
        event = _Event(payload, str(uuid.uuid4()))
        with self._idle:
            self._pending += 1
            self.stats.recent.append((event.request_id, payload))
        try:
            self._pool.submit(self._run, event)
        except RuntimeError:  # stopped: the event is dropped, as a deleted function's would be
            self._done()
            raise
        return event.request_id

    def wait_idle(self, timeout: float) -> bool:
        """True once every queued event has succeeded or gone to the destination."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def stop(self, wait_s: float = 10.0) -> None:
        """Drop queued events and retries; give running invocations ``wait_s`` to finish."""
        self._stopped = True
        for timer in list(self._timers):
            timer.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._idle:
            self._idle.wait_for(lambda: self._running == 0, wait_s)
            self._pending = 0  # what was dropped will never finish
            self._idle.notify_all()

    # --- one attempt ------------------------------------------------------------------------------

    def _run(self, event: _Event) -> None:
        if self._stopped:
            return self._done()
        spec = self.function.spec
        if time.time() - event.received > spec.max_event_age_s:
            return self._fail(event, "EventAgeExceeded", None)
        event.attempts += 1
        with self._idle:
            self.stats.invocations += 1
            self._running += 1
        try:
            error = self._attempt(event)
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()
        if error is None:
            return self._done()
        if event.attempts <= spec.max_retry_attempts and not self._stopped:
            return self._retry_later(event)
        return self._fail(event, "RetriesExhausted", error)

    def _attempt(self, event: _Event) -> Exception | None:
        try:
            self.function.invoke(event.payload, event.request_id)
        except Exception as exc:
            self._count("errors")
            log.warning(
                "%s failed (attempt %d, request %s): %s: %s",
                self.function.spec.name,
                event.attempts,
                event.request_id,
                type(exc).__name__,
                exc,
            )
            return exc
        return None

    def _retry_later(self, event: _Event) -> None:
        delay = self._delays[min(event.attempts - 1, len(self._delays) - 1)]
        self._count("retries")

        def resubmit() -> None:
            self._timers.discard(timer)
            try:
                self._pool.submit(self._run, event)
            except RuntimeError:  # the pool was shut down meanwhile
                self._done()

        timer = threading.Timer(delay, resubmit)
        timer.daemon = True
        self._timers.add(timer)
        timer.start()

    def _fail(self, event: _Event, condition: str, error: Exception | None) -> None:
        self._count("dead_lettered")
        if self._on_failure is not None:
            try:
                self._on_failure(failure_record(self.function.spec, event, condition, error))
            except Exception:
                log.exception("cannot send the failure record of request %s", event.request_id)
        self._done()

    def _count(self, name: str) -> None:
        with self._idle:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    def _done(self) -> None:
        with self._idle:
            self._pending = max(0, self._pending - 1)  # stop() may have written off this event already
            self._idle.notify_all()


def failure_record(
    spec: FunctionSpec, event: _Event, condition: str, error: Exception | None
) -> dict[str, Any]:
    """The record Lambda sends to an OnFailure destination for an asynchronous invocation."""
    now = datetime.now(UTC)
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": f"{spec.arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": event.attempts,
        },
        "requestPayload": event.payload,
    }
    if error is not None:
        error_type = "Sandbox.Timedout" if isinstance(error, FunctionTimeout) else type(error).__name__
        record["responseContext"] = {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        }
        record["responsePayload"] = {
            "errorMessage": str(error),
            "errorType": error_type,
            "requestId": event.request_id,
            "stackTrace": traceback.format_list(traceback.extract_tb(error.__traceback__)),
        }
    return record


def sqs_destination(sqs: Any, queue_url: str) -> Callable[[dict[str, Any]], None]:
    def send(record: dict[str, Any]) -> None:
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))

    return send
