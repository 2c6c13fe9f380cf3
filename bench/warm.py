"""Warm make-photo: our time per upload minus the vendor's, against the floor, and AWS calls per upload.

Ours: a portrait is uploaded to the stack's bucket with ``put_object`` (no metadata: the template's
defaults, spec 1 on white); the real S3 notification reaches the handler through the stack's event
pump; the handler is timed from entry to return (what Lambda bills). The floor runs on the bench's
thread in the same process, against the same moto server and stand-in (zero added latency), on the
same portrait with the same vendor options. The two alternate (ours first on even rounds, the floor
first on odd ones), and the first rounds are thrown away (first-call costs: secret, connections).

The vendor's time is subtracted per call, measured the same way for both: the wall time of the HTTP
exchange with the stand-in as the client sees it (``requests.Session.send``, body included; see
:mod:`bench.probe`). What remains is ours: AWS calls (HTTP to moto), presigning, options, records,
logs and metrics.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from typing import TYPE_CHECKING, Final

from bench import probe
from bench.context import FLOOR_SOURCE_KEY
from bench.report import Row, Section, median, ms, ratio

if TYPE_CHECKING:
    from bench.context import Context

TARGET_RATIO: Final = 1.25
TARGET_CALLS: Final = 3
WARMUP: Final = 2


def run(ctx: Context) -> Section:
    rounds = 6 if ctx.quick else 40
    bench, floor = ctx.stack, ctx.floor
    bench.vendor_latency(0)
    ctx.progress(f"warm make-photo: {rounds} uploads, ours and the floor alternating")
    ours_net: list[float] = []
    floor_net: list[float] = []
    ours_vendor: list[float] = []
    floor_vendor: list[float] = []
    ours_aws: list[float] = []
    floor_aws: list[float] = []
    ours_tallies: list[probe.Tally] = []
    floor_tallies: list[probe.Tally] = []
    ours_cpu: list[float] = []
    floor_cpu: list[float] = []
    calls: Counter[int] = Counter()
    ops: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for index in range(WARMUP + rounds):

        def ours(index: int = index) -> None:
            invocation = bench.upload_and_wait(f"bench/warm-{index}.jpg", ctx.portrait)
            outcomes[invocation.outcome] += 1
            if index >= WARMUP:
                tally = invocation.tally
                ours_net.append(invocation.seconds - tally.vendor_s)
                ours_vendor.append(tally.vendor_s)
                ours_aws.append(tally.aws_s)
                ours_tallies.append(tally)
                ours_cpu.append(invocation.cpu_s)
                calls[tally.aws_calls] += 1
                ops[tally.ops()] += 1

        def the_floor(index: int = index) -> None:
            with probe.tallying() as tally:
                cpu, started = time.thread_time(), time.perf_counter()
                floor.make_photo(FLOOR_SOURCE_KEY, None)
                elapsed = time.perf_counter() - started
                cpu = time.thread_time() - cpu
            if index >= WARMUP:
                floor_net.append(elapsed - tally.vendor_s)
                floor_vendor.append(tally.vendor_s)
                floor_aws.append(tally.aws_s)
                floor_tallies.append(tally)
                floor_cpu.append(cpu)

        for step in (ours, the_floor) if index % 2 == 0 else (the_floor, ours):
            step()

    section = Section()
    ours_ms, floor_ms = median(ours_net), median(floor_net)
    section.rows.append(
        Row(
            f"warm make-photo: handler time minus vendor's (median of {rounds})",
            ms(ours_ms),
            ms(floor_ms),
            ratio(ours_ms, floor_ms),
            f"<= {TARGET_RATIO}",
            ours_ms / floor_ms <= TARGET_RATIO,
        )
    )
    typical = calls.most_common(1)[0][0]
    section.rows.append(
        Row(
            "make-photo AWS API calls per upload, besides the vendor call",
            f"{typical} ({ops.most_common(1)[0][0]})",
            "1 (PutItem)",
            ratio(typical, 1),
            f"<= {TARGET_CALLS}",
            typical <= TARGET_CALLS,
        )
    )
    spread = statistics.quantiles(ours_net, n=4) if len(ours_net) >= 4 else ours_net
    section.notes.append(
        f"Warm make-photo: per upload, the handler's time (entry to return, the S3 event delivered by the "
        f"stack) minus the time of its vendor HTTP exchange (client side, `requests.Session.send`, body "
        f"read); the floor timed and reduced the same way. Vendor median: ours {ms(median(ours_vendor))}, "
        f"floor {ms(median(floor_vendor))} (the stand-in really makes the photo). Of what remains, AWS "
        f"calls over HTTP to moto take ours {ms(median(ours_aws))} ({probe.per_operation(ours_tallies)}), "
        f"the floor {ms(median(floor_aws))} ({probe.per_operation(floor_tallies)}); "
        f"ours' quartiles {', '.join(ms(q) for q in spread)}. CPU of the handler's own thread (client "
        f"side of every call, our Python, logs, metrics): ours {ms(median(ours_cpu))}, floor "
        f"{ms(median(floor_cpu))}. Outcomes: {dict(outcomes)}; "
        f"AWS calls per upload seen: {dict(sorted(calls.items()))}."
    )
    return section
