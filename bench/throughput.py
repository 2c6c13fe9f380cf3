"""The peak RSS of each handler (throughput is :mod:`bench.pipeline`).

Peak RSS: each handler kind in a fresh process (:mod:`bench.child`) doing real work against the stack,
``ru_maxrss`` at the end; the floor likewise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from bench import child
from bench.context import FLOOR_SOURCE_KEY, ROOT
from bench.report import Row, Section, median, ms, ratio
from bench.stackrun import CONCURRENCY, event_key

if TYPE_CHECKING:
    from bench.context import Context

LATENCY_MS: Final = 1000
IDEAL: Final = CONCURRENCY / (LATENCY_MS / 1000)
TARGET_SHARE: Final = 0.9
TARGET_RSS_MB: Final = 100
UPLOAD_THREADS: Final = 4


# --- peak RSS ----------------------------------------------------------------------------------------


def _child(kind: str, work: dict[str, Any], appcode: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(work, handle)
    try:
        done = subprocess.run(  # noqa: S603 - our interpreter, our module
            [sys.executable, "-m", "bench.child", kind, handle.name],
            env={**os.environ, "BENCH_APPCODE": appcode},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        Path(handle.name).unlink()
    lines = [line for line in done.stdout.splitlines() if line.startswith(child.MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"child {kind} failed ({done.returncode}): {done.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(lines[-1].removeprefix(child.MARK))
    return report


def _mb(kb: int) -> float:
    return kb / 1024


def run_rss(ctx: Context) -> Section:
    photos = 3 if ctx.quick else 20
    bench = ctx.stack
    stack = bench.stack
    bench.vendor_latency(0)
    ctx.progress(f"peak RSS: {photos} photos made and fetched in fresh processes, ours and the floor")
    # The stack delivers these uploads' events to the tap, which keeps them for the child to run.
    prefix = f"{stack.upload_prefix}bench/rss/"
    bench.make.hold = lambda event: event_key(event).startswith(prefix)
    seen = bench.make.count
    try:
        for i in range(photos):
            stack.upload(f"bench/rss/{i}.jpg", ctx.portrait)
        held = [c for c in bench.make.wait_for(seen + photos, 60)[seen:] if c.held]
    finally:
        bench.make.hold = None
    make = _child("make", {"events": [c.event for c in held]}, stack.appcode)
    get_events = []
    for invocation in held:
        get_events += [
            bench.api_event("GET", "photos", invocation.key),
            bench.api_event("POST", "finals", invocation.key, "color=white"),
            bench.api_event("POST", "finals", invocation.key, "color=white"),
        ]
    get = _child("get", {"events": get_events}, stack.appcode)
    records = [f"floor/rss-{i}" for i in range(photos)]
    floor_make = _child("floor-make", {"source": FLOOR_SOURCE_KEY, "records": records}, stack.appcode)
    floor_get = _child("floor-get", {"records": records}, stack.appcode)

    section = Section()
    for name, ours, floor, work in (
        ("make-photo", make, floor_make, f"{photos} photos"),
        ("get-photo", get, floor_get, f"{photos} x status, billed and kept finals"),
    ):
        peak, floor_peak = _mb(ours["peak_kb"]), _mb(floor["peak_kb"])
        section.rows.append(
            Row(
                f"peak RSS {name}, fresh process, {work}",
                f"{peak:.0f} MB",
                f"{floor_peak:.0f} MB",
                ratio(peak, floor_peak),
                f"<= {TARGET_RSS_MB} MB",
                peak <= TARGET_RSS_MB,
            )
        )
    section.notes.append(
        "Peak RSS: a fresh `python -m bench.child` process per kind (handler file + layer on `sys.path`, "
        "as Lambda loads them; the floor's module alone) doing real invocations against the stack; peak "
        "= `VmHWM` of /proc/self/status, not `ru_maxrss`, which Linux carries over `execve` from the "
        f"forking parent (it read {_mb(make['ru_maxrss_kb']):.0f} MB: the bench's own moto and "
        "stand-in). First invocation in those processes vs the median of the rest (clients, secret and "
        f"connections are made on first use): make-photo {_first(make)}, get-photo status "
        f"{_first(get, 3)}. Outcomes {dict(Counter(make['outcomes']))}, {dict(Counter(get['outcomes']))}."
    )
    return section


def _first(report: dict[str, Any], every: int = 1) -> str:
    seconds: list[float] = report["seconds"][::every]
    return f"{ms(seconds[0])} vs {ms(median(seconds[1:]))}"
