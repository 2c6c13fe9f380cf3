"""``python -m bench.queue_sim``: a 10,000-upload batch through the upload queue, simulated.

A small deterministic discrete-event simulation (no AWS, no randomness) of what the template deploys:
every upload is a message of the upload queue; the event source mapping runs at most
``MakePhotoConcurrency`` invocations at once (``ScalingConfig.MaximumConcurrency``), one upload each
(``BatchSize: 1``); an invocation's vendor call takes ``latency`` seconds when the vendor's gateway
admits it, and the gateway admits ``rate`` calls a second (a token bucket of one second's burst, as the
API market's flow control). A refused call (429, ``T429PR``) is retried by the vendor client after its
back-off (1, 2, 4, 8 s: the upper bounds of ``idphoto.vendor``'s jittered pauses); after five refusals
the upload fails its receive and comes back after make-photo's back-off (30 s doubling, ``idphoto.upload_messages``).

Printed: per (rate, concurrency), the time until the queue is empty, the oldest upload's age every
ten minutes (what the ``UploadQueueAgeAlarm`` watches, ``ApproximateAgeOfOldestMessage``), the vendor
calls refused and the receives. What it leaves out: Lambda's gradual scaling of pollers (AWS starts
five and adds up to 300 concurrent invocations a minute: the first minute is slower than shown),
cold starts, and uploads arriving while the batch drains.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

CLIENT_PAUSES: Final = (1.0, 2.0, 4.0, 8.0)  # between the vendor client's five attempts
BACKOFF_S: Final = 30.0  # make-photo's back-off of a failed upload, doubling
BACKOFF_CAP_S: Final = 900.0


@dataclass(frozen=True)
class Scenario:
    uploads: int = 10_000
    rate: float = 10.0  # vendor calls a second the gateway admits
    concurrency: int = 10  # MakePhotoConcurrency
    latency: float = 3.0  # seconds of one admitted vendor call


@dataclass
class Result:
    scenario: Scenario
    drained_s: float = 0.0
    refused: int = 0
    receives: int = 0

    def oldest_age(self, at_s: float) -> float:
        """Every upload arrived at 0: the oldest waits from 0 until the queue is empty."""
        return at_s if at_s < self.drained_s else 0.0


class Gateway:
    """A token bucket: ``rate`` tokens a second, at most ``rate`` (one second's burst) in hand."""

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._tokens = rate
        self._at = 0.0

    def admit(self, now: float) -> bool:
        self._tokens = min(self._rate, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


def simulate(scenario: Scenario) -> Result:
    """Events: (time, order, kind, upload, attempt). Uploads are numbered in queue order."""
    result = Result(scenario)
    gateway = Gateway(scenario.rate)
    order = itertools.count()
    visible: list[tuple[float, int, int]] = [(0.0, next(order), n) for n in range(scenario.uploads)]
    heapq.heapify(visible)  # (visible at, order, upload)
    receives = [0] * scenario.uploads
    running: list[tuple[float, int, str, int, int]] = []  # (at, order, kind, upload, attempt)
    free = scenario.concurrency
    done = 0
    now = 0.0
    while done < scenario.uploads:
        # Hand visible messages to free pollers (SQS gives the oldest first, as a FIFO approximation).
        while free and visible and visible[0][0] <= now:
            _, _, upload = heapq.heappop(visible)
            receives[upload] += 1
            free -= 1
            heapq.heappush(running, (now, next(order), "call", upload, 1))
        candidates = [running[0][0]] if running else []
        if free and visible:
            candidates.append(visible[0][0])  # a free poller waits for the next message to show
        now = max(now, min(candidates))
        while running and running[0][0] <= now:
            at, _, kind, upload, attempt = heapq.heappop(running)
            if kind == "done":
                done += 1
                free += 1
            elif gateway.admit(at):
                heapq.heappush(running, (at + scenario.latency, next(order), "done", upload, attempt))
            elif attempt <= len(CLIENT_PAUSES):
                result.refused += 1
                pause = CLIENT_PAUSES[attempt - 1]
                heapq.heappush(running, (at + pause, next(order), "call", upload, attempt + 1))
            else:  # the receive fails: the message comes back after the back-off
                result.refused += 1
                free += 1
                delay = min(BACKOFF_CAP_S, BACKOFF_S * 2 ** (receives[upload] - 1))
                heapq.heappush(visible, (at + delay, next(order), upload))
    result.drained_s = now
    result.receives = sum(receives)
    return result


def table(results: Sequence[Result]) -> str:
    lines = [
        "| vendor rate /s | MakePhotoConcurrency | queue empty after | oldest upload's age at 10/20/30/60 min"
        " | calls refused (429) | receives |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        ages = [f"{r.oldest_age(minute * 60.0) / 60:.0f}" for minute in (10, 20, 30, 60)]
        s = r.scenario
        lines.append(
            f"| {s.rate:g} | {s.concurrency} | {r.drained_s / 60:.1f} min | {' / '.join(ages)} min"
            f" | {r.refused} | {r.receives} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.queue_sim", description=__doc__)
    parser.add_argument("--uploads", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=3.0, help="seconds of one vendor call")
    args = parser.parse_args(argv)
    grid = [(5.0, 10), (5.0, 15), (5.0, 50), (10.0, 10), (10.0, 30), (10.0, 60), (20.0, 60), (20.0, 100)]
    results = [simulate(Scenario(args.uploads, rate, c, args.latency)) for rate, c in grid]
    print(f"{args.uploads} uploads at once, vendor call {args.latency:g} s\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
