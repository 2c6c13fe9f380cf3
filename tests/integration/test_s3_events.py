"""The S3 events make-photo receives through the upload queue: AWS's shape and key encoding, for
writes by any client; S3's test event."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from local.stack import Stack

pytestmark = pytest.mark.integration

MAKE_PHOTO = "MakePhotoFunction"


def delivered(stack: Stack, encoded_key: str, count: int = 1, timeout_s: float = 15) -> list[dict[str, Any]]:
    """The S3 records make-photo was invoked with for this (encoded) key, oldest first."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = [
            delivery.event["Records"][0]
            for delivery in stack.deliveries.of(function=MAKE_PHOTO)
            if delivery.event["Records"][0]["s3"]["object"]["key"] == encoded_key
        ]
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        # Written out by hand from S3's rules: form encoding of UTF-8, '/' left alone.
        ("a b.jpg", "a+b.jpg"),
        ("a+b.jpg", "a%2Bb.jpg"),
        ("100% sure.jpg", "100%25+sure.jpg"),
        ("café 照片.jpg", "caf%C3%A9+%E7%85%A7%E7%89%87.jpg"),
        ("dir/sub dir/x=1&y.jpg", "dir/sub+dir/x%3D1%26y.jpg"),
    ],
)
def test_keys_are_encoded_like_s3_encodes_them(
    stack: Stack, portrait: bytes, name: str, encoded: str
) -> None:
    full_key = stack.upload(f"it/encoding/{name}", portrait)

    records = delivered(stack, f"{stack.upload_prefix}it/encoding/{encoded}")

    assert len(records) == 1
    assert stack.wait_for_photo(full_key)["key"] == full_key  # and the handler decodes it back


def test_a_put_event_has_the_shape_aws_sends(stack: Stack, key: str, portrait: bytes) -> None:
    answer = stack.client("s3").put_object(Bucket=stack.bucket, Key=stack.upload_prefix + key, Body=portrait)

    (record,) = delivered(stack, stack.upload_prefix + key)

    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["awsRegion"] == stack.region
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["eventTime"])
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["userIdentity"]["principalId"].startswith("AWS:")
    assert set(record["responseElements"]) == {"x-amz-request-id", "x-amz-id-2"}
    s3 = record["s3"]
    assert s3["s3SchemaVersion"] == "1.0"
    assert s3["bucket"]["name"] == stack.bucket
    assert s3["bucket"]["arn"] == f"arn:aws:s3:::{stack.bucket}"
    obj = s3["object"]
    assert obj["size"] == len(portrait)
    assert obj["eTag"] == answer["ETag"].strip('"')
    assert obj["versionId"] == answer["VersionId"]  # the template enables versioning
    assert re.fullmatch(r"[0-9A-F]+", obj["sequencer"])
    stack.wait_for_photo(stack.upload_prefix + key)


def test_sequencers_grow_with_each_write_of_a_key(
    stack: Stack, key: str, portrait: bytes, second_portrait: bytes
) -> None:
    stack.upload(key, portrait)
    stack.upload(key, second_portrait)

    first, second = delivered(stack, stack.upload_prefix + key, count=2)

    width = max(len(first["s3"]["object"]["sequencer"]), len(second["s3"]["object"]["sequencer"]))
    assert first["s3"]["object"]["sequencer"].rjust(width, "0") < second["s3"]["object"]["sequencer"].rjust(
        width, "0"
    )
    assert first["s3"]["object"]["versionId"] != second["s3"]["object"]["versionId"]
    record = stack.wait_for_photo(stack.upload_prefix + key)
    assert stack.wait_idle(30)
    record = stack.wait_for_photo(stack.upload_prefix + key)
    assert record["version"]["version_id"] == second["s3"]["object"]["versionId"]  # the newest wins


def test_copy_and_multipart_uploads_are_delivered_with_their_event_names(
    stack: Stack, key: str, portrait: bytes
) -> None:
    s3 = stack.client("s3")
    source = stack.upload(key, portrait)
    copy_key = source.replace(".jpg", "-copy.jpg")
    multipart_key = source.replace(".jpg", "-multipart.jpg")

    s3.copy_object(Bucket=stack.bucket, Key=copy_key, CopySource={"Bucket": stack.bucket, "Key": source})
    upload = s3.create_multipart_upload(Bucket=stack.bucket, Key=multipart_key, ContentType="image/jpeg")
    part = s3.upload_part(
        Bucket=stack.bucket, Key=multipart_key, UploadId=upload["UploadId"], PartNumber=1, Body=portrait
    )
    s3.complete_multipart_upload(
        Bucket=stack.bucket,
        Key=multipart_key,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )

    assert [r["eventName"] for r in delivered(stack, copy_key)] == ["ObjectCreated:Copy"]
    assert [r["eventName"] for r in delivered(stack, multipart_key)] == [
        "ObjectCreated:CompleteMultipartUpload"
    ]
    assert stack.wait_for_photo(multipart_key)["status"] == "READY"


def test_writes_outside_the_upload_prefix_trigger_nothing(stack: Stack, key: str, portrait: bytes) -> None:
    invocations = stack.queue_sources[MAKE_PHOTO].stats.invocations

    stack.client("s3").put_object(Bucket=stack.bucket, Key="elsewhere/portrait.jpg", Body=portrait)
    stack.upload(key, portrait)  # a later write that is delivered: the one before it would be by now
    stack.wait_for_photo(stack.upload_prefix + key)
    assert stack.wait_idle(30)

    assert stack.queue_sources[MAKE_PHOTO].stats.invocations == invocations + 1
    assert not stack.deliveries.of("elsewhere/portrait.jpg")


def test_s3s_test_event_is_deleted_never_failed(stack: Stack) -> None:
    """S3 sends it once, when the notification is configured (the stack's start consumed that one)."""
    sqs = stack.client("sqs")
    source = stack.queue_sources[MAKE_PHOTO]
    failed_before = source.stats.items_failed + source.stats.batches_failed
    body = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2024-01-01T00:00:00.000Z",
        "Bucket": stack.bucket,
        "RequestId": "LOCAL",
        "HostId": "local",
    }
    sqs.send_message(QueueUrl=stack.upload_queue_url, MessageBody=json.dumps(body))

    assert stack.wait_idle(30)  # the queue is empty again: the message was deleted

    assert source.stats.items_failed + source.stats.batches_failed == failed_before
    attributes = sqs.get_queue_attributes(QueueUrl=stack.dead_letter_queue_url, AttributeNames=["All"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"
