"""The status answer of a photo: a record as the API shows it.

One function per part of the answer, so that a new field is one line in :func:`present` (and one in
:class:`~idphoto.api.contract.PhotoStatus`).
"""

from __future__ import annotations

from typing import cast

from idphoto.api.contract import (
    Compliance,
    FinalCheck,
    PhotoError,
    PhotoOptionsOut,
    PhotoStatus,
    PhotoVersion,
    Preview,
    Waiting,
)
from idphoto.records import PhotoRecord


def present(record: PhotoRecord, now: int, make_attempts: int) -> PhotoStatus:
    expired = previews_expired(record, now)
    answer: PhotoStatus = {
        "key": record.key,
        "status": record.status.value,
        "version": version(record),
        "options": cast(PhotoOptionsOut, record.options),
        "colors": record.colors,
        "sheet_count": record.sheet_count,
        "previews": [] if expired else previews(record),
        "previews_expire_at": record.previews_expire_at,
        "previews_expired": expired,
        "finals_kept": sorted(c for c, f in record.finals.items() if f.get("state") == "KEPT"),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "stalled": record.is_stalled(now, make_attempts),
    }
    # Optional parts: present only when they say something.
    if record.error_code:
        answer["error"] = error(record)
    if record.last_error:
        answer["last_error"] = record.last_error
    if record.status.value == "PROCESSING" and record.waiting:
        answer["waiting"] = cast(Waiting, record.waiting)
    if record.ignored_metadata:
        answer["ignored_metadata"] = record.ignored_metadata
    if checks := kept_checks(record):
        answer["checks"] = checks
    if record.compliance:
        answer["compliance"] = compliance(record)
    if uncertain := sorted(c for c, f in record.finals.items() if f.get("state") == "UNCERTAIN"):
        answer["finals_uncertain"] = uncertain
    if record.prepared:
        answer["prepared"] = record.prepared
    return answer


def kept_checks(record: PhotoRecord) -> dict[str, list[FinalCheck]]:
    return {
        color: cast(list[FinalCheck], final["checks"])
        for color, final in record.finals.items()
        if final.get("state") == "KEPT" and "checks" in final
    }


def compliance(record: PhotoRecord) -> dict[str, Compliance]:
    """The recorded reports, numbers as numbers (the record keeps them as decimal strings)."""
    out: dict[str, Compliance] = {}
    for color, report in record.compliance.items():
        measures = [
            {**m, **{k: None if m.get(k) is None else float(m[k]) for k in ("value", "low", "high")}}
            for m in report.get("measures", ())
        ]
        out[color] = cast(Compliance, {**report, "measures": measures})
    return out


def previews_expired(record: PhotoRecord, now: int) -> bool:
    return record.previews_expire_at is not None and record.previews_expire_at <= now


def version(record: PhotoRecord) -> PhotoVersion:
    return {"etag": record.etag, "version_id": record.version_id, "sequencer": record.sequencer}


def previews(record: PhotoRecord) -> list[Preview]:
    return [
        {"color": color, "photo_url": photo, "sheet_url": sheet}
        for color, photo, sheet in zip(record.colors, record.previews, record.sheet_previews, strict=False)
    ]


def error(record: PhotoRecord) -> PhotoError:
    return {
        "code": record.error_code or "",
        "message": record.error_message,
        "vendor_code": record.vendor_code,
    }
