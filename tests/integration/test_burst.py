"""A burst of uploads against a throttling vendor (issue 4), small enough for the suite.

``python -m local.stack.chaos --burst 500 --rate-limit 5`` is the full-size run against a time-based
rate limit. Whether such a limit bites depends on how fast the machine makes the calls, so this test
throttles by count instead (the stand-in's ``throttle_every``: every third make call gets the gateway's
429 ``T429PR``): the same calls are refused on any machine. 40 uploads, make-photo's event source
mapping's MaximumConcurrency from the template, each event delivered once. Every photo must end READY,
none lost, and exactly the throttled calls the count implies were refused, so each refused call was
retried until it got through. Duplicate deliveries are `make chaos`'s and the fault matrix's (issue 27:
with none here, "none made twice" would hold vacuously, so this test does not claim it).
"""

from __future__ import annotations

import pytest

from local.stack import Stack
from local.stack.chaos import MAKE_PHOTO, ChaosConfig, burst_config, run, table

pytestmark = pytest.mark.integration

UPLOADS = 40
THROTTLE_EVERY = 3


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


def test_a_burst_against_a_throttling_vendor_makes_every_photo(stack: Stack) -> None:
    # A bound, not a speed bar: each photo now has its previews measured (and the stand-in re-measures
    # its framing), so 40 photos behind a throttling vendor take minutes on a loaded 2-core machine.
    config = burst_config(UPLOADS, None, ChaosConfig(seed=60, timeout_s=900), throttle_every=THROTTLE_EVERY)

    report = run(config, stack)

    summary = table(report)
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
