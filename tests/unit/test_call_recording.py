"""The front of the local AWS names each function's call from the request alone (local.stack.access).

The requests are the SDK's own: botocore signs and serialises each call as it would send it to the
front; ``before-send`` hands the prepared request here instead of the network.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.config import Config

from local.stack.access import Call, request_call

FUNCTIONS = {"ASIAMAKEPHOTO": "MakePhotoFunction", "ASIAGETPHOTO": "GetPhotoFunction"}
ENDPOINT = "http://127.0.0.1:4566"


class Sent:
    """Captures what the client would send, and answers with an empty 200."""

    def __init__(self) -> None:
        self.requests: list[AWSPreparedRequest] = []

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        self.requests.append(request)
        return AWSResponse(request.url, 200, HTTPHeaders(), _Raw())


class _Raw:
    def stream(self, **_: Any) -> list[bytes]:
        return [b""]

    def read(self, *_: Any) -> bytes:
        return b""


def client(service: str, key: str, sent: Sent) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=key,
        aws_secret_access_key="secret",  # pragma: allowlist secret
        aws_session_token="token",
        region_name="us-east-1",
    )
    made = session.client(service, endpoint_url=ENDPOINT, config=Config(signature_version="s3v4"))  # type: ignore[call-overload]
    made.meta.events.register("before-send", sent)
    return made


def recorded(request: AWSPreparedRequest) -> Call | None:
    parts = urlsplit(request.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    raw: Any = request.body
    if hasattr(raw, "getvalue"):  # a streamed body (S3 PutObject)
        raw = raw.getvalue()
    body = bytes(raw) if isinstance(raw, bytes | bytearray) else str(raw or "").encode()
    return request_call(request.method, target, headers, body, FUNCTIONS)


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_s3_calls_are_named_with_what_iam_needs() -> None:
    sent = Sent()
    s3 = client("s3", "ASIAMAKEPHOTO", sent)

    s3.get_object(Bucket="photos", Key="uploads/a b.jpg", VersionId="v1")
    s3.put_object(
        Bucket="photos", Key="finals/x.jpg", Body=b"jpeg", ServerSideEncryption="aws:kms", SSEKMSKeyId="k1"
    )
    s3.copy_object(Bucket="photos", Key="finals/y.jpg", CopySource={"Bucket": "photos", "Key": "work/y.jpg"})
    s3.list_objects_v2(Bucket="photos", Prefix="finals/")
    s3.head_object(Bucket="photos", Key="finals/x.jpg")
    s3.delete_object(Bucket="photos", Key="work/y.jpg")

    calls = [recorded(r) for r in sent.requests]
    assert [(c.function, c.service, c.operation) for c in calls if c] == [
        ("MakePhotoFunction", "s3", "GetObject"),
        ("MakePhotoFunction", "s3", "PutObject"),
        ("MakePhotoFunction", "s3", "CopyObject"),
        ("MakePhotoFunction", "s3", "ListObjectsV2"),
        ("MakePhotoFunction", "s3", "HeadObject"),
        ("MakePhotoFunction", "s3", "DeleteObject"),
    ]
    get, put, copy, listed = (c.params for c in calls[:4] if c)
    assert get == {"Bucket": "photos", "Key": "uploads/a b.jpg", "VersionId": "v1"}
    assert put == {
        "Bucket": "photos",
        "Key": "finals/x.jpg",
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "k1",
    }
    assert copy["CopySource"] == "photos/work/y.jpg"
    assert listed == {"Bucket": "photos", "Prefix": "finals/"}


def test_json_protocol_calls_carry_their_parameters_without_values() -> None:
    sent = Sent()
    dynamodb = client("dynamodb", "ASIAGETPHOTO", sent)
    secrets = client("secretsmanager", "ASIAGETPHOTO", sent)

    dynamodb.update_item(
        TableName="photos",
        Key={"id": {"S": "1"}},
        UpdateExpression="SET s = :s",
        ExpressionAttributeValues={":s": {"S": "READY"}},
    )
    secrets.get_secret_value(SecretId="appcode")  # pragma: allowlist secret

    update, secret = (recorded(r) for r in sent.requests)
    assert update is not None and secret is not None
    assert (update.function, update.service, update.operation) == (
        "GetPhotoFunction",
        "dynamodb",
        "UpdateItem",
    )
    assert update.params["TableName"] == "photos"
    assert "ExpressionAttributeValues" not in update.params
    assert (secret.service, secret.operation, secret.params) == (
        "secretsmanager",
        "GetSecretValue",
        {"SecretId": "appcode"},  # pragma: allowlist secret
    )


def test_a_presigned_url_is_the_signers_call_when_it_is_used() -> None:
    s3 = client("s3", "ASIAMAKEPHOTO", Sent())
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "photos", "Key": "work/p.jpg"})
    parts = urlsplit(url)

    call = request_call("GET", f"{parts.path}?{parts.query}", {}, b"", FUNCTIONS)

    assert call == Call(
        "MakePhotoFunction", "s3", "GetObject", {"Bucket": "photos", "Key": "work/p.jpg"}, True
    )


def test_requests_of_anyone_else_are_not_recorded() -> None:
    sent = Sent()
    client("s3", "testing", sent).get_object(Bucket="photos", Key="a.jpg")

    assert recorded(sent.requests[0]) is None
    assert request_call("GET", "/photos/a.jpg", {}, b"", FUNCTIONS) is None  # unsigned
