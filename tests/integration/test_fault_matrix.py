"""The fault matrix of issue 4, driven by the stand-in's fault injection.

Each row of ``MAKE_ROWS`` is one fault on the free ``pic_handle_3`` call and asserts: the record's final
status, error code and vendor code; the stand-in's make calls (and vendor-made photos) and billed calls
(after asking for the finals); the upload message's failed receives (it comes back through the upload
queue); and what reached the upload dead-letter queue (nothing, or the upload's S3 event once every
receive failed). Parked rows then start SQS's DLQ redrive, as the runbook does, and expect the photo to
be made. A refusal of our account (AppCode, quota) is no row: the upload waits until the vendor accepts
(test_vendor_errors.py, and the chaos run's quota case). ``FINALS_ROWS`` do the same for the billed
``get_pic_3`` call and for the download of its results. Duplicate S3 deliveries are rows too: the fault
is in S3, not the vendor.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import requests
from boto3.dynamodb.types import TypeDeserializer

from local.stack import Stack
from tests.integration.conftest import max_receives, vendor_delta

pytestmark = pytest.mark.integration

MAKE_PHOTO = "MakePhotoFunction"
PERMANENT_CODES = (400, 422, 423, 506, 507)
# A make-photo Timeout of 12 s leaves ~7 s for the vendor (the handler keeps 5 s back): two to four
# attempts an invocation at the client's backoff. 11 s leaves room for exactly one ~3 s attempt.
TWO_OR_MORE_ATTEMPTS_S = 12.0
# 40 s leaves 35 s: the client's five attempts always fit (its backoff pauses add up to at most
# 1 + 2 + 4 + 8 = 15 s), however slow the machine, so exactly the first invocation runs out of them.
EVERY_ATTEMPT_S = 40.0
# 25 s leaves 20 s: one attempt whose read timeout (~17 s, the connect timeout kept back) a normal make
# never outlasts on a loaded machine, and that a 20 s hang always does (11 s gave ~3 s, which a normal
# make outlasted at load 12: a third call).
ONE_LONG_ATTEMPT_S = 25.0


@dataclass(frozen=True)
class MakeRow:
    id: str
    faults: dict[str, Any]
    status: str  # READY or FAILED, once everything settled
    error_code: str | None = None
    vendor_code: int | None = None
    make_calls: tuple[int, int] = (1, 1)  # inclusive range of pic_handle_3 calls
    made: int = 1  # photos the stand-in actually made (answered code 200)
    failed_receives: tuple[int, int] = (0, 0)  # receives of the upload's message that failed
    parked: bool = False  # the upload's message in the dead-letter queue
    gateway_code: str | None = None  # the market gateway's X-Ca-Error-Code, counted and in the message
    timeout_s: float | None = None  # make-photo's Timeout for this row
    max_receives: int | None = None  # the queue's maxReceiveCount (and make-photo's) for this row
    appcode: str | None = None  # the secret rotated to this (a wrong AppCode)


def _permanent(code: int, as_http_status: bool) -> MakeRow:
    faults: dict[str, Any] = {"fail_next": {"count": 1, "code": code, "call": "make"}}
    if as_http_status:
        faults["code_as_http_status"] = True
    where = "http-status" if as_http_status else "in-body"
    return MakeRow(f"vendor-{code}-{where}", faults, "FAILED", "VENDOR_REJECTED", code, made=0)


MAKE_ROWS = [
    *(_permanent(code, as_status) for as_status in (False, True) for code in PERMANENT_CODES),
    MakeRow(
        "gateway-throttled-once",
        {"throttle_next": {"count": 1, "call": "make"}},
        "READY",
        make_calls=(2, 2),
        gateway_code="T429PR",
    ),
    *(
        MakeRow(
            f"http-{status}-burst-within-client-retries",
            {"http_status_next": {"count": 2, "status": status, "call": "make"}},
            "READY",
            make_calls=(3, 3),
        )
        for status in (502, 503)
    ),
    MakeRow(
        # Five failures: all of one invocation's five attempts; the platform's retry makes it. The
        # Timeout lets every attempt fit, so the count does not depend on the machine's speed.
        "http-503-burst-beyond-one-invocation",
        {"http_status_next": {"count": 5, "status": 503, "call": "make"}},
        "READY",
        make_calls=(6, 6),
        failed_receives=(1, 1),
        timeout_s=EVERY_ATTEMPT_S,
    ),
    MakeRow(
        # Longer than every receive (maxReceiveCount 5 for this row): the message goes to the
        # dead-letter queue; the record says why (RETRIES_EXHAUSTED, restartable).
        "http-503-beyond-every-retry",
        {"http_status_next": {"count": 1000, "status": 503, "call": "make"}},
        "FAILED",
        "RETRIES_EXHAUSTED",
        make_calls=(10, 25),
        made=0,
        failed_receives=(5, 5),
        parked=True,
        max_receives=5,
        timeout_s=TWO_OR_MORE_ATTEMPTS_S,
    ),
    MakeRow(
        # The read timeout fails the upload; its message's next receive takes over. The late answer still arrives at the vendor, which made the photo then too: free, and explained
        # by the recorded second attempt.
        "hang-past-read-timeout",
        {"hang_next": {"count": 1, "seconds": 20, "call": "make"}},
        "READY",
        make_calls=(2, 2),
        made=2,
        # On a slow machine the next receive may find the first's claim not handed back yet: it
        # comes back once more (never deleted while the photo is unfinished).
        failed_receives=(1, 2),
        timeout_s=ONE_LONG_ATTEMPT_S,
    ),
    MakeRow(
        "malformed-body-once",
        {"malformed_next": {"count": 1, "call": "make"}},
        "READY",
        make_calls=(2, 2),
    ),
]


# --- helpers -------------------------------------------------------------------------------------


def record_item(stack: Stack, key: str) -> dict[str, Any]:
    """The photo's DynamoDB item, plain (what the API does not show: attempts, final states)."""
    answer = stack.client("dynamodb").get_item(
        TableName=stack.table, Key={"photo_key": {"S": key}}, ConsistentRead=True
    )
    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in answer.get("Item", {}).items()}


def dead_letters(stack: Stack) -> list[dict[str, Any]]:
    """The S3 event documents now in the upload dead-letter queue (left there, visible again at once).
    After ``wait_idle`` nothing is on its way: SQS moved the message when the poller asked for it."""
    sqs = stack.client("sqs")
    answer = sqs.receive_message(
        QueueUrl=stack.dead_letter_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=0
    )
    return [json.loads(message["Body"]) for message in answer.get("Messages", [])]


def failed_receives(stack: Stack) -> int:
    """Receives of the upload queue whose message came back: failed items and failed invocations."""
    stats = stack.queue_sources[MAKE_PHOTO].stats
    return stats.items_failed + stats.batches_failed


def redrive(stack: Stack) -> None:
    """The runbook's `aws sqs start-message-move-task --source-arn <UploadDeadLetterQueueArn>`."""
    stack.client("sqs").start_message_move_task(SourceArn=stack.dead_letter_queue_arn)


def settle(stack: Stack, key: str, deliveries: int = 1) -> None:
    """The upload's events were delivered and every invocation, retry and parking is over."""
    stack.deliveries.wait_for(key, count=deliveries)
    assert stack.wait_idle(90), "make-photo still busy"


@contextlib.contextmanager
def make_photo_timeout(stack: Stack, seconds: float | None) -> Iterator[None]:
    if seconds is None:
        yield
        return
    original = stack.functions[MAKE_PHOTO].timeout_s
    stack.update_function(MAKE_PHOTO, timeout_s=seconds)
    try:
        yield
    finally:
        stack.update_function(MAKE_PHOTO, timeout_s=original)


@contextlib.contextmanager
def appcode_secret(stack: Stack, value: str | None) -> Iterator[None]:
    """Rotate the secret; the cold start stands in for the 5-minute cache expiry."""
    if value is None:
        yield
        return
    secrets = stack.client("secretsmanager")
    name = stack.template.parameters["AppCodeSecretName"]
    secrets.put_secret_value(SecretId=name, SecretString=value)
    stack.cold_start()
    try:
        yield
    finally:
        secrets.put_secret_value(SecretId=name, SecretString=stack.appcode)
        stack.cold_start()


@pytest.fixture
def failure_queue(stack: Stack) -> Iterator[None]:
    """No dead letter before; what a test parked is sent back (and made) after it."""
    assert dead_letters(stack) == []
    yield
    if dead_letters(stack):
        stack.vendor_reset()
        redrive(stack)
        assert stack.wait_idle(60)


def in_range(value: int, bounds: tuple[int, int]) -> bool:
    return bounds[0] <= value <= bounds[1]


def made_since(stack: Stack, before: dict[str, Any]) -> int:
    """Photos the stand-in made (code 200 to pic_handle_3) since ``before``."""
    return int(stack.vendor_stats()["make_codes"].get("200", 0)) - int(before["make_codes"].get("200", 0))


def wait_for_made(stack: Stack, before: dict[str, Any], expected: int, timeout_s: float = 60) -> int:
    """A hung call completes at the vendor after the client gave up on it: wait for what it makes."""
    deadline = time.monotonic() + timeout_s
    while (made := made_since(stack, before)) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return made


# --- make-photo rows -------------------------------------------------------------------------------


@pytest.mark.parametrize("row", MAKE_ROWS, ids=[r.id for r in MAKE_ROWS])
def test_make_photo_fault(stack: Stack, failure_queue: None, key: str, portrait: bytes, row: MakeRow) -> None:
    receives = max_receives(stack, row.max_receives) if row.max_receives else contextlib.nullcontext()
    with make_photo_timeout(stack, row.timeout_s), appcode_secret(stack, row.appcode), receives:
        stack.vendor_faults(row.faults)
        before, failures = stack.vendor_stats(), failed_receives(stack)

        full_key = stack.upload(key, portrait)
        settle(stack, full_key)
        made = wait_for_made(stack, before, row.made)
        during = stack.vendor_stats()
        status = stack.photo_body(full_key)
        finals = stack.finals(full_key)
        stack.vendor_faults(dict.fromkeys(row.faults))
        after = stack.vendor_stats()
        parked = dead_letters(stack)

    assert (status["status"], status.get("error", {}).get("code")) == (row.status, row.error_code), status
    assert status.get("error", {}).get("vendor_code") == row.vendor_code
    if row.gateway_code:
        gateway_errors = during["gateway_errors"].get(row.gateway_code, 0)
        assert gateway_errors - before["gateway_errors"].get(row.gateway_code, 0) == (
            row.make_calls[0] if row.parked else 1  # a parked refusal came back on every attempt
        )
        if row.status == "FAILED":
            assert row.gateway_code in status["error"]["message"]
    assert in_range(vendor_delta(before, during, "make_calls"), row.make_calls), during
    assert made == row.made
    failed = failed_receives(stack) - failures
    assert in_range(failed, row.failed_receives)
    # Each receive took the claim over, but one that found a rival's live claim (it came back).
    taken = failed + (0 if row.parked else 1)
    assert (
        row.failed_receives[0] + (0 if row.parked else 1) <= record_item(stack, full_key)["attempts"] <= taken
    )
    if row.status == "READY":
        assert finals.status_code == 200, finals.text
        assert vendor_delta(before, after, "billed_calls") == 1
    else:
        assert finals.status_code == 409, finals.text
        assert finals.json()["error"]["code"] == "PHOTO_FAILED"
        assert vendor_delta(before, after, "billed_calls") == 0
    if not row.parked:
        assert parked == []
        return
    (failure,) = parked
    assert failure["Records"][0]["s3"]["object"]["key"] == full_key  # S3's own event, as it came
    assert "dead-letter queue" in status["error"]["message"]
    # The runbook's redrive: SQS sends the message back to the upload queue, which makes the photo.
    redrive(stack)
    assert stack.wait_idle(60)
    assert stack.photo_body(full_key)["status"] == "READY"
    assert made_since(stack, after) == 1
    assert dead_letters(stack) == []


# --- duplicate deliveries ----------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["racing-the-first", "after-the-photo-is-made"])
def test_duplicate_delivery_makes_the_photo_once(
    stack: Stack, failure_queue: None, key: str, portrait: bytes, when: str
) -> None:
    """S3 delivers the same event document twice; the second makes nothing (racing the first, it
    comes back once the first is done, instead of being deleted while the photo is unfinished)."""
    failures = failed_receives(stack)
    if when == "racing-the-first":
        stack.vendor_faults({"latency_ms": 1500})  # the first is still at the vendor when the second runs
    before = stack.vendor_stats()

    full_key = stack.upload(key, portrait)
    (first,) = stack.deliveries.wait_for(full_key)
    made_record: dict[str, Any] = {}
    if when == "after-the-photo-is-made":
        assert stack.wait_for_photo(full_key)["status"] == "READY"
        made_record = record_item(stack, full_key)
    stack.redeliver(full_key)
    settle(stack, full_key, deliveries=2)

    deliveries = stack.deliveries.of(full_key)
    assert all(d.event == first.event for d in deliveries)  # the same document
    assert len({d.request_id for d in deliveries}) == 2  # a second message
    assert vendor_delta(before, stack.vendor_stats(), "make_calls") == 1
    assert stack.photo_body(full_key)["status"] == "READY"
    if made_record:
        assert failed_receives(stack) == failures  # acknowledged at once
        assert record_item(stack, full_key) == made_record  # nothing was written
    assert dead_letters(stack) == []


def test_finals_written_under_the_finals_prefix_invoke_no_make_photo(
    stack: Stack, key: str, portrait: bytes
) -> None:
    """No recursion: the finals get-photo keeps in the bucket trigger nothing."""
    source = stack.queue_sources[MAKE_PHOTO]
    full_key = stack.upload(key, portrait, {"background": "white,blue"})
    assert stack.wait_for_photo(full_key)["status"] == "READY"
    assert stack.wait_idle(30)
    invocations = source.stats.invocations

    assert stack.finals(full_key).status_code == 200
    kept = kept_objects(stack, full_key)
    # A barrier: moto queues S3 notifications inside the write, so an event caused by the finals would
    # be delivered no later than the event of an upload made after them.
    sentinel = stack.upload(key.replace(".jpg", "-after-finals.jpg"), portrait)
    stack.deliveries.wait_for(sentinel)
    assert stack.wait_idle(30)

    finals_prefix = stack.template.parameters["FinalsPrefix"]
    assert len(kept) == 4 and all(k.startswith(finals_prefix) for k in kept)  # two colours x photo, sheet
    assert {d.key for d in stack.deliveries.of()} & set(kept) == set()
    assert source.stats.invocations == invocations + 1  # the sentinel's, nothing else


# --- finals rows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinalsRow:
    id: str
    faults: dict[str, Any]  # for the first request only
    first_status: int
    first_code: str | None
    billed_first: int  # billed calls after the first request
    get_calls: int  # get_pic_3 calls after the last request
    first_state: str | None = None  # the colour's state in the record after the first request
    download_failures: int = 0  # result downloads that fail (HTTP 503) after the billed call
    retry_after: str | None = None
    restore: dict[str, Any] = field(default_factory=dict)  # faults that undo the row's
    accept_uncertain: bool = False  # the second request says retry_uncertain=1


FINALS_ROWS = [
    FinalsRow(
        "billed-call-http-503",
        {"http_status_next": {"count": 1, "status": 503, "call": "get"}},
        503,
        "VENDOR_UNAVAILABLE",
        billed_first=0,
        get_calls=2,
        retry_after="30",
    ),
    FinalsRow(
        "billed-call-http-500",
        {"http_status_next": {"count": 1, "status": 500, "call": "get"}},
        503,
        "VENDOR_UNAVAILABLE",
        billed_first=0,
        get_calls=2,
        retry_after="30",
    ),
    FinalsRow(
        # An unreadable HTTP 200 may have been charged: UNCERTAIN, never retried on its own; the
        # caller's explicit retry_uncertain=1 fetches it (the stand-in billed nothing for it).
        "billed-call-malformed-body-is-uncertain",
        {"malformed_next": {"count": 1, "call": "get"}},
        409,
        "FINAL_UNCERTAIN",
        billed_first=0,
        get_calls=2,
        first_state="UNCERTAIN",
        accept_uncertain=True,
    ),
    FinalsRow(
        # The gateway answered for the vendor: certainly not billed, so retried at once.
        "billed-call-throttled",
        {"throttle_next": {"count": 1, "call": "get"}},
        200,
        None,
        billed_first=1,
        get_calls=2,
        first_state="KEPT",
    ),
    FinalsRow(
        "billed-call-vendor-507",
        {"fail_next": {"count": 1, "code": 507, "call": "get"}},
        502,
        "VENDOR_REJECTED",
        billed_first=0,
        get_calls=2,
    ),
    FinalsRow(
        "billed-call-quota-exhausted",
        {"quota_remaining": 0},
        502,
        "VENDOR_GATEWAY",
        billed_first=0,
        get_calls=2,
        restore={"quota_remaining": None},
    ),
    FinalsRow(
        # Billed, then the download of the vendor's result fails: the answer was recorded first, so the
        # next request downloads from the recorded URLs without paying again.
        "download-fails-after-billed-call",
        {},
        503,
        "VENDOR_UNAVAILABLE",
        billed_first=1,
        get_calls=1,
        first_state="BILLED",
        download_failures=1,
        retry_after="30",
    ),
]


@contextlib.contextmanager
def failing_result_downloads(count: int) -> Iterator[list[str]]:
    """The stand-in's next ``count`` downloads of watermark-free results answer HTTP 503. The stand-in has
    no such fault: its result handler, looked up by name on each request, is wrapped in this process."""
    from local.standin.downloads import serve_result
    from local.standin.http_util import send

    failed: list[str] = []

    def failing(handler: BaseHTTPRequestHandler, vendor: Any, stats: Any) -> None:
        final = unquote(urlsplit(handler.path).path).startswith("/result/")  # not a preview
        if final and len(failed) < count:
            failed.append(handler.path)
            send(handler, 503, b"Service Unavailable", "text/plain")
            return
        serve_result(handler, vendor, stats)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("local.standin.server.serve_result", failing)
        yield failed


def kept_objects(stack: Stack, key: str) -> list[str]:
    prefix = stack.template.parameters["FinalsPrefix"] + key.removeprefix(stack.upload_prefix) + "/"
    answer = stack.client("s3").list_objects_v2(Bucket=stack.bucket, Prefix=prefix)
    # The finals only: make-photo keeps the vendor's answer beside them (made.json).
    return [item["Key"] for item in answer.get("Contents", []) if not item["Key"].endswith("/made.json")]


@pytest.mark.parametrize("row", FINALS_ROWS, ids=[r.id for r in FINALS_ROWS])
def test_finals_fault(stack: Stack, key: str, portrait: bytes, row: FinalsRow) -> None:
    full_key = stack.upload(key, portrait)
    assert stack.wait_for_photo(full_key)["status"] == "READY"
    stack.vendor_faults(row.faults)
    before = stack.vendor_stats()

    with failing_result_downloads(row.download_failures) as failed:
        first = stack.finals(full_key)
    billed_first = vendor_delta(before, stack.vendor_stats(), "billed_calls")
    state = (record_item(stack, full_key).get("finals") or {}).get("white", {}).get("state")
    kept_first = kept_objects(stack, full_key)
    stack.vendor_faults(dict.fromkeys(row.faults) | row.restore)
    if row.accept_uncertain:
        refused = stack.finals(full_key)  # no automatic retry: the same answer, no vendor call
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "FINAL_UNCERTAIN")
        assert stack.photo_body(full_key)["finals_uncertain"] == ["white"]
        second = requests.post(
            stack.photo_url(full_key, "finals"), params={"retry_uncertain": "1"}, timeout=35
        )
    else:
        second = stack.finals(full_key)
    third = stack.finals(full_key)
    after = stack.vendor_stats()

    assert first.status_code == row.first_status, first.text
    assert len(failed) == row.download_failures
    if row.first_code is not None:
        assert first.json()["error"]["code"] == row.first_code
        assert "Traceback" not in first.text
    assert first.headers.get("Retry-After") == row.retry_after
    assert billed_first == row.billed_first
    assert state == row.first_state
    # Both images kept only when served (the photo and sheet are copied concurrently: one of them may be
    # in the bucket already when the other's download failed; both are paid for).
    assert (len(kept_first) == 2) == (row.first_state == "KEPT")
    assert (second.status_code, third.status_code) == (200, 200), second.text
    assert second.json()["finals"][0]["color"] == "white"
    assert vendor_delta(before, after, "billed_calls") == 1  # once, whatever went wrong before
    assert vendor_delta(before, after, "get_calls") == row.get_calls
    assert stack.photo_body(full_key)["finals_kept"] == ["white"]
    assert len(kept_objects(stack, full_key)) == 2  # photo and print sheet


# --- AWS faults at each step of both functions (issue 11), through the fault proxy -----------------

# The functions' clients retry 4 times (standard mode, 5 attempts: idphoto.aws.CLIENT_CONFIG); so do
# Powertools' Secrets Manager client's (legacy mode, 5 attempts). One fault is absorbed by botocore; five
# in a row reach our code.
SDK_ATTEMPTS = 5
AWS_KINDS = ("throttle", "internal", "dropped")


@dataclass(frozen=True)
class AwsStep:
    """One AWS call of one function, told apart by service, operation and what its request contains
    (``{key}`` is the photo's key; markers are attribute names only that write has)."""

    name: str
    service: str
    operation: str
    match: tuple[str, ...] = ("{key}",)
    cold: bool = False  # the secret is cached: start the functions cold so that it is read


MAKE_STEPS = (
    AwsStep("secret", "secretsmanager", "GetSecretValue", (), cold=True),
    AwsStep("peek", "s3", "GetObject"),
    AwsStep("claim", "dynamodb", "PutItem"),
    AwsStep("result-write", "dynamodb", "UpdateItem", ("{key}", "previews_expire_at")),
)
# Finals: the download of the vendor's result is no AWS call (its faults are FINALS_ROWS above); the
# bucket check (HeadObject) is the step right before the billed call and the download.
FINALS_STEPS = (
    AwsStep("secret", "secretsmanager", "GetSecretValue", (), cold=True),
    AwsStep("final-claim", "dynamodb", "UpdateItem", ("{key}", "lease_until")),
    # The photo's object only (the sheet's key ends in _print.jpg): the two are kept concurrently.
    AwsStep("bucket-check", "s3", "HeadObject", ("{key}", "/white.jpg")),
    AwsStep("billed-record", "dynamodb", "UpdateItem", ("{key}", "photo_url")),
    AwsStep("keep", "s3", "PutObject", ("{key}", "/white.jpg")),
    AwsStep("kept-record", "dynamodb", "UpdateItem", ("{key}", "kept_at")),
)


def aws_rule(step: AwsStep, kind: str, count: int, key: str) -> dict[str, Any]:
    match = [part.replace("{key}", key.removeprefix("uploads/")) for part in step.match]
    return {
        "service": step.service,
        "operation": step.operation,
        "kind": kind,
        "count": count,
        "match": match,
    }


def injected(stack: Stack, step: AwsStep, kind: str) -> int:
    return int(stack.aws_faults.stats()["by_operation"].get(f"{step.service}:{step.operation}:{kind}", 0))


def vendor_made_once_by_the_record(item: dict[str, Any], colors: int) -> None:
    """What the record counts as made: one READY result of one version, every colour named once."""
    assert item["status"] == "READY"
    assert len(item["names"]) == len(set(item["names"])) == colors


def aws_rows(steps: tuple[AwsStep, ...]) -> list[Any]:
    """Each kind at each step, absorbed by the SDK's retries; and at each step, one kind beyond them
    (past the SDK, every kind is the same exception to our code)."""
    rows = [pytest.param(s, k, 1, id=f"{s.name}-{k}-absorbed") for s in steps for k in AWS_KINDS]
    rows += [pytest.param(s, "internal", SDK_ATTEMPTS, id=f"{s.name}-beyond-sdk-retries") for s in steps]
    return rows


@pytest.mark.parametrize(("step", "kind", "count"), aws_rows(MAKE_STEPS))
def test_make_photo_aws_fault(
    stack: Stack, failure_queue: None, key: str, portrait: bytes, step: AwsStep, kind: str, count: int
) -> None:
    if step.cold:
        stack.cold_start()
    full_key = f"{stack.upload_prefix}{key}"
    stack.aws_faults.set({"rules": [aws_rule(step, kind, count, full_key)]})
    before, failures = stack.vendor_stats(), failed_receives(stack)

    stack.upload(key, portrait)
    settle(stack, full_key)
    made = made_since(stack, before)
    status = stack.photo_body(full_key)
    finals = stack.finals(full_key)
    after = stack.vendor_stats()

    assert injected(stack, step, kind) == count, stack.aws_faults.stats()
    assert status["status"] == "READY", status
    vendor_made_once_by_the_record(record_item(stack, full_key), 1)
    assert finals.status_code == 200, finals.text
    assert vendor_delta(before, after, "billed_calls") == 1  # never billed twice
    assert dead_letters(stack) == []  # never parked
    platform_retries = failed_receives(stack) - failures
    if count == 1:  # botocore absorbed it: one invocation, one vendor call
        assert (platform_retries, made, vendor_delta(before, after, "make_calls")) == (0, 1, 1)
    elif step.name == "result-write":
        # The vendor made the photo, then its record write failed: the message's next receive recovers it.
        # Whether that calls the vendor again depends on make-photo's recovery (made 1 with it, 2
        # without); the record counts one photo either way.
        assert platform_retries == 1 and made in (1, 2)
    else:  # failed before the vendor call: the message's next receive makes it, once
        assert (platform_retries, made) == (1, 1)


@dataclass(frozen=True)
class AwsFinalsExpectation:
    first_status: int
    first_state: str | None  # the colour's state in the record after the first request
    downloads_again: bool = False  # the second request downloads the vendor's result (free)


# What the first request answers and leaves behind when a step fails beyond the SDK's retries.
BEYOND = {
    "secret": AwsFinalsExpectation(503, None),  # nothing sent; the claim is given back
    "final-claim": AwsFinalsExpectation(503, None),
    "bucket-check": AwsFinalsExpectation(503, None),  # checked before paying; claim given back
    "billed-record": AwsFinalsExpectation(200, "KEPT"),  # kept anyway: the copy is the record
    "keep": AwsFinalsExpectation(503, "BILLED", downloads_again=True),  # the next one copies, free
    "kept-record": AwsFinalsExpectation(200, "BILLED"),  # the next one repairs it from the bucket
}


@pytest.mark.parametrize(("step", "kind", "count"), aws_rows(FINALS_STEPS))
def test_finals_aws_fault(
    stack: Stack, key: str, portrait: bytes, step: AwsStep, kind: str, count: int
) -> None:
    full_key = stack.upload(key, portrait)
    assert stack.wait_for_photo(full_key)["status"] == "READY"
    if step.cold:
        stack.cold_start()
    made = record_item(stack, full_key)
    stack.aws_faults.set({"rules": [aws_rule(step, kind, count, full_key)]})
    before = stack.vendor_stats()

    first = stack.finals(full_key)
    state = (record_item(stack, full_key).get("finals") or {}).get("white", {}).get("state")
    billed_first = vendor_delta(before, stack.vendor_stats(), "billed_calls")
    faults = injected(stack, step, kind)
    stack.aws_faults.reset()
    second, third = stack.finals(full_key), stack.finals(full_key)
    after = stack.vendor_stats()
    final = record_item(stack, full_key)

    expected = AwsFinalsExpectation(200, "KEPT") if count == 1 else BEYOND[step.name]
    assert faults == count
    assert first.status_code == expected.first_status, first.text
    if first.status_code == 503:
        assert first.json()["error"]["code"] == "AWS_UNAVAILABLE" and first.headers["Retry-After"] == "2"
    assert state == expected.first_state
    assert (second.status_code, third.status_code) == (200, 200), second.text
    assert billed_first == (0 if step.name in ("secret", "final-claim", "bucket-check") and count > 1 else 1)
    assert vendor_delta(before, after, "billed_calls") == 1  # once, whatever AWS did
    assert vendor_delta(before, after, "get_calls") == 1
    assert final["finals"]["white"]["state"] == "KEPT"
    assert len(kept_objects(stack, full_key)) == 2
    assert {k: v for k, v in final.items() if k not in ("finals", "updated_at")} == {
        k: v for k, v in made.items() if k not in ("finals", "updated_at")
    }  # the finals path wrote nothing else
    downloads = after["downloads"]["final"] - before["downloads"]["final"]
    assert downloads == (4 if expected.downloads_again else 2)  # photo and sheet, again only if not kept
