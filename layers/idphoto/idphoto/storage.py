"""S3: presigned URLs for the vendor and the client, and our copies of the finals.

Layout of the bucket: uploads under the upload prefix (the only prefix that triggers make-photo),
finals under the finals prefix, one folder per version of an upload, so that nothing we write can
trigger make-photo and a re-upload never serves the old version's finals.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
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


# Object metadata of a kept final: when the vendor's billed call answered (Unix time).
BILLED_AT_METADATA = "billed-at"

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


# Enough of the file to recognise every image format, and for a JPEG its EXIF orientation and frame
# header (APP1 comes first and holds at most 64 KB): idphoto.imagefile decides from these bytes.
PEEK_BYTES = 64 * 1024


@dataclass(frozen=True)
class ObjectHead:
    """An uploaded object's metadata and first bytes, read in one ranged GET."""

    size: int
    content_type: str
    etag: str
    metadata: dict[str, str]
    first_bytes: bytes = b""
    # The whole object, when peek() was asked to read it (an image within the size limit).
    data: bytes = b""


class PhotoStorage:
    def __init__(
        self,
        client: S3Client,
        bucket: str,
        upload_prefix: str,
        finals_prefix: str,
        work_prefix: str = "work/",
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.upload_prefix = upload_prefix
        self.finals_prefix = finals_prefix
        self.work_prefix = work_prefix

    def peek(
        self, key: str, version_id: str | None = None, *, read_all: Callable[[bytes, int], bool] | None = None
    ) -> ObjectHead:
        """Metadata and the first bytes in one GET; the rest of the body from the same GET when
        ``read_all(first_bytes, size)`` says so (an image within the limit: the whole file must be
        checked before the vendor gets it, and one streamed GET costs no second request).

        Otherwise the stream is closed after the first bytes: urllib3 then drops the connection
        rather than reading up to MaxUploadMB for nothing. Empty objects never get here (an empty
        range is InvalidRange; the caller knows their size from the event).
        """
        extra: dict[str, Any] = {"VersionId": version_id} if version_id else {}
        if read_all is None:
            extra["Range"] = f"bytes=0-{PEEK_BYTES - 1}"
        with s3_errors("GetObject"):
            answer = self._client.get_object(Bucket=self.bucket, Key=key, **extra)
            total = str(answer.get("ContentRange", "")).rpartition("/")[2]
            size = int(total) if total.isdigit() else int(answer.get("ContentLength", 0))
            with answer["Body"] as body:
                first = body.read(PEEK_BYTES)
                data = first + body.read() if read_all is not None and read_all(first, size) else b""
        return ObjectHead(
            size=size,
            content_type=str(answer.get("ContentType", "")),
            etag=str(answer.get("ETag", "")).strip('"'),
            metadata=dict(answer.get("Metadata", {})),
            first_bytes=first,
            data=data,
        )

    def work_key(self, upload_key: str, version_tag: str) -> str:
        """Where the normalised copy of one version of an upload is kept (outside the upload prefix)."""
        return f"{self.work_prefix}{upload_key.removeprefix(self.upload_prefix)}/{version_tag}.jpg"

    def put_work(self, key: str, jpeg: bytes) -> None:
        with s3_errors("PutObject"):
            self._client.put_object(Bucket=self.bucket, Key=key, Body=jpeg, ContentType="image/jpeg")

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
        s3:ListBucket on the bucket a missing key answers 403, which means "none" here too)."""
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

    def manifest_key(self, upload_key: str, version_tag: str) -> str:
        """Beside the finals of that version (see ``final_keys``)."""
        relative = upload_key.removeprefix(self.upload_prefix)
        return f"{self.finals_prefix}{relative}/{version_tag}/manifest.json"

    def put_json(self, key: str, document: Mapping[str, Any]) -> None:
        body = json.dumps(document, indent=2, sort_keys=True).encode()
        with s3_errors("PutObject"):
            self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def keep(
        self,
        url: str,
        key: str,
        session: requests.Session,
        timeout: float,
        billed_at: int | None = None,
        prepare: Callable[[bytes], bytes] | None = None,
    ) -> int:
        """Copy one of the vendor's expiring result images into our bucket; returns the bytes moved.

        The object carries when it was paid for, so the bucket alone can repair a lost record.
        ``prepare`` sees the downloaded bytes first and returns what is written (the finals' checks
        stamp the dpi there: :mod:`idphoto.checks`).
        """
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
        if prepare is not None:
            body = prepare(body)
        content_type = response.headers.get("Content-Type", "image/jpeg").split(";")[0]
        if not content_type.startswith("image/"):
            content_type = "image/jpeg"
        metadata = {BILLED_AT_METADATA: str(billed_at)} if billed_at is not None else {}
        with s3_errors("PutObject"):
            self._client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata
            )
        return len(body)

    def kept(self, photo_key: str, sheet_key: str) -> int | None:
        """When both images of a final are in the bucket: the time they were paid for (Unix), else None.

        Finals keys are deterministic, so this is the last word on what is paid for, whatever a failed
        record write lost. HeadObject needs s3:GetObject on the key, and a missing object answers 404
        (HEAD has no body, hence no NoSuchKey code) only to a role with s3:ListBucket on the bucket,
        403 to any other (S3 API Reference, HeadObject, "Permissions"): the template grants both.
        """
        billed_at: list[int] = []
        for key in (photo_key, sheet_key):
            try:
                head = self._client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
            recorded = str(head.get("Metadata", {}).get(BILLED_AT_METADATA, ""))
            modified = head.get("LastModified")
            billed_at.append(
                int(recorded) if recorded.isdigit() else int(modified.timestamp()) if modified else 0
            )
        return min(billed_at)
