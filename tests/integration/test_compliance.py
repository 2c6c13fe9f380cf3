"""Money follows the compliance check, through the whole stack: the stand-in answers a misframed photo
(its ``misframe_next`` fault), make-photo records the failing report with READY, ``POST /finals`` is
refused with 422 and the vendor counts no billed call; with ``allow_noncompliant=true`` it pays once
per colour, and asking again pays nothing more."""

from __future__ import annotations

import pytest

from local.stack import Stack
from local.standin.faults import MISFRAMED_HEAD
from tests.integration.conftest import vendor_delta

pytestmark = pytest.mark.integration

SPEC = "passport-35x45"  # head height 0.7111-0.8 of the photo (ICAO 32-36 mm of 45)
COLORS = ["white", "gray"]  # the spec's two backgrounds: one billed call each


@pytest.mark.parametrize("head", ["small", "large"])
def test_a_misframed_preview_is_not_paid_for_unless_asked_and_then_once(
    stack: Stack, key: str, portrait: bytes, head: str
) -> None:
    stack.vendor_faults({"misframe_next": {"count": 1, "head": head}})  # 0.35 or 0.88 of the height
    before = stack.vendor_stats()

    record = stack.wait_for_photo(stack.upload(key, portrait, {"spec": SPEC, "background": ",".join(COLORS)}))

    assert record["status"] == "READY", record
    assert record["colors"] == COLORS
    made = stack.vendor_stats()
    assert vendor_delta(before, made, "make_calls") == 1
    assert made["injected"].get("misframe") == 1
    # The status answer shows each colour's failing report: the head measured small against the spec.
    for color in COLORS:
        report = record["compliance"][color]
        assert report["passed"] is False, report
        assert "head_height" in report["failed"]
        measured = next(m for m in report["measures"] if m["measure"] == "head_height")
        assert (measured["low"], measured["high"]) == (0.7111, 0.8)
        assert measured["value"] == pytest.approx(MISFRAMED_HEAD[head], abs=0.04)
        assert measured["ok"] is False and measured["source"].startswith(f"spec {SPEC}")

    refused = stack.finals(record["key"])

    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "PREVIEW_NONCOMPLIANT"
    assert "head_height" in error["message"] and "0.7111-0.8" in error["message"]
    assert "allow_noncompliant=true" in error["message"]
    after_refusal = stack.vendor_stats()
    assert vendor_delta(made, after_refusal, "billed_calls") == 0
    assert vendor_delta(made, after_refusal, "get_calls") == 0  # not even tried

    paid = stack.finals(record["key"], allow_noncompliant=True)

    assert paid.status_code == 200, paid.text
    assert sorted(f["color"] for f in paid.json()["finals"]) == sorted(COLORS)
    assert paid.json()["pending"] == []
    after_paying = stack.vendor_stats()
    assert vendor_delta(after_refusal, after_paying, "billed_calls") == len(COLORS)  # one per colour

    # Asked again, with and without the override: served from our copy, nothing billed.
    again = stack.finals(record["key"], allow_noncompliant=True)
    plain = stack.finals(record["key"])

    assert again.status_code == 200 and plain.status_code == 200, (again.text, plain.text)
    urls = {f["color"]: f["photo_url"].split("?")[0] for f in paid.json()["finals"]}
    for answer in (again, plain):
        assert {f["color"]: f["photo_url"].split("?")[0] for f in answer.json()["finals"]} == urls
    assert vendor_delta(after_paying, stack.vendor_stats(), "billed_calls") == 0
