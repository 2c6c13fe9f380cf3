"""Presigned URLs name the bucket's regional endpoint in every region (issue 10, breaker 2).

botocore itself builds and signs each URL (no network): the client is the one production makes
(``idphoto.aws.s3_client``), only the region changes.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from idphoto import aws
from idphoto.storage import PhotoStorage

BUCKET = "idphoto-photos-123456789012-region"


@pytest.fixture
def fresh_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_PROFILE",
        "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.s3_client.cache_clear()


# us-east-1 (the global endpoint's home), an older region, and two launched after March 2019.
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-east-1", "me-south-1"])
def test_presigned_url_names_the_regional_endpoint(
    fresh_clients: None, monkeypatch: pytest.MonkeyPatch, region: str
) -> None:
    # Given the production S3 client in a region
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_REGION", region)
    storage = PhotoStorage(aws.s3_client(), BUCKET, "uploads/", "finals/")

    # When make-photo presigns an upload for the vendor
    url = urlsplit(storage.presign_get("uploads/me.jpg", 60))

    # Then the URL names the bucket's regional endpoint, signed for that region
    assert url.scheme == "https"
    assert url.hostname == f"{BUCKET}.s3.{region}.amazonaws.com"
    assert f"%2F{region}%2Fs3%2Faws4_request" in url.query
    aws.s3_client.cache_clear()


def test_local_emulation_keeps_its_endpoint(fresh_clients: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the SDK pointed at a local emulation, as the local stack does
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:45123")
    storage = PhotoStorage(aws.s3_client(), BUCKET, "uploads/", "finals/")

    # When an upload is presigned
    url = urlsplit(storage.presign_get("uploads/me.jpg", 60))

    # Then it names the emulation, path style (an IP address cannot carry the bucket)
    assert (url.hostname, url.port) == ("127.0.0.1", 45123)
    assert url.path == f"/{BUCKET}/uploads/me.jpg"
    aws.s3_client.cache_clear()
