"""S3: presigned URLs for the vendor and the client, and our copies of the finals.

Layout of the bucket: uploads under the upload prefix (the only prefix that triggers make-photo),
finals under the finals prefix, one folder per version of an upload, so that nothing we write can
trigger make-photo and a re-upload never serves the old version's finals.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from idphoto.errors import VendorUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# The vendor's result images are a few hundred KB; anything far larger is not an ID photo.
MAX_FINAL_BYTES = 20 * 1024 * 1024


# Enough of the file to recognise every image format the vendor could take.
PEEK_BYTES = 32


@dataclass(frozen=True)
class ObjectHead:
    """An uploaded object's metadata and first bytes, read in one ranged GET."""

    size: int
    content_type: str
    etag: str
    metadata: dict[str, str]
    first_bytes: bytes = b""


class PhotoStorage:
    def __init__(self, client: S3Client, bucket: str, upload_prefix: str, finals_prefix: str) -> None:
        self._client = client
        self.bucket = bucket
        self.upload_prefix = upload_prefix
        self.finals_prefix = finals_prefix

    def peek(self, key: str, version_id: str | None = None) -> ObjectHead:
        """Metadata and the first bytes in one call: a ranged GET answers what HEAD would, and more.

        Empty objects answer a range with InvalidRange; the caller knows their size from the event.
        """
        extra: dict[str, Any] = {"VersionId": version_id} if version_id else {}
        answer = self._client.get_object(
            Bucket=self.bucket, Key=key, Range=f"bytes=0-{PEEK_BYTES - 1}", **extra
        )
        with answer["Body"] as body:
            first = body.read(PEEK_BYTES)
        total = str(answer.get("ContentRange", "")).rpartition("/")[2]
        return ObjectHead(
            size=int(total) if total.isdigit() else int(answer.get("ContentLength", 0)),
            content_type=str(answer.get("ContentType", "")),
            etag=str(answer.get("ETag", "")).strip('"'),
            metadata=dict(answer.get("Metadata", {})),
            first_bytes=first,
        )

    def presign_get(self, key: str, seconds: int, version_id: str | None = None) -> str:
        """A SigV4 GET URL; signing is local (no AWS call)."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        return self._client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=max(1, int(seconds))
        )

    def final_keys(self, upload_key: str, version_tag: str, color: str) -> tuple[str, str]:
        """Where the watermark-free photo and print sheet of one colour are kept."""
        relative = upload_key.removeprefix(self.upload_prefix)
        base = f"{self.finals_prefix}{relative}/{version_tag}/{color}"
        return f"{base}.jpg", f"{base}_print.jpg"

    def manifest_key(self, upload_key: str, version_tag: str) -> str:
        """Beside the finals of that version (see ``final_keys``)."""
        relative = upload_key.removeprefix(self.upload_prefix)
        return f"{self.finals_prefix}{relative}/{version_tag}/manifest.json"

    def put_json(self, key: str, document: Mapping[str, Any]) -> None:
        body = json.dumps(document, indent=2, sort_keys=True).encode()
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def keep(self, url: str, key: str, session: requests.Session, timeout: float) -> int:
        """Copy one of the vendor's expiring result images into our bucket; returns the bytes moved."""
        if not url.startswith(("https://", "http://")):
            raise VendorUnavailable("the vendor's result URL is not HTTP(S)")
        try:
            response = session.get(url, timeout=(3.05, timeout))
        except requests.RequestException as exc:
            raise VendorUnavailable(f"cannot download the vendor's result ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise VendorUnavailable(f"the vendor's result URL answered HTTP {response.status_code}")
        body = response.content
        if not body or len(body) > MAX_FINAL_BYTES:
            raise VendorUnavailable(f"the vendor's result has an implausible size ({len(body)} bytes)")
        content_type = response.headers.get("Content-Type", "image/jpeg").split(";")[0]
        if not content_type.startswith("image/"):
            content_type = "image/jpeg"
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        return len(body)
