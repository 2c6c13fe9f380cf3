"""Vendor failures end to end, through the stand-in's fault injection.

Permanent vendor codes end the photo as FAILED with that code; transient failures are retried (by the
vendor client, then by Lambda's async retries) until the photo is made; when every retry fails the
event lands in the on-failure queue.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from local.stack import Stack
from ops.replay import replay
from tests.integration.conftest import vendor_delta

pytestmark = pytest.mark.integration

MAKE_PHOTO = "MakePhotoFunction"


@pytest.mark.parametrize("code", [400, 422, 423, 506, 507])
def test_permanent_vendor_codes_fail_the_photo_with_that_code(
    stack: Stack, key: str, portrait: bytes, code: int
) -> None:
    stack.vendor_faults({"fail_next": {"count": 1, "code": code, "call": "make"}})
    before = stack.vendor_stats()

    record = stack.wait_for_photo(stack.upload(key, portrait))

    assert record["status"] == "FAILED"
    assert record["error"]["code"] == "VENDOR_REJECTED"
    assert record["error"]["vendor_code"] == code
    assert vendor_delta(before, stack.vendor_stats(), "make_calls") == 1  # never retried


def test_vendor_5xx_is_retried_then_ready(stack: Stack, key: str, portrait: bytes) -> None:
    invoker = stack.invokers[MAKE_PHOTO]
    invocations, platform_retries = invoker.stats.invocations, invoker.stats.retries
    stack.vendor_faults({"http_status_next": {"count": 2, "status": 503, "call": "make"}})
    before = stack.vendor_stats()

    record = stack.wait_for_photo(stack.upload(key, portrait))

    assert record["status"] == "READY"
    assert vendor_delta(before, stack.vendor_stats(), "make_calls") == 3
    # Guards the vendor client's own retries (issue 27): Lambda's retries of a failed invocation would
    # give the same 3 calls, so all 3 must have been made inside the one invocation.
    assert stack.wait_idle(30)
    assert (invoker.stats.invocations - invocations, invoker.stats.retries - platform_retries) == (1, 0)


def test_vendor_throttling_is_retried_then_ready(stack: Stack, key: str, portrait: bytes) -> None:
    invoker = stack.invokers[MAKE_PHOTO]
    invocations, platform_retries = invoker.stats.invocations, invoker.stats.retries
    stack.vendor_faults({"throttle_next": {"count": 1, "call": "make"}})
    before = stack.vendor_stats()

    record = stack.wait_for_photo(stack.upload(key, portrait))

    assert record["status"] == "READY"
    assert stack.vendor_stats()["gateway_errors"].get("T429PR") == 1
    assert vendor_delta(before, stack.vendor_stats(), "make_calls") == 2
    # Guards the vendor client's own retries (issue 27): the refused call was retried inside the one
    # invocation, not by Lambda's retry of a failed one.
    assert stack.wait_idle(30)
    assert (invoker.stats.invocations - invocations, invoker.stats.retries - platform_retries) == (1, 0)


@pytest.fixture
def short_make_timeout(stack: Stack) -> Iterator[None]:
    """A make-photo Timeout of 14 s leaves one vendor attempt of about 5 s (the function keeps 5 s to
    record the outcome and needs 2 s + connect timeout for an attempt), with seconds to spare for a
    slow start: a vendor call hung for longer then fails the invocation, and Lambda's async retry
    (same request id) makes the photo."""
    original = stack.functions[MAKE_PHOTO].timeout_s
    stack.update_function(MAKE_PHOTO, timeout_s=14)
    yield
    stack.update_function(MAKE_PHOTO, timeout_s=original)


def test_vendor_timeout_fails_the_invocation_and_the_platform_retry_makes_it(
    stack: Stack, short_make_timeout: None, key: str, portrait: bytes
) -> None:
    invoker = stack.invokers[MAKE_PHOTO]
    retries = invoker.stats.retries
    stack.vendor_faults({"hang_next": {"count": 1, "seconds": 10, "call": "make"}})

    record = stack.wait_for_photo(stack.upload(key, portrait))

    assert record["status"] == "READY"
    assert invoker.stats.retries == retries + 1
    assert stack.vendor_stats()["injected"]["hang"] == 1


@pytest.fixture
def wrong_appcode(stack: Stack) -> Iterator[None]:
    """Rotate the secret to a wrong AppCode; the cold start stands in for the 5-minute cache expiry."""
    secrets = stack.client("secretsmanager")
    name = stack.template.parameters["AppCodeSecretName"]
    secrets.put_secret_value(SecretId=name, SecretString="wrong-appcode")
    stack.cold_start()
    yield
    secrets.put_secret_value(SecretId=name, SecretString=stack.appcode)
    stack.cold_start()


@dataclass
class LocalLambda:
    """The Lambda API's ``invoke`` as ops.replay calls it, delivered to the local async invoker."""

    stack: Stack
    functions: list[str] = field(default_factory=list)

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: str) -> dict[str, Any]:
        assert InvocationType == "Event"  # asynchronous, as S3 invokes it
        self.functions.append(FunctionName)
        self.stack.invokers[MAKE_PHOTO].invoke(json.loads(Payload))
        return {"StatusCode": 202}


@pytest.fixture
def emptied_failure_queue(stack: Stack) -> str:
    """The on-failure queue emptied message by message (SQS allows one PurgeQueue a minute)."""
    sqs = stack.client("sqs")
    while messages := sqs.receive_message(
        QueueUrl=stack.failed_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
    ).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=stack.failed_queue_url, ReceiptHandle=message["ReceiptHandle"])
    return stack.failed_queue_url


@pytest.mark.parametrize("refusal", ["wrong-appcode", "quota-exhausted"])
def test_account_refusal_parks_the_photos_and_a_replay_after_the_fix_makes_them(
    stack: Stack, emptied_failure_queue: str, key: str, portrait: bytes, refusal: str
) -> None:
    # Given a gateway that refuses our account: a wrong AppCode, or no quota left
    secrets = stack.client("secretsmanager")
    secret = stack.template.parameters["AppCodeSecretName"]
    if refusal == "wrong-appcode":
        secrets.put_secret_value(SecretId=secret, SecretString="wrong-appcode")
        stack.cold_start()  # stands in for the 5-minute cache expiry
    else:
        stack.vendor_faults({"quota_remaining": 0})
    gateway_code = {"wrong-appcode": "A403AC", "quota-exhausted": "B403MQ"}[refusal]
    try:
        # When two portraits are uploaded during the outage
        keys = [stack.upload(f"{key}-{n}.jpg", portrait) for n in range(2)]
        for full_key in keys:
            stack.deliveries.wait_for(full_key)
        assert stack.wait_idle(90), "make-photo still busy"
        parked = [stack.photo(k).json() for k in keys]
    finally:
        # ... and someone fixes the account
        secrets.put_secret_value(SecretId=secret, SecretString=stack.appcode)
        stack.cold_start()
        stack.vendor_faults({"quota_remaining": None})

    # Then each photo is parked, restartable, saying why (not FAILED for good)
    for status in parked:
        assert (status["status"], status["error"]["code"]) == ("FAILED", "VENDOR_ACCOUNT"), status
        assert gateway_code in status["error"]["message"]
        assert "replay" in status["error"]["message"]
    # And the replay of the parked events makes the photos
    lambda_client = LocalLambda(stack)
    replayed = replay(stack.client("sqs"), lambda_client, emptied_failure_queue, limit=10, dry_run=False)
    assert replayed == 2
    assert stack.wait_idle(90)
    assert all(stack.photo(k).json()["status"] == "READY" for k in keys)
    assert lambda_client.functions == [stack.functions[MAKE_PHOTO].spec.arn] * 2


def test_finals_vendor_error_is_502_and_nothing_is_billed(stack: Stack, key: str, portrait: bytes) -> None:
    full_key = stack.upload(key, portrait)
    stack.wait_for_photo(full_key)
    stack.vendor_faults({"fail_next": {"count": 1, "code": 507, "call": "get"}})
    before = stack.vendor_stats()

    answer = stack.finals(full_key)

    assert answer.status_code == 502
    assert answer.json()["error"]["code"] == "VENDOR_REJECTED"
    assert vendor_delta(before, stack.vendor_stats(), "billed_calls") == 0
    assert stack.finals(full_key).status_code == 200  # the claim was released: a later request pays


@pytest.fixture
def drained_failure_queue(stack: Stack) -> str:
    sqs = stack.client("sqs")
    sqs.purge_queue(QueueUrl=stack.failed_queue_url)
    return stack.failed_queue_url


@pytest.fixture
def vendor_down_longer_than_retries(stack: Stack) -> Iterator[None]:
    """Every make call answers 503, and the function has time for about two vendor attempts."""
    original = stack.functions[MAKE_PHOTO].timeout_s
    stack.update_function(MAKE_PHOTO, timeout_s=12)
    stack.vendor_faults({"http_status_next": {"count": 1000, "status": 503, "call": "make"}})
    yield
    stack.vendor_reset()
    stack.update_function(MAKE_PHOTO, timeout_s=original)


def receive_one(sqs: Any, queue_url: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=2)
        for message in answer.get("Messages", []):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            body: dict[str, Any] = json.loads(message["Body"])
            return body
    raise AssertionError("no message in the on-failure queue")


def test_on_failure_queue_receives_the_event_after_retries_are_exhausted(
    stack: Stack, drained_failure_queue: str, vendor_down_longer_than_retries: None, key: str, portrait: bytes
) -> None:
    full_key = stack.upload(key, portrait)

    record = receive_one(stack.client("sqs"), drained_failure_queue)

    context = record["requestContext"]
    assert context["condition"] == "RetriesExhausted"
    assert context["approximateInvokeCount"] == 3  # the first attempt and MaximumRetryAttempts: 2
    assert context["functionArn"] == stack.functions[MAKE_PHOTO].spec.arn + ":$LATEST"
    assert record["version"] == "1.0"
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "VendorUnavailable"
    assert record["responsePayload"]["requestId"] == context["requestId"]
    s3_record = record["requestPayload"]["Records"][0]
    assert s3_record["eventSource"] == "aws:s3"
    assert s3_record["s3"]["object"]["key"] == full_key  # nothing in it to encode
    status = stack.photo(full_key).json()
    # The record says why it gave up; it stays claimable, so a replay of the parked event may make it.
    assert (status["status"], status["error"]["code"]) == ("FAILED", "RETRIES_EXHAUSTED")
    assert "503" in status["error"]["message"]
    assert "parked" in status["error"]["message"]
