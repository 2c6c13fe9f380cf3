"""Each in-process function signs with its own role's credentials, and its calls are recorded.

The local stack installs this for its lifetime (local.stack.access); here it is installed alone, with
two made-up roles, and nothing is sent: presigning signs locally and fires the same recording hook.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials

from local.stack import access
from local.stack.access import CallLog, running_as

ROLES = {
    "MakePhotoFunction": ReadOnlyCredentials("role-key-of-make-photo", "make-secret", "make-token"),
    "GetPhotoFunction": ReadOnlyCredentials("role-key-of-get-photo", "get-secret", "get-token"),
}
LOCAL_USER = ReadOnlyCredentials("testing", "testing", None)
SIGV4 = Config(signature_version="s3v4")  # as idphoto.aws configures its clients


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> Iterator[CallLog]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    calls = CallLog()
    access.install(ROLES, LOCAL_USER, calls)
    yield calls
    access.uninstall()


def signed_by(url: str) -> str:
    return parse_qs(urlsplit(url).query)["X-Amz-Credential"][0].split("/")[0]


def presign(s3: object, key: str) -> str:
    url: str = s3.generate_presigned_url(  # type: ignore[attr-defined]
        "get_object", Params={"Bucket": "b", "Key": key}, ExpiresIn=60
    )
    return url


def test_one_client_signs_as_the_function_whose_thread_uses_it(log: CallLog) -> None:
    s3 = boto3.session.Session(region_name="us-east-1").client("s3", config=SIGV4)  # shared, like the layer's

    with running_as("MakePhotoFunction"):
        made = presign(s3, "uploads/a.jpg")
    with running_as("GetPhotoFunction"):
        got = presign(s3, "finals/a.jpg")
    outside = presign(s3, "uploads/b.jpg")

    assert signed_by(made) == "role-key-of-make-photo"
    assert signed_by(got) == "role-key-of-get-photo"
    assert signed_by(outside) == "testing"
    assert [(c.function, c.operation, c.params["Key"], c.presigned) for c in log.snapshot()] == [
        ("MakePhotoFunction", "GetObject", "uploads/a.jpg", True),
        ("GetPhotoFunction", "GetObject", "finals/a.jpg", True),
    ]


def test_a_thread_a_function_starts_runs_for_that_function(log: CallLog) -> None:
    s3 = boto3.session.Session(region_name="us-east-1").client("s3", config=SIGV4)
    urls: list[str] = []

    with running_as("GetPhotoFunction"):
        worker = threading.Thread(target=lambda: urls.append(presign(s3, "finals/c.jpg")))
        worker.start()
        worker.join()

    assert signed_by(urls[0]) == "role-key-of-get-photo"
    assert [c.function for c in log.snapshot()] == ["GetPhotoFunction"]


def test_uninstall_gives_the_sdk_its_own_credential_chain_back(log: CallLog) -> None:
    access.uninstall()
    s3 = boto3.session.Session(region_name="us-east-1").client("s3", config=SIGV4)

    with running_as("MakePhotoFunction"):
        url = presign(s3, "uploads/d.jpg")

    assert signed_by(url) == "testing"
    assert log.snapshot() == []
