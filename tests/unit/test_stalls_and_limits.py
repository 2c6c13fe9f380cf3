"""Photos that never stay PROCESSING unseen, keys too long for their finals, records past their TTL
(issue 10, breakers 6 and 8)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from idphoto.config import Settings
from idphoto.errors import PhotoNotFound
from idphoto.finals import PhotoFinals
from idphoto.making import Delivery, Outcome, PhotoMaker
from idphoto.records import PhotoRecords, Status
from idphoto.storage import MAX_KEY_BYTES, PhotoStorage
from tests.unit.conftest import Clock, FakeSession, FakeVendor, upload

DEADLINE = 170.0
OWNER = "AIDAOWNER"


class Killed(BaseException):
    """The runtime ends the invocation (timeout, out of memory): no code of ours runs after it."""


class DyingVendor(FakeVendor):
    def make_photo(self, *args: Any, **kwargs: Any) -> Any:
        self.stats.make_calls += 1
        raise Killed


@pytest.fixture
def maker(settings: Settings, storage: PhotoStorage, records: PhotoRecords) -> PhotoMaker:
    return PhotoMaker(settings, storage, records, FakeVendor(), clock=lambda: 0.0)  # type: ignore[arg-type]


def test_a_photo_whose_last_attempt_died_is_told_stalled_not_processing(
    aws: dict[str, Any], settings: Settings, storage: PhotoStorage, records: PhotoRecords, clock: Clock
) -> None:
    # Given make-photo dies inside the vendor call on each of Lambda's attempts
    maker = PhotoMaker(settings, storage, records, DyingVendor(), clock=lambda: 0.0)  # type: ignore[arg-type]
    source = upload(aws["s3"], "uploads/me.jpg")
    seen: list[tuple[Status, bool]] = []
    for _ in range(settings.make_attempts):
        with pytest.raises(Killed):
            maker.make(source, request_id="r1", deadline=DEADLINE)
        record = records.get(source.key)
        assert record is not None
        seen.append((record.status, record.is_stalled(records.now(), settings.make_attempts)))
        clock.advance(DEADLINE + 60)  # the lease runs out before the platform's next attempt
    after = records.get(source.key)

    # Then while retries are to come it is being made; after the last one it is stalled
    assert seen == [(Status.PROCESSING, False)] * settings.make_attempts
    assert after is not None and after.status is Status.PROCESSING
    assert after.event_attempts == {"r1": settings.make_attempts}
    assert after.is_stalled(records.now(), settings.make_attempts)


def test_a_live_last_attempt_is_not_stalled(aws: dict[str, Any], records: PhotoRecords, clock: Clock) -> None:
    source = upload(aws["s3"], "uploads/me.jpg")
    for _ in range(3):
        records.claim(source, claim_id="r1", lease_seconds=-1, options={}, ignored_metadata=[])
    records.claim(source, claim_id="r1", lease_seconds=100, options={}, ignored_metadata=[])
    record = records.get(source.key)

    assert record is not None and record.attempts == 4
    assert not record.is_stalled(records.now(), 3)  # its lease is alive: someone is making it
    clock.advance(101)
    assert record.is_stalled(records.now(), 3)


def test_a_photo_older_than_any_retry_is_stalled_whatever_its_count(
    aws: dict[str, Any], records: PhotoRecords, clock: Clock
) -> None:
    # Given one attempt that died, and retries that failed before they could claim (an AWS error)
    source = upload(aws["s3"], "uploads/me.jpg")
    records.claim(source, claim_id="r1", lease_seconds=60, options={}, ignored_metadata=[])
    record = records.get(source.key)
    assert record is not None

    # Then it is not stalled while a retry may still come, and is once none can (6 hours)
    clock.advance(3600)
    assert not record.is_stalled(records.now(), 3)
    clock.advance(6 * 3600)
    assert record.is_stalled(records.now(), 3)


def test_an_aws_error_after_the_claim_hands_the_claim_back(
    aws: dict[str, Any],
    maker: PhotoMaker,
    records: PhotoRecords,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the result write fails with an error that is not the vendor's
    source = upload(aws["s3"], "uploads/me.jpg")

    def broken(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("DynamoDB answered 500")

    monkeypatch.setattr(records, "mark_ready", broken)

    # When make-photo runs its first and its last attempt
    with pytest.raises(RuntimeError):
        maker.make(source, request_id="r1", deadline=DEADLINE)
    first = records.get(source.key)
    with pytest.raises(RuntimeError):  # its message's last receive
        maker.make(source, request_id="r1", deadline=DEADLINE, delivery=Delivery(settings.make_attempts))
    last = records.get(source.key)

    # Then the first gives its lease back for the retry, the last says why it gave up (restartable)
    assert first is not None and first.status is Status.PROCESSING
    assert first.lease_until == 0 and "RuntimeError" in (first.last_error or "")
    assert last is not None and (last.status, last.error_code) == (Status.FAILED, "RETRIES_EXHAUSTED")


def test_an_upload_key_too_long_for_its_finals_fails_before_any_vendor_call(
    aws: dict[str, Any], settings: Settings, storage: PhotoStorage, records: PhotoRecords
) -> None:
    # Given an upload whose key S3 takes but whose finals key would be past S3's 1024 bytes
    vendor = FakeVendor()
    maker = PhotoMaker(settings, storage, records, vendor, clock=lambda: 0.0)  # type: ignore[arg-type]
    key = "uploads/" + "é" * ((MAX_KEY_BYTES - len("uploads/") - 4) // 2) + ".jpg"
    assert len(key.encode()) <= MAX_KEY_BYTES
    source = upload(aws["s3"], key)

    # When make-photo handles it
    result = maker.make(source, request_id="r1", deadline=DEADLINE)

    # Then it fails with a clear reason and the vendor is never called
    record = records.get(key)
    assert result.outcome is Outcome.FAILED
    assert record is not None and (record.status, record.error_code) == (Status.FAILED, "UNSUPPORTED_OBJECT")
    assert "too long" in (record.error_message or "") and "1024" in (record.error_message or "")
    assert vendor.stats.make_calls == 0


def test_the_longest_key_that_fits_is_made(
    aws: dict[str, Any], settings: Settings, storage: PhotoStorage, records: PhotoRecords
) -> None:
    vendor = FakeVendor()
    maker = PhotoMaker(settings, storage, records, vendor, clock=lambda: 0.0)  # type: ignore[arg-type]
    source = upload(aws["s3"], "uploads/x.jpg")
    room = MAX_KEY_BYTES - storage.longest_final_key_bytes(source.key, source.version_tag, ["white"])
    source = upload(aws["s3"], "uploads/" + "a" * room + "x.jpg", metadata={"background": "white"})

    assert maker.make(source, request_id="r1", deadline=DEADLINE).outcome is Outcome.MADE
    assert storage.longest_final_key_bytes(source.key, source.version_tag, ["white"]) <= MAX_KEY_BYTES


def test_a_record_past_its_ttl_is_not_served(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    maker: PhotoMaker,
    clock: Clock,
) -> None:
    # Given a photo made for its uploader, served to them up to the last second of its retention
    source = replace(upload(aws["s3"], "uploads/me.jpg"), uploader=OWNER)
    assert maker.make(source, request_id="r1", deadline=DEADLINE).outcome is Outcome.MADE
    vendor = FakeVendor()
    finals = PhotoFinals(settings, storage, records, vendor, FakeSession())  # type: ignore[arg-type]
    clock.advance(settings.record_retention_days * 86_400 - 1)
    assert finals.status(source.key, OWNER).key == source.key  # the owner sees it: only time differs below

    # When its TTL passed but DynamoDB has not deleted it yet (it may take days)
    clock.advance(2)

    # Then it is as good as absent, to its owner too, and no final is bought for it
    assert records.get(source.key) is None
    with pytest.raises(PhotoNotFound):
        finals.status(source.key, OWNER)
    with pytest.raises(PhotoNotFound):
        finals.finals(source.key, None, caller=OWNER, request_id="a", deadline=1e12)
    assert vendor.stats.billed_calls == 0
