"""POST /uploads through the local stack: a presigned POST form, sent with a plain HTTP client, makes a
READY photo; the same form is refused by S3's policy checks (local.stack.s3_post) when the file is too
large, of another type, an option or the key is changed, or the policy expired, and nothing is stored.
``idphoto make --via-api`` makes photos with only the API."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests

from idphoto_cli.errors import Exit
from idphoto_cli.main import main
from local.stack import Stack
from local.stack.identity import LOCAL_USER_ID

pytestmark = pytest.mark.integration


def form(stack: Stack, **body: Any) -> dict[str, Any]:
    answer = requests.post(
        f"{stack.api_url}/uploads",
        json={"content_type": "image/jpeg", "filename": "me.jpg", **body},
        timeout=35,
    )
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


def post(
    form_answer: dict[str, Any], data: bytes, fields: dict[str, str] | None = None, ctype: str = "image/jpeg"
) -> requests.Response:
    upload = form_answer["upload"]
    return requests.post(
        upload["url"],
        data=fields if fields is not None else upload["fields"],
        files={"file": ("me.jpg", data, ctype)},
        timeout=35,
    )


def stored(stack: Stack, key: str) -> bool:
    listed = stack.client("s3").list_objects_v2(Bucket=stack.bucket, Prefix=key)
    return int(listed.get("KeyCount", 0)) > 0


def test_a_presigned_post_sent_with_plain_requests_makes_a_ready_photo_of_the_caller(
    stack: Stack, portrait: bytes
) -> None:
    answer = form(stack, options={"spec": "cn-one-inch", "background": "white,blue"})

    sent = post(answer, portrait)

    assert sent.status_code == 204, sent.text
    key = answer["key"]
    assert key.startswith(f"{stack.upload_prefix}{LOCAL_USER_ID}/") and key.endswith("-me.jpg")
    assert urlsplit(answer["status_url"]).path == urlsplit(f"{stack.api_url}/photos/{key}").path
    photo = stack.wait_for_photo(key)
    assert photo["status"] == "READY", photo
    assert photo["options"]["spec_id"] == 1 and photo["colors"] == ["white", "blue"]
    assert requests.get(answer["status_url"], timeout=35).json()["status"] == "READY"
    head = stack.client("s3").head_object(Bucket=stack.bucket, Key=key)
    assert head["ContentType"] == "image/jpeg"
    assert head["Metadata"]["owner"] == LOCAL_USER_ID


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ("larger file", 400, "EntityTooLarge"),
        ("another content type", 403, "AccessDenied"),
        ("changed option", 403, "AccessDenied"),
        ("key outside the caller's folder", 403, "AccessDenied"),
        ("changed owner", 403, "AccessDenied"),
        ("extra field", 403, "AccessDenied"),
        ("forged signature", 403, "SignatureDoesNotMatch"),
    ],
)
def test_the_same_form_changed_is_refused_and_nothing_is_stored(
    stack: Stack, portrait: bytes, change: str, status: int, code: str
) -> None:
    answer = form(stack, options={"spec": "us-passport"})
    fields = dict(answer["upload"]["fields"])
    data, ctype = portrait, "image/jpeg"
    if change == "larger file":
        data = portrait + b"\0" * (answer["max_bytes"] - len(portrait) + 1)
    elif change == "another content type":
        fields["Content-Type"] = ctype = "text/html"
    elif change == "changed option":
        fields["x-amz-meta-spec"] = "cn-one-inch"
    elif change == "key outside the caller's folder":
        fields["key"] = f"{stack.upload_prefix}SOMEONEELSE/{answer['key'].rsplit('/', 1)[1]}"
    elif change == "changed owner":
        fields["x-amz-meta-owner"] = "SOMEONEELSE"
    elif change == "extra field":
        fields["x-amz-meta-finals"] = "auto"
    else:
        fields["x-amz-signature"] = "0" * 64

    sent = post(answer, data, fields, ctype)

    assert (sent.status_code, f"<Code>{code}</Code>" in sent.text) == (status, True), sent.text
    assert not stored(stack, answer["key"]) and not stored(stack, fields["key"])


def test_an_expired_policy_is_refused(stack: Stack, portrait: bytes) -> None:
    s3 = stack.client("s3")
    key = f"{stack.upload_prefix}{LOCAL_USER_ID}/expired.jpg"
    signed = s3.generate_presigned_post(
        stack.bucket,
        key,
        Fields={"Content-Type": "image/jpeg"},
        Conditions=[{"Content-Type": "image/jpeg"}],
        ExpiresIn=1,
    )
    expires = time.time() + 1
    while time.time() <= expires + 1:  # the policy's expiration has whole seconds
        time.sleep(0.2)

    sent = requests.post(
        signed["url"], data=signed["fields"], files={"file": ("me.jpg", portrait)}, timeout=35
    )

    assert sent.status_code == 403 and "Policy expired" in sent.text, sent.text
    assert not stored(stack, key)


def test_bad_options_are_a_400_naming_them_before_anything_is_uploaded(stack: Stack) -> None:
    answer = requests.post(
        f"{stack.api_url}/uploads",
        json={"content_type": "image/jpeg", "options": {"spec": "us-passport", "print-type": "9"}},
        timeout=35,
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "INVALID_OPTIONS"
    assert "print-type" in answer.json()["error"]["message"]


def test_the_bucket_lets_the_served_page_post_its_forms(stack: Stack) -> None:
    """UploadCorsOrigins becomes the bucket's CORS rule; the local stack lists the page's own origin.
    (moto's server answers CORS for every origin itself, so only the rule is checked here.)"""
    page_origin = stack.api_url.rsplit("/", 1)[0]

    [rule] = stack.client("s3").get_bucket_cors(Bucket=stack.bucket)["CORSRules"]

    assert rule["AllowedMethods"] == ["POST"]
    assert page_origin in rule["AllowedOrigins"]


def test_idphoto_make_via_api_makes_a_photo_without_bucket_access(
    stack: Stack, portrait: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDPHOTO_AWS_PORT", str(urlsplit(stack.aws_url).port))
    monkeypatch.setenv("IDPHOTO_API_PORT", str(urlsplit(stack.api_url).port))
    calls: list[str] = []

    def no_bucket(*_args: Any, **_kwargs: Any) -> Any:
        calls.append("boto3 client")
        raise AssertionError("--via-api must not use S3 credentials")

    monkeypatch.setattr(boto3.session.Session, "client", no_bucket)
    path = tmp_path / "me.jpg"
    path.write_bytes(portrait)
    stdout, stderr = io.StringIO(), io.StringIO()

    code = main(
        ["make", str(path), "--via-api", "--spec", "us-passport", "--json"], stdout=stdout, stderr=stderr
    )

    assert code == Exit.OK, stderr.getvalue()
    [made] = json.loads(stdout.getvalue())
    assert made["key"].startswith(f"{stack.upload_prefix}{LOCAL_USER_ID}/")
    assert made["photo"]["status"] == "READY"
    assert calls == []
