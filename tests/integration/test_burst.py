"""A burst of uploads against a throttling vendor (issue 4), small enough for the suite.

``python -m local.stack.chaos --burst 500 --rate-limit 5`` is the full-size run against a time-based
rate limit. Whether such a limit bites depends on how fast the machine makes the calls, so this test
throttles by count instead (the stand-in's ``throttle_every``: every third make call gets the gateway's
429 ``T429PR``): the same calls are refused on any machine. 40 uploads, make-photo's event source
mapping's MaximumConcurrency from the template, and 8 of their events delivered twice (S3 delivers
at least once): 4 racing the first delivery, 4 after the photo was made. Every photo must end READY,
none lost, none made twice, and exactly the throttled calls the count implies were refused, so each
refused call was retried until it got through and no duplicate made a call of its own.
"""

from __future__ import annotations

import pytest

from local.stack import Stack
from local.stack.chaos import MAKE_PHOTO, ChaosConfig, burst_config, run, table

pytestmark = pytest.mark.integration

UPLOADS = 40
THROTTLE_EVERY = 3
# Guards the duplicate guards (issue 27): without duplicates "none made twice" held vacuously.
DUPLICATE_RATE = 0.2  # 8 of 40: half racing the first delivery, half after it finished


def throttled_calls(made: int, every: int) -> int:
    """How many make calls were refused when every ``every``-th is and ``made`` got through.

    The calls stop with the last photo made: after ``n`` calls, ``n - n // every`` got through, so the
    run makes the smallest such ``n`` and refuses ``n // every`` of them.
    """
    calls = made
    while calls - calls // every < made:
        calls += 1
    return calls // every


def test_the_throttle_count_follows_from_the_calls() -> None:
    # 1 2 [3] 4 5 [6] ... : 4 made after 2 passes and 1 refusal, then 2 more passes.
    assert throttled_calls(4, 3) == 1
    assert throttled_calls(40, 3) == 19
    assert throttled_calls(40, 2) == 39


def test_a_burst_against_a_throttling_vendor_makes_every_photo_once(stack: Stack) -> None:
    # The default settle bound (600 s) is a bound, not a speed bar: the run takes about a minute here.
    # No crash faults: a make-photo killed after the vendor's make is remade (counted apart by chaos),
    # and this test counts every make call exactly.
    config = burst_config(
        UPLOADS,
        None,
        ChaosConfig(seed=60, crash_rate=0.0),
        throttle_every=THROTTLE_EVERY,
        duplicate_rate=DUPLICATE_RATE,
    )

    report = run(config, stack)

    summary = table(report)
    duplicated = {o.upload.key for o in report.outcomes if o.upload.duplicate}
    timings = sorted(o.upload.duplicate for o in report.outcomes if o.upload.duplicate)
    assert timings == ["early"] * 4 + ["late"] * 4
    redelivered = {d.key for d in stack.deliveries.of() if d.redelivered}
    assert redelivered & {o.upload.key for o in report.outcomes} == duplicated  # really delivered twice
    assert [o.status for o in report.outcomes] == ["READY"] * UPLOADS, summary
    assert report.lost == [], summary
    assert report.made_twice == {}, summary
    assert report.made == UPLOADS, summary
    # Made-twice is counted per source key: each upload's own key, once.
    assert report.made_per_key == {o.upload.key: 1 for o in report.outcomes}
    # The limit bit exactly as often as the count says, and every refused call was retried to success.
    refused = {code: n for code, n in report.vendor["gateway_errors"].items() if n}
    assert refused == {"T429PR": throttled_calls(UPLOADS, THROTTLE_EVERY)}, summary
    assert report.parked == 0, summary
    template_concurrency = int(stack.template.parameters["MakePhotoConcurrency"])
    # The event source mapping's MaximumConcurrency is the cap (nothing is reserved).
    assert report.concurrency == template_concurrency == stack.queue_sources[MAKE_PHOTO].pollers
    assert report.ok
