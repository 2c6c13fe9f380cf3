"""Warm make-photo: our time per upload minus the vendor's, against two floors, and AWS calls per upload.

The floors (:mod:`bench.floor`): the guaranteed one does what any at-least-once make-photo that
announces its outcome must (a GET of the object, conditional claim, the vendor call, conditional result write,
one event), and is the one the target holds against; the bare one (one ``put_item``, no guarantee at
all) is shown for scale.

Ours: a portrait is uploaded to the stack's bucket with ``put_object`` (no metadata: the template's
defaults, spec 1 on white); the real S3 notification reaches the handler through the stack's event
pump; the handler is timed from entry to return (what Lambda bills). The floor runs on the bench's
thread in the same process, against the same moto server and stand-in (zero added latency), on the
same portrait with the same vendor options. The three rotate (each goes first in turn), and the first
rounds are thrown away (first-call costs: secret, connections).

The vendor's time is subtracted per call, measured the same way for both: the wall time of the HTTP
exchange with the stand-in as the client sees it (``requests.Session.send``, body included; see
:mod:`bench.probe`). What remains is ours: AWS calls (HTTP to moto), presigning, options, records,
logs and metrics.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from bench import probe
from bench.context import FLOOR_SOURCE_KEY
from bench.report import Row, Section, median, ms, ratio

if TYPE_CHECKING:
    from bench.context import Context

TARGET_RATIO: Final = 1.25
WARMUP: Final = 2
# The guaranteed floor's calls, in order: what ours is held to.
FLOOR_CALLS: Final = ("GetObject", "PutItem", "UpdateItem", "PutEvents")


@dataclass
class Samples:
    """One kind's uploads (ours, or a floor): time minus the vendor's, and what made it up."""

    net: list[float] = field(default_factory=list)
    vendor: list[float] = field(default_factory=list)
    aws: list[float] = field(default_factory=list)
    tallies: list[probe.Tally] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, seconds: float, tally: probe.Tally, cpu: float) -> None:
        self.net.append(seconds - tally.vendor_s)
        self.vendor.append(tally.vendor_s)
        self.aws.append(tally.aws_s)
        self.tallies.append(tally)
        self.cpu.append(cpu)


def _timed(call: Callable[[], object]) -> tuple[float, probe.Tally, float]:
    """A floor's upload on this thread: wall seconds, what it called, CPU of this thread."""
    with probe.tallying() as tally:
        cpu, started = time.thread_time(), time.perf_counter()
        call()
        return time.perf_counter() - started, tally, time.thread_time() - cpu


def run(ctx: Context) -> Section:
    rounds = 6 if ctx.quick else 40
    bench, floor = ctx.stack, ctx.floor
    bench.vendor_latency(0)
    ctx.progress(f"warm make-photo: {rounds} uploads, ours and the floor alternating")
    ours, sure, bare = Samples(), Samples(), Samples()
    sequencers = itertools.count(time.time_ns())  # increasing, as S3's sequencers are per key
    calls: Counter[int] = Counter()
    ops: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for index in range(WARMUP + rounds):

        def run_ours(index: int = index) -> None:
            invocation = bench.upload_and_wait(f"bench/warm-{index}.jpg", ctx.portrait)
            outcomes[invocation.outcome] += 1
            if index >= WARMUP:
                ours.add(invocation.seconds, invocation.tally, invocation.cpu_s)
                calls[invocation.tally.aws_calls] += 1
                ops[invocation.tally.ops()] += 1

        def run_bare(index: int = index) -> None:
            measured = _timed(lambda: floor.make_photo(FLOOR_SOURCE_KEY, None))
            if index >= WARMUP:
                bare.add(*measured)

        def run_guaranteed(index: int = index) -> None:
            sequencer, claim_id = f"{next(sequencers):032X}", f"floor-request-{index}"
            measured = _timed(
                lambda: floor.make_photo_guaranteed(FLOOR_SOURCE_KEY, None, sequencer, claim_id)
            )
            if index >= WARMUP:
                sure.add(*measured)

        steps = [run_ours, run_guaranteed, run_bare]
        for step in steps[index % 3 :] + steps[: index % 3]:
            step()

    section = Section()
    ours_ms, floor_ms, sure_ms = median(ours.net), median(bare.net), median(sure.net)
    section.rows.append(
        Row(
            f"warm make-photo: handler time minus vendor's, against a floor with the same guarantees"
            f" (median of {rounds})",
            ms(ours_ms),
            ms(sure_ms),
            ratio(ours_ms, sure_ms),
            f"<= {TARGET_RATIO}",
            ours_ms / sure_ms <= TARGET_RATIO,
        )
    )
    section.rows.append(
        Row(
            f"warm make-photo: the same, against the bare floor (one PutItem, no guarantee; median of {rounds})",
            ms(ours_ms),
            ms(floor_ms),
            ratio(ours_ms, floor_ms),
        )
    )
    typical = calls.most_common(1)[0][0]
    section.rows.append(
        Row(
            "make-photo AWS API calls per upload, besides the vendor call",
            f"{typical} ({ops.most_common(1)[0][0]})",
            f"{len(FLOOR_CALLS)} ({', '.join(FLOOR_CALLS)})",
            ratio(typical, len(FLOOR_CALLS)),
            f"<= {len(FLOOR_CALLS)}",
            typical <= len(FLOOR_CALLS),
        )
    )
    spread = statistics.quantiles(ours.net, n=4) if len(ours.net) >= 4 else ours.net
    section.notes.append(
        f"Warm make-photo: per upload, the handler's time (entry to return, the S3 event delivered by the "
        f"stack) minus the time of its vendor HTTP exchange (client side, `requests.Session.send`, body "
        f"read); the floor timed and reduced the same way. Vendor median: ours {ms(median(ours.vendor))}, "
        f"guaranteed floor {ms(median(sure.vendor))}, bare floor {ms(median(bare.vendor))} (the stand-in "
        f"really makes the photo). Of what remains, AWS calls over HTTP to moto take ours "
        f"{ms(median(ours.aws))} ({probe.per_operation(ours.tallies)}), the guaranteed floor "
        f"{ms(median(sure.aws))} ({probe.per_operation(sure.tallies)}), the bare floor "
        f"{ms(median(bare.aws))} ({probe.per_operation(bare.tallies)}); "
        f"ours' quartiles {', '.join(ms(q) for q in spread)}. CPU of the handler's own thread (client "
        f"side of every call, our Python, logs, metrics): ours {ms(median(ours.cpu))}, guaranteed floor "
        f"{ms(median(sure.cpu))}, bare floor {ms(median(bare.cpu))}. Outcomes: {dict(outcomes)}; "
        f"AWS calls per upload seen: {dict(sorted(calls.items()))}."
    )
    return section
