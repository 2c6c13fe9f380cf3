"""Automatic finals: opt-in per upload or per deployment, through the pay-once path, with a manifest."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import boto3
import pytest

from idphoto.autofinals import AutoFinals
from idphoto.config import Settings
from idphoto.events import PHOTO_READY, SOURCE, outcome_event
from idphoto.making import PhotoMaker
from idphoto.options import wanted_colors
from idphoto.records import PhotoRecords
from idphoto.source import SourceObject
from idphoto.storage import PhotoStorage
from local.stack.eventbridge import read_rules
from local.stack.naming import Pseudo
from local.stack.template import load
from tests.unit.conftest import BUCKET, FakeVendor, quiet_finals, upload

OWNER = "AIDAOWNER"
DEADLINE = 170.0


def as_any(fake: object) -> Any:
    return fake


@pytest.fixture
def vendor() -> FakeVendor:
    return FakeVendor()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A deployment that lets uploaders opt into automatic finals (AllowUploaderAutoFinals=true)."""
    return replace(settings, uploader_auto_finals=True)


def auto(settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor) -> AutoFinals:
    finals = quiet_finals(settings, storage, records, vendor)
    return AutoFinals(settings, storage, records, finals)


def ready_photo(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    vendor: FakeVendor,
    metadata: dict[str, str],
) -> dict[str, Any]:
    """A photo made from an upload with this metadata; returns the "Photo Ready" detail's essentials."""
    made = upload(aws["s3"], "uploads/me.jpg", metadata={"background": "white,blue", **metadata})
    source = SourceObject(**{**made.__dict__, "uploader": OWNER})
    PhotoMaker(settings, storage, records, as_any(vendor), clock=lambda: 0.0).make(
        source, request_id="m", deadline=DEADLINE
    )
    return {"key": source.key, "sequencer": source.sequencer}


def manifest(aws: dict[str, Any], detail: dict[str, Any]) -> dict[str, Any]:
    key = f"finals/me.jpg/{detail['sequencer'].lstrip('0')}/manifest.json"
    return dict(json.loads(aws["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read()))


@pytest.mark.parametrize(
    ("choice", "fetched", "unknown"),
    [
        ("auto", ["white", "blue"], []),
        ("ALL", ["white", "blue"], []),
        ("off", [], []),
        ("", [], []),
        ("blue", ["blue"], []),
        ("blue, pink", ["blue"], ["pink"]),
    ],
)
def test_the_choice_names_the_colours_to_fetch(choice: str, fetched: list[str], unknown: list[str]) -> None:
    assert wanted_colors(choice, ["white", "blue"]) == (fetched, unknown)


def test_an_upload_asking_for_auto_finals_gets_them_billed_once_with_a_manifest(
    aws: dict[str, Any], settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor
) -> None:
    detail = ready_photo(aws, settings, storage, records, vendor, {"finals": "auto"})
    finals = auto(settings, storage, records, vendor)

    result = finals.on_ready(detail, request_id="e1", deadline=DEADLINE)
    again = finals.on_ready(detail, request_id="e2", deadline=DEADLINE)  # the event delivered twice

    assert result.fetched == again.fetched == ("white", "blue")
    record = records.get(detail["key"])
    assert record is not None and record.ignored_metadata == [], "finals is read, not ignored"
    assert vendor.stats.billed_calls == 2, "one billed call per final, whatever the duplicates"
    document = manifest(aws, detail)
    assert [f["color"] for f in document["files"]] == ["white", "blue"]
    assert document["checks"]["complete"] is True
    assert document["owner"] == OWNER and document["spec"] == 1
    for file in document["files"]:
        assert aws["s3"].head_object(Bucket=BUCKET, Key=file["photo_key"])["ContentLength"] > 0
        assert file["billed_at"] > 0


def test_finals_the_api_already_bought_are_not_bought_again(
    aws: dict[str, Any], settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor
) -> None:
    detail = ready_photo(aws, settings, storage, records, vendor, {"finals": "blue"})
    api = quiet_finals(settings, storage, records, vendor)
    api.finals(detail["key"], "blue", caller=OWNER, request_id="api", deadline=DEADLINE)

    auto(settings, storage, records, vendor).on_ready(detail, request_id="e1", deadline=DEADLINE)

    assert vendor.stats.billed_calls == 1
    assert manifest(aws, detail)["checks"]["colors_kept"] == ["blue"]


@pytest.mark.parametrize(("default", "billed"), [("off", 0), ("auto", 2)])
def test_an_upload_that_says_nothing_follows_the_deployment_default(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    vendor: FakeVendor,
    default: str,
    billed: int,
) -> None:
    settings = replace(settings, auto_finals=default)
    detail = ready_photo(aws, settings, storage, records, vendor, {})

    auto(settings, storage, records, vendor).on_ready(detail, request_id="e1", deadline=DEADLINE)

    assert vendor.stats.billed_calls == billed


def test_an_upload_saying_off_pays_nothing_even_with_the_default_on(
    aws: dict[str, Any], settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor
) -> None:
    settings = replace(settings, auto_finals="auto")
    detail = ready_photo(aws, settings, storage, records, vendor, {"finals": "off"})

    result = auto(settings, storage, records, vendor).on_ready(detail, request_id="e1", deadline=DEADLINE)

    assert result.fetched == ()
    assert vendor.stats.billed_calls == 0


def test_an_event_of_an_older_version_fetches_nothing(
    aws: dict[str, Any], settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor
) -> None:
    detail = ready_photo(aws, settings, storage, records, vendor, {"finals": "auto"})

    result = auto(settings, storage, records, vendor).on_ready(
        detail | {"sequencer": "0" * 31 + "1"}, request_id="e1", deadline=DEADLINE
    )

    assert result.fetched == ()
    assert vendor.stats.billed_calls == 0


@pytest.mark.parametrize(
    ("metadata", "default", "wanted"),
    [
        ({}, "off", False),
        ({}, "auto", True),
        ({"finals": "auto"}, "off", True),
        ({"finals": "off"}, "auto", False),
        ({"finals": "blue"}, "off", True),
        ({"finals": "pink"}, "off", False),  # no such colour: nothing to fetch
    ],
)
def test_photo_ready_says_whether_automatic_finals_are_wanted(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    vendor: FakeVendor,
    metadata: dict[str, str],
    default: str,
    wanted: bool,
) -> None:
    settings = replace(settings, auto_finals=default)
    detail = ready_photo(aws, settings, storage, records, vendor, metadata)

    record = records.get(detail["key"])
    assert record is not None
    event = outcome_event(record)

    assert record.auto_finals == metadata.get("finals", default)
    assert event is not None and event.detail["auto_finals"] is wanted


def test_the_auto_finals_rule_lets_through_only_the_photos_that_want_them(aws: dict[str, Any]) -> None:
    # The rule's pattern as SAM's translation gives it, matched by moto's EventBridge.
    [rule] = [r for r in read_rules(*_translated()) if r.logical_id == "AutoFinalsRule"]
    events, sqs = boto3.client("events"), boto3.client("sqs")
    queue = sqs.create_queue(QueueName="auto-finals-rule")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="auto-finals", EventPattern=json.dumps(rule.pattern))
    events.put_targets(Rule="auto-finals", Targets=[{"Id": "q", "Arn": arn}])

    for key, wanted in (("uploads/yes.jpg", True), ("uploads/no.jpg", False)):
        detail = {"key": key, "auto_finals": wanted}
        events.put_events(
            Entries=[{"Source": SOURCE, "DetailType": PHOTO_READY, "Detail": json.dumps(detail)}]
        )

    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["detail"]["key"] for m in received] == ["uploads/yes.jpg"]


def test_a_recorded_choice_is_read_from_the_record_not_from_the_upload(
    aws: dict[str, Any], settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor
) -> None:
    detail = ready_photo(aws, settings, storage, records, vendor, {"finals": "auto"})
    peeks: list[str] = []
    real_peek = storage.peek

    def counted_peek(key: str, *args: Any, **kwargs: Any) -> Any:
        peeks.append(key)
        return real_peek(key, *args, **kwargs)

    storage.peek = counted_peek  # type: ignore[method-assign]

    result = auto(settings, storage, records, vendor).on_ready(detail, request_id="e1", deadline=DEADLINE)

    assert result.fetched == ("white", "blue")
    assert peeks == []


def _translated() -> tuple[Any, ...]:
    template = load(pseudo=Pseudo())
    return template.translated, template.parameters, template.pseudo, "http://127.0.0.1:4566"


@pytest.mark.parametrize(
    ("metadata", "default", "auto_finals", "refused"),
    [
        ({"finals": "auto"}, "off", "off", True),
        ({"finals": "white,blue"}, "off", "off", True),
        ({"finals": "off"}, "off", "off", False),
        ({"finals": "off"}, "auto", "off", False),  # fewer finals: always allowed
        ({"finals": "blue"}, "auto", "blue", False),
        ({}, "auto", "auto", False),
    ],
)
def test_where_uploaders_may_not_opt_in_an_upload_cannot_ask_for_billed_finals(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    vendor: FakeVendor,
    metadata: dict[str, str],
    default: str,
    auto_finals: str,
    refused: bool,
) -> None:
    """Issue 20, item 8: AllowUploaderAutoFinals=false (the default) - the photo is made, no final is
    paid for a wish the deployment does not grant, and the status lists ``finals`` as ignored."""
    settings = replace(settings, auto_finals=default, uploader_auto_finals=False)
    detail = ready_photo(aws, settings, storage, records, vendor, metadata)

    record = records.get(detail["key"])
    assert record is not None and record.status.value == "READY"
    event = outcome_event(record)
    result = auto(settings, storage, records, vendor).on_ready(detail, request_id="e1", deadline=DEADLINE)

    assert record.auto_finals == auto_finals
    assert ("finals" in record.ignored_metadata) is refused
    assert event is not None
    if refused:
        assert event.detail["auto_finals"] is False
        assert result.fetched == () and vendor.stats.billed_calls == 0


def test_the_deployment_default_forbids_uploaders_to_opt_in() -> None:
    assert Settings(bucket="b", table="t", appcode_secret_name="s").uploader_auto_finals is False
    parameter = load().translated["Parameters"]["AllowUploaderAutoFinals"]
    assert parameter["Default"] == "false"
