"""S3: presigned URLs for the vendor and the client, and our copies of the finals.

Layout of the bucket: uploads under the upload prefix (the only prefix that triggers make-photo),
finals under the finals prefix, one folder per version of an upload, so that nothing we write can
trigger make-photo and a re-upload never serves the old version's finals.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
from botocore.exceptions import BotoCoreError, ClientError

from idphoto.errors import DataAccessError, ObjectMissing, VendorUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# The vendor's result images are a few hundred KB; anything far larger is not an ID photo.
MAX_FINAL_BYTES = 20 * 1024 * 1024


# What S3 answers for a missing key or version (GetObject: NoSuchKey/NoSuchVersion; HEAD-like: 404).
MISSING_CODES = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NotFound"})


@contextmanager
def s3_errors(action: str) -> Iterator[None]:
    """botocore's errors as ours: the logic above never sees botocore."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in MISSING_CODES:
            raise ObjectMissing(f"S3 {action}: the object is gone ({code})", aws_code=code) from exc
        raise DataAccessError(f"S3 {action} failed ({code or 'unknown error'})", aws_code=code) from exc
    except BotoCoreError as exc:
        raise DataAccessError(f"S3 {action} failed ({type(exc).__name__})") from exc


# S3's limit on an object key, in bytes of UTF-8:
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
MAX_KEY_BYTES = 1024


# A kept vendor answer is a few URLs: anything larger is not ours.
MAX_ANSWER_BYTES = 256 * 1024


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
        with s3_errors("GetObject"):
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
        with s3_errors("presign"):
            return self._client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=max(1, int(seconds))
            )

    def final_keys(self, upload_key: str, version_tag: str, color: str) -> tuple[str, str]:
        """Where the watermark-free photo and print sheet of one colour are kept."""
        relative = upload_key.removeprefix(self.upload_prefix)
        base = f"{self.finals_prefix}{relative}/{version_tag}/{color}"
        return f"{base}.jpg", f"{base}_print.jpg"

    def answer_key(self, upload_key: str, version_tag: str) -> str:
        """Where make-photo keeps the vendor's answer for one version (beside its finals; never
        longer than their keys, so the key check covers it)."""
        relative = upload_key.removeprefix(self.upload_prefix)
        return f"{self.finals_prefix}{relative}/{version_tag}/made.json"

    def keep_answer(self, upload_key: str, version_tag: str, answer: dict[str, Any]) -> None:
        with s3_errors("PutObject"):
            self._client.put_object(
                Bucket=self.bucket,
                Key=self.answer_key(upload_key, version_tag),
                Body=json.dumps(answer).encode(),
                ContentType="application/json",
            )

    def kept_answer(self, upload_key: str, version_tag: str) -> dict[str, Any] | None:
        """The answer kept by an earlier attempt, or None (none kept, or S3 cannot say: without
        ListBucket on the finals prefix a missing key answers 403, which means "none" here too)."""
        try:
            with s3_errors("GetObject"):
                answer = self._client.get_object(
                    Bucket=self.bucket, Key=self.answer_key(upload_key, version_tag)
                )
                with answer["Body"] as body:
                    data = json.loads(body.read(MAX_ANSWER_BYTES))
        except (DataAccessError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def longest_final_key_bytes(self, upload_key: str, version_tag: str, colors: list[str]) -> int:
        """The longest key the finals of these colours would get, in bytes (S3 allows ``MAX_KEY_BYTES``)."""
        return max(
            len(key.encode("utf-8", "surrogatepass"))
            for color in colors
            for key in self.final_keys(upload_key, version_tag, color)
        )

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
        with s3_errors("PutObject"):
            self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        return len(body)
