"""Photo events: what reaches EventBridge, checked against docs/events/, and at-least-once without rework."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest

from idphoto.config import Settings
from idphoto.errors import AwsUnavailable, VendorRejected, VendorUnavailable
from idphoto.events import (
    DETAIL_TYPES,
    FINALS_KEPT,
    PHOTO_FAILED,
    PHOTO_READY,
    PUBLISH_ATTEMPTS,
    SOURCE,
    EventPublisher,
    EventsUndelivered,
    PhotoEvent,
    PhotoEvents,
    finals_event,
    outcome_event,
)
from idphoto.finals import PhotoFinals
from idphoto.making import Delivery, Outcome, PhotoMaker
from idphoto.records import RETRIES_EXHAUSTED, PhotoRecord, PhotoRecords, Status
from idphoto.source import SourceObject
from idphoto.storage import PhotoStorage
from tests.unit.conftest import TABLE, FakeVendor, quiet_finals, upload

SCHEMAS = Path(__file__).parents[2] / "docs" / "events"
SCHEMA_FILES = {
    PHOTO_READY: "photo-ready.v1.json",
    PHOTO_FAILED: "photo-failed.v1.json",
    FINALS_KEPT: "finals-kept.v1.json",
}
OWNER = "AIDAOWNER"
DEADLINE = 170.0


def schema(detail_type: str) -> dict[str, Any]:
    return dict(json.loads((SCHEMAS / SCHEMA_FILES[detail_type]).read_text()))


class Bus:
    """The default bus with a rule sending every idphoto event to a queue: what a consumer receives."""

    def __init__(self) -> None:
        self.client = boto3.client("events")
        self._sqs = boto3.client("sqs")
        self._queue = self._sqs.create_queue(QueueName="idphoto-events")["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=self._queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.client.put_rule(Name="all-photo-events", EventPattern=json.dumps({"source": [SOURCE]}))
        self.client.put_targets(Rule="all-photo-events", Targets=[{"Id": "queue", "Arn": arn}])

    def received(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        while True:
            answer = self._sqs.receive_message(QueueUrl=self._queue, MaxNumberOfMessages=10)
            if not answer.get("Messages"):
                return events
            for message in answer["Messages"]:
                events.append(json.loads(message["Body"]))
                self._sqs.delete_message(QueueUrl=self._queue, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def bus(aws: dict[str, Any]) -> Bus:
    return Bus()


@pytest.fixture
def vendor() -> FakeVendor:
    return FakeVendor()


def as_any(fake: object) -> Any:
    """The fakes stand in for VendorClient and requests.Session by duck typing."""
    return fake


def photo_events(client: Any, records: PhotoRecords) -> PhotoEvents:
    return PhotoEvents(EventPublisher(client, "default", sleep=lambda _: None), records)


def photo_finals(
    settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor, client: Any
) -> PhotoFinals:
    """The API's finals, announcing through ``client``, never sleeping."""
    return quiet_finals(settings, storage, records, vendor, events=photo_events(client, records))


@pytest.fixture
def maker(
    settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor, bus: Bus
) -> PhotoMaker:
    return PhotoMaker(
        settings,
        storage,
        records,
        as_any(vendor),
        clock=lambda: 0.0,
        events=photo_events(bus.client, records),
    )


def owned_upload(aws: dict[str, Any], key: str, **kwargs: Any) -> SourceObject:
    source = upload(aws["s3"], key, **kwargs)
    return SourceObject(**{**source.__dict__, "uploader": OWNER})


def assert_valid(event: dict[str, Any]) -> None:
    """The envelope EventBridge delivers, with a detail its documented schema accepts."""
    assert event["source"] == SOURCE
    assert event["detail-type"] in DETAIL_TYPES
    jsonschema.validate(event["detail"], schema(event["detail-type"]))
    text = json.dumps(event["detail"])
    assert "http" not in text and "Signature" not in text, "no URLs (signed or not) in events"


def test_a_made_photo_is_announced_ready_with_key_and_owner(
    aws: dict[str, Any], maker: PhotoMaker, bus: Bus
) -> None:
    source = owned_upload(aws, "uploads/me.jpg", metadata={"background": "white,blue"})

    assert maker.make(source, request_id="r1", deadline=DEADLINE).outcome is Outcome.MADE

    [event] = bus.received()
    assert_valid(event)
    assert event["detail-type"] == PHOTO_READY
    detail = event["detail"]
    assert (detail["key"], detail["owner"], detail["colors"]) == ("uploads/me.jpg", OWNER, ["white", "blue"])
    assert detail["sequencer"] == source.sequencer


def test_a_permanent_failure_is_announced_not_replayable(
    aws: dict[str, Any], maker: PhotoMaker, vendor: FakeVendor, bus: Bus
) -> None:
    vendor.make_answers.append(VendorRejected("no face found", code="VENDOR_REJECTED", vendor_code=422))
    source = owned_upload(aws, "uploads/noface.jpg")

    maker.make(source, request_id="r1", deadline=DEADLINE)

    [event] = bus.received()
    assert_valid(event)
    assert event["detail-type"] == PHOTO_FAILED
    assert event["detail"]["vendor_code"] == 422
    assert event["detail"]["replayable"] is False


def test_exhausted_retries_are_announced_replayable_and_the_error_still_reaches_the_platform(
    aws: dict[str, Any],
    maker: PhotoMaker,
    vendor: FakeVendor,
    records: PhotoRecords,
    bus: Bus,
    settings: Settings,
) -> None:
    source = owned_upload(aws, "uploads/outage.jpg")
    last = settings.make_attempts  # the upload queue's maxReceiveCount
    for attempt in range(last - 2, last + 1):  # the message's last three receives
        vendor.make_answers.append(VendorUnavailable("vendor timed out"))
        with pytest.raises(VendorUnavailable):
            maker.make(source, request_id="event-1", deadline=DEADLINE, delivery=Delivery(attempt))
        if attempt < last:
            assert bus.received() == [], "a released record (retry coming) announces nothing"

    [event] = bus.received()
    assert_valid(event)
    assert event["detail"]["error_code"] == RETRIES_EXHAUSTED
    assert event["detail"]["replayable"] is True


def test_a_duplicate_delivery_announces_again_with_the_same_id_and_makes_nothing(
    aws: dict[str, Any], maker: PhotoMaker, vendor: FakeVendor, bus: Bus
) -> None:
    source = owned_upload(aws, "uploads/me.jpg")
    maker.make(source, request_id="r1", deadline=DEADLINE)

    again = maker.make(source, request_id="r2", deadline=DEADLINE)

    assert again.outcome is Outcome.DUPLICATE
    assert vendor.stats.make_calls == 1
    first, second = bus.received()
    assert first["detail"]["event_id"] == second["detail"]["event_id"]
    assert first["id"] != second["id"], "EventBridge's own id differs per PutEvents: dedupe on ours"


class CountingDynamoDB:
    """The moto-backed client, counting the calls by operation."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self._client, name)


@pytest.mark.parametrize("answer", ["made", "rejected"])
def test_an_outcome_is_announced_from_the_record_as_written_without_reading_it_back(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    clock: Any,
    vendor: FakeVendor,
    bus: Bus,
    answer: str,
) -> None:
    # The READY or FAILED write returns the item (ReturnValues=ALL_NEW): no GetItem per photo, and
    # no copy of the vendor's answer in S3 while the write works (it is kept only when it fails).
    dynamodb = CountingDynamoDB(aws["dynamodb"])
    records = PhotoRecords(as_any(dynamodb), TABLE, clock=clock)
    maker = PhotoMaker(
        settings,
        storage,
        records,
        as_any(vendor),
        clock=lambda: 0.0,
        events=photo_events(bus.client, records),
    )
    if answer == "rejected":
        vendor.make_answers.append(VendorRejected("no face found", code="VENDOR_REJECTED", vendor_code=422))
    source = owned_upload(aws, "uploads/me.jpg")

    maker.make(source, request_id="r1", deadline=DEADLINE)

    assert dynamodb.calls == ["put_item", "update_item"]
    [event] = bus.received()
    record = records.get(source.key)
    expected = outcome_event(record) if record else None
    assert expected is not None and event["detail"] == expected.detail, "as a read-back would announce it"
    kept = aws["s3"].list_objects_v2(Bucket=settings.bucket, Prefix=settings.finals_prefix)
    assert kept.get("KeyCount", 0) == 0


class RefusingEvents:
    """An EventBridge client that refuses the first ``refusals`` PutEvents, entry by entry."""

    def __init__(self, real: Any, refusals: int) -> None:
        self._real = real
        self.refusals = refusals
        self.calls = 0

    def put_events(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.refusals:
            return {
                "FailedEntryCount": len(kwargs["Entries"]),
                "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}]
                * len(kwargs["Entries"]),
            }
        return self._real.put_events(**kwargs)


def test_refused_entries_are_retried_until_accepted(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    vendor: FakeVendor,
    bus: Bus,
) -> None:
    client = RefusingEvents(bus.client, refusals=2)
    maker = PhotoMaker(
        settings, storage, records, as_any(vendor), clock=lambda: 0.0, events=photo_events(client, records)
    )

    maker.make(owned_upload(aws, "uploads/me.jpg"), request_id="r1", deadline=DEADLINE)

    assert client.calls == 3
    assert [e["detail-type"] for e in bus.received()] == [PHOTO_READY]


def test_an_event_bridge_outage_fails_the_invocation_after_the_work_and_the_retry_announces_it(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    vendor: FakeVendor,
    bus: Bus,
) -> None:
    client = RefusingEvents(bus.client, refusals=10**6)
    source = owned_upload(aws, "uploads/me.jpg")
    broken = PhotoMaker(
        settings, storage, records, as_any(vendor), clock=lambda: 0.0, events=photo_events(client, records)
    )

    with pytest.raises(EventsUndelivered):
        broken.make(source, request_id="r1", deadline=DEADLINE)

    record = records.get(source.key)
    assert record is not None and record.status is Status.READY, "the photo's work is kept"
    assert bus.received() == []
    client.refusals = 0  # EventBridge is back; Lambda retries the same event
    assert broken.make(source, request_id="r1", deadline=DEADLINE).outcome is Outcome.DUPLICATE
    assert vendor.stats.make_calls == 1, "made once"
    assert [e["detail-type"] for e in bus.received()] == [PHOTO_READY]


def test_kept_finals_are_announced_per_colour_with_their_keys(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    vendor: FakeVendor,
    maker: PhotoMaker,
    bus: Bus,
) -> None:
    source = owned_upload(aws, "uploads/me.jpg", metadata={"background": "white,blue"})
    maker.make(source, request_id="r1", deadline=DEADLINE)
    bus.received()
    finals = photo_finals(settings, storage, records, vendor, bus.client)

    finals.finals(source.key, None, caller=OWNER, request_id="api-1", deadline=DEADLINE)
    finals.finals(source.key, "blue", caller=OWNER, request_id="api-2", deadline=DEADLINE)

    events = bus.received()
    for event in events:
        assert_valid(event)
    # Once each, when kept: the second answer, from the copy, costs no PutEvents.
    assert sorted(e["detail"]["color"] for e in events) == ["blue", "white"]
    assert vendor.stats.billed_calls == 2
    kept = {
        aws["s3"].head_object(Bucket=e["detail"]["bucket"], Key=e["detail"]["photo_key"])["ContentLength"]
        for e in events
    }
    assert all(size > 0 for size in kept)


def sample_events() -> list[PhotoEvent]:
    base = PhotoRecord(key="uploads/a.jpg", sequencer="1F", status=Status.READY, bucket="b", owner=OWNER)
    ready = outcome_event(replace(base, colors=["white"], sheet_count=8))
    failed = outcome_event(replace(base, status=Status.FAILED, error_code="VENDOR_REJECTED", vendor_code=422))
    assert ready is not None and failed is not None
    return [
        ready,
        failed,
        finals_event(base, "white", "finals/a.jpg/1F/white.jpg", "finals/a.jpg/1F/white_print.jpg", 1),
    ]


def test_every_detail_type_has_a_schema_that_refuses_what_it_does_not_document() -> None:
    events = sample_events()
    assert sorted(e.detail_type for e in events) == sorted(DETAIL_TYPES)
    for event in events:
        documented = schema(event.detail_type)
        jsonschema.validate(event.detail, documented)
        with pytest.raises(jsonschema.ValidationError, match="image"):
            jsonschema.validate(event.detail | {"image": "base64..."}, documented)
        with pytest.raises(jsonschema.ValidationError, match="'key' is a required property"):
            jsonschema.validate({k: v for k, v in event.detail.items() if k != "key"}, documented)


def test_a_refused_finals_event_is_announced_by_the_next_answer_with_the_same_id(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    vendor: FakeVendor,
    maker: PhotoMaker,
    bus: Bus,
) -> None:
    source = owned_upload(aws, "uploads/me.jpg", metadata={"background": "white"})
    maker.make(source, request_id="r1", deadline=DEADLINE)
    bus.received()
    client = RefusingEvents(bus.client, refusals=PUBLISH_ATTEMPTS)  # every attempt of the first request

    def answer(request_id: str) -> list[Any]:
        finals = photo_finals(settings, storage, records, vendor, client)
        return finals.finals(source.key, "white", caller=OWNER, request_id=request_id, deadline=DEADLINE)

    # The first request pays and keeps the final, but EventBridge refuses its event: the request
    # fails (so its caller, or Lambda's retry of automatic finals, asks again) and the record says so.
    with pytest.raises(AwsUnavailable):
        answer("api-1")
    record = records.get(source.key)
    assert record is not None and record.finals["white"]["state"] == "KEPT"
    assert record.finals["white"]["announced"] is False
    assert bus.received() == []

    # The next answer, from the copy, announces it; the one after that has nothing to announce.
    [first] = answer("api-2")
    [again] = answer("api-3")

    [event] = bus.received()
    assert_valid(event)
    assert (
        event["detail"]["event_id"]
        == finals_event(
            record, "white", *storage.final_keys(source.key, source.version_tag, "white"), first.billed_at
        ).event_id
    )
    assert vendor.stats.billed_calls == 1, "paid once"
    after = records.get(source.key)
    assert after is not None and after.finals["white"]["announced"] is True
    assert first.photo_url and again.photo_url
