"""One kind of work in a fresh process, for its peak RSS: ``python -m bench.child KIND WORK.json``.

KIND is ``make`` or ``get`` (our handler file loaded as Lambda loads it, the layer on ``sys.path``,
invoked once per event in WORK) or ``floor-make`` / ``floor-get`` (:class:`bench.floor.Floor`). The
stack's environment comes from the parent (endpoint, table, bucket, vendor URL), so the work is real:
vendor calls, moto over HTTP. Only the standard library is imported before the work's own imports,
so the peak is the handler's (or the floor's), not the benchmark's. The last stdout line is
``BENCH_CHILD {json}``: peak RSS after initialisation and at the end (KB, see :func:`peak_kb`), each
invocation's seconds and outcome.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import resource
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
MARK: Final = "BENCH_CHILD "
FUNCTIONS: Final = {"make": ("make_photo", 180.0), "get": ("get_photo", 29.0)}


class LambdaContext:
    """The attributes of the Python runtime's context object that Powertools and the handlers read."""

    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def __init__(self, timeout_s: float) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return int(max(0.0, self._deadline - time.monotonic()) * 1000)


def peak_kb() -> int:
    """This program's peak resident set, KB.

    ``ru_maxrss`` alone would be wrong here: Linux carries the forking parent's high-water mark over
    ``execve`` into it (the benchmark's parent holds moto and the stand-in: over 1 GB). ``VmHWM`` is the
    high-water mark of this process's own memory map, which ``execve`` starts afresh.
    """
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def handler_work(kind: str, events: list[dict[str, Any]]) -> list[Callable[[], str]]:
    folder, timeout_s = FUNCTIONS[kind]
    sys.path.insert(0, str(ROOT / "layers" / "idphoto"))
    spec = importlib.util.spec_from_file_location("app", ROOT / "functions" / folder / "app.py")
    if spec is None or spec.loader is None:
        raise ImportError(folder)
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    handler = module.lambda_handler

    def invoke(event: dict[str, Any]) -> str:
        result = handler(event, LambdaContext(timeout_s))
        if "statusCode" in result:
            return str(result["statusCode"])
        return ",".join(r["outcome"] for r in result["results"])

    return [functools.partial(invoke, event) for event in events]


def floor_work(kind: str, work: dict[str, Any]) -> list[Callable[[], str]]:
    from bench.floor import Floor

    floor = Floor.from_env()
    records: list[str] = work["records"]

    def make(record: str) -> str:
        floor.make_photo(work["source"], None, record)
        return "MADE"

    def answer(step: Callable[[str], dict[str, Any]], record: str) -> str:
        return str(step(record)["statusCode"])

    if kind == "floor-make":
        return [functools.partial(make, r) for r in records]
    steps = (floor.status, floor.billed_final, floor.kept_final)
    return [functools.partial(answer, step, r) for r in records for step in steps]


def main() -> None:
    kind, path = sys.argv[1], Path(sys.argv[2])
    work = json.loads(path.read_text(encoding="utf-8"))
    started = time.perf_counter()
    steps = handler_work(kind, work["events"]) if kind in FUNCTIONS else floor_work(kind, work)
    init_s = time.perf_counter() - started
    init_kb = peak_kb()
    seconds: list[float] = []
    outcomes: list[str] = []
    for step in steps:
        began = time.perf_counter()
        outcomes.append(step())
        seconds.append(time.perf_counter() - began)
    report = {
        "init_s": init_s,
        "init_kb": init_kb,
        "peak_kb": peak_kb(),
        "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "seconds": seconds,
        "outcomes": outcomes,
    }
    print(MARK + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
