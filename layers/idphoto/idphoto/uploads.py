"""Presigned POST forms for uploads from a browser, a phone or any HTTP client: ``POST /uploads``.

The caller never holds credentials for the bucket. It names the file's type and the photo's options;
the options are checked here with make-photo's own parser (:func:`idphoto.options.parse_metadata`,
named specs included) before a single byte is uploaded, and the answer is a form whose POST policy fixes
everything that was checked, so the browser cannot change it afterwards (Amazon S3 API Reference,
"Browser-Based Uploads Using POST (AWS Signature Version 4)" and "Creating a POST Policy"):

* ``content-length-range`` 1 byte .. ``MaxUploadMB``: an empty or oversized file is refused by S3;
* ``Content-Type`` ``eq`` one of :data:`IMAGE_TYPES`, and the key's suffix agrees with it;
* ``key`` ``eq`` a fresh key under the upload prefix, in the caller's folder
  (``<prefix><owner>/<tag>-<name><suffix>``): uploads of two callers never share a key;
* ``x-amz-meta-<option>`` ``eq`` each checked option, and ``x-amz-meta-owner`` ``eq`` the caller
  (:mod:`idphoto.owners`: make-photo records it as the owner).

The policy expires after ``UPLOAD_FORM_TTL_SECONDS``. The signature is the function role's: that role
holds ``s3:PutObject`` on the upload prefix and nothing else in the bucket, and S3 checks it when the
form arrives.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from idphoto.errors import IdPhotoError, InvalidOptions
from idphoto.options import FINALS_METADATA, PARSERS, SPEC_OPTION, merge, parse_metadata
from idphoto.owners import OWNER_METADATA

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# The image types make-photo reads, each with the key suffix that makes it "an image by name".
IMAGE_TYPES: Final[Mapping[str, str]] = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "image/avif": ".avif",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
}
# The JSON body's fields: one declaration, anything else is a 400 naming it. No query parameter is known.
BODY_FIELDS: Final = ("content_type", "filename", "options")
QUERY_PARAMETERS: Final[frozenset[str]] = frozenset()
MAX_NAME_CHARS: Final = 64
# An owner becomes a folder of the key: IAM unique ids and Cognito identity ids ("region:uuid") fit.
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,127}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadRequestError(IdPhotoError):
    """The request for an upload form is malformed (body, field, type): the caller's 400."""

    code = "BAD_REQUEST"


@dataclass(frozen=True)
class UploadRequest:
    content_type: str
    filename: str
    options: dict[str, str]


@dataclass(frozen=True)
class UploadForm:
    key: str
    url: str
    fields: dict[str, str]
    expires_at: int
    max_bytes: int
    content_type: str


def parse_request(body: Any, query: Mapping[str, str] | None) -> UploadRequest:
    """The JSON body, checked field by field; an unknown field or query parameter is named."""
    unknown_query = sorted(set(query or {}) - QUERY_PARAMETERS)
    if unknown_query:
        raise UploadRequestError(
            f"unknown query parameter {', '.join(unknown_query)}: POST /uploads takes none"
        )
    if not isinstance(body, dict):
        raise UploadRequestError("the body must be a JSON object: {content_type, filename?, options?}")
    unknown = sorted(set(body) - set(BODY_FIELDS))
    if unknown:
        raise UploadRequestError(f"unknown field {', '.join(unknown)} (known: {', '.join(BODY_FIELDS)})")
    content_type = body.get("content_type")
    if not isinstance(content_type, str) or content_type.strip().lower() not in IMAGE_TYPES:
        raise UploadRequestError(
            f"content_type must be one of {', '.join(IMAGE_TYPES)}, not {content_type!r}"
        )
    filename = body.get("filename", "")
    if not isinstance(filename, str):
        raise UploadRequestError("filename must be a string")
    options = body.get("options", {})
    if not isinstance(options, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in options.items()
    ):
        raise UploadRequestError('options must be an object of strings, e.g. {"spec": "us-passport"}')
    return UploadRequest(content_type.strip().lower(), filename, options)


def checked_options(options: Mapping[str, str], defaults: Mapping[str, Any]) -> dict[str, str]:
    """The options as ``x-amz-meta-*`` fields (canonical names), checked as make-photo will check them:
    alone (each parser) and merged over the deployment's defaults (spec-id required, sizes in order)."""
    fields: dict[str, str] = {}
    for raw_name, value in options.items():
        name = raw_name.strip().lower().replace("_", "-")
        if name == OWNER_METADATA:
            raise InvalidOptions("owner: set by the API from your identity, not an option")
        if name not in PARSERS and name not in (SPEC_OPTION, FINALS_METADATA):
            known = ", ".join([SPEC_OPTION, *sorted(PARSERS), FINALS_METADATA])
            raise InvalidOptions(f"{raw_name}: not an option (known: {known})")
        if name in fields:
            raise InvalidOptions(f"{name}: given twice")
        if not value.isascii() or any(c in value for c in "\r\n"):
            raise InvalidOptions(f"{name}: S3 metadata takes printable ASCII only")
        if value.strip():
            fields[name] = value.strip()
    parsed = parse_metadata(fields, source="options")
    merge(defaults, parsed)  # raises InvalidOptions naming every problem
    return fields


def upload_key(prefix: str, owner: str, filename: str, content_type: str) -> str:
    """``<prefix><owner>/<tag>-<name><suffix>``: the caller's folder, a fresh tag (two uploads of
    ``me.jpg`` never replace each other), a readable name, the suffix of the type."""
    if not _OWNER.fullmatch(owner):
        raise IdPhotoError(f"caller id {owner!r} cannot name a folder")  # API Gateway's, not the caller's
    stem = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    stem = _UNSAFE.sub("-", stem).strip("-._")[:MAX_NAME_CHARS] or "portrait"
    return f"{prefix}{owner}/{secrets.token_hex(4)}-{stem}{IMAGE_TYPES[content_type]}"


class UploadForms:
    def __init__(self, s3: S3Client, bucket: str, prefix: str, *, max_bytes: int, ttl_seconds: int) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._prefix = prefix
        self._max_bytes = max_bytes
        self._ttl = ttl_seconds

    def create(self, request: UploadRequest, owner: str, defaults: Mapping[str, Any]) -> UploadForm:
        options = checked_options(request.options, defaults)
        key = upload_key(self._prefix, owner, request.filename, request.content_type)
        fields = {
            "Content-Type": request.content_type,
            **{f"x-amz-meta-{name}": value for name, value in options.items()},
            f"x-amz-meta-{OWNER_METADATA}": owner,
        }
        conditions: list[Any] = [{name: value} for name, value in fields.items()]
        conditions.append(["content-length-range", 1, self._max_bytes])
        # botocore adds the bucket, the key (exact), x-amz-algorithm, -credential, -date and, with
        # temporary credentials (Lambda's), x-amz-security-token to both the fields and the conditions.
        signed = self._s3.generate_presigned_post(
            Bucket=self._bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=self._ttl
        )
        return UploadForm(
            key=key,
            url=signed["url"],
            fields={str(k): str(v) for k, v in signed["fields"].items()},
            expires_at=int(time.time()) + self._ttl,
            max_bytes=self._max_bytes,
            content_type=request.content_type,
        )
