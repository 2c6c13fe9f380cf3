"""Money follows the compliance check: a failing preview's final is refused (no billed call) unless the
caller insists; automatic finals never pay for one; the status answer and "Photo Ready" say why."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from idphoto.api.present import present
from idphoto.autofinals import AutoFinals
from idphoto.config import Settings
from idphoto.errors import PreviewNoncompliant
from idphoto.events import outcome_event
from idphoto.finals import PhotoFinals
from idphoto.making import PhotoMaker
from idphoto.options import PhotoOptions
from idphoto.records import PhotoRecords
from idphoto.source import SourceObject
from idphoto.storage import PhotoStorage
from tests.unit.conftest import FakeVendor, quiet_finals, upload
from tests.unit.test_autofinals import DEADLINE, OWNER, as_any, manifest

FAILING = {
    "passed": False,
    "failed": ["head_height"],
    "measures": [
        {
            "measure": "faces",
            "value": "1",
            "low": "1",
            "high": "1",
            "unit": "faces",
            "source": "rule",
            "ok": True,
        },
        {
            "measure": "head_height",
            "value": "0.352",
            "low": "0.7111",
            "high": "0.8",
            "unit": "of the photo height",
            "source": "spec passport-35x45",
            "ok": False,
        },
    ],
}
PASSING = {"passed": True, "failed": [], "measures": []}


class Reports:
    """make-photo's preview check, answering set reports (the measuring has tests of its own)."""

    def __init__(self, reports: dict[str, dict[str, Any]]) -> None:
        self.reports = reports
        self.previews: list[str] = []

    def __call__(self, previews: list[str], colors: list[str], options: PhotoOptions) -> dict[str, Any]:
        self.previews = previews
        return {c: self.reports[c] for c in colors}


@pytest.fixture
def vendor() -> FakeVendor:
    return FakeVendor()


@pytest.fixture
def finals(
    settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor
) -> PhotoFinals:
    return quiet_finals(settings, storage, records, vendor)


def make(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    vendor: FakeVendor,
    reports: dict[str, dict[str, Any]],
    metadata: dict[str, str] | None = None,
) -> SourceObject:
    made = upload(aws["s3"], "uploads/me.jpg", metadata={"background": "white,blue", **(metadata or {})})
    source = SourceObject(**{**made.__dict__, "uploader": OWNER})
    check = Reports(reports)
    PhotoMaker(settings, storage, records, as_any(vendor), clock=lambda: 0.0, check_previews=check).make(
        source, request_id="m", deadline=DEADLINE
    )
    assert len(check.previews) == 2  # every colour's preview was measured before READY
    return source


def test_a_failing_preview_is_refused_naming_the_measure_and_nothing_is_billed(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    vendor: FakeVendor,
    finals: PhotoFinals,
) -> None:
    source = make(aws, settings, storage, records, vendor, {"white": FAILING, "blue": PASSING})
    outcome = finals.fetch(source.key, None, caller=OWNER, request_id="a", deadline=1e12)
    assert [link.color for link in outcome.done] == ["blue"]
    (pending,) = outcome.pending
    assert pending.color == "white" and isinstance(pending.error, PreviewNoncompliant)
    assert "head_height 0.352 (allowed 0.7111-0.8 of the photo height)" in pending.error.message
    assert "allow_noncompliant=true" in pending.error.message
    assert pending.retry_after is None
    assert vendor.stats.billed_calls == 1  # blue only


def test_the_explicit_override_pays_once_and_then_serves_the_copy(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    vendor: FakeVendor,
    finals: PhotoFinals,
) -> None:
    source = make(aws, settings, storage, records, vendor, {"white": FAILING, "blue": FAILING})
    with pytest.raises(PreviewNoncompliant):
        finals.finals(source.key, "white", caller=OWNER, request_id="a", deadline=1e12)
    assert vendor.stats.billed_calls == 0
    outcome = finals.fetch(
        source.key, "white", caller=OWNER, request_id="b", deadline=1e12, allow_noncompliant=True
    )
    assert [link.color for link in outcome.done] == ["white"]
    assert vendor.stats.billed_calls == 1
    # Kept: later requests are served from our copy, override or not, and never pay again.
    again = finals.finals(source.key, "white", caller=OWNER, request_id="c", deadline=1e12)
    assert again[0].color == "white" and vendor.stats.billed_calls == 1


def test_automatic_finals_skip_failing_previews_and_the_events_say_why(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    vendor: FakeVendor,
    finals: PhotoFinals,
) -> None:
    # The deployment lets uploaders ask for automatic finals (AllowUploaderAutoFinals=true).
    settings = dataclasses.replace(settings, uploader_auto_finals=True)
    source = make(
        aws, settings, storage, records, vendor, {"white": FAILING, "blue": PASSING}, {"finals": "auto"}
    )
    record = records.get(source.key)
    assert record is not None
    event = outcome_event(record)
    assert event is not None and event.detail["auto_finals"] is True  # blue is still payable
    assert event.detail["compliance"]["white"] == {
        "passed": False,
        "failed": ["head_height 0.352 (allowed 0.7111-0.8 of the photo height)"],
    }
    detail = {"key": source.key, "sequencer": source.sequencer}
    result = AutoFinals(settings, storage, records, finals).on_ready(
        detail, request_id="e", deadline=DEADLINE
    )
    assert result.fetched == ("blue",)
    assert vendor.stats.billed_calls == 1
    written = manifest(aws, detail)
    assert written["checks"]["noncompliant"] == {"white": event.detail["compliance"]["white"]["failed"]}


def test_when_every_wanted_preview_fails_no_automatic_finals_run_at_all(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    vendor: FakeVendor,
    finals: PhotoFinals,
) -> None:
    source = make(
        aws, settings, storage, records, vendor, {"white": FAILING, "blue": FAILING}, {"finals": "auto"}
    )
    record = records.get(source.key)
    assert record is not None
    event = outcome_event(record)
    assert event is not None and event.detail["auto_finals"] is False  # the rule invokes nothing
    detail = {"key": source.key, "sequencer": source.sequencer}
    result = AutoFinals(settings, storage, records, finals).on_ready(
        detail, request_id="e", deadline=DEADLINE
    )
    assert result.fetched == () and vendor.stats.billed_calls == 0


def test_the_status_answer_shows_each_colour_s_report_with_numbers(
    aws: dict[str, Any], settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor
) -> None:
    source = make(aws, settings, storage, records, vendor, {"white": FAILING, "blue": PASSING})
    record = records.get(source.key)
    assert record is not None
    answer = present(record, 0, 2)
    white = answer["compliance"]["white"]
    assert white["passed"] is False and white["failed"] == ["head_height"]
    head = white["measures"][1]
    assert (head["value"], head["low"], head["high"], head["ok"]) == (0.352, 0.7111, 0.8, False)
    assert answer["compliance"]["blue"]["passed"] is True


def test_with_the_check_off_nothing_is_recorded_and_finals_pay_as_before(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    vendor: FakeVendor,
    finals: PhotoFinals,
) -> None:
    made = upload(aws["s3"], "uploads/me.jpg", metadata={"background": "white"})
    source = SourceObject(**{**made.__dict__, "uploader": OWNER})
    PhotoMaker(settings, storage, records, as_any(vendor), clock=lambda: 0.0).make(
        source, request_id="m", deadline=DEADLINE
    )
    record = records.get(source.key)
    assert record is not None and record.compliance == {} and "compliance" not in present(record, 0, 2)
    finals.finals(source.key, "white", caller=OWNER, request_id="a", deadline=1e12)
    assert vendor.stats.billed_calls == 1
