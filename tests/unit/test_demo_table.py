"""The demo's table says why a photo failed, with the reason its status carries."""

from __future__ import annotations

from collections.abc import Mapping

from local.stack.demo import Case, Outcome, compliance_cell, table, worst
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


def measure(name: str, value: str, low: str | None, high: str | None, ok: bool | None) -> dict[str, object]:
    return {"measure": name, "value": value, "low": low, "high": high, "unit": "", "source": "", "ok": ok}


FAILING = {
    "passed": False,
    "failed": ["head_height"],
    "measures": [
        measure("faces", "1", "1", "1", True),
        measure("head_height", "0.52", "0.6", "0.75", False),
        measure("top_margin", "0.1", None, None, None),
        measure("centred", "0.01", None, "0.05", True),
    ],
}
PASSING = {
    "passed": True,
    "failed": [],
    "measures": [
        measure("faces", "1", "1", "1", True),
        measure("head_height", "0.74", "0.6", "0.75", True),  # 0.07 of its range from the top
        measure("centred", "0.01", None, "0.05", True),  # 0.8 of its bound left
    ],
}


def test_the_compliance_column_names_each_failed_measure_against_its_range() -> None:
    record = {"status": "READY", "compliance": {"white": PASSING, "blue": FAILING}}

    row = table([outcome(record)]).splitlines()[2]

    assert "white: pass; blue: FAIL head_height 0.52 not in 0.6-0.75" in row


def test_a_photo_without_framing_figures_or_without_the_check_says_so() -> None:
    unheld = {**PASSING, "passed": None}

    assert compliance_cell({"status": "READY", "compliance": {"white": unheld}}) == (
        "no framing figures (the rest pass)"
    )
    assert compliance_cell({"status": "READY"}) == "not checked"
    assert compliance_cell({"status": "FAILED"}) == "-"


def test_the_contact_sheet_mark_shows_the_worst_measure() -> None:
    assert worst(FAILING) == "head_height 0.52 not in 0.6-0.75"
    assert worst(PASSING) == "head_height 0.74 in 0.6-0.75"  # nearest its limit, not the centring


def test_a_noncompliant_ready_photo_is_not_what_the_demo_expects() -> None:
    def ready(report: dict[str, object]) -> Outcome:
        case = Case("p", "k", lambda: b"", {}, "READY", "")
        return Outcome(case, "k", {"status": "READY", "compliance": {"blue": report}}, 1.0, 1, 0)

    assert ready(PASSING).ok is True
    assert ready(FAILING).noncompliant == ["blue"] and ready(FAILING).ok is False
