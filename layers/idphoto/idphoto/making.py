"""Make one photo from one uploaded object: the logic behind the make-photo function.

Order matters for money and correctness: everything we can check ourselves (object, options) is
checked before the vendor is called; the record is claimed before the vendor is called, so duplicate
deliveries and late events never make a photo twice or overwrite a newer one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from botocore.exceptions import ClientError

from idphoto.config import Settings
from idphoto.errors import IdPhotoError, InvalidOptions, UnsupportedObject, VendorError
from idphoto.events import NO_EVENTS, PhotoEvents
from idphoto.observability import count, count_by, logger
from idphoto.options import PhotoOptions, merge, parse_metadata
from idphoto.records import RETRIES_EXHAUSTED, PhotoRecords
from idphoto.source import SourceObject
from idphoto.storage import ObjectHead, PhotoStorage
from idphoto.vendor import VendorClient

# A lease outlives the invocation that took it by this much, so a live holder is never robbed.
LEASE_MARGIN_SECONDS = 30


def image_format(first_bytes: bytes) -> str | None:
    """The image format by its signature; names lie (a text file called .jpg), bytes do not."""
    if first_bytes.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if first_bytes.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if first_bytes.startswith(b"BM"):
        return "bmp"
    if first_bytes[:4] == b"RIFF" and first_bytes[8:12] == b"WEBP":
        return "webp"
    return None


class Outcome(StrEnum):
    MADE = "MADE"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    DUPLICATE = "DUPLICATE"
    IN_FLIGHT = "IN_FLIGHT"
    STALE = "STALE"


@dataclass(frozen=True)
class MakeResult:
    key: str
    outcome: Outcome
    detail: str = ""


class PhotoMaker:
    def __init__(
        self,
        settings: Settings,
        storage: PhotoStorage,
        records: PhotoRecords,
        vendor: VendorClient,
        clock: Callable[[], float] = time.monotonic,
        events: PhotoEvents = NO_EVENTS,
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._records = records
        self._vendor = vendor
        self._clock = clock
        self._events = events

    def make(self, source: SourceObject, *, request_id: str, deadline: float) -> MakeResult:
        """``deadline`` is on ``clock``'s scale; transient vendor errors are raised for a platform retry."""
        with self._events.announcing(source.key):  # "Photo Ready" / "Photo Failed", see idphoto.events
            return self._make(source, request_id=request_id, deadline=deadline)

    def _make(self, source: SourceObject, *, request_id: str, deadline: float) -> MakeResult:
        skip = self._skip_reason(source)
        if skip:
            logger.info("not a portrait upload, skipped", extra={"reason": skip})
            return MakeResult(source.key, Outcome.SKIPPED, skip)
        try:
            head = self._peek(source)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NoSuchVersion", "NotFound"):
                logger.info("object is gone, nothing to make")
                return MakeResult(source.key, Outcome.SKIPPED, "object no longer exists")
            raise
        if source.version_id is None and source.etag and head.etag not in ("", source.etag):
            # Unversioned bucket overwritten since this event: the newer upload has its own event.
            return MakeResult(source.key, Outcome.STALE, "object was overwritten since this event")

        parsed = parse_metadata(head.metadata)
        options: PhotoOptions | None = None
        problem: IdPhotoError | None = self._object_problem(head)
        try:
            options = merge(self._settings.defaults, parsed)
        except InvalidOptions as exc:
            problem = problem or exc
        claim = self._records.claim(
            source,
            claim_id=request_id,
            lease_seconds=int(deadline - self._clock()) + LEASE_MARGIN_SECONDS,
            options=options.to_record() if options else {},
            ignored_metadata=sorted(parsed.ignored),
        )
        if not claim.claimed:
            logger.info("event already handled", extra={"outcome": claim.outcome.value})
            return MakeResult(source.key, Outcome(claim.outcome.value))
        if problem is not None or options is None:
            return self._fail(source, request_id, problem or InvalidOptions("no options"))
        return self._call_vendor(source, request_id, options, deadline, claim.attempt)

    def _skip_reason(self, source: SourceObject) -> str | None:
        if not source.key.startswith(self._storage.upload_prefix):
            return "outside the upload prefix"
        if source.is_folder_marker:
            return "folder marker"
        if not source.looks_like_image:
            return "not an image by name"
        return None

    def _peek(self, source: SourceObject) -> ObjectHead:
        if source.size == 0:  # S3 refuses a range of an empty object; the event says it is empty
            return ObjectHead(size=0, content_type="", etag=source.etag, metadata={})
        return self._storage.peek(source.key, source.version_id)

    def _object_problem(self, head: ObjectHead) -> UnsupportedObject | None:
        if head.size == 0:
            return UnsupportedObject("the uploaded object is empty")
        if head.size > self._settings.max_upload_bytes:
            limit = self._settings.max_upload_bytes // (1024 * 1024)
            return UnsupportedObject(f"the uploaded object is {head.size} bytes, the limit is {limit} MB")
        if head.content_type and not head.content_type.startswith(("image/", "binary/", "application/octet")):
            return UnsupportedObject(f"content type {head.content_type!r} is not an image")
        if image_format(head.first_bytes) is None:
            return UnsupportedObject("the uploaded object is not a JPEG, PNG, BMP or WebP image")
        return None

    def _call_vendor(
        self, source: SourceObject, request_id: str, options: PhotoOptions, deadline: float, attempt: int
    ) -> MakeResult:
        read_timeout = (
            self._settings.vendor_beauty_read_timeout
            if options.beauty
            else self._settings.vendor_read_timeout
        )
        try:
            made = self._vendor.make_photo(
                lambda seconds: self._storage.presign_get(source.key, int(seconds), source.version_id),
                options,
                read_timeout=read_timeout,
                deadline=deadline,
            )
        except VendorError as exc:
            if exc.transient:
                self._give_back(source, request_id, exc, attempt)
                raise
            return self._fail(source, request_id, exc)
        colors = options.color_names()
        if len(colors) != len(made.names):  # no colours asked: the vendor made its default ones
            colors = (
                ["default"] if len(made.names) == 1 else [f"default{i + 1}" for i in range(len(made.names))]
            )
        if not self._records.mark_ready(source, request_id, made, colors):
            return MakeResult(source.key, Outcome.STALE, "a newer version took over the record")
        count("PhotosMade")
        logger.info("photo made", extra={"colors": colors, "sheet_count": made.sheet_count})
        return MakeResult(source.key, Outcome.MADE)

    def _give_back(self, source: SourceObject, request_id: str, error: VendorError, attempt: int) -> None:
        """A transient failure: the platform retries; on its last attempt the record says why it gave up.

        The event itself then lands in the on-failure queue, from where it can be replayed: the
        record stays claimable (see ``records.RETRIES_EXHAUSTED``).
        """
        if attempt < self._settings.make_attempts:
            self._records.release(source, request_id, error.message)
            return
        message = (
            f"gave up after {attempt} attempts, the vendor was unavailable: {error.message};"
            " the upload event is parked in the failed-events queue and can be replayed"
        )
        self._records.mark_failed(source, request_id, RETRIES_EXHAUSTED, message, error.vendor_code)
        count_by("PhotosFailed", "code", RETRIES_EXHAUSTED)

    def _fail(self, source: SourceObject, request_id: str, error: IdPhotoError) -> MakeResult:
        vendor_code = error.vendor_code if isinstance(error, VendorError) else None
        self._records.mark_failed(source, request_id, error.code, error.message, vendor_code)
        count_by("PhotosFailed", "code", str(vendor_code) if vendor_code else error.code)
        logger.warning(
            "photo failed", extra={"code": error.code, "error": error.message, "vendor_code": vendor_code}
        )
        return MakeResult(source.key, Outcome.FAILED, error.message)
