"""create-upload's handler (``POST /uploads``), driven by events/api-post-uploads.json, as deployed
(validation off, no pydantic) and with Powertools' validation on: both must answer alike, and the
201 answer must be what docs/openapi.json says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from idphoto import aws as clients
from idphoto import config
from tests.unit.conftest import BUCKET, SECRET, TABLE
from tests.unit.test_handlers import ROOT, Context, load, sample_event

DOCUMENT = ROOT / "docs" / "openapi.json"
CALLER = "AIDAEXAMPLEUPLOADER"  # the sample event's requestContext.identity.caller


@pytest.fixture(autouse=True, params=["off", "on"], ids=["deployed", "validated"])
def wired(
    request: pytest.FixtureRequest, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    for name, value in {
        "PHOTO_BUCKET": BUCKET,
        "PHOTOS_TABLE": TABLE,
        "APPCODE_SECRET_NAME": SECRET,
        "DEFAULT_SPEC_ID": "1",
        "API_VALIDATION": request.param,
    }.items():
        monkeypatch.setenv(name, value)
    caches = [config.get_settings, clients.s3_client]  # the module's client: moto's, with its credentials
    for cached in caches:
        cached.cache_clear()
    yield
    for cached in caches:
        cached.cache_clear()


def event(body: Any = None, raw: str | None = None, query: dict[str, str] | None = None) -> dict[str, Any]:
    sent = sample_event("api-post-uploads.json")
    if body is not None:
        sent["body"] = json.dumps(body)
    if raw is not None:
        sent["body"] = raw or None
    if query:
        sent["queryStringParameters"] = query
        sent["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return sent


def call(sent: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    answer = load("create_upload").lambda_handler(sent, Context())
    return answer["statusCode"], json.loads(answer["body"])


def schema(name: str) -> dict[str, Any]:
    """A component of the committed document, its references resolvable."""
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


def test_the_sample_event_gets_a_form_in_the_callers_folder_as_the_document_says() -> None:
    status, body = call(event())

    assert status == 201, body
    jsonschema.validate(body, schema("UploadAnswer"))  # raises on a field missing, extra or mistyped
    assert body["key"].startswith(f"uploads/{CALLER}/") and body["key"].endswith("-me.jpg")
    assert body["upload"]["fields"]["x-amz-meta-spec"] == "us-passport"
    assert body["upload"]["fields"]["x-amz-meta-owner"] == CALLER
    assert body["status_path"] == "/photos/" + body["key"]
    assert (
        body["status_url"]
        == "https://abcdef1234.execute-api.us-east-1.amazonaws.com/v1" + body["status_path"]
    )


def test_the_content_type_is_read_as_the_parser_reads_it() -> None:
    status, body = call(event({"content_type": " IMAGE/PNG "}))

    assert (status, body["content_type"], body["upload"]["fields"]["Content-Type"]) == (
        201,
        "image/png",
        "image/png",
    )
    assert body["key"].endswith("-portrait.png")


@pytest.mark.parametrize(
    ("sent", "code", "message"),
    [
        (
            event({"content_type": "image/jpeg", "options": {"spec": "us-passport", "print-type": "9"}}),
            "INVALID_OPTIONS",
            "print-type",
        ),
        (event({"content_type": "image/jpeg", "options": {"colour": "white"}}), "INVALID_OPTIONS", "colour"),
        (
            event({"content_type": "image/jpeg", "colour": "white"}),
            "BAD_REQUEST",
            "unknown field colour (known: content_type, filename, options)",
        ),
        (event({"content_type": "text/html"}), "BAD_REQUEST", "not 'text/html'"),
        (
            event({"content_type": "image/jpeg", "options": {"spec": 1}}),
            "BAD_REQUEST",
            'options must be an object of strings, e.g. {"spec": "us-passport"}',
        ),
        (event(["image/jpeg"]), "BAD_REQUEST", "the body must be a JSON object"),
        (event(raw=""), "BAD_REQUEST", "the body must be a JSON object"),
        (
            event(query={"debug": "1"}),
            "BAD_REQUEST",
            "unknown query parameter 'debug'; this route takes: none",
        ),
        (event(query={"body": "x"}), "BAD_REQUEST", "unknown query parameter 'body'; this route takes: none"),
    ],
    ids=[
        "bad option",
        "unknown option",
        "unknown field",
        "no image type",
        "option no string",
        "no object",
        "no body",
        "unknown query parameter",
        "the body is no query parameter",
    ],
)
def test_a_bad_request_is_a_400_naming_the_problem_in_either_mode(
    sent: dict[str, Any], code: str, message: str
) -> None:
    status, body = call(sent)

    assert (status, body["error"]["code"]) == (400, code), body
    assert message in body["error"]["message"]
    jsonschema.validate(body, schema("ErrorAnswer"))


def test_a_body_that_is_no_json_is_a_400() -> None:
    status, body = call(event(raw="{content_type: image/jpeg"))

    assert (status, body["error"]["code"]) == (400, "BAD_REQUEST"), body
    assert "JSON" in body["error"]["message"]


def test_a_request_naming_no_caller_is_our_500_never_a_form() -> None:
    sent = event()
    sent["requestContext"]["identity"].update({"caller": None, "cognitoIdentityId": None})

    status, body = call(sent)

    assert (status, body["error"]["code"]) == (500, "INTERNAL")


def test_another_route_is_the_functions_own_404() -> None:
    sent = event()
    sent["path"] = sent["resource"] = "/upload"

    status, body = call(sent)

    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
