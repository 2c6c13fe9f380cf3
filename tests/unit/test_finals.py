"""Finals: billed once per colour, kept in S3, recovered after a crash, served from our copy."""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from idphoto.checks import jfif_dpi
from idphoto.config import Settings
from idphoto.errors import (
    FinalsInProgress,
    PhotoFailed,
    PhotoNotFound,
    PhotoNotReady,
    UnknownColor,
    VendorRejected,
    VendorUnavailable,
)
from idphoto.finals import PhotoFinals
from idphoto.records import FinalState, PhotoRecords
from idphoto.source import SourceObject
from idphoto.storage import PhotoStorage
from tests.unit.conftest import BUCKET, Clock, FakeSession, FakeVendor, made_photo

OWNER = "AIDAOWNER"
SOURCE = SourceObject(
    bucket=BUCKET, key="uploads/me.jpg", size=1, etag="e", sequencer="0" * 30 + "1F", uploader=OWNER
)


@pytest.fixture
def vendor() -> FakeVendor:
    return FakeVendor()


@pytest.fixture
def session() -> FakeSession:
    return FakeSession()


@pytest.fixture
def finals(
    settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor, session: FakeSession
) -> PhotoFinals:
    return PhotoFinals(settings, storage, records, vendor, session, sleep=lambda _: None)  # type: ignore[arg-type]


def make_ready(records: PhotoRecords, colors: tuple[str, ...] = ("white", "blue")) -> None:
    records.claim(SOURCE, claim_id="m", lease_seconds=100, options={}, ignored_metadata=[])
    records.mark_ready(SOURCE, "m", made_photo(list(colors)), list(colors))


def test_first_request_pays_once_per_colour_and_keeps_both_images(
    aws: dict[str, Any], finals: PhotoFinals, records: PhotoRecords, vendor: FakeVendor, session: FakeSession
) -> None:
    make_ready(records)

    links = finals.finals(SOURCE.key, None, caller=OWNER, request_id="a", deadline=1e12)

    assert [link.color for link in links] == ["white", "blue"]
    assert vendor.stats.billed_calls == 2
    assert len(session.downloads) == 4
    stored = aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix="finals/")["Contents"]
    assert sorted(o["Key"] for o in stored) == [
        "finals/me.jpg/1F/blue.jpg",
        "finals/me.jpg/1F/blue_print.jpg",
        "finals/me.jpg/1F/white.jpg",
        "finals/me.jpg/1F/white_print.jpg",
    ]
    assert urlsplit(links[0].photo_url).path.endswith("/finals/me.jpg/1F/white.jpg")
    record = records.get(SOURCE.key)
    assert record is not None and record.finals["white"]["state"] == FinalState.KEPT


def test_asking_again_costs_nothing_and_downloads_nothing(
    finals: PhotoFinals, records: PhotoRecords, vendor: FakeVendor, session: FakeSession
) -> None:
    make_ready(records)
    finals.finals(SOURCE.key, "white", caller=OWNER, request_id="a", deadline=1e12)

    again = finals.finals(SOURCE.key, "white", caller=OWNER, request_id="b", deadline=1e12)

    assert vendor.stats.billed_calls == 1
    assert len(session.downloads) == 2
    assert again[0].expires_in == 300


def test_crash_after_the_billed_call_is_recovered_without_paying_again(
    finals: PhotoFinals, records: PhotoRecords, vendor: FakeVendor, session: FakeSession
) -> None:
    make_ready(records)
    session.status_code = 500  # the download fails after the vendor answered (and billed)
    with pytest.raises(VendorUnavailable):
        finals.finals(SOURCE.key, "white", caller=OWNER, request_id="a", deadline=1e12)
    session.status_code = 200

    links = finals.finals(SOURCE.key, "white", caller=OWNER, request_id="b", deadline=1e12)

    assert vendor.stats.billed_calls == 1
    assert links[0].color == "white"


def test_vendor_refusal_releases_the_claim_so_a_later_request_may_try(
    finals: PhotoFinals, records: PhotoRecords, vendor: FakeVendor
) -> None:
    make_ready(records)
    vendor.final_answers.append(VendorRejected("vendor code 422: bad name", vendor_code=422))

    with pytest.raises(VendorRejected):
        finals.finals(SOURCE.key, "white", caller=OWNER, request_id="a", deadline=1e12)
    finals.finals(SOURCE.key, "white", caller=OWNER, request_id="b", deadline=1e12)

    assert vendor.stats.billed_calls == 2


def test_request_during_another_fetch_waits_then_says_in_progress(
    settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor, session: FakeSession
) -> None:
    make_ready(records)
    record = records.get(SOURCE.key)
    assert record is not None
    records.claim_final(record, "white", "someone-else", 60)
    ticks = Clock(0)
    finals = PhotoFinals(settings, storage, records, vendor, session, sleep=ticks.advance, clock=ticks)  # type: ignore[arg-type]

    with pytest.raises(FinalsInProgress) as raised:
        finals.finals(SOURCE.key, "white", caller=OWNER, request_id="b", deadline=1e12)

    assert raised.value.retry_after > 0
    assert vendor.stats.billed_calls == 0


def test_concurrent_requests_for_the_same_final_pay_exactly_once(
    settings: Settings, storage: PhotoStorage, records: PhotoRecords, session: FakeSession
) -> None:
    make_ready(records, ("white",))
    gate = threading.Event()
    vendor = FakeVendor(on_final=lambda: gate.wait(2))
    finals = PhotoFinals(settings, storage, records, vendor, session)  # type: ignore[arg-type]
    results: list[str] = []

    def ask(i: int) -> None:
        try:
            finals.finals(SOURCE.key, "white", caller=OWNER, request_id=f"r{i}", deadline=1e12)
            results.append("ok")
        except FinalsInProgress:
            results.append("busy")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(60)  # generous: a loaded 2-core machine is slow, the assertion is about money

    assert vendor.stats.billed_calls == 1
    assert len(results) == 8 and "ok" in results


@pytest.mark.parametrize(
    ("state", "error"),
    [
        ("missing", PhotoNotFound),
        ("processing", PhotoNotReady),
        ("failed", PhotoFailed),
        ("color", UnknownColor),
    ],
)
def test_finals_are_refused_with_the_right_error(
    finals: PhotoFinals, records: PhotoRecords, vendor: FakeVendor, state: str, error: type[Exception]
) -> None:
    if state != "missing":
        records.claim(SOURCE, claim_id="m", lease_seconds=100, options={}, ignored_metadata=[])
    if state == "failed":
        records.mark_failed(SOURCE, "m", "VENDOR_REJECTED", "no face", 507)
    if state == "color":
        records.mark_ready(SOURCE, "m", made_photo(["white"]), ["white"])

    with pytest.raises(error):
        finals.finals(
            SOURCE.key, "purple" if state == "color" else None, caller=OWNER, request_id="a", deadline=1e12
        )

    assert vendor.stats.billed_calls == 0


def test_a_photo_is_invisible_to_anyone_but_its_uploader(
    finals: PhotoFinals, records: PhotoRecords, vendor: FakeVendor
) -> None:
    make_ready(records)

    with pytest.raises(PhotoNotFound):
        finals.status(SOURCE.key, "AIDASOMEONEELSE")
    with pytest.raises(PhotoNotFound):
        finals.finals(SOURCE.key, None, caller=None, request_id="a", deadline=1e12)

    assert finals.status(SOURCE.key, OWNER).key == SOURCE.key
    assert vendor.stats.billed_calls == 0


def test_with_access_any_every_admitted_caller_sees_every_photo(
    settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor, session: FakeSession
) -> None:
    make_ready(records)
    open_finals = PhotoFinals(replace(settings, photo_access="any"), storage, records, vendor, session)  # type: ignore[arg-type]

    assert open_finals.status(SOURCE.key, "AIDASOMEONEELSE").key == SOURCE.key


class WrongFinalSession(FakeSession):
    """A vendor whose watermark-free photo is wrong three ways: size, file size and background."""

    def get(self, url: str, timeout: Any = None) -> Any:
        answer = super().get(url, timeout)
        if "_print.jpg" not in url:
            buffer = io.BytesIO()
            noise = np.random.default_rng(1).integers(0, 40, (400, 400, 3), dtype=np.uint8)
            Image.fromarray(noise + np.uint8(60)).save(buffer, "JPEG", quality=95)
            answer.content = buffer.getvalue()
        return answer


def test_a_wrong_vendor_final_is_kept_with_failed_checks_beside_the_rules(
    aws: dict[str, Any], settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor
) -> None:
    options = {
        "spec_id": 4,
        "background": [{"name": "white", "top": 0xFFFFFF, "bottom": 0xFFFFFF}],
        "file_size_max": 5,
    }
    records.claim(SOURCE, claim_id="m", lease_seconds=100, options=options, ignored_metadata=[])
    records.mark_ready(SOURCE, "m", made_photo(["white"]), ["white"])
    finals = PhotoFinals(settings, storage, records, vendor, WrongFinalSession(), sleep=lambda _: None)  # type: ignore[arg-type]

    (link,) = finals.finals(SOURCE.key, None, caller=OWNER, request_id="a", deadline=1e12)

    failed = {c["rule"]: c for c in link.checks if not c["ok"]}
    assert set(failed) == {"pixel_size", "file_size", "background"}
    assert (
        failed["pixel_size"]["asked"] == "600 x 600 px" and failed["pixel_size"]["measured"] == "400 x 400 px"
    )
    record = records.get(SOURCE.key)
    assert record is not None and record.finals["white"]["state"] == FinalState.KEPT
    assert list(record.finals["white"]["checks"]) == list(link.checks)
    kept = aws["s3"].get_object(Bucket=BUCKET, Key="finals/me.jpg/1F/white.jpg")["Body"].read()
    assert jfif_dpi(kept) == 300  # stamped with spec 4's dpi, though its other checks failed
