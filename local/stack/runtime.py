"""Execution environments as Lambda runs them: one OS process each, AWS's runtime client inside.

An :class:`Environment` is one process started as AWS's Python base images start it,
``python -m awslambdaric <Handler>`` (the runtime interface client, package ``awslambdaric``), with

* the function's code folder as the working directory and first on the path, as ``/var/task`` is,
  and each layer folder after it, as a layer's ``python/`` is at ``/opt/python`` (Lambda developer
  guide, "Working with layers for Python Lambda functions": the layer paths follow the function's);
* only the variables Lambda gives a function (:func:`lambda_variables`): the function's own
  resolved ``Environment``, its execution role's temporary credentials, and the variables Lambda
  defines (developer guide, "Defined runtime environment variables"). Nothing of the parent's
  environment is inherited;
* its own local Lambda Runtime API (:class:`_RuntimeApi`, version 2018-06-01, developer guide "Using
  the Lambda runtime API for custom runtimes"): ``GET /runtime/invocation/next`` hands over one event
  with the ``Lambda-Runtime-*`` headers, ``POST /runtime/invocation/{id}/response`` and ``.../error``
  end it, ``POST /runtime/init/error`` reports a failed init.

One invocation at a time per environment, as in Lambda. The limits are enforced as Lambda enforces
them, by killing the process (SIGKILL) and reporting what Lambda reports:

* **Timeout**: counted from the moment the runtime receives the event; past it the process is killed
  and the invocation fails with ``Sandbox.Timedout`` "Task timed out after N.NN seconds".
* **MemorySize**: one watchdog thread reads every environment's resident set size (the resident
  pages of ``/proc/<pid>/statm``: the memory the process really occupies, which is what Lambda's
  cgroup limit and its "Max Memory Used" count) every :data:`WATCHDOG_S`; above ``MemorySize`` MiB
  the process is killed and the invocation fails with ``Runtime.OutOfMemory``. An address-space limit (``RLIMIT_AS``) was not used:
  it counts reserved, never-touched address space (each thread's 8 MiB stack, glibc's 64 MiB malloc
  arenas), so a 256 MB function could not even import its SDK. A spike shorter than the poll
  interval can escape the watchdog.
* **A crash** (the process exits or is killed during an invocation): ``Runtime.ExitError``
  "RequestId: <id> Error: Runtime exited with error: exit status N" (or "signal: killed").

A dead environment is never reused; the function's pool (:class:`local.stack.lambdas.LocalFunction`)
starts a new one for the next invocation, a cold start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from botocore.credentials import ReadOnlyCredentials

from local.stack.template import FunctionSpec

log = logging.getLogger(__name__)

RUNTIME_API_VERSION: Final = "2018-06-01"
# The Init phase gets 10 s; past it Lambda retries the init within the first invocation's timeout
# (developer guide, "Understanding the Lambda execution environment lifecycle").
INIT_TIMEOUT_S: Final = 10.0
WATCHDOG_S: Final = 0.05
_PAGE: Final = os.sysconf("SC_PAGE_SIZE")


class FunctionError(Exception):
    """The invocation failed; ``payload`` is Lambda's error document (errorMessage, errorType, ...)."""

    def __init__(self, payload: Mapping[str, Any]) -> None:
        self.payload = dict(payload)
        self.error_type = str(self.payload.get("errorType", "Unhandled"))
        super().__init__(str(self.payload.get("errorMessage", self.error_type)))


class FunctionTimeout(FunctionError):
    """The invocation ran past the function's Timeout: its environment was killed."""


@dataclass(frozen=True)
class EnvironmentConfig:
    """What every environment of one function starts with."""

    spec: FunctionSpec
    credentials: ReadOnlyCredentials
    aws_endpoint: str  # where the function's SDK calls go (the recording front of moto)
    region: str
    python: str = sys.executable


def lambda_variables(config: EnvironmentConfig, runtime_api: str, log_stream: str) -> dict[str, str]:
    """The process's whole environment: the function's own variables, then what Lambda sets.

    Lambda's reserved names win over the function's (Lambda refuses a function that sets them).
    Developer guide, "Defined runtime environment variables"."""
    spec = config.spec
    layer_paths = [str(d) for d in spec.layer_dirs]
    return {
        **spec.environment,
        "_HANDLER": spec.handler,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group or f"/aws/lambda/{spec.name}",  # LoggingConfig
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_REGION": config.region,
        "AWS_DEFAULT_REGION": config.region,
        "AWS_ACCESS_KEY_ID": str(config.credentials.access_key),
        "AWS_SECRET_ACCESS_KEY": str(config.credentials.secret_key),
        "AWS_SESSION_TOKEN": str(config.credentials.token or ""),
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "LAMBDA_RUNTIME_DIR": str(Path(config.python).parent),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": os.pathsep.join((str(Path(config.python).parent), "/usr/local/bin", "/usr/bin", "/bin")),
        # /var/task first, then /opt/python: the order Lambda's sys.path has.
        "PYTHONPATH": os.pathsep.join((str(spec.code_dir), *layer_paths)),
        # Local only: the endpoint, and no config file or instance metadata of the person running it.
        "AWS_ENDPOINT_URL": config.aws_endpoint,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@dataclass
class _Invocation:
    request_id: str
    payload: bytes
    timeout_s: float
    handed_at: float | None = None  # monotonic time the runtime received it
    outcome: tuple[bool, bytes] | None = None  # (succeeded, body)


@dataclass
class EnvironmentStats:
    started: float = field(default_factory=time.monotonic)
    init_s: float | None = None  # process start to its first invocation/next: Lambda's Init duration
    invocations: int = 0
    max_rss_mb: float = 0.0


class Environment:
    """One execution environment: a process of the runtime client and its Runtime API."""

    def __init__(self, config: EnvironmentConfig, sink: Callable[[str], None] | None = None) -> None:
        """``sink`` receives each line the process writes (default: this process's stdout)."""
        self.config = config
        self.stats = EnvironmentStats()
        self.killed_for: str | None = None  # why the stack killed it: timeout, memory, chaos, stop
        self.killed_at: float | None = None  # when (monotonic)
        # The invocation it was running then: (request id, when the runtime received it), if any.
        self.killed_during: tuple[str, float | None] | None = None
        self._changed = threading.Condition()
        self._current: _Invocation | None = None
        self._init_error: bytes | None = None
        self._exit: int | None = None
        self._sink = sink or _stdout
        self._api = _RuntimeApi(self)
        self._api_thread = threading.Thread(
            target=self._api.serve_forever, name=f"runtime-api-{config.spec.name}", daemon=True
        )
        self._api_thread.start()
        stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        host, port = self._api.server_address[:2]
        variables = lambda_variables(config, f"{host!s}:{port}", stream)
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, AWS's runtime client, the template's handler
            [config.python, "-m", "awslambdaric", config.spec.handler],
            cwd=config.spec.code_dir,
            env=variables,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._statm = Path(f"/proc/{self.process.pid}/statm")
        for target, name in ((self._watch, "exit"), (self._pump_logs, "logs")):
            threading.Thread(target=target, name=f"{name}-{config.spec.name}", daemon=True).start()

    @property
    def alive(self) -> bool:
        with self._changed:
            return self._exit is None and self._init_error is None and self.killed_for is None

    # --- the invoker's side -----------------------------------------------------------------------

    def invoke(
        self, payload: bytes, request_id: str, timeout_s: float, kill_after_s: float | None = None
    ) -> bytes:
        """Run one invocation; its answer's body, or raises :class:`FunctionError`.

        ``kill_after_s``: SIGKILL the process that long after the runtime received the event (a
        crash fault); the invocation then fails as any crash does."""
        invocation = _Invocation(request_id, payload, timeout_s)
        with self._changed:
            if self._current is not None:
                raise RuntimeError("an environment runs one invocation at a time")
            self._current = invocation
            self.stats.invocations += 1
            self._changed.notify_all()
            try:
                return self._await(invocation, kill_after_s)
            finally:
                self._current = None

    def _await(self, invocation: _Invocation, kill_after_s: float | None) -> bytes:
        # Until the runtime takes the event: the init's allowance (a cold start), or the timeout (warm).
        waiting_deadline = max(self.stats.started + INIT_TIMEOUT_S, time.monotonic()) + invocation.timeout_s
        while True:
            if invocation.outcome is not None:
                succeeded, body = invocation.outcome
                if succeeded:
                    return body
                raise FunctionError(_error_document(body, invocation.request_id))
            if (
                self._init_error is not None
            ):  # the runtime client's own errorType (Runtime.ImportModuleError, ...)
                raise FunctionError(_error_document(self._init_error, invocation.request_id))
            if self._exit is not None:
                raise FunctionError(self._exit_error(invocation.request_id))
            now = time.monotonic()
            if invocation.handed_at is None:
                deadline = waiting_deadline
            else:
                deadline = invocation.handed_at + invocation.timeout_s
                if kill_after_s is not None and now >= invocation.handed_at + kill_after_s:
                    self._kill("chaos")
                    kill_after_s = None
                    continue
            if now >= deadline:
                self._kill("timeout")
                raise FunctionTimeout(
                    {
                        "errorMessage": f"Task timed out after {invocation.timeout_s:.2f} seconds",
                        "errorType": "Sandbox.Timedout",
                        "requestId": invocation.request_id,
                    }
                )
            wake = deadline
            if kill_after_s is not None and invocation.handed_at is not None:
                wake = min(wake, invocation.handed_at + kill_after_s)
            self._changed.wait(max(0.0, wake - now))

    def _exit_error(self, request_id: str) -> dict[str, str]:
        code = self._exit or 0
        how = f"signal: {_signal_name(-code)}" if code < 0 else f"exit status {code}"
        kind = "Runtime.OutOfMemory" if self.killed_for == "memory" else "Runtime.ExitError"
        return {
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {how}",
            "errorType": kind,
            "requestId": request_id,
        }

    def stop(self) -> None:
        """Shut the environment down (Lambda's Shutdown phase ends in SIGKILL too)."""
        self._kill("stop")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self._api.shutdown()
        self._api.server_close()

    def _kill(self, reason: str) -> None:
        with self._changed:
            if self._exit is not None:
                return
            if self.killed_for is None:
                self.killed_for, self.killed_at = reason, time.monotonic()
                current = self._current
                self.killed_during = None if current is None else (current.request_id, current.handed_at)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()  # SIGKILL, to this process only: the one we started

    # --- the runtime's side (the Runtime API's handlers) -----------------------------------------

    def next_invocation(self) -> _Invocation | None:
        """Blocks until an event is there; None once the environment is dead."""
        with self._changed:
            if self.stats.init_s is None:
                self.stats.init_s = time.monotonic() - self.stats.started
            while True:
                current = self._current
                if current is not None and current.handed_at is None:
                    current.handed_at = time.monotonic()
                    self._changed.notify_all()
                    return current
                if self._exit is not None:
                    return None
                self._changed.wait(1.0)

    def finish(self, request_id: str, succeeded: bool, body: bytes) -> bool:
        with self._changed:
            current = self._current
            if current is None or current.request_id != request_id or current.handed_at is None:
                return False
            if current.outcome is None:
                current.outcome = (succeeded, body)
                self._changed.notify_all()
            return True

    def init_failed(self, body: bytes) -> None:
        with self._changed:
            self._init_error = body or b"{}"
            self._changed.notify_all()

    # --- watching the process ---------------------------------------------------------------------

    def _watch(self) -> None:
        """Wait for the process to end (a blocking wait: no polling while it lives)."""
        _MEMORY.add(self)
        try:
            code = self.process.wait()
        finally:
            _MEMORY.discard(self)
        with self._changed:
            self._exit = code
            self._changed.notify_all()

    def check_memory(self) -> None:
        """Kill the process if it occupies more than its MemorySize (called by the memory watchdog)."""
        rss_mb = _rss_mb(self._statm)
        self.stats.max_rss_mb = max(self.stats.max_rss_mb, rss_mb)
        if rss_mb > self.config.spec.memory_mb:
            log.warning(
                "%s: %.0f MB resident, above MemorySize %d MB",
                self.config.spec.name,
                rss_mb,
                self.config.spec.memory_mb,
            )
            self._kill("memory")

    def _pump_logs(self) -> None:
        """Every line the process writes goes to the sink, whole (Lambda sends each line of stdout and
        stderr to the function's own log stream); lines of two environments never mix."""
        assert self.process.stdout is not None  # noqa: S101 - Popen was given stdout=PIPE
        for line in self.process.stdout:
            self._sink(line.decode("utf-8", "replace").rstrip("\n"))


def _stdout(line: str) -> None:
    sys.stdout.write(line + "\n")  # looked up per line: redirect_stdout (demo, chaos, bench) applies


def _rss_mb(statm: Path) -> float:
    try:
        resident_pages = int(statm.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0  # the process is gone: the watcher's wait() sees it next
    return resident_pages * _PAGE / (1 << 20)


class _MemoryWatchdog:
    """One thread that reads every live environment's resident set every :data:`WATCHDOG_S`.

    One thread for all of them, not one each: twenty environments polling on their own threads cost
    the stack's process more CPU (and interpreter-lock hand-overs) than some AWS calls."""

    def __init__(self) -> None:
        self._watched: set[Environment] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, environment: Environment) -> None:
        with self._lock:
            self._watched.add(environment)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="memory-watchdog", daemon=True)
                self._thread.start()

    def discard(self, environment: Environment) -> None:
        with self._lock:
            self._watched.discard(environment)

    def _run(self) -> None:
        while True:
            with self._lock:
                watched = list(self._watched)
                if not watched:
                    self._thread = None
                    return
            for environment in watched:
                environment.check_memory()
            time.sleep(WATCHDOG_S)


_MEMORY: Final = _MemoryWatchdog()


def _signal_name(number: int) -> str:
    """As Lambda words it ("signal: killed", "signal: aborted")."""
    names = {signal.SIGKILL: "killed", signal.SIGABRT: "aborted", signal.SIGSEGV: "segmentation fault"}
    with contextlib.suppress(ValueError):
        return names.get(signal.Signals(number), signal.Signals(number).name.lower())
    return str(number)


def _error_document(body: bytes, request_id: str) -> dict[str, Any]:
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        document = None
    if not isinstance(document, dict):
        document = {"errorMessage": body.decode("utf-8", "replace"), "errorType": "Unhandled"}
    return {**document, "requestId": request_id}


# --- the local Lambda Runtime API -----------------------------------------------------------------


class _RuntimeApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, environment: Environment) -> None:
        super().__init__(("127.0.0.1", 0), _RuntimeApiHandler)
        self.environment = environment

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the runtime's process went away mid-request: killed (timeout, memory, crash)
        super().handle_error(request, client_address)


class _RuntimeApiHandler(BaseHTTPRequestHandler):
    """The four routes of the Runtime API (2018-06-01) the runtime client uses."""

    protocol_version = "HTTP/1.1"
    server: _RuntimeApi
    _PREFIX: Final = f"/{RUNTIME_API_VERSION}/runtime"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002
        return

    def do_GET(self) -> None:
        if self.path != f"{self._PREFIX}/invocation/next":
            self._answer(404, {"errorMessage": "no such route", "errorType": "NotFound"})
            return
        invocation = self.server.environment.next_invocation()
        if invocation is None:
            self._answer(500, {"errorMessage": "environment shut down", "errorType": "Shutdown"})
            return
        spec = self.server.environment.config.spec
        deadline_ms = int((time.time() + invocation.timeout_s) * 1000)
        self.send_response_only(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", invocation.request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline_ms))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", spec.arn)
        self.send_header("Content-Length", str(len(invocation.payload)))
        self.end_headers()
        self.wfile.write(invocation.payload)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        environment = self.server.environment
        path = self.path
        if path == f"{self._PREFIX}/init/error":
            environment.init_failed(body)
            self._answer(202, {"status": "OK"})
            return
        prefix = f"{self._PREFIX}/invocation/"
        request_id, _, outcome = path.removeprefix(prefix).partition("/")
        if not path.startswith(prefix) or outcome not in ("response", "error"):
            self._answer(404, {"errorMessage": "no such route", "errorType": "NotFound"})
            return
        if not environment.finish(request_id, outcome == "response", body):
            self._answer(400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"})
            return
        self._answer(202, {"status": "OK"})

    def _answer(self, status: int, document: dict[str, str]) -> None:
        body = json.dumps(document).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the runtime is gone (killed): nobody to answer
            self.wfile.write(body)
