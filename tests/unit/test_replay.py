"""Replaying parked upload events: each is re-invoked once, then deleted; nothing else is touched."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ops.replay import replay

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:idphoto-make-photo"


@dataclass
class FakeLambda:
    calls: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"StatusCode": 202}


def on_failure_record(key: str) -> str:
    """The shape Lambda sends to an on-failure destination."""
    return json.dumps(
        {
            "version": "1.0",
            "requestContext": {
                "requestId": "r-" + key,
                "functionArn": FUNCTION_ARN + ":$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": {"Records": [{"eventSource": "aws:s3", "s3": {"object": {"key": key}}}]},
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "responsePayload": {"errorType": "VendorUnavailable", "errorMessage": "down"},
        }
    )


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="failed-events")["QueueUrl"]
        yield sqs, url


def test_each_parked_event_is_invoked_asynchronously_once_and_deleted(queue: Any) -> None:
    sqs, url = queue
    for key in ("uploads/a.jpg", "uploads/b+c.jpg"):
        sqs.send_message(QueueUrl=url, MessageBody=on_failure_record(key))
    fake = FakeLambda()

    count = replay(sqs, fake, url, limit=100, dry_run=False)

    assert count == 2
    assert [c["FunctionName"] for c in fake.calls] == [FUNCTION_ARN, FUNCTION_ARN]
    assert {c["InvocationType"] for c in fake.calls} == {"Event"}
    keys = sorted(json.loads(c["Payload"])["Records"][0]["s3"]["object"]["key"] for c in fake.calls)
    assert keys == ["uploads/a.jpg", "uploads/b+c.jpg"]
    left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert left["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_dry_run_changes_nothing(queue: Any) -> None:
    sqs, url = queue
    sqs.send_message(QueueUrl=url, MessageBody=on_failure_record("uploads/a.jpg"))
    fake = FakeLambda()

    count = replay(sqs, fake, url, limit=100, dry_run=True)

    assert (count, fake.calls) == (0, [])
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"  # not deleted


def test_foreign_messages_are_left_in_the_queue(queue: Any) -> None:
    sqs, url = queue
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"hello": "world"}))
    fake = FakeLambda()

    count = replay(sqs, fake, url, limit=100, dry_run=False)

    assert (count, fake.calls) == (0, [])
