"""Throughput through the local stack, and the peak RSS of each handler.

Throughput: the stand-in answers every vendor call 1 s late; make-photo runs on 20 environments (the
template's ReservedConcurrentExecutions, set through ``MakePhotoConcurrency=20``). N portraits are
uploaded with ``put_object`` from 4 client threads; photos/s = photos MADE / (last handler return -
first upload started). Ideal: 20 environments / 1 s = 20 photos/s. The floor runs through the very
same stack: its handler (presign, POST, ``put_item``) swapped in for ours, same uploads, S3 events and
20 environments. Both runs report CPU seconds per photo, split where it can be: the stand-in (it
really makes each photo, on its request thread), the handler's thread, and the rest (moto, uploads,
event delivery), since all of them share this one process and the machine's cores.

Peak RSS: each handler kind in a fresh process (:mod:`bench.child`) doing real work against the stack,
``ru_maxrss`` at the end; the floor likewise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from bench import child
from bench.context import FLOOR_SOURCE_KEY, ROOT
from bench.floor import Floor
from bench.report import Row, Section, median, ms, ratio
from bench.stackrun import CONCURRENCY, VENDOR_CPU, Invocation, event_key

if TYPE_CHECKING:
    from bench.context import Context

LATENCY_MS: Final = 1000
IDEAL: Final = CONCURRENCY / (LATENCY_MS / 1000)
TARGET_SHARE: Final = 0.9
TARGET_RSS_MB: Final = 100
UPLOAD_THREADS: Final = 4


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def _peak_overlap(calls: list[Invocation]) -> int:
    edges = sorted([(c.started, 1) for c in calls] + [(c.ended, -1) for c in calls])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


@dataclass
class Run:
    rate: float  # photos MADE per second
    cpu: float  # process CPU seconds per photo
    handler_cpu: float  # median CPU of a handler's own thread
    vendor_cpu: float  # mean CPU of the stand-in per vendor call
    calls: list[Invocation]

    @property
    def outcomes(self) -> dict[str, int]:
        return dict(Counter(c.outcome for c in self.calls))


def _floor_handler(floor: Floor) -> Callable[[dict[str, Any], Any], Any]:
    """The floor as a make-photo handler: same event, same stack, one presign, POST, put_item."""

    def handle(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        source = event["Records"][0]["s3"]["object"]
        key = event_key(event)
        floor.make_photo(key, source.get("versionId"))
        return {"results": [{"key": key, "outcome": "MADE", "detail": "floor"}]}

    return handle


def _through_stack(ctx: Context, name: str, uploads: int) -> Run:
    bench = ctx.stack
    keys = [f"bench/throughput-{name}-{i}.jpg" for i in range(uploads)]
    seen, vendor_seen = bench.make.count, len(VENDOR_CPU)
    cpu, started = _cpu(), time.monotonic()
    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        full_keys = set(pool.map(lambda key: bench.stack.upload(key, ctx.portrait), keys))
    bench.make.wait_for(seen + uploads, timeout=uploads + 120)
    bench.stack.wait_idle(120)  # retries of failed attempts, if any, finish too
    calls = [c for c in bench.make.calls[seen:] if c.key in full_keys]
    made = sum(1 for c in calls if c.outcome == "MADE")
    elapsed = max(c.ended for c in calls) - started
    vendor = VENDOR_CPU[vendor_seen:]
    return Run(
        rate=made / elapsed,
        cpu=(_cpu() - cpu) / max(made, 1),
        handler_cpu=median([c.cpu_s for c in calls]),
        vendor_cpu=sum(vendor) / max(len(vendor), 1),
        calls=calls,
    )


def run(ctx: Context) -> Section:
    uploads = 20 if ctx.quick else 500
    # Half as many for the floor in a full run: a rate needs no more, and the run stays under 10 min.
    floor_uploads = uploads if ctx.quick else uploads // 2
    bench = ctx.stack
    ctx.progress(f"throughput: {uploads} uploads, vendor +{LATENCY_MS} ms, {CONCURRENCY} environments")
    bench.vendor_latency(LATENCY_MS)
    try:
        ours = _through_stack(ctx, "ours", uploads)
        ctx.progress(f"throughput: the floor's handler through the same stack, {floor_uploads} uploads")
        with bench.make.swapped(_floor_handler(ctx.floor)):
            floor = _through_stack(ctx, "floor", floor_uploads)
    finally:
        bench.vendor_latency(0)
    section = Section()
    section.rows.append(
        Row(
            f"throughput, {uploads} uploads, vendor 1 s, {CONCURRENCY} environments (ideal {IDEAL:.0f}/s)",
            f"{ours.rate:.1f} photos/s ({ours.rate / IDEAL:.2f} of ideal)",
            f"{floor.rate:.1f} photos/s ({floor.rate / IDEAL:.2f}; {floor_uploads} uploads)",
            ratio(ours.rate, floor.rate),
            f">= {TARGET_SHARE * IDEAL:.0f}/s ({TARGET_SHARE} of ideal)",
            ours.rate >= TARGET_SHARE * IDEAL,
        )
    )
    cores = os.cpu_count() or 1
    section.notes.append(
        f"Throughput: N uploads by `put_object` from {UPLOAD_THREADS} threads, rate = photos MADE / (last "
        f"handler return - first upload); the floor's handler swapped in for ours, same uploads, events "
        f"and 20 environments, run after ours. Outcomes ours {ours.outcomes}, floor {floor.outcomes}; at "
        f"most {_peak_overlap(ours.calls)} of our handlers ran at once; our vendor calls took "
        f"{ms(median([c.tally.vendor_s for c in ours.calls]))} (1 s injected + making the photo on a "
        f"shared CPU). The machine is the limit: CPU of the whole process per photo ours {ms(ours.cpu)}, "
        f"floor {ms(floor.cpu)}, of which the stand-in making the photo {ms(ours.vendor_cpu)} and the "
        f"handler's own thread ours {ms(ours.handler_cpu)}, floor {ms(floor.handler_cpu)} (the rest: moto, "
        f"uploads, event delivery); {cores} cores / {ms(floor.cpu)} caps even the floor near "
        f"{cores / max(floor.cpu, 1e-9):.0f} photos/s here."
    )
    return section


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
