"""The uploaded object a photo is made from, as S3 announced it.

S3 event keys are URL-encoded (a space arrives as ``+``): they are decoded here, once, at the edge, and
nowhere else. The ``sequencer`` orders events of one key: S3 documents that the larger one (compared
as hex strings after left-padding the shorter with zeros) is the later write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

SEQUENCER_WIDTH = 32
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".heic", ".heif", ".avif", ".tif", ".tiff")


@dataclass(frozen=True)
class SourceObject:
    bucket: str
    key: str
    size: int
    etag: str
    sequencer: str
    version_id: str | None = None
    # Who uploaded it: the IAM principal S3 names in the event (see principal_id()).
    uploader: str | None = None

    @classmethod
    def from_event_record(cls, record: Mapping[str, Any]) -> SourceObject:
        s3 = record["s3"]
        obj = s3["object"]
        return cls(
            bucket=s3["bucket"]["name"],
            key=decode_key(obj["key"]),
            size=int(obj.get("size", 0)),
            etag=str(obj.get("eTag", "")),
            sequencer=normalize_sequencer(str(obj.get("sequencer", ""))),
            version_id=obj.get("versionId") or None,
            uploader=principal_id(record.get("userIdentity", {}).get("principalId")),
        )

    @property
    def is_folder_marker(self) -> bool:
        return self.key.endswith("/")

    @property
    def looks_like_image(self) -> bool:
        return self.key.lower().endswith(IMAGE_SUFFIXES)

    @property
    def version_tag(self) -> str:
        return version_tag(self.sequencer)


def version_tag(sequencer: str) -> str:
    """Names one version of a key in our own object keys (finals are kept per version)."""
    return sequencer.lstrip("0") or "0"


def principal_id(raw: str | None) -> str | None:
    """The stable id of an IAM user or role, as S3 events and API Gateway's IAM identity both carry it.

    S3 says ``AWS:AIDA...`` or ``AWS:AROA...:session``; API Gateway's ``identity.caller`` says
    ``AIDA...`` or ``AROA...:session``. A role's sessions are the same principal, so the session
    name is dropped.
    """
    if not raw:
        return None
    return raw.removeprefix("AWS:").split(":", 1)[0] or None


def decode_key(raw: str) -> str:
    """S3 event keys are form-encoded: ``+`` is a space and ``%2B`` a plus."""
    return unquote_plus(raw, encoding="utf-8", errors="strict")


def normalize_sequencer(sequencer: str) -> str:
    """Left-pad to a fixed width so that string order is S3's order (also inside DynamoDB)."""
    text = sequencer.strip().upper()
    if not text or any(c not in "0123456789ABCDEF" for c in text) or len(text) > SEQUENCER_WIDTH:
        raise ValueError(f"not an S3 sequencer: {sequencer!r}")
    return text.rjust(SEQUENCER_WIDTH, "0")
