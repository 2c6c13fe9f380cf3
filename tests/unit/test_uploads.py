"""POST /uploads' domain (idphoto.uploads, idphoto.owners) and the local S3 POST policy checks."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from idphoto.aws import CLIENT_CONFIG
from idphoto.errors import InvalidOptions
from idphoto.owners import caller_owner, upload_owner
from idphoto.uploads import UploadForms, UploadRequestError, checked_options, parse_request, upload_key
from local.stack import s3_post
from local.stack.aws import FAKE_CREDENTIALS

DEFAULTS = {"spec_id": 1}
SIGNER = "AROASIGNER0000000000"


def test_a_cognito_identity_is_the_owner_and_two_identities_of_one_role_are_apart() -> None:
    one = caller_owner("us-east-1:aaaa", "AROAPOOLROLE:CognitoIdentityCredentials")
    two = caller_owner("us-east-1:bbbb", "AROAPOOLROLE:CognitoIdentityCredentials")

    assert (one, two) == ("us-east-1:aaaa", "us-east-1:bbbb")
    assert caller_owner(None, "AROAROLE:session-1") == caller_owner(None, "AROAROLE:session-2") == "AROAROLE"


def test_the_owner_metadata_counts_only_on_uploads_the_signer_role_signed() -> None:
    metadata = {"owner": "us-east-1:aaaa"}

    assert upload_owner(SIGNER, metadata, SIGNER) == "us-east-1:aaaa"
    assert upload_owner("AIDASOMEUSER", metadata, SIGNER) == "AIDASOMEUSER"
    assert upload_owner("AIDASOMEUSER", metadata, "") == "AIDASOMEUSER"
    assert upload_owner(SIGNER, {}, SIGNER) is None


@pytest.mark.parametrize(
    ("body", "query", "named"),
    [
        ({"content_type": "image/jpeg", "colour": "x"}, None, "colour"),
        ({"content_type": "text/html"}, None, "content_type"),
        ({"content_type": "image/jpeg", "options": {"spec": 1}}, None, "options"),
        ({"content_type": "image/jpeg"}, {"debug": "1"}, "debug"),
        ([], None, "JSON object"),
    ],
)
def test_a_malformed_request_is_refused_naming_the_problem(body: Any, query: Any, named: str) -> None:
    with pytest.raises(UploadRequestError, match=named):
        parse_request(body, query)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"spec": "no-such-spec"}, "spec"),
        ({"print-type": "9"}, "print-type"),
        ({"colour": "white"}, "colour"),
        ({"owner": "someone"}, "owner"),
        ({"file-size-min": "50", "file-size-max": "10"}, "file-size-min"),
    ],
)
def test_bad_options_are_refused_with_make_photos_parser(options: dict[str, str], named: str) -> None:
    with pytest.raises(InvalidOptions, match=named):
        checked_options(options, DEFAULTS)


def test_good_options_become_canonical_metadata_fields() -> None:
    assert checked_options({"Spec": "us-passport", "print_type": "compact"}, DEFAULTS) == {
        "spec": "us-passport",
        "print-type": "compact",
    }


def test_the_key_is_in_the_callers_folder_with_the_types_suffix() -> None:
    key = upload_key("uploads/", "us-east-1:aaaa", "../../My Photo.PNG", "image/png")

    folder, name = key.removeprefix("uploads/").split("/")
    assert folder == "us-east-1:aaaa"
    assert name.endswith("-My-Photo.png") and len(name) == len("12345678-My-Photo.png")


def form(max_bytes: int = 100, ttl: int = 300) -> dict[str, Any]:
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=FAKE_CREDENTIALS["aws_access_key_id"],  # the local stack's fake key
        aws_secret_access_key=FAKE_CREDENTIALS["aws_secret_access_key"],
        config=CLIENT_CONFIG,  # the functions' (SigV4)
    )
    forms = UploadForms(s3, "bucket", "uploads/", max_bytes=max_bytes, ttl_seconds=ttl)
    request = parse_request({"content_type": "image/jpeg", "options": {"spec": "us-passport"}}, None)
    made = forms.create(request, "us-east-1:aaaa", DEFAULTS)
    return {"url": made.url, "fields": made.fields, "key": made.key}


SIGNERS = {
    FAKE_CREDENTIALS["aws_access_key_id"]: s3_post.Signer(
        FAKE_CREDENTIALS["aws_secret_access_key"], None, "AWS:AIDAEXAMPLE"
    )
}


def checked(fields: dict[str, str], size: int = 10, now: datetime | None = None) -> s3_post.Signer:
    lowered = {k.lower(): v for k, v in fields.items()}
    return s3_post.check(s3_post.Form("bucket", lowered, size), SIGNERS, now or datetime.now(UTC))


def test_the_form_fixes_type_size_key_options_and_owner() -> None:
    signed = form()
    policy = json.loads(base64.b64decode(signed["fields"]["policy"]))

    assert ["content-length-range", 1, 100] in policy["conditions"]
    for fixed in ({"Content-Type": "image/jpeg"}, {"x-amz-meta-spec": "us-passport"}, {"key": signed["key"]}):
        assert fixed in policy["conditions"]
    assert {"x-amz-meta-owner": "us-east-1:aaaa"} in policy["conditions"]
    assert checked(signed["fields"]).principal == "AWS:AIDAEXAMPLE"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"Content-Type": "image/png"}, "AccessDenied"),
        ({"x-amz-meta-spec": "cn-one-inch"}, "AccessDenied"),
        ({"key": "uploads/other/me.jpg"}, "AccessDenied"),
        ({"x-amz-meta-extra": "1"}, "AccessDenied"),
        ({"x-amz-signature": "0" * 64}, "SignatureDoesNotMatch"),
        ({"x-amz-credential": "AKIDOTHER/20250101/us-east-1/s3/aws4_request"}, "InvalidAccessKeyId"),
    ],
)
def test_the_local_stack_refuses_a_changed_form(change: dict[str, str], code: str) -> None:
    fields = {**form()["fields"], **change}

    with pytest.raises(s3_post.Refused) as refused:
        checked(fields)
    assert refused.value.code == code


@pytest.mark.parametrize(("size", "code"), [(101, "EntityTooLarge"), (0, "EntityTooSmall")])
def test_the_local_stack_refuses_a_file_outside_the_length_range(size: int, code: str) -> None:
    with pytest.raises(s3_post.Refused) as refused:
        checked(form()["fields"], size=size)
    assert refused.value.code == code
    assert checked(form()["fields"], size=100).principal == "AWS:AIDAEXAMPLE"


def test_the_local_stack_refuses_an_expired_policy() -> None:
    fields = form(ttl=60)["fields"]

    with pytest.raises(s3_post.Refused, match="Policy expired"):
        checked(fields, now=datetime.now(UTC) + timedelta(seconds=61))
    assert checked(fields, now=datetime.now(UTC) + timedelta(seconds=50))
