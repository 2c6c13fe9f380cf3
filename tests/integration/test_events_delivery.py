"""Photo events through the template's EventBridge rule to the webhook, as a deployment sends them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from local.stack import Stack
from local.stack.webhook import Received, WebhookReceiver
from tests.integration.conftest import WEBHOOK_KEY

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).parents[2] / "docs" / "events"
SCHEMA_FILES = {
    "Photo Ready": "photo-ready.v1.json",
    "Photo Failed": "photo-failed.v1.json",
    "Finals Kept": "finals-kept.v1.json",
}


def wait_for(found: Callable[[], list[Received]], count: int = 1, timeout: float = 90.0) -> list[Received]:
    """Generous: events cross moto, a pump and HTTPS; the machine may be loaded."""
    deadline = time.monotonic() + timeout
    while True:
        hits = found()
        if len(hits) >= count or time.monotonic() > deadline:
            return hits
        time.sleep(0.1)


def of(webhook: WebhookReceiver, key: str, detail_type: str) -> Callable[[], list[Received]]:
    return lambda: [
        r
        for r in webhook.received()
        if r.body.get("detail", {}).get("key") == key and r.body.get("detail-type") == detail_type
    ]


def check_schema(body: dict[str, Any]) -> None:
    schema = json.loads((SCHEMAS / SCHEMA_FILES[body["detail-type"]]).read_text())
    jsonschema.validate(body["detail"], schema)


def test_ready_and_finals_reach_the_webhook_with_its_key_in_the_envelope(
    stack: Stack, webhook: WebhookReceiver, key: str, portrait: bytes
) -> None:
    full_key = stack.upload(key, portrait, metadata={"background": "white,blue"})
    assert stack.wait_for_photo(full_key)["status"] == "READY"

    [ready] = wait_for(of(webhook, full_key, "Photo Ready"))
    assert ready.method == "POST"
    assert ready.headers["x-api-key"] == WEBHOOK_KEY
    assert ready.headers["content-type"].startswith("application/json")
    assert ready.body["source"] == "idphoto"
    assert {"id", "version", "account", "region", "time", "resources"} <= set(ready.body)
    check_schema(ready.body)
    assert ready.body["detail"]["colors"] == ["white", "blue"]
    assert "http" not in json.dumps(ready.body["detail"])

    assert stack.finals(full_key).status_code == 200
    kept = wait_for(of(webhook, full_key, "Finals Kept"), count=2)
    assert sorted(k.body["detail"]["color"] for k in kept) == ["blue", "white"]
    for event in kept:
        check_schema(event.body)


def test_a_failed_photo_is_announced_with_its_reason(
    stack: Stack, webhook: WebhookReceiver, key: str
) -> None:
    full_key = stack.upload(key, b"not an image at all", content_type="image/jpeg")
    assert stack.wait_for_photo(full_key)["status"] == "FAILED"

    [failed] = wait_for(of(webhook, full_key, "Photo Failed"))
    check_schema(failed.body)
    assert failed.body["detail"]["error_code"] == "UNSUPPORTED_OBJECT"
    assert failed.body["detail"]["replayable"] is False


def test_the_endpoint_failing_for_a_while_still_gets_the_event(
    stack: Stack, webhook: WebhookReceiver, key: str, portrait: bytes
) -> None:
    webhook.fail_next(503, 500)
    full_key = stack.upload(key, portrait)

    hits = wait_for(of(webhook, full_key, "Photo Ready"), count=3)

    assert len({h.body["detail"]["event_id"] for h in hits}) == 1
    assert len(hits) >= 3, "two refused attempts, then delivered"


def test_an_event_the_endpoint_refuses_for_good_is_parked_in_the_dead_letter_queue(
    stack: Stack, webhook: WebhookReceiver, key: str, portrait: bytes
) -> None:
    webhook.fail_next(400)  # not retried by EventBridge
    full_key = stack.upload(key, b"still not an image")

    sqs = stack.client("sqs")
    url = stack.template.outputs["WebhookDeadLetterQueueUrl"]
    parked: list[dict[str, Any]] = []
    deadline = time.monotonic() + 90
    while not parked and time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if json.loads(message["Body"])["detail"]["key"] == full_key:
                parked.append(message)

    [message] = parked
    assert message["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "400"
    assert len(of(webhook, full_key, "Photo Failed")()) == 1, "a 400 is not retried"


def test_an_upload_asking_for_automatic_finals_gets_them_kept_billed_once_with_a_manifest(
    stack: Stack, webhook: WebhookReceiver, key: str, portrait: bytes
) -> None:
    billed_before = stack.vendor_stats()["billed_calls"]
    full_key = stack.upload(key, portrait, metadata={"background": "white,blue", "finals": "auto"})

    kept = wait_for(of(webhook, full_key, "Finals Kept"), count=2)

    assert sorted(k.body["detail"]["color"] for k in kept) == ["blue", "white"]
    s3 = stack.client("s3")
    detail = kept[0].body["detail"]
    manifest_key = detail["photo_key"].rsplit("/", 1)[0] + "/manifest.json"
    deadline = time.monotonic() + 60
    while True:
        try:
            manifest = json.loads(s3.get_object(Bucket=stack.bucket, Key=manifest_key)["Body"].read())
            break
        except s3.exceptions.NoSuchKey:
            assert time.monotonic() < deadline, "no manifest"
            time.sleep(0.2)
    assert manifest["checks"]["complete"] is True
    assert stack.wait_idle(60)
    assert stack.vendor_stats()["billed_calls"] - billed_before == 2
    assert stack.finals(full_key).status_code == 200, "the API serves the kept copies"
    assert stack.vendor_stats()["billed_calls"] - billed_before == 2, "and does not pay again"
