"""A burst of uploads against a rate-limited vendor (issue 4), small enough for the suite.

``python -m local.stack.chaos --burst 500 --rate-limit 5`` is the full-size run; this is the same code
with 40 uploads and 4 vendor calls a second (below what the stand-in makes on two cores, so that the
limit bites), make-photo's reserved concurrency from the template. Every photo must end READY, none
lost, none made twice, and the vendor must really have throttled.
"""

from __future__ import annotations

import pytest

from local.stack import Stack
from local.stack.chaos import MAKE_PHOTO, ChaosConfig, burst_config, run, table

pytestmark = pytest.mark.integration

UPLOADS = 40
RATE_LIMIT_PER_S = 4.0


def test_a_burst_against_a_rate_limited_vendor_makes_every_photo_once(stack: Stack) -> None:
    config = burst_config(UPLOADS, RATE_LIMIT_PER_S, ChaosConfig(seed=60, timeout_s=120))

    report = run(config, stack)

    summary = table(report)
    assert [o.status for o in report.outcomes] == ["READY"] * UPLOADS, summary
    assert report.lost == [], summary
    assert report.made_twice == {}, summary
    assert report.made == UPLOADS, summary
    # Made-twice is counted per source key: each upload's own key, once.
    assert report.made_per_key == {o.upload.key: 1 for o in report.outcomes}
    assert report.vendor["gateway_errors"].get("T429PR", 0) > 0, summary  # the limit really bit
    assert report.parked == 0, summary
    template_concurrency = int(stack.template.parameters["MakePhotoConcurrency"])
    assert report.concurrency == template_concurrency == stack.invokers[MAKE_PHOTO].concurrency
    assert report.ok
