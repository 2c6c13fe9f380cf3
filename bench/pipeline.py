"""Throughput of the pipeline itself: the stand-in in thin mode (fixed latency, canned images, no image
work), so the two cores go to our handlers and moto, and the figure says something about our code.

Part of ``make bench`` (section ``throughput``), and on its own:

``python -m bench.pipeline [N]``: N uploads (default 500), vendor latency 1 s, make-photo on 20
environments; upload-to-READY p50/p95 and photos/s against the ideal 20/s; then the same with
automatic finals on (``AutoFinals=auto``: one billed call, also 1 s, and two downloads per photo),
upload-to-finals-kept; then the guaranteed floor's handler (:meth:`bench.floor.Floor.make_photo_guaranteed`)
through the same stack. CPU-ms per photo: the handlers' own threads, the stand-in, and the rest of the
process (moto, the uploads, S3 and EventBridge delivery, the local Lambda invoker), which is the next
bottleneck's name. Each run has its own fresh stack.

``python -m bench.pipeline batch [N]``: N portraits (default 1000) through ``idphoto batch --finals``
on the local stack, then the tally: lost, made twice, billed calls against finals wanted, and events
delivered to the webhook (distinct ``event_id``s) against the state changes.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from bench.context import ROOT
from bench.floor import Floor
from bench.report import Row, Section, ratio
from bench.stackrun import (
    RETRY_DELAYS,
    VENDOR_CPU,
    BenchStack,
    Tap,
    children_cpu,
    event_key,
    functions_environment,
    s3_record,
)
from local.stack import Ports, Stack, samples, start_stack
from local.stack.webhook import WebhookReceiver

if TYPE_CHECKING:
    from bench.context import Context

CONCURRENCY: Final = 20
LATENCY_MS: Final = 1000
IDEAL: Final = CONCURRENCY / (LATENCY_MS / 1000)
TARGET_SHARE: Final = 0.9
UPLOAD_THREADS: Final = 4
AUTO: Final = "AutoFinalsFunction"
MARK: Final = "BENCH_PIPELINE "
MODES: Final[dict[str, dict[str, bool]]] = {
    "ours": {},
    "auto": {"auto_finals": True},
    "floor": {"floor": True},
}


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def _thin(stack: Stack, latency_ms: int) -> None:
    http = stack._http  # the stack's own session to the stand-in's admin routes
    http.post(f"{stack.vendor_url}/_admin/config", json={"thin": True}, timeout=5).raise_for_status()
    stack.vendor_faults({"latency_ms": latency_ms})


def _floor_handler(floor: Floor) -> Callable[[dict[str, Any], str | None], Any]:
    """The guaranteed floor in make-photo's place: same event, same stack, same guarantees. It runs in
    this process (threads under one interpreter lock), not in environments of its own."""

    def handle(event: dict[str, Any], request_id: str | None = None) -> dict[str, Any]:
        source = s3_record(event)["s3"]["object"]
        key = event_key(event)
        claim = request_id or str(uuid.uuid4())
        floor.make_photo_guaranteed(key, source.get("versionId"), source["sequencer"], claim)
        return {"results": [{"key": key, "outcome": "MADE", "detail": "floor"}]}

    return handle


@dataclass(frozen=True)
class Throughput:
    uploads: int
    photos: int  # MADE (or finals kept, with automatic finals)
    outcomes: dict[str, int]
    p50: float  # seconds from the upload's start to READY (or to the finals kept)
    p95: float
    rate: float  # photos per second, first upload started to last handler returned
    ours_ms: float  # CPU-ms per photo: the handlers' own threads
    vendor_ms: float  # the stand-in
    rest_ms: float  # the rest of the process: moto, uploads, delivery, the invoker

    @property
    def share(self) -> float:
        return self.rate / IDEAL

    @property
    def cpu(self) -> str:
        return f"{self.ours_ms:.0f} / {self.vendor_ms:.0f} / {self.rest_ms:.0f}"


def throughput(n: int, *, auto_finals: bool = False, floor: bool = False) -> Throughput:
    parameters = {"MakePhotoConcurrency": str(CONCURRENCY), "AutoFinals": "auto" if auto_finals else "off"}
    with (
        start_stack(ports=Ports.ephemeral(), parameters=parameters, retry_delays=RETRY_DELAYS) as stack,
        functions_environment(stack),
    ):
        bench = BenchStack(stack)
        auto = Tap(stack.functions[AUTO])
        _thin(stack, LATENCY_MS)
        body = samples.astronaut()
        bench.upload_and_wait("warm/first.jpg", body, timeout=60)  # imports and clients made once
        if auto_finals:
            auto.wait_for(1, 60)
        if floor:
            bench.make.invoke = _floor_handler(
                Floor(stack.bucket, stack.table, stack.vendor_url, stack.appcode)
            )
            bench.upload_and_wait("warm/floor.jpg", body, timeout=60)
        make_seen, auto_seen = bench.make.count, auto.count
        VENDOR_CPU.clear()
        uploaded: dict[str, float] = {}
        cpu = _cpu()

        def put(i: int) -> None:
            started = time.monotonic()
            key = stack.upload(f"bench/p{i:05d}.jpg", body)
            uploaded[key] = started

        with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
            list(pool.map(put, range(n)))
        makes = bench.make.wait_for(make_seen + n, 60 + 2 * n)[make_seen:]
        autos = auto.wait_for(auto_seen + n, 60 + 2 * n)[auto_seen:] if auto_finals else []
        process_cpu = _cpu() - cpu
        children = children_cpu()
    # The environments' processes, reaped when the stack stopped (the warm-up photo's share included).
    handler_cpu = children_cpu() - children
    first = min(uploaded.values())
    made = [c for c in makes if c.outcome == "MADE" and c.key in uploaded]
    ready = [c.ended - uploaded[c.key] for c in made]
    kept = [c.ended - uploaded[c.key] for c in autos if c.key in uploaded and c.error is None]
    done = kept if auto_finals else ready
    end = max(c.ended for c in (autos or makes))
    vendor_cpu = sum(VENDOR_CPU)
    return Throughput(
        uploads=n,
        photos=len(done),
        outcomes=dict(Counter(c.outcome for c in makes)),
        p50=_percentile(done, 0.5),
        p95=_percentile(done, 0.95),
        rate=len(done) / (end - first),
        ours_ms=1000 * handler_cpu / n,
        vendor_ms=1000 * vendor_cpu / n,
        rest_ms=1000 * (process_cpu - vendor_cpu) / n,
    )


def in_child(n: int, mode: str, log: Path) -> Throughput:
    """One run in a process of its own: moto's state is global to a process, so a stack of its own
    must not share one with the bench's other stack (and gets an interpreter lock of its own)."""
    with log.open("a", encoding="utf-8") as out:
        done = subprocess.run(  # noqa: S603 - our interpreter, our module
            [sys.executable, "-m", "bench.pipeline", "one", str(n), mode],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
            timeout=900 + 2 * n,
            check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"bench.pipeline {mode} failed ({done.returncode}); its log is in {log}")
    return Throughput(**json.loads(lines[-1].removeprefix(MARK)))


def run(ctx: Context) -> Section:
    uploads = 40 if ctx.quick else 500
    floor_uploads = uploads if ctx.quick else uploads // 2  # a rate needs no more; the run stays shorter
    ctx.progress(f"throughput: {uploads} uploads, thin vendor {LATENCY_MS} ms, {CONCURRENCY} environments")
    ours = in_child(uploads, "ours", ctx.log)
    ctx.progress(f"throughput: the same with automatic finals, {uploads} uploads")
    auto = in_child(uploads, "auto", ctx.log)
    ctx.progress(f"throughput: the guaranteed floor's handler, {floor_uploads} uploads")
    floor = in_child(floor_uploads, "floor", ctx.log)
    what = f"{uploads} uploads, thin vendor 1 s, {CONCURRENCY} environments"
    target = f">= {TARGET_SHARE * IDEAL:.0f}/s ({TARGET_SHARE} of ideal)"
    section = Section()
    section.rows += [
        Row(
            f"pipeline, {what}: upload -> READY, p50 / p95",
            f"{ours.p50:.2f} s / {ours.p95:.2f} s",
            f"{floor.p50:.2f} s / {floor.p95:.2f} s",
            ratio(ours.p50, floor.p50),
        ),
        Row(
            f"pipeline, {what}: photos READY per second (ideal {IDEAL:.0f}/s)",
            f"{ours.rate:.1f}/s ({ours.share:.2f} of ideal)",
            f"{floor.rate:.1f}/s ({floor.share:.2f}; {floor_uploads} uploads)",
            ratio(ours.rate, floor.rate),
            target,
            ours.rate >= TARGET_SHARE * IDEAL,
        ),
        Row(
            f"pipeline with automatic finals, {what}: upload -> finals kept, p50 / p95",
            f"{auto.p50:.2f} s / {auto.p95:.2f} s",
        ),
        Row(
            f"pipeline with automatic finals, {what}: photos with finals kept per second",
            f"{auto.rate:.1f}/s ({auto.share:.2f} of ideal)",
            target=target,
            met=auto.rate >= TARGET_SHARE * IDEAL,
        ),
        Row(
            "pipeline CPU-ms per photo: our handlers / the stand-in / moto and the rest of the emulation",
            f"{ours.cpu} (with automatic finals {auto.cpu})",
            floor.cpu,
            ratio(ours.ours_ms, floor.ours_ms),
        ),
    ]
    cores = os.cpu_count() or 1
    total = (ours.ours_ms + ours.vendor_ms + ours.rest_ms) / 1000
    section.notes.append(
        f"Pipeline: the stand-in in thin mode (it still downloads each upload from its presigned URL, "
        f"then answers canned images after {LATENCY_MS} ms), {UPLOAD_THREADS} threads uploading with "
        f"`put_object`; photos/s = photos done / (last handler return - first upload started); each run "
        f"on a fresh stack. Outcomes ours {ours.outcomes}, with automatic finals {auto.outcomes}, floor "
        f"{floor.outcomes}. CPU per photo (handlers' own threads / stand-in / the rest of this one "
        f"process: moto answering every AWS call, the uploads, the S3 and EventBridge delivery, the local "
        f"invoker): the rest is the bottleneck; {total * 1000:.0f} CPU-ms per photo on {cores} cores, "
        f"most of it under one interpreter lock, caps this machine near {1 / max(total, 1e-9):.0f}-"
        f"{cores / max(total, 1e-9):.0f} photos/s whatever the handler does. In Lambda the handlers run "
        "in their own environments and the AWS side is not ours to pay in CPU."
    )
    return section


def batch_run(n: int) -> dict[str, Any]:
    from PIL import Image

    from idphoto_cli.main import main

    with tempfile.TemporaryDirectory() as tmp, WebhookReceiver() as webhook:
        folder, out = Path(tmp) / "portraits", Path(tmp) / "out"
        folder.mkdir()
        for i in range(n):  # distinct contents, so distinct photos (thin mode never decodes them)
            # Big enough for a 600 x 600 US passport photo (smaller uploads are refused as too small).
            image = Image.new("RGB", (640, 800), (i % 256, (i // 256) % 256, 200))
            image.save(folder / f"p{i:05d}.jpg", "JPEG")
        parameters = {
            "MakePhotoConcurrency": str(CONCURRENCY),
            "WebhookUrl": webhook.url,
            "WebhookAuthHeaderValue": "bench-webhook-key",
        }
        with start_stack(ports=Ports.ephemeral(), parameters=parameters, retry_delays=RETRY_DELAYS) as stack:
            assert stack.eventbridge is not None
            stack.eventbridge.trust(webhook.ca_file)
            _thin(stack, 200)
            os.environ["IDPHOTO_AWS_PORT"] = str(urlsplit(stack.aws_url).port)
            os.environ["IDPHOTO_API_PORT"] = str(urlsplit(stack.api_url).port)
            started = time.monotonic()
            argv = [
                "batch",
                str(folder),
                "--spec",
                "us-passport",
                "--background",
                "white",
                "--finals",
                "--yes",
            ]
            code = main(
                [*argv, "--out", str(out), "--concurrency", "16", "--timeout", "900"],
                io.StringIO(),
                sys.stderr,
            )
            seconds = time.monotonic() - started
            drained = stack.wait_idle(600) and stack.eventbridge.wait_idle(600)
            stats = stack.vendor_stats()
            refused = sum(1 for d in stack.eventbridge.log.attempts if not d.ok)
        report = (out / "report.csv").read_text().splitlines()[1:]
        received = webhook.received()
    ready = sum(1 for line in report if ",READY," in line)
    by_type: dict[str, set[str]] = {}
    for request in received:
        by_type.setdefault(request.body["detail-type"], set()).add(request.body["detail"]["event_id"])
    return {
        "exit": code,
        "drained": drained,
        "seconds": seconds,
        "portraits": n,
        "ready": ready,
        "lost": n - ready,
        "make_calls": stats["make_calls"],
        "made_twice": stats["make_calls"] - n,
        "billed": stats["billed_calls"],
        "finals_wanted": n,
        "ready_events": len(by_type.get("Photo Ready", ())),
        "kept_events": len(by_type.get("Finals Kept", ())),
        "webhook_requests": len(received),
        "webhook_attempts_failed_then_retried": refused,
    }


def main(argv: list[str]) -> None:
    if argv[:1] == ["one"]:  # one run, for bench's throughput section (in_child)
        one = throughput(int(argv[1]), **MODES[argv[2]])
        print(MARK + json.dumps(dataclasses.asdict(one)), flush=True)
        return
    if argv[:1] == ["batch"]:
        result = batch_run(int(argv[1]) if len(argv) > 1 else 1000)
        print("| quantity | value |\n|---|---|")
        for name, value in result.items():
            print(f"| {name} | {value if not isinstance(value, float) else f'{value:.1f}'} |")
        return
    from bench import bytecode

    bytecode.compile_all()
    n = int(argv[0]) if argv else 500
    print(f"{n} uploads, vendor (thin) latency {LATENCY_MS} ms, make-photo concurrency {CONCURRENCY}")
    print("| run | p50 s | p95 s | photos/s | of ideal 20/s | CPU-ms/photo ours / stand-in / moto + rest |")
    print("|---|---|---|---|---|---|")
    runs: tuple[tuple[str, dict[str, bool]], ...] = (
        ("upload -> READY", {}),
        ("upload -> finals kept (AutoFinals=auto)", {"auto_finals": True}),
        ("the guaranteed floor: upload -> READY", {"floor": True}),
    )
    for label, options in runs:
        r = throughput(n, **options)
        print(f"| {label} | {r.p50:.2f} | {r.p95:.2f} | {r.rate:.1f} | {r.share:.2f} | {r.cpu} |", flush=True)
        print(f"<!-- outcomes {r.outcomes} -->", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
