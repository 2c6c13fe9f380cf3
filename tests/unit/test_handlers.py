"""The two Lambda handlers, driven by the sample events in events/ (as `sam local invoke -e` would)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from idphoto import config, services
from idphoto.errors import GatewayError, VendorRejected, VendorUnavailable
from idphoto.source import SourceObject
from tests import images
from tests.unit.conftest import BUCKET, SECRET, TABLE, FakeSession, FakeVendor

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Context:
    aws_request_id: str = "req-1"
    function_name: str = "idphoto-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:idphoto-test"
    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def sample_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / name).read_text())
    return event


def load(function: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"handler_{function}", ROOT / "functions" / function / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True, params=["off", "on"], ids=["deployed", "validated"])
def api_validation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs get-photo as deployed (no pydantic) and with Powertools' validation of every
    request and answer against the typed routes (the OpenAPI contract): both must behave alike."""
    mode: str = request.param
    monkeypatch.setenv("API_VALIDATION", mode)
    return mode


@pytest.fixture
def vendor() -> FakeVendor:
    return FakeVendor()


@pytest.fixture
def wired(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch, vendor: FakeVendor) -> Iterator[None]:
    env = {
        "PHOTO_BUCKET": BUCKET,
        "PHOTOS_TABLE": TABLE,
        "APPCODE_SECRET_NAME": SECRET,
        "DEFAULT_SPEC_ID": "1",
        # The fake vendor's previews are no images: the compliance check has tests of its own.
        "COMPLIANCE_CHECK": "off",
        "UPLOAD_QUEUE_URL": aws["queue_url"],
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    caches = [
        config.get_settings,
        services.storage,
        services.records,
        services.maker,
        services.finals,
        services.upload_handler,
    ]
    for cached in caches:
        cached.cache_clear()
    monkeypatch.setattr(services, "vendor", lambda: vendor)
    monkeypatch.setattr(services, "http_session", FakeSession)
    yield
    for cached in caches:
        cached.cache_clear()


def s3_event_for(
    aws: dict[str, Any], key: str, encoded_key: str, metadata: dict[str, str] | None = None
) -> dict[str, Any]:
    answer = aws["s3"].put_object(
        Bucket=BUCKET, Key=key, Body=images.jpeg(images.portrait()), Metadata=metadata or {}
    )
    event = sample_event("s3-put.json")
    obj = event["Records"][0]["s3"]["object"]
    event["Records"][0]["s3"]["bucket"]["name"] = BUCKET
    obj.update({"key": encoded_key, "eTag": answer["ETag"].strip('"'), "versionId": answer["VersionId"]})
    return event


def queued(aws: dict[str, Any], *bodies: dict[str, Any], receive_count: int = 1) -> dict[str, Any]:
    """What the event source mapping hands make-photo: SQS records around S3 event documents, each a
    real message of the (moto) queue, so that its receipt handle works."""
    sqs = aws["sqs"]
    for body in bodies:
        sqs.send_message(QueueUrl=aws["queue_url"], MessageBody=json.dumps(body))
    received = sqs.receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10, AttributeNames=["All"])[
        "Messages"
    ]
    event = sample_event("sqs-s3-put.json")
    template = event["Records"][0]
    records = []
    for message in received:
        attributes = {**template["attributes"], "ApproximateReceiveCount": str(receive_count)}
        attributes["SentTimestamp"] = message["Attributes"]["SentTimestamp"]
        records.append(
            {
                **template,
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": attributes,
            }
        )
    return {"Records": records}


def visible_in(aws: dict[str, Any]) -> int:
    """Messages of the queue visible now (those whose visibility was extended are not)."""
    answer = aws["sqs"].get_queue_attributes(QueueUrl=aws["queue_url"], AttributeNames=["All"])
    return int(answer["Attributes"]["ApproximateNumberOfMessages"])


def test_the_sample_event_is_an_sqs_record_around_the_s3_sample() -> None:
    """events/sqs-s3-put.json is what `sam local invoke` needs now: the S3 sample in an SQS record."""
    (record,) = sample_event("sqs-s3-put.json")["Records"]
    s3_record = json.loads(record["body"])["Records"][0]
    expected = sample_event("s3-put.json")["Records"][0]

    assert record["eventSource"] == "aws:sqs"
    assert s3_record["s3"]["object"] == expected["s3"]["object"]
    assert s3_record["eventName"] == expected["eventName"]


def test_make_photo_decodes_the_event_key_once_and_records_the_photo(
    wired: None, aws: dict[str, Any], vendor: FakeVendor
) -> None:
    event = s3_event_for(aws, "uploads/my passport photo+1.jpg", "uploads/my+passport+photo%2B1.jpg")

    answer = load("make_photo").lambda_handler(queued(aws, event), Context())

    assert answer == {"batchItemFailures": []}
    assert vendor.stats.make_calls == 1
    record = services.records().get("uploads/my passport photo+1.jpg")
    assert record is not None and record.status.value == "READY"


def test_a_transient_error_fails_only_its_own_message(
    wired: None, aws: dict[str, Any], vendor: FakeVendor
) -> None:
    vendor.make_answers.append(VendorUnavailable("down"))
    failing = s3_event_for(aws, "uploads/a.jpg", "uploads/a.jpg")
    fine = s3_event_for(aws, "uploads/b.jpg", "uploads/b.jpg")
    event = queued(aws, failing, fine)
    first = event["Records"][0]

    answer = load("make_photo").lambda_handler(event, Context())

    assert answer == {"batchItemFailures": [{"itemIdentifier": first["messageId"]}]}
    made = services.records().get("uploads/b.jpg")
    assert made is not None and made.status.value == "READY"
    waiting = services.records().get("uploads/a.jpg")
    assert waiting is not None and waiting.status.value == "PROCESSING" and waiting.last_error


def test_an_account_refusal_keeps_the_upload_waiting_with_a_back_off(
    wired: None, aws: dict[str, Any], vendor: FakeVendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quota ran out: the message is failed and made invisible for the back-off (not the
    visibility timeout), the record says why it waits; the status API shows it."""
    # Receives enough that the doubling back-off, not the wait spread over the receives, decides.
    monkeypatch.setenv("UPLOAD_MAX_RECEIVE_COUNT", "1000")
    for cached in (config.get_settings, services.maker, services.upload_handler):
        cached.cache_clear()
    vendor.make_answers.append(
        GatewayError(
            "quota exhausted", gateway_code="B403MQ", http_status=403, transient=False, reached_vendor=False
        )
    )
    event = queued(aws, s3_event_for(aws, "uploads/q.jpg", "uploads/q.jpg"), receive_count=3)
    aws["sqs"].change_message_visibility(
        QueueUrl=aws["queue_url"], ReceiptHandle=event["Records"][0]["receiptHandle"], VisibilityTimeout=0
    )

    answer = load("make_photo").lambda_handler(event, Context())

    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert visible_in(aws) == 0  # invisible again: the back-off (120 s at the third receive) applies
    record = services.records().get("uploads/q.jpg")
    assert record is not None and record.status.value == "PROCESSING"
    assert record.waiting["code"] == "VENDOR_ACCOUNT"
    assert "quota exhausted" in record.waiting["reason"]
    assert record.waiting["retry_at"] - services.records().now() in range(110, 121)
    status, body, _ = call(api("api-get-photo.json", "uploads/q.jpg"))
    assert status == 200
    assert body["waiting"]["code"] == "VENDOR_ACCOUNT"


def test_an_upload_another_live_delivery_is_making_comes_back_instead_of_being_deleted(
    wired: None, aws: dict[str, Any], vendor: FakeVendor
) -> None:
    """A duplicate S3 event (another message) racing the first: deleting it while the photo is
    unfinished would lose the upload if that first delivery died."""
    event = s3_event_for(aws, "uploads/race.jpg", "uploads/race.jpg")
    source = SourceObject.from_event_record(event["Records"][0])
    services.records().claim(
        source, claim_id="first-delivery:1", lease_seconds=300, options={}, ignored_metadata=[]
    )
    duplicate = queued(aws, event)

    answer = load("make_photo").lambda_handler(duplicate, Context())

    assert answer == {"batchItemFailures": [{"itemIdentifier": duplicate["Records"][0]["messageId"]}]}
    assert vendor.stats.make_calls == 0


def test_make_photo_deletes_s3_test_events(wired: None, aws: dict[str, Any]) -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}

    answer = load("make_photo").lambda_handler(queued(aws, test_event), Context())

    assert answer == {"batchItemFailures": []}


def test_a_message_that_is_no_s3_event_fails_alone(wired: None, aws: dict[str, Any]) -> None:
    event = queued(aws, {"hello": "world"})

    answer = load("make_photo").lambda_handler(event, Context())

    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def api(name: str, key: str | None = None, **query: str) -> dict[str, Any]:
    event = sample_event(name)
    if key is not None:
        event["pathParameters"] = {"key": key}
        event["path"] = event["resource"].split("{")[0] + quote(key, safe="/")
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return event


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    answer = load("get_photo").lambda_handler(event, Context())
    headers = {k: v[-1] for k, v in (answer.get("multiValueHeaders") or {}).items()}
    return answer["statusCode"], json.loads(answer["body"]), {**headers, **(answer.get("headers") or {})}


def make(
    aws: dict[str, Any], key: str, metadata: dict[str, str] | None = None, *, fails: bool = False
) -> None:
    event = queued(aws, s3_event_for(aws, key, quote_plus(key, safe="/"), metadata))
    answer = load("make_photo").lambda_handler(event, Context(aws_request_id=f"make-{key}"))
    failed = [{"itemIdentifier": r["messageId"]} for r in event["Records"]] if fails else []
    assert answer == {"batchItemFailures": failed}


def test_status_route_answers_the_record_and_never_bills(
    wired: None, aws: dict[str, Any], vendor: FakeVendor
) -> None:
    make(aws, "uploads/my passport photo+1.jpg", {"background": "white,blue"})

    status, body, _ = call(sample_event("api-get-photo.json"))

    assert status == 200
    assert body["status"] == "READY"
    assert body["colors"] == ["white", "blue"]
    assert [p["color"] for p in body["previews"]] == ["white", "blue"]
    assert body["sheet_count"] == 8 and body["previews_expired"] is False
    assert vendor.stats.billed_calls == 0


def test_status_accepts_the_key_without_the_upload_prefix(wired: None, aws: dict[str, Any]) -> None:
    make(aws, "uploads/me.jpg")

    status, body, _ = call(api("api-get-photo.json", "me.jpg"))

    assert (status, body["key"]) == (200, "uploads/me.jpg")


def test_finals_route_bills_once_and_answers_presigned_urls(
    wired: None, aws: dict[str, Any], vendor: FakeVendor
) -> None:
    make(aws, "uploads/my passport photo+1.jpg", {"background": "white,blue"})

    first = call(sample_event("api-post-finals.json"))
    second = call(sample_event("api-post-finals.json"))
    every = call(sample_event("api-post-finals-all.json"))

    assert first[0] == second[0] == every[0] == 200
    assert [f["color"] for f in first[1]["finals"]] == ["white"]
    assert [f["color"] for f in every[1]["finals"]] == ["white", "blue"]
    assert "X-Amz-Signature=" in first[1]["finals"][0]["photo_url"]
    assert vendor.stats.billed_calls == 2


@pytest.mark.parametrize(
    ("setup", "event", "status", "code"),
    [
        ("none", api("api-get-photo.json", "uploads/nobody.jpg"), 404, "PHOTO_NOT_FOUND"),
        ("made", api("api-post-finals.json", "uploads/me.jpg", color="purple"), 400, "UNKNOWN_COLOR"),
        ("made", api("api-post-finals.json", "uploads/me.jpg", color="Bad Colour!"), 400, "BAD_REQUEST"),
        ("failed", api("api-post-finals.json", "uploads/me.jpg"), 409, "PHOTO_FAILED"),
        ("made", {**api("api-get-photo.json", "uploads/me.jpg"), "path": "/nothing/here"}, 404, "NOT_FOUND"),
    ],
)
def test_api_errors_are_json_with_accurate_statuses(
    wired: None,
    aws: dict[str, Any],
    vendor: FakeVendor,
    setup: str,
    event: dict[str, Any],
    status: int,
    code: str,
) -> None:
    if setup == "failed":
        vendor.make_answers.append(VendorRejected("vendor code 507: no face found", vendor_code=507))
    if setup != "none":
        make(aws, "uploads/me.jpg")

    got_status, body, _ = call(event)

    assert (got_status, body["error"]["code"]) == (status, code)
    assert "Traceback" not in json.dumps(body)
    assert vendor.stats.billed_calls == 0


def test_vendor_outage_during_finals_is_a_503_with_retry_after(
    wired: None, aws: dict[str, Any], vendor: FakeVendor
) -> None:
    make(aws, "uploads/me.jpg")
    vendor.final_answers.append(VendorUnavailable("the vendor answered HTTP 503", http_status=503))

    status, body, headers = call(api("api-post-finals-all.json", "uploads/me.jpg"))

    assert (status, body["error"]["code"]) == (503, "VENDOR_UNAVAILABLE")
    assert headers.get("Retry-After") == "30"


def test_billed_call_without_an_answer_is_uncertain_until_the_caller_accepts_paying_again(
    wired: None, aws: dict[str, Any], vendor: FakeVendor
) -> None:
    """Issue 10 breaker 7: a read timeout may have been charged; the answer says so, nothing retries it."""
    make(aws, "uploads/me.jpg", {"background": "white"})
    vendor.final_answers.append(VendorUnavailable("the vendor did not answer within 30 s"))
    finals = api("api-post-finals.json", "uploads/me.jpg")

    first = call(finals)
    again = call(finals)
    status = call(api("api-get-photo.json", "uploads/me.jpg"))
    accepted = call(api("api-post-finals.json", "uploads/me.jpg", retry_uncertain="1"))

    assert (first[0], first[1]["error"]["code"]) == (409, "FINAL_UNCERTAIN")
    assert "may have charged" in first[1]["error"]["message"] and "Retry-After" not in first[2]
    assert (again[0], again[1]["error"]["code"]) == (409, "FINAL_UNCERTAIN")
    assert status[1]["finals_uncertain"] == ["white"]
    assert accepted[0] == 200 and [f["color"] for f in accepted[1]["finals"]] == ["white"]
    assert vendor.stats.billed_calls == 2  # the first (maybe charged) and the one the caller accepted


def test_finals_of_all_colours_answer_what_is_done_and_what_is_pending(
    wired: None, aws: dict[str, Any], vendor: FakeVendor
) -> None:
    """Issue 10 breaker 5: one colour's failure does not lose the others; the rest is retried after."""
    make(aws, "uploads/me.jpg", {"background": "white,blue"})
    vendor.final_answers.append(VendorUnavailable("the vendor answered HTTP 503", http_status=503))

    status, body, headers = call(api("api-post-finals-all.json", "uploads/me.jpg"))
    again = call(api("api-post-finals-all.json", "uploads/me.jpg"))

    assert status == 200
    assert len(body["finals"]) == 1 and len(body["pending"]) == 1
    assert {body["finals"][0]["color"], body["pending"][0]["color"]} == {"white", "blue"}
    assert body["pending"][0]["code"] == "VENDOR_UNAVAILABLE" and body["pending"][0]["retry_after"] == 30
    assert headers.get("Retry-After") == "30"
    assert again[0] == 200 and [f["color"] for f in again[1]["finals"]] == ["white", "blue"]
    assert again[1]["pending"] == [] and "Retry-After" not in again[2]
    assert vendor.stats.billed_calls == 3  # the refused call was not charged; each colour paid once


def test_processing_photo_answers_409_with_retry_after(
    wired: None, aws: dict[str, Any], vendor: FakeVendor
) -> None:
    vendor.make_answers.append(VendorUnavailable("down"))
    make(aws, "uploads/me.jpg", fails=True)

    status, body, headers = call(api("api-post-finals.json", "uploads/me.jpg"))

    assert (status, body["error"]["code"], headers.get("Retry-After")) == (409, "PHOTO_NOT_READY", "5")


def test_unexpected_errors_answer_500_without_details(wired: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(services, "finals", broken)

    status, body, _ = call(api("api-get-photo.json", "uploads/me.jpg"))

    assert status == 500
    assert "secret internals" not in json.dumps(body)


def test_another_callers_photo_answers_404(wired: None, aws: dict[str, Any], vendor: FakeVendor) -> None:
    make(aws, "uploads/me.jpg")
    event = api("api-get-photo.json", "uploads/me.jpg")
    event["requestContext"]["identity"]["caller"] = "AROAANOTHERROLE:session"

    status, body, _ = call(event)

    assert (status, body["error"]["code"]) == (404, "PHOTO_NOT_FOUND")


@pytest.mark.parametrize("delivery", ["decoded", "encoded"])
@pytest.mark.parametrize(
    "key", ["uploads/100% sure.jpg", "uploads/a%20b+c.jpg", "uploads/证件照/张 三.jpg", "uploads/plain.jpg"]
)
def test_keys_resolve_from_the_encoded_path_whatever_path_parameters_hold(
    wired: None, aws: dict[str, Any], key: str, delivery: str
) -> None:
    make(aws, key)
    for name in ("api-get-photo.json", "api-post-finals-all.json"):
        event = api(name, key)
        if delivery == "encoded":
            event["pathParameters"] = {"key": quote(key, safe="/")}

        status, body, headers = call(event)

        assert (status, body["key"]) == (200, key)
        expected = "plain" if quote(key, safe="/") == key else delivery
        assert headers["X-IdPhoto-Path-Decoding"] == expected


def test_status_tells_a_stalled_photo_from_one_being_made(
    wired: None, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an upload queue whose redrive policy moves a message to the DLQ after its third receive
    monkeypatch.setenv("UPLOAD_MAX_RECEIVE_COUNT", "3")
    config.get_settings.cache_clear()
    # and a photo whose attempts all died without a word (timeouts), each lease run out
    event = s3_event_for(aws, "uploads/me.jpg", "uploads/me.jpg")  # uploaded by the API's caller
    source = SourceObject.from_event_record(event["Records"][0])
    records = services.records()
    records.claim(source, claim_id="r1", lease_seconds=-1, options={}, ignored_metadata=[])
    _, during, _ = call(api("api-get-photo.json", "uploads/me.jpg"))
    for _ in range(2):  # the message's next two receives (same message id) took over, and died too
        records.claim(source, claim_id="r1", lease_seconds=-1, options={}, ignored_metadata=[])

    status, after, _ = call(api("api-get-photo.json", "uploads/me.jpg"))

    # Then while a retry is to come it is being made; after the last attempt it is stalled
    assert (during["status"], during["stalled"]) == ("PROCESSING", False)
    assert (status, after["status"], after["stalled"]) == (200, "PROCESSING", True)


def test_two_cognito_identities_of_one_role_see_only_their_own_photo(
    wired: None, aws: dict[str, Any]
) -> None:
    # Given a photo uploaded through POST /uploads by one identity of a Cognito pool (its owner metadata)
    event = s3_event_for(aws, "uploads/me.jpg", "uploads/me.jpg")
    source = dataclasses.replace(
        SourceObject.from_event_record(event["Records"][0]), uploader="us-east-1:aaaa"
    )
    services.records().claim(source, claim_id="r1", lease_seconds=60, options={}, ignored_metadata=[])

    def read_as(identity_id: str) -> int:
        read = api("api-get-photo.json", "uploads/me.jpg")
        read["requestContext"]["identity"].update(
            caller="AROAPOOLROLE:CognitoIdentityCredentials", cognitoIdentityId=identity_id
        )
        status, _, _ = call(read)
        return status

    # Then the pool's role is nobody's owner: the identity is, and another identity of it gets a 404
    assert (read_as("us-east-1:aaaa"), read_as("us-east-1:bbbb")) == (200, 404)


@pytest.mark.parametrize(
    ("event", "named"),
    [
        (api("api-post-finals.json", "uploads/me.jpg", colour="white"), "'colour' (did you mean 'color'?)"),
        (api("api-post-finals.json", "uploads/me.jpg", Color="white"), "'Color' (did you mean 'color'?)"),
        (
            api("api-post-finals.json", "uploads/me.jpg", retry="1"),
            "'retry' (did you mean 'retry_uncertain'?)",
        ),
        (api("api-post-finals.json", "uploads/me.jpg", color="white", size="big"), "'size'"),
        (api("api-get-photo.json", "uploads/me.jpg", colour="white"), "'colour'"),
    ],
)
def test_an_unknown_query_parameter_is_refused_by_name_and_nothing_is_billed(
    wired: None, aws: dict[str, Any], vendor: FakeVendor, event: dict[str, Any], named: str
) -> None:
    """``?colour=white`` must not read as "no colour asked", i.e. every colour, each one billed."""
    make(aws, "uploads/me.jpg", {"background": "white,blue"})

    status, body, _ = call(event)

    assert (status, body["error"]["code"]) == (400, "BAD_REQUEST")
    assert named in body["error"]["message"]
    assert vendor.stats.billed_calls == 0


def test_a_colour_given_twice_is_refused_not_guessed(
    wired: None, aws: dict[str, Any], vendor: FakeVendor
) -> None:
    make(aws, "uploads/me.jpg", {"background": "white,blue"})
    event = api("api-post-finals.json", "uploads/me.jpg", color="blue")
    event["multiValueQueryStringParameters"] = {"color": ["white", "blue"]}

    status, body, _ = call(event)

    assert (status, body["error"]["code"]) == (400, "BAD_REQUEST")
    # deployed: our own check; validated: Powertools refuses a list where one string is declared
    assert "color given more than once" in body["error"]["message"] or "color: " in body["error"]["message"]
    assert vendor.stats.billed_calls == 0
