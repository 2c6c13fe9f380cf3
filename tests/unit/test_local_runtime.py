"""The local stack's execution environments: processes under AWS's runtime client, limits that kill.

Each test runs a small function of its own (``tmp_path/app.py``) in real processes started with
``python -m awslambdaric``, through the local Runtime API, as the stack runs the template's functions.
Nothing here waits for time to pass: each test waits for the event it expects (a file the handler
writes, the answer, the retry).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import ReadOnlyCredentials

from local.stack.lambdas import AsyncInvoker, FunctionError, FunctionTimeout, LocalFunction
from local.stack.runtime import Environment, EnvironmentConfig
from local.stack.template import FunctionSpec

HANDLER = """
import os, sys, time
from pathlib import Path

COUNT = [0]
HERE = Path(os.environ["LAMBDA_TASK_ROOT"])

def handler(event, context):
    COUNT[0] += 1
    marker = HERE / f"arrived-{context.aws_request_id}"
    marker.write_text(str(os.getpid()))
    action = event.get("do")
    if action == "gate":
        while not (HERE / "gate").exists():
            time.sleep(0.01)
    if action == "hang-once" and not (HERE / "hung").exists():
        (HERE / "hung").write_text(str(os.getpid()))
        time.sleep(3600)
    if action == "hang":
        time.sleep(3600)
    if action == "exit":
        sys.stdout.flush()
        os._exit(3)
    if action == "eat":
        hoard = b"\\x01" * (event["mb"] << 20)  # written, so resident
        time.sleep(3600)
    if action == "raise":
        raise ValueError("the event says no")
    if action == "print":
        print(event["line"])
    return {
        "pid": os.getpid(),
        "count": COUNT[0],
        "env": {name: os.environ.get(name) for name in event.get("env", [])},
        "request_id": context.aws_request_id,
    }
"""


def spec(
    code: Path,
    name: str = "fn",
    *,
    timeout_s: int = 60,
    memory_mb: int = 128,
    environment: dict[str, str] | None = None,
    handler: str = "app.handler",
) -> FunctionSpec:
    code.mkdir(exist_ok=True)
    (code / "app.py").write_text(HANDLER, encoding="utf-8")
    return FunctionSpec(
        logical_id=f"{name}Function",
        name=f"local-{name}",
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:local-{name}",
        code_dir=code,
        handler=handler,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        reserved_concurrency=None,
        environment=environment or {},
        layer_dirs=(),
        max_retry_attempts=2,
        max_event_age_s=3600,
        on_failure=None,
    )


def config(function: FunctionSpec, key: str = "ASIAFUNCTIONKEY") -> EnvironmentConfig:
    credentials = ReadOnlyCredentials(key, "function-secret", "function-token")
    return EnvironmentConfig(function, credentials, "http://127.0.0.1:9", "eu-west-1")


@pytest.fixture
def functions() -> Iterator[list[LocalFunction]]:
    made: list[LocalFunction] = []
    yield made
    for function in made:
        function.stop()


def make(functions: list[LocalFunction], function: FunctionSpec, concurrency: int = 2) -> LocalFunction:
    local = LocalFunction(config(function), concurrency=concurrency)
    functions.append(local)
    return local


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_warm_environment_is_reused_and_a_cold_start_is_counted(
    tmp_path: Path, functions: list[LocalFunction]
) -> None:
    function = make(functions, spec(tmp_path))

    first = function.invoke({}, "request-1")
    second = function.invoke({}, "request-2")
    function.cold_start()
    third = function.invoke({}, "request-3")

    assert first["pid"] == second["pid"] != third["pid"]
    assert [first["count"], second["count"], third["count"]] == [1, 2, 1]  # module state lives on, warm
    assert [first["request_id"], second["request_id"]] == ["request-1", "request-2"]
    assert function.stats.cold_starts == 2
    assert len(function.stats.init_s) == 2  # Lambda's Init, process start to first invocation/next
    assert gone(first["pid"])


def test_each_environment_runs_one_invocation_at_a_time(
    tmp_path: Path, functions: list[LocalFunction]
) -> None:
    function = make(functions, spec(tmp_path), concurrency=2)
    answers: list[dict[str, Any]] = []
    runs = [
        threading.Thread(target=lambda n=n: answers.append(function.invoke({"do": "gate"}, f"gated-{n}")))
        for n in range(2)
    ]
    for run in runs:
        run.start()
    arrived = [tmp_path / f"arrived-gated-{n}" for n in range(2)]
    while not all(path.exists() for path in arrived):  # both inside the handler at once
        threading.Event().wait(0.01)
    (tmp_path / "gate").write_text("open")
    for run in runs:
        run.join(60)

    assert len({answer["pid"] for answer in answers}) == 2
    assert function.stats.cold_starts == 2


def test_an_environment_refuses_a_second_invocation_while_one_runs(tmp_path: Path) -> None:
    environment = Environment(config(spec(tmp_path)))
    try:
        running = threading.Thread(target=lambda: environment.invoke(b'{"do": "gate"}', "first", 60))
        running.start()
        while not (tmp_path / "arrived-first").exists():
            threading.Event().wait(0.01)
        with pytest.raises(RuntimeError, match="one invocation at a time"):
            environment.invoke(b"{}", "second", 60)
        (tmp_path / "gate").write_text("open")
        running.join(60)
    finally:
        environment.stop()


def test_past_its_timeout_an_invocation_is_killed_and_reported_as_lambda_does(
    tmp_path: Path, functions: list[LocalFunction]
) -> None:
    function = make(functions, spec(tmp_path, timeout_s=2))

    with pytest.raises(FunctionTimeout) as raised:
        function.invoke({"do": "hang"}, "slow")

    assert str(raised.value) == "Task timed out after 2.00 seconds"
    assert raised.value.error_type == "Sandbox.Timedout"
    assert gone(int((tmp_path / "arrived-slow").read_text()))  # killed, not left running
    assert function.stats.killed["timeout"] == 1
    assert function.invoke({}, "next")["count"] == 1  # a new environment


def test_a_timed_out_asynchronous_event_is_retried_with_its_request_id(
    tmp_path: Path, functions: list[LocalFunction]
) -> None:
    function = make(functions, spec(tmp_path, timeout_s=2))
    invoker = AsyncInvoker(function, retry_delays=(0.0,))
    try:
        request_id = invoker.invoke({"do": "hang-once"})
        assert invoker.wait_idle(120)
    finally:
        invoker.stop()

    assert (invoker.stats.invocations, invoker.stats.errors, invoker.stats.retries) == (2, 1, 1)
    assert invoker.stats.dead_lettered == 0
    assert gone(int((tmp_path / "hung").read_text()))
    assert (tmp_path / f"arrived-{request_id}").exists()


def test_a_process_that_exits_mid_call_is_a_runtime_exit_error(
    tmp_path: Path, functions: list[LocalFunction]
) -> None:
    function = make(functions, spec(tmp_path))

    with pytest.raises(FunctionError) as raised:
        function.invoke({"do": "exit"}, "crash")

    assert raised.value.error_type == "Runtime.ExitError"
    assert str(raised.value) == "RequestId: crash Error: Runtime exited with error: exit status 3"
    assert function.invoke({}, "after")["count"] == 1


def test_a_crash_fault_kills_the_environment_with_sigkill(
    tmp_path: Path, functions: list[LocalFunction]
) -> None:
    function = make(functions, spec(tmp_path))
    function.crash = lambda request_id: 0.0 if request_id == "doomed" else None

    with pytest.raises(FunctionError) as raised:
        function.invoke({"do": "hang"}, "doomed")

    assert raised.value.error_type == "Runtime.ExitError"
    assert str(raised.value).endswith("Runtime exited with error: signal: killed")
    assert function.stats.killed["chaos"] == 1
    [kill] = function.kills  # what chaos proves a remake with: which invocation, when, its event
    assert (kill.request_id, kill.reason, kill.event) == ("doomed", "chaos", {"do": "hang"})
    assert kill.handed_at is not None and kill.handed_at <= kill.killed_at
    assert function.invoke({}, "spared")["count"] == 1
    assert len(function.kills) == 1


def test_above_its_memory_size_the_process_is_killed_as_out_of_memory(
    tmp_path: Path, functions: list[LocalFunction]
) -> None:
    function = make(functions, spec(tmp_path, memory_mb=128))

    with pytest.raises(FunctionError) as raised:
        function.invoke({"do": "eat", "mb": 256}, "hungry")

    assert raised.value.error_type == "Runtime.OutOfMemory"
    assert str(raised.value) == "RequestId: hungry Error: Runtime exited with error: signal: killed"
    assert function.stats.killed["memory"] == 1


def test_an_error_of_the_handler_is_reported_with_its_type(
    tmp_path: Path, functions: list[LocalFunction]
) -> None:
    function = make(functions, spec(tmp_path))

    with pytest.raises(FunctionError) as raised:
        function.invoke({"do": "raise"}, "refused")

    assert (raised.value.error_type, str(raised.value)) == ("ValueError", "the event says no")
    assert raised.value.payload["stackTrace"]
    assert function.invoke({}, "warm")["count"] == 2  # an error does not end the environment


def test_a_handler_that_cannot_be_imported_fails_the_init(
    tmp_path: Path, functions: list[LocalFunction]
) -> None:
    function = make(functions, spec(tmp_path, handler="missing.handler"))

    with pytest.raises(FunctionError) as raised:
        function.invoke({}, "init")

    assert raised.value.error_type == "Runtime.ImportModuleError"
    assert "missing" in str(raised.value)


def test_each_function_sees_only_its_own_variables(
    tmp_path: Path, functions: list[LocalFunction], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDPHOTO_PARENT_ONLY", "not for functions")
    one = LocalFunction(config(spec(tmp_path / "one", "one", environment={"SHARED": "1", "ONLY_ONE": "a"})))
    two = LocalFunction(
        config(spec(tmp_path / "two", "two", memory_mb=512, environment={"SHARED": "2"}), "ASIATWOKEY")
    )
    functions.extend([one, two])
    names = [
        "SHARED",
        "ONLY_ONE",
        "IDPHOTO_PARENT_ONLY",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "_HANDLER",
        "LAMBDA_TASK_ROOT",
        "AWS_LAMBDA_LOG_GROUP_NAME",
    ]

    seen_one = one.invoke({"env": names})["env"]
    seen_two = two.invoke({"env": names})["env"]

    assert seen_one == {
        "SHARED": "1",
        "ONLY_ONE": "a",
        "IDPHOTO_PARENT_ONLY": None,
        "AWS_LAMBDA_FUNCTION_NAME": "local-one",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_ACCESS_KEY_ID": "ASIAFUNCTIONKEY",
        "AWS_SESSION_TOKEN": "function-token",
        "AWS_REGION": "eu-west-1",
        "_HANDLER": "app.handler",
        "LAMBDA_TASK_ROOT": str(tmp_path / "one"),
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/local-one",
    }
    assert seen_two["SHARED"] == "2"
    assert seen_two["ONLY_ONE"] is None
    assert seen_two["AWS_LAMBDA_FUNCTION_NAME"] == "local-two"
    assert seen_two["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert seen_two["AWS_ACCESS_KEY_ID"] == "ASIATWOKEY"


def test_what_a_function_prints_is_kept_as_its_own(tmp_path: Path, functions: list[LocalFunction]) -> None:
    one = make(functions, spec(tmp_path / "one", "one"))
    two = make(functions, spec(tmp_path / "two", "two"))

    one.invoke({"do": "print", "line": "from one"})
    two.invoke({"do": "print", "line": "from two"})
    while "from one" not in one.logs or "from two" not in two.logs:  # the log pump is a thread
        threading.Event().wait(0.01)

    assert "from two" not in one.logs
    assert "from one" not in two.logs
