"""make-photo logic: checks before the vendor, the vendor's outcomes, and at-least-once delivery."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from idphoto.config import Settings
from idphoto.errors import GatewayError, VendorRejected, VendorUnavailable
from idphoto.making import Delivery, Outcome, PhotoMaker, UploadWaits, image_format
from idphoto.options import PhotoOptions
from idphoto.records import PhotoRecords, Status
from idphoto.storage import PhotoStorage
from tests.unit.conftest import BUCKET, Clock, FakeVendor, upload


@pytest.fixture
def vendor() -> FakeVendor:
    return FakeVendor()


@pytest.fixture
def maker(settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor) -> PhotoMaker:
    return PhotoMaker(settings, storage, records, vendor, clock=lambda: 0.0)  # type: ignore[arg-type]


DEADLINE = 170.0


def test_upload_with_metadata_is_made_with_merged_options(
    aws: dict[str, Any], maker: PhotoMaker, records: PhotoRecords, vendor: FakeVendor
) -> None:
    source = upload(
        aws["s3"], "uploads/me.jpg", metadata={"background": "white,sky=#87ceeb:#ffffff", "print-type": "2"}
    )

    result = maker.make(source, request_id="r1", deadline=DEADLINE)

    assert result.outcome is Outcome.MADE
    assert vendor.bodies == [
        {
            "spec_id": 1,
            "background_color": [
                {"start_color": 0xFFFFFF, "color_name": "white", "enc_color": 0xFFFFFF},
                {"start_color": 0x87CEEB, "color_name": "sky", "enc_color": 0xFFFFFF},
            ],
            "print_type": 2,
        }
    ]
    record = records.get("uploads/me.jpg")
    assert record is not None
    assert record.status is Status.READY
    assert record.colors == ["white", "sky"]
    assert record.sheet_count == 8
    assert len(record.previews) == 2
    assert record.options["print_type"] == 2


def test_pic_url_is_a_short_lived_sigv4_url_of_this_version(
    aws: dict[str, Any], maker: PhotoMaker, vendor: FakeVendor
) -> None:
    source = upload(aws["s3"], "uploads/me.jpg")

    maker.make(source, request_id="r1", deadline=DEADLINE)

    url = vendor.pic_urls[0]
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).path.endswith("/uploads/me.jpg")
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert int(query["X-Amz-Expires"][0]) == 40  # the attempt's read timeout + 10 s, no longer
    assert query["versionId"] == [source.version_id]


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        ({"background": "purple"}, "background"),
        ({"width-px": "2000"}, "width-px"),
        ({"ratios": "0.5,0.7,0.5"}, "ratios"),
        ({"print-type": "9"}, "print-type"),
    ],
)
def test_invalid_options_fail_without_calling_the_vendor(
    aws: dict[str, Any],
    maker: PhotoMaker,
    records: PhotoRecords,
    vendor: FakeVendor,
    metadata: dict[str, str],
    fragment: str,
) -> None:
    source = upload(aws["s3"], "uploads/bad.jpg", metadata=metadata)

    result = maker.make(source, request_id="r1", deadline=DEADLINE)

    record = records.get("uploads/bad.jpg")
    assert result.outcome is Outcome.FAILED
    assert vendor.stats.make_calls == 0
    assert record is not None and record.status is Status.FAILED
    assert record.error_code == "INVALID_OPTIONS"
    assert fragment in (record.error_message or "")


def test_empty_object_fails_without_calling_the_vendor(
    aws: dict[str, Any], maker: PhotoMaker, records: PhotoRecords, vendor: FakeVendor
) -> None:
    source = upload(aws["s3"], "uploads/empty.jpg", body=b"")

    maker.make(source, request_id="r1", deadline=DEADLINE)

    record = records.get("uploads/empty.jpg")
    assert record is not None and record.error_code == "UNSUPPORTED_OBJECT"
    assert vendor.stats.make_calls == 0


def test_oversized_and_non_image_content_fail_without_calling_the_vendor(
    aws: dict[str, Any], settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor
) -> None:
    maker = PhotoMaker(replace(settings, max_upload_bytes=5), storage, records, vendor, clock=lambda: 0.0)  # type: ignore[arg-type]
    big = upload(aws["s3"], "uploads/big.jpg", body=b"0123456789")
    text = upload(aws["s3"], "uploads/text.jpg", body=b"x", content_type="text/plain")

    maker.make(big, request_id="r1", deadline=DEADLINE)
    maker.make(text, request_id="r2", deadline=DEADLINE)

    big_record, text_record = records.get(big.key), records.get(text.key)
    assert big_record is not None and "limit" in (big_record.error_message or "")
    assert text_record is not None and "text/plain" in (text_record.error_message or "")
    assert vendor.stats.make_calls == 0


@pytest.mark.parametrize(
    "key",
    ["uploads/folder/", "uploads/notes.txt", "elsewhere/me.jpg", "finals/me.jpg/1/white.jpg"],
)
def test_folder_markers_non_images_and_other_prefixes_are_skipped(
    aws: dict[str, Any], maker: PhotoMaker, records: PhotoRecords, vendor: FakeVendor, key: str
) -> None:
    source = upload(aws["s3"], key)

    result = maker.make(source, request_id="r1", deadline=DEADLINE)

    assert result.outcome is Outcome.SKIPPED
    assert records.get(key) is None
    assert vendor.stats.make_calls == 0


def test_duplicate_delivery_makes_the_photo_once(
    aws: dict[str, Any], maker: PhotoMaker, vendor: FakeVendor
) -> None:
    source = upload(aws["s3"], "uploads/me.jpg")

    first = maker.make(source, request_id="r1", deadline=DEADLINE)
    second = maker.make(source, request_id="r2", deadline=DEADLINE)

    assert (first.outcome, second.outcome) == (Outcome.MADE, Outcome.DUPLICATE)
    assert vendor.stats.make_calls == 1


def test_late_event_of_an_older_version_never_overwrites_the_newer(
    aws: dict[str, Any], maker: PhotoMaker, records: PhotoRecords, vendor: FakeVendor
) -> None:
    old = upload(aws["s3"], "uploads/me.jpg", metadata={"background": "blue"})
    new = upload(aws["s3"], "uploads/me.jpg", metadata={"background": "red"})

    maker.make(new, request_id="r2", deadline=DEADLINE)
    late = maker.make(old, request_id="r1", deadline=DEADLINE)

    record = records.get("uploads/me.jpg")
    assert late.outcome is Outcome.STALE
    assert record is not None and record.colors == ["red"] and record.version_id == new.version_id
    assert vendor.stats.make_calls == 1


@pytest.mark.parametrize("code", [400, 422, 423, 506, 507])
def test_vendor_rejection_is_recorded_as_failed_with_its_code(
    aws: dict[str, Any], maker: PhotoMaker, records: PhotoRecords, vendor: FakeVendor, code: int
) -> None:
    vendor.make_answers.append(VendorRejected(f"vendor code {code}: nope", vendor_code=code))
    source = upload(aws["s3"], "uploads/me.jpg")

    result = maker.make(source, request_id="r1", deadline=DEADLINE)

    record = records.get("uploads/me.jpg")
    assert result.outcome is Outcome.FAILED
    assert record is not None
    assert (record.status, record.vendor_code, record.error_code) == (Status.FAILED, code, "VENDOR_REJECTED")


def _refused(code: str = "A403IA") -> GatewayError:
    return GatewayError(
        f"gateway refused: {code}", gateway_code=code, http_status=403, transient=False, reached_vendor=False
    )


@pytest.mark.parametrize("gateway_code", ["A403IA", "A403QE", "A403PR"])  # AppCode, quota, arrears
def test_account_refusal_waits_in_the_queue_until_the_limit_then_is_parked_and_a_redrive_makes_it(
    aws: dict[str, Any],
    maker: PhotoMaker,
    records: PhotoRecords,
    vendor: FakeVendor,
    settings: Settings,
    gateway_code: str,
) -> None:
    # Given a gateway that refuses our account, and an upload that entered the queue now
    source = upload(aws["s3"], "uploads/me.jpg")
    vendor.make_answers.extend([_refused(gateway_code)] * 2)
    now = records.now()

    # When its message is received a first time, and again once it has waited past the limit
    with pytest.raises(UploadWaits) as waits:
        maker.make(source, request_id="m1", deadline=DEADLINE, delivery=Delivery(1, queued_at=now))
    waiting = records.get(source.key)
    with pytest.raises(GatewayError):  # the item fails: past maxReceiveCount SQS moves it to the DLQ
        maker.make(
            source,
            request_id="m1",
            deadline=DEADLINE,
            delivery=Delivery(7, queued_at=now - settings.refusal_wait_seconds),
        )
    parked = records.get(source.key)
    # ... and the account is fixed, then the dead-letter queue is redriven (a new message)
    redriven = maker.make(source, request_id="m2", deadline=DEADLINE, delivery=Delivery(1, queued_at=now))

    # Then it waited (not failed, the record says why and until when), was parked restartable once
    # it had waited long enough, and the redrive made the photo
    assert waits.value.retry_in >= settings.backoff_seconds
    assert waiting is not None and waiting.status is Status.PROCESSING
    assert waiting.waiting["code"] == "VENDOR_ACCOUNT"
    assert waiting.waiting["retry_at"] == now + waits.value.retry_in
    assert parked is not None
    assert (parked.status, parked.error_code) == (Status.FAILED, "VENDOR_ACCOUNT")
    assert "redrive" in (parked.error_message or "")
    assert redriven.outcome is Outcome.MADE
    made = records.get(source.key)
    assert made is not None and made.status is Status.READY and not made.waiting
    assert vendor.stats.make_calls == 3


def test_account_refusal_on_the_last_receive_is_parked_whatever_the_wait(
    aws: dict[str, Any], maker: PhotoMaker, records: PhotoRecords, vendor: FakeVendor, settings: Settings
) -> None:
    source = upload(aws["s3"], "uploads/me.jpg")
    vendor.make_answers.append(_refused())
    last = Delivery(settings.make_attempts, queued_at=records.now())

    with pytest.raises(GatewayError):
        maker.make(source, request_id="m1", deadline=DEADLINE, delivery=last)

    parked = records.get(source.key)
    assert parked is not None and (parked.status, parked.error_code) == (Status.FAILED, "VENDOR_ACCOUNT")


def test_account_refusal_leaves_the_photo_waiting_and_the_next_receive_makes_it(
    aws: dict[str, Any], maker: PhotoMaker, records: PhotoRecords, vendor: FakeVendor
) -> None:
    source = upload(aws["s3"], "uploads/me.jpg")
    vendor.make_answers.append(_refused())

    with pytest.raises(UploadWaits):
        maker.make(source, request_id="m1", deadline=DEADLINE)
    during = records.get(source.key)
    retried = maker.make(source, request_id="m1", deadline=DEADLINE, delivery=Delivery(2))

    assert during is not None and during.status is Status.PROCESSING and during.lease_until == 0
    assert "gateway refused" in (during.last_error or "")
    assert retried.outcome is Outcome.MADE


def test_transient_vendor_error_is_raised_and_the_retry_makes_the_photo(
    aws: dict[str, Any], maker: PhotoMaker, records: PhotoRecords, vendor: FakeVendor
) -> None:
    vendor.make_answers.append(VendorUnavailable("vendor down"))
    source = upload(aws["s3"], "uploads/me.jpg")

    with pytest.raises(VendorUnavailable):
        maker.make(source, request_id="r1", deadline=DEADLINE)
    during = records.get(source.key)
    retried = maker.make(source, request_id="r1", deadline=DEADLINE)

    assert during is not None and during.status is Status.PROCESSING and during.last_error == "vendor down"
    assert retried.outcome is Outcome.MADE
    final = records.get(source.key)
    assert final is not None and final.attempts == 2


def test_in_flight_rival_is_acknowledged_quietly(
    aws: dict[str, Any], maker: PhotoMaker, records: PhotoRecords, vendor: FakeVendor
) -> None:
    source = upload(aws["s3"], "uploads/me.jpg")
    records.claim(source, claim_id="other", lease_seconds=300, options={}, ignored_metadata=[])

    result = maker.make(source, request_id="r1", deadline=DEADLINE)

    assert result.outcome is Outcome.IN_FLIGHT
    assert vendor.stats.make_calls == 0


def test_deleted_object_is_skipped(aws: dict[str, Any], maker: PhotoMaker, vendor: FakeVendor) -> None:
    source = upload(aws["s3"], "uploads/gone.jpg")
    aws["s3"].delete_object(Bucket=BUCKET, Key=source.key, VersionId=source.version_id)

    result = maker.make(source, request_id="r1", deadline=DEADLINE)

    assert result.outcome is Outcome.SKIPPED
    assert vendor.stats.make_calls == 0


def test_beauty_gets_the_longer_timeout_and_presign(
    aws: dict[str, Any], maker: PhotoMaker, vendor: FakeVendor
) -> None:
    source = upload(aws["s3"], "uploads/me.jpg", metadata={"need-origin-beauty": "yes"})

    maker.make(source, request_id="r1", deadline=DEADLINE)

    query = parse_qs(urlsplit(vendor.pic_urls[0]).query)
    assert int(query["X-Amz-Expires"][0]) == 85
    assert vendor.bodies[0]["need_origin_beauty"] == 1


def test_no_default_spec_and_none_in_metadata_fails_clearly(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    vendor: FakeVendor,
    clock: Clock,
) -> None:
    maker = PhotoMaker(replace(settings, defaults={}), storage, records, vendor, clock=lambda: 0.0)  # type: ignore[arg-type]

    maker.make(upload(aws["s3"], "uploads/me.jpg"), request_id="r1", deadline=DEADLINE)

    record = records.get("uploads/me.jpg")
    assert record is not None and "spec-id is required" in (record.error_message or "")
    assert vendor.stats.make_calls == 0
    assert PhotoOptions(spec_id=2).to_vendor() == {"spec_id": 2}


def test_text_file_named_jpg_fails_by_its_bytes_without_calling_the_vendor(
    aws: dict[str, Any], maker: PhotoMaker, records: PhotoRecords, vendor: FakeVendor
) -> None:
    source = upload(aws["s3"], "uploads/notes.jpg", body=b"hello, I am text", content_type="image/jpeg")

    maker.make(source, request_id="r1", deadline=DEADLINE)

    record = records.get(source.key)
    assert record is not None and record.error_code == "UNSUPPORTED_OBJECT"
    assert "not a JPEG" in (record.error_message or "")
    assert vendor.stats.make_calls == 0


@pytest.mark.parametrize(
    ("first_bytes", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "png"),
        (b"BM6\x00\x00\x00", "bmp"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "webp"),
        (b"GIF89a", None),
        (b"\xff\xd8", None),
        (b"", None),
    ],
)
def test_image_format_is_read_from_the_signature(first_bytes: bytes, expected: str | None) -> None:
    assert image_format(first_bytes) == expected


def test_last_receive_records_retries_exhausted_then_a_redrive_makes_the_photo(
    aws: dict[str, Any], maker: PhotoMaker, records: PhotoRecords, vendor: FakeVendor, settings: Settings
) -> None:
    source = upload(aws["s3"], "uploads/me.jpg")
    vendor.make_answers.extend([VendorUnavailable("down")] * 3)
    last = settings.make_attempts  # the redrive policy's maxReceiveCount

    for receive in (last - 2, last - 1, last):  # the message's last receives
        with pytest.raises(VendorUnavailable):
            maker.make(source, request_id="m1", deadline=DEADLINE, delivery=Delivery(receive))
    parked = records.get(source.key)
    redriven = maker.make(source, request_id="m2", deadline=DEADLINE)

    assert parked is not None
    assert (parked.status, parked.error_code) == (Status.FAILED, "RETRIES_EXHAUSTED")
    assert f"gave up after {last} attempts" in (parked.error_message or "")
    assert "dead-letter queue" in (parked.error_message or "")
    assert redriven.outcome is Outcome.MADE
    assert vendor.stats.make_calls == 4
