"""Throughput of the pipeline itself: the stand-in in thin mode (fixed latency, canned images, no image
work), so the two cores go to our handlers and moto, and the figure says something about our code.

``python -m bench.pipeline [N]``: N uploads (default 500), vendor latency 1 s, make-photo on 20
environments; upload-to-READY p50/p95 and photos/s against the ideal 20/s; then the same with
automatic finals on (``AutoFinals=auto``: one billed call, also 1 s, and two downloads per photo),
upload-to-finals-kept. CPU-ms per photo: our handlers' own threads, the stand-in, and the rest of the
process (moto, the uploads, S3 and EventBridge delivery), which is the next bottleneck's name.

``python -m bench.pipeline batch [N]``: N portraits (default 1000) through ``idphoto batch --finals``
on the local stack, then the tally: lost, made twice, billed calls against finals wanted, and events
delivered to the webhook (distinct ``event_id``s) against the state changes.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from bench.stackrun import RETRY_DELAYS, VENDOR_CPU, BenchStack, Tap
from local.stack import Ports, Stack, samples, start_stack
from local.stack.webhook import WebhookReceiver

CONCURRENCY: Final = 20
LATENCY_MS: Final = 1000
IDEAL: Final = CONCURRENCY / (LATENCY_MS / 1000)
UPLOAD_THREADS: Final = 4
AUTO: Final = "AutoFinalsFunction"


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


def throughput(n: int, *, auto_finals: bool) -> dict[str, Any]:
    parameters = {"MakePhotoConcurrency": str(CONCURRENCY), "AutoFinals": "auto" if auto_finals else "off"}
    with start_stack(ports=Ports.ephemeral(), parameters=parameters, retry_delays=RETRY_DELAYS) as stack:
        bench = BenchStack(stack)
        auto = Tap(stack.functions[AUTO])
        _thin(stack, LATENCY_MS)
        body = samples.astronaut()
        bench.upload_and_wait("warm/first.jpg", body, timeout=60)  # imports and clients made once
        if auto_finals:
            auto.wait_for(1, 60)
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
        makes = bench.make.wait_for(make_seen + n, 600)[make_seen:]
        autos = auto.wait_for(auto_seen + n, 600)[auto_seen:] if auto_finals else []
        process_cpu = _cpu() - cpu
    first = min(uploaded.values())
    made = [c for c in makes if c.outcome == "MADE" and c.key in uploaded]
    ready = [c.ended - uploaded[c.key] for c in made]
    kept = [c.ended - uploaded[c.key] for c in autos if c.key in uploaded and c.error is None]
    end = max(c.ended for c in (autos or makes))
    handler_cpu = sum(c.cpu_s for c in makes) + sum(c.cpu_s for c in autos)
    vendor_cpu = sum(VENDOR_CPU)
    return {
        "photos": len(made),
        "outcomes": dict(Counter(c.outcome for c in makes)),
        "p50": _percentile(kept or ready, 0.5),
        "p95": _percentile(kept or ready, 0.95),
        "rate": len(kept or made) / (end - first),
        "ours_ms": 1000 * handler_cpu / n,
        "vendor_ms": 1000 * vendor_cpu / n,
        "rest_ms": 1000 * (process_cpu - handler_cpu - vendor_cpu) / n,
    }


def batch_run(n: int) -> dict[str, Any]:
    from PIL import Image

    from idphoto_cli.main import main

    with tempfile.TemporaryDirectory() as tmp, WebhookReceiver() as webhook:
        folder, out = Path(tmp) / "portraits", Path(tmp) / "out"
        folder.mkdir()
        for i in range(n):  # distinct contents, so distinct photos (thin mode never decodes them)
            image = Image.new("RGB", (64, 80), (i % 256, (i // 256) % 256, 200))
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
            argv = ["batch", str(folder), "--spec", "us-passport", "--background", "white", "--finals"]
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
    if argv[:1] == ["batch"]:
        result = batch_run(int(argv[1]) if len(argv) > 1 else 1000)
        print("| quantity | value |\n|---|---|")
        for name, value in result.items():
            print(f"| {name} | {value if not isinstance(value, float) else f'{value:.1f}'} |")
        return
    n = int(argv[0]) if argv else 500
    print(f"{n} uploads, vendor (thin) latency {LATENCY_MS} ms, make-photo concurrency {CONCURRENCY}")
    print("| run | p50 s | p95 s | photos/s | of ideal 20/s | CPU-ms/photo ours | stand-in | moto + rest |")
    print("|---|---|---|---|---|---|---|---|")
    for label, auto in (("upload -> READY", False), ("upload -> finals kept (AutoFinals=auto)", True)):
        r = throughput(n, auto_finals=auto)
        print(
            f"| {label} | {r['p50']:.2f} | {r['p95']:.2f} | {r['rate']:.1f} | {r['rate'] / IDEAL:.2f} |"
            f" {r['ours_ms']:.1f} | {r['vendor_ms']:.1f} | {r['rest_ms']:.1f} |",
            flush=True,
        )
        print(f"<!-- outcomes {r['outcomes']} -->", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
