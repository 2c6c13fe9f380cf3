"""The demo's table says why a photo failed, with the reason its status carries."""

from __future__ import annotations

from collections.abc import Mapping

from local.stack.demo import Case, Outcome, table
from tests import images


def outcome(record: Mapping[str, object]) -> Outcome:
    case = Case(
        "bad-options", "uploads/demo/bad.jpg", lambda: images.jpeg(images.portrait()), {}, "FAILED", ""
    )
    return Outcome(case, case.key, dict(record), 1.0, 0, 0)


def test_a_failed_photo_shows_its_code_and_reason() -> None:
    record = {
        "status": "FAILED",
        "error": {"code": "INVALID_OPTIONS", "message": "width_px: 3000 is over 1050", "vendor_code": None},
    }

    row = table([outcome(record)]).splitlines()[2]

    assert row.endswith("INVALID_OPTIONS: width_px: 3000 is over 1050")


def test_a_vendor_refusal_shows_the_vendors_code_too() -> None:
    record = {
        "status": "FAILED",
        "error": {"code": "VENDOR_GATEWAY", "message": "quota used up", "vendor_code": 403},
    }

    assert (
        table([outcome(record)]).splitlines()[2].endswith("VENDOR_GATEWAY: quota used up (vendor code 403)")
    )
