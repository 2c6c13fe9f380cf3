"""Invoking functions like Lambda does: a pool of execution environments, and asynchronous invocation.

A function's environments (:class:`local.stack.runtime.Environment`, one process each) are kept by
:class:`LocalFunction`: an invocation takes a free (warm) environment, or starts a new one when none
is free (a cold start), up to the function's concurrency, then waits for one to come free. Lambda
would throttle a synchronous invocation beyond the concurrency (429); here it waits. An environment
that died (timeout, memory, crash) is dropped and never reused.

Asynchronous invocation (how S3 and EventBridge invoke a function), as AWS documents it:

* events wait in a queue and run on at most the function's concurrency at a time;
* an invocation that fails (an error, a timeout, a crash) is retried up to ``MaximumRetryAttempts``
  times **with the same request id** (the handlers rely on that to take over their own claim); Lambda
  waits about 1 and then 2 minutes, here ``retry_delays`` (default 1 s, 2 s);
* events older than ``MaximumEventAgeInSeconds`` are dropped;
* when retries are exhausted (or the event is too old) the ``OnFailure`` destination receives AWS's
  invocation record (``version``, ``timestamp``, ``requestContext``, ``requestPayload``,
  ``responseContext``, ``responsePayload``).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from local.stack.runtime import Environment, EnvironmentConfig, FunctionError, FunctionTimeout
from local.stack.template import FunctionSpec

__all__ = ["AsyncInvoker", "FunctionError", "FunctionTimeout", "Invocable", "Kill", "LocalFunction"]

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY: Final = 10
DEFAULT_RETRY_DELAYS: Final = (1.0, 2.0)

# A crash fault: given the request id, how long after the runtime receives the event to SIGKILL its
# environment, or None to leave it alone (local.stack.chaos).
CrashPlan = Callable[[str], float | None]


class Invocable(Protocol):
    """What the event sources and the local API need of a function."""

    @property
    def spec(self) -> FunctionSpec: ...

    def invoke(self, event: dict[str, Any], request_id: str | None = None) -> Any: ...


@dataclass(frozen=True)
class Kill:
    """An invocation whose environment the stack killed (timeout, memory, a chaos crash fault)."""

    request_id: str
    reason: str
    handed_at: float | None  # when its runtime received the event (monotonic), if it did
    killed_at: float  # monotonic
    event: dict[str, Any]


@dataclass
class FunctionStats:
    cold_starts: int = 0
    init_s: list[float] = field(default_factory=list)  # each environment's Init: start to first next
    invocations: int = 0
    killed: Counter[str] = field(default_factory=Counter)  # by reason: timeout, memory, chaos


class LocalFunction:
    """One function: its environments, and its configuration (``timeout_s`` may be changed, as
    UpdateFunctionConfiguration does; :meth:`cold_start` then retires every environment)."""

    def __init__(self, config: EnvironmentConfig, concurrency: int | None = None) -> None:
        self.config = config
        self.timeout_s: float = config.spec.timeout_s
        self.concurrency = concurrency or config.spec.reserved_concurrency or DEFAULT_CONCURRENCY
        self.crash: CrashPlan | None = None
        self.stats = FunctionStats()
        self.kills: deque[Kill] = deque(maxlen=10_000)  # the latest invocations killed, with their event
        # The latest lines its environments wrote (tests, debugging); each also goes to stdout.
        self.logs: deque[str] = deque(maxlen=2000)
        self._free: list[Environment] = []
        self._live: set[Environment] = set()
        self._retired: set[Environment] = set()  # still running an invocation; stopped when it ends
        self._changed = threading.Condition()
        self._stopped = False

    @property
    def spec(self) -> FunctionSpec:
        return self.config.spec

    def invoke(self, event: dict[str, Any], request_id: str | None = None) -> Any:
        """Run the function once; its result, or raises :class:`FunctionError` (a
        :class:`FunctionTimeout` past its Timeout) with Lambda's error document."""
        request_id = request_id or str(uuid.uuid4())
        environment = self._acquire()
        kill_after = self.crash(request_id) if self.crash is not None else None
        try:
            body = environment.invoke(json.dumps(event).encode(), request_id, self.timeout_s, kill_after)
        finally:
            self._note_kill(environment, request_id, event)
            self._release(environment)
        return json.loads(body) if body else None

    def _note_kill(self, environment: Environment, request_id: str, event: dict[str, Any]) -> None:
        during = environment.killed_during
        if environment.killed_for is None or environment.killed_at is None or during is None:
            return
        if during[0] == request_id:
            kill = Kill(request_id, environment.killed_for, during[1], environment.killed_at, event)
            self.kills.append(kill)

    def cold_start(self) -> None:
        """Every environment retires: idle ones now, busy ones when their invocation ends."""
        with self._changed:
            idle, self._free = self._free, []
            self._retired |= self._live - set(idle)
            self._live.clear()
            self._changed.notify_all()
        for environment in idle:
            environment.stop()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            everything = [*self._live, *self._retired]
            self._free, self._live, self._retired = [], set(), set()
            self._changed.notify_all()
        for environment in everything:
            environment.stop()

    def _log_line(self, line: str) -> None:
        self.logs.append(line)
        sys.stdout.write(line + "\n")  # looked up per line: redirect_stdout (demo, chaos, bench) applies

    @property
    def environments(self) -> int:
        with self._changed:
            return len(self._live)

    @property
    def pids(self) -> set[int]:
        """The processes of its environments now."""
        with self._changed:
            return {environment.process.pid for environment in self._live}

    def _acquire(self) -> Environment:
        with self._changed:
            while True:
                if self._stopped:
                    raise RuntimeError(f"{self.spec.name} is stopped")
                while self._free:
                    environment = self._free.pop()
                    if environment.alive:
                        return environment
                    self._live.discard(environment)
                if len(self._live) < self.concurrency:
                    environment = Environment(self.config, self._log_line)  # a cold start
                    self._live.add(environment)
                    self.stats.cold_starts += 1
                    return environment
                self._changed.wait()

    def _release(self, environment: Environment) -> None:
        with self._changed:
            self.stats.invocations += 1
            if environment.stats.init_s is not None and environment.stats.invocations == 1:
                self.stats.init_s.append(environment.stats.init_s)
            keep = environment in self._live and environment.alive and not self._stopped
            if environment.killed_for is not None:
                self.stats.killed[environment.killed_for] += 1
            if keep:
                self._free.append(environment)
            else:
                self._live.discard(environment)
                self._retired.discard(environment)
            self._changed.notify_all()
        if not keep:
            environment.stop()


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
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        on_failure: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.function = function
        self.concurrency = function.concurrency
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
                exc.error_type if isinstance(exc, FunctionError) else type(exc).__name__,
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
        document = (
            error.payload
            if isinstance(error, FunctionError)
            else {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_list(traceback.extract_tb(error.__traceback__)),
            }
        )
        record["responseContext"] = {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        }
        record["responsePayload"] = {**document, "requestId": event.request_id}
    return record


def sqs_destination(sqs: Any, queue_url: str) -> Callable[[dict[str, Any]], None]:
    def send(record: dict[str, Any]) -> None:
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))

    return send
