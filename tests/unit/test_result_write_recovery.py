"""A made photo whose result write failed is finished on retry from the kept vendor answer, without
a second make call, and counted once (issue 11, make-photo's side)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from idphoto import making
from idphoto.config import Settings
from idphoto.errors import DataAccessError
from idphoto.making import Outcome, PhotoMaker
from idphoto.records import PhotoRecords, Status
from idphoto.storage import PhotoStorage
from tests.unit.conftest import TABLE, Clock, FakeVendor, made_photo, upload

DEADLINE = 170.0


class FaultyDynamoDB:
    """The moto-backed client, with one fault at the READY write: DynamoDB answers 500 before
    applying it ("lost"), or applies it and the connection drops before the answer ("applied")."""

    def __init__(self, client: Any, kind: str) -> None:
        self._client = client
        self.kind = kind
        self.injected = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_item(self, **kwargs: Any) -> Any:
        is_result = kwargs.get("ExpressionAttributeValues", {}).get(":status") == {"S": "READY"}
        if is_result and not self.injected:
            self.injected += 1
            if self.kind == "applied":
                self._client.update_item(**kwargs)
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "UpdateItem")
        return self._client.update_item(**kwargs)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    monkeypatch.setattr(making, "count", lambda name, value=1: names.append(name))
    return names


@pytest.mark.parametrize("kind", ["lost", "applied"])
def test_a_failed_result_write_is_finished_without_a_second_make_call_and_counted_once(
    aws: dict[str, Any],
    settings: Settings,
    storage: PhotoStorage,
    clock: Clock,
    counted: list[str],
    kind: str,
) -> None:
    # Given DynamoDB fails the result write once, after the vendor answered
    dynamodb = FaultyDynamoDB(aws["dynamodb"], kind)
    records = PhotoRecords(dynamodb, TABLE, clock=clock)  # type: ignore[arg-type]
    vendor = FakeVendor()
    maker = PhotoMaker(settings, storage, records, vendor, clock=lambda: 0.0)  # type: ignore[arg-type]
    source = upload(aws["s3"], "uploads/me.jpg")

    # When make-photo runs, and Lambda retries (same request id) if the invocation failed
    invocations = 1
    try:
        outcome = maker.make(source, request_id="r1", deadline=DEADLINE).outcome
    except DataAccessError:
        invocations += 1
        outcome = maker.make(source, request_id="r1", deadline=DEADLINE).outcome

    # Then the photo is READY with the vendor's one answer, made once and counted once
    record = records.get(source.key)
    assert dynamodb.injected == 1
    assert record is not None and record.status is Status.READY
    assert record.names == made_photo(["white"]).names
    assert vendor.stats.make_calls == 1
    assert counted.count("PhotosMade") == 1
    assert outcome is Outcome.MADE
    # a lost write needs the platform's retry (which reuses the kept answer); an applied one is
    # confirmed by reading it back, within the same invocation
    assert invocations == (2 if kind == "lost" else 1)


def test_a_kept_answer_whose_previews_expired_is_not_reused(
    aws: dict[str, Any], settings: Settings, storage: PhotoStorage, records: PhotoRecords, clock: Clock
) -> None:
    # Given an earlier attempt kept an answer whose URLs no longer work
    vendor = FakeVendor()
    maker = PhotoMaker(settings, storage, records, vendor, clock=lambda: 0.0)  # type: ignore[arg-type]
    source = upload(aws["s3"], "uploads/me.jpg")
    stale = {
        "names": ["old"],
        "previews": ["https://v/x?Expires=1"],
        "sheet_previews": ["s"],
        "sheet_count": 8,
    }
    storage.keep_answer(source.key, source.version_tag, stale)
    records.claim(source, claim_id="r1", lease_seconds=-1, options={}, ignored_metadata=[])

    # When the retry takes over
    result = maker.make(source, request_id="r1", deadline=DEADLINE)

    # Then it asks the vendor again
    record = records.get(source.key)
    assert result.outcome is Outcome.MADE and vendor.stats.make_calls == 1
    assert record is not None and record.names != ["old"]
