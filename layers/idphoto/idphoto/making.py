"""Make one photo from one uploaded object: the logic behind the make-photo function.

Order matters for money and correctness: everything we can check ourselves (object, options) is
checked before the vendor is called; the record is claimed before the vendor is called, so duplicate
deliveries and late events never make a photo twice or overwrite a newer one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from idphoto.config import Settings
from idphoto.errors import (
    DataAccessError,
    GatewayError,
    IdPhotoError,
    InvalidOptions,
    ObjectMissing,
    UnsupportedObject,
    VendorError,
    VendorUnavailable,
)
from idphoto.events import NO_EVENTS, PhotoEvents
from idphoto.imagefile import image_format as image_format  # re-exported: callers import it from here
from idphoto.observability import count, count_by, logger
from idphoto.options import FINALS_METADATA, PhotoOptions, auto_finals_choice, merge, parse_metadata
from idphoto.owners import upload_owner
from idphoto.preparing import Prepared, prepare
from idphoto.records import RETRIES_EXHAUSTED, VENDOR_ACCOUNT, PhotoRecord, PhotoRecords, previews_expiry
from idphoto.source import SourceObject
from idphoto.storage import MAX_KEY_BYTES, ObjectHead, PhotoStorage
from idphoto.upload_messages import refusal_delay
from idphoto.vendor import MadePhoto, VendorClient

# A lease outlives the invocation that took it by this much, so a live holder is never robbed.
LEASE_MARGIN_SECONDS = 30
# A kept vendor answer is reused only while its preview URLs work for at least this long.
ANSWER_MARGIN_SECONDS = 600

# Measures each colour's preview (idphoto.compliance.check_previews bound to a download): the
# previews' URLs, the colour names, the options -> the reports per colour, as the record keeps them.
PreviewCheck = Callable[[list[str], list[str], PhotoOptions], dict[str, dict[str, Any]]]


def needs_operator(error: VendorError) -> bool:
    """A gateway refusal that stays until someone acts: X-Ca-Error-Code with a 4xx other than
    throttling (invalid AppCode, quota exhausted or expired, arrears; see the vendor's API.md)."""
    return (
        isinstance(error, GatewayError)
        and not error.transient
        and error.http_status is not None
        and 400 <= error.http_status < 500
    )


@dataclass(frozen=True)
class Delivery:
    """Which delivery of the upload this is: the upload queue's message says it."""

    receive_count: int = 1  # SQS's ApproximateReceiveCount: past maxReceiveCount, the DLQ
    queued_at: int | None = None  # Unix seconds the upload entered the queue (SentTimestamp)


class UploadWaits(Exception):
    """The vendor refuses our account (quota, AppCode): the upload waits in its queue ``retry_in``
    seconds, its record says so (``waiting``). Not an error of the photo."""

    def __init__(self, reason: str, retry_in: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_in = retry_in


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
    # The record as this attempt wrote it (READY or FAILED), when DynamoDB returned it: its event is
    # announced from it without reading the item back.
    record: PhotoRecord | None = field(default=None, compare=False, repr=False)


class PhotoMaker:
    def __init__(
        self,
        settings: Settings,
        storage: PhotoStorage,
        records: PhotoRecords,
        vendor: VendorClient,
        clock: Callable[[], float] = time.monotonic,
        events: PhotoEvents = NO_EVENTS,
        check_previews: PreviewCheck | None = None,
    ) -> None:
        self._check_previews = check_previews
        self._settings = settings
        self._storage = storage
        self._records = records
        self._vendor = vendor
        self._clock = clock
        self._events = events

    def make(
        self, source: SourceObject, *, request_id: str, deadline: float, delivery: Delivery | None = None
    ) -> MakeResult:
        """``deadline`` is on ``clock``'s scale; transient vendor errors are raised for a platform
        retry, a refusal of our account as :class:`UploadWaits`. ``request_id`` names the delivery
        across its retries (the upload queue's message id)."""
        with self._events.announcing(source.key) as announcement:  # "Photo Ready" / "Photo Failed"
            result = self._make(
                source, request_id=request_id, deadline=deadline, delivery=delivery or Delivery()
            )
            announcement.written = result.record
            return result

    def _make(
        self, source: SourceObject, *, request_id: str, deadline: float, delivery: Delivery
    ) -> MakeResult:
        skip = self._skip_reason(source)
        if skip:
            logger.info("not a portrait upload, skipped", extra={"reason": skip})
            return MakeResult(source.key, Outcome.SKIPPED, skip)
        try:
            head = self._peek(source)
        except ObjectMissing:
            logger.info("object is gone, nothing to make")
            return MakeResult(source.key, Outcome.SKIPPED, "object no longer exists")
        if source.version_id is None and source.etag and head.etag not in ("", source.etag):
            # Unversioned bucket overwritten since this event: the newer upload has its own event.
            return MakeResult(source.key, Outcome.STALE, "object was overwritten since this event")

        # Uploads through POST /uploads are signed by one role for every caller: the owner is the one
        # the policy fixed (idphoto.owners); every other upload is its uploader's.
        source = replace(
            source, uploader=upload_owner(source.uploader, head.metadata, self._settings.upload_signer)
        )
        parsed = parse_metadata(head.metadata)
        auto_finals, wish_refused = auto_finals_choice(
            head.metadata.get(FINALS_METADATA),
            self._settings.auto_finals,
            self._settings.uploader_auto_finals,
        )
        if wish_refused:
            logger.info("the upload's finals wish is refused (AllowUploaderAutoFinals=false)")
        options: PhotoOptions | None = None
        problem: IdPhotoError | None = self._object_problem(head)
        try:
            options = merge(self._settings.defaults, parsed)
        except InvalidOptions as exc:
            problem = problem or exc
        if options is not None:
            problem = problem or self._key_problem(source, options)
        claim = self._records.claim(
            source,
            claim_id=request_id,
            lease_seconds=int(deadline - self._clock()) + LEASE_MARGIN_SECONDS,
            options=options.to_record() if options else {},
            ignored_metadata=sorted(set(parsed.ignored) | ({FINALS_METADATA} if wish_refused else set())),
            auto_finals=auto_finals,
        )
        if not claim.claimed:
            logger.info("event already handled", extra={"outcome": claim.outcome.value})
            return MakeResult(source.key, Outcome(claim.outcome.value))
        if problem is not None or options is None:
            return self._fail(source, request_id, problem or InvalidOptions("no options"))
        try:
            try:
                prepared = prepare(self._storage, source, head, options, self._settings.max_side_px)
            except UnsupportedObject as exc:
                return self._fail(source, request_id, exc)
            return self._call_vendor(
                source,
                request_id,
                options,
                deadline,
                max(claim.attempt, delivery.receive_count),
                prepared,
                retried=claim.current is not None,
                delivery=delivery,
            )
        except (VendorError, UploadWaits):
            raise  # its outcome is recorded already
        except Exception as exc:
            # An AWS error (or a bug) after the claim: hand the claim on as for a vendor outage, so
            # the photo does not wait for the lease; when this write fails too, the status says
            # "stalled" once the lease is over (``PhotoRecord.is_stalled``).
            self._give_back_quietly(source, request_id, exc, max(claim.attempt, delivery.receive_count))
            raise

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
        return self._storage.peek(source.key, source.version_id, read_all=self._worth_reading)

    def _worth_reading(self, first_bytes: bytes, size: int) -> bool:
        """Read the rest of the object only when it may become a photo (idphoto.preparing checks it)."""
        return 0 < size <= self._settings.max_upload_bytes and image_format(first_bytes) is not None

    def _key_problem(self, source: SourceObject, options: PhotoOptions) -> UnsupportedObject | None:
        """A finals key past S3's limit would fail only after the billed call: refuse it before any."""
        # Without colours the vendor makes its default ones, named default/default<N> (see _call_vendor).
        colors = options.color_names() or ["default9"]
        longest = self._storage.longest_final_key_bytes(source.key, source.version_tag, colors)
        if longest <= MAX_KEY_BYTES:
            return None
        return UnsupportedObject(
            f"the upload's key is too long: its finals would be kept under a key of {longest} bytes,"
            f" S3 allows {MAX_KEY_BYTES}; upload it under a shorter key"
        )

    def _object_problem(self, head: ObjectHead) -> UnsupportedObject | None:
        if head.size == 0:
            return UnsupportedObject("the uploaded object is empty")
        if head.size > self._settings.max_upload_bytes:
            limit = self._settings.max_upload_bytes // (1024 * 1024)
            return UnsupportedObject(f"the uploaded object is {head.size} bytes, the limit is {limit} MB")
        if head.content_type and not head.content_type.startswith(("image/", "binary/", "application/octet")):
            return UnsupportedObject(f"content type {head.content_type!r} is not an image")
        if image_format(head.first_bytes) is None:
            return UnsupportedObject(
                "the uploaded object is not a JPEG, PNG, BMP, WebP, HEIC/HEIF, AVIF or TIFF image"
            )
        return None

    def _call_vendor(
        self,
        source: SourceObject,
        request_id: str,
        options: PhotoOptions,
        deadline: float,
        attempt: int,
        prepared: Prepared,
        *,
        retried: bool = False,
        delivery: Delivery | None = None,
    ) -> MakeResult:
        read_timeout = (
            self._settings.vendor_beauty_read_timeout
            if options.beauty
            else self._settings.vendor_read_timeout
        )
        kept = self._kept_answer(source) if retried else None
        try:
            made = kept or self._vendor.make_photo(
                lambda seconds: self._storage.presign_get(prepared.key, int(seconds), prepared.version_id),
                options,
                read_timeout=read_timeout,
                deadline=deadline,
            )
        except VendorError as exc:
            if exc.transient:
                self._give_back(source, request_id, exc, attempt)
                raise
            if needs_operator(exc):
                self._park(source, request_id, exc, attempt, delivery or Delivery())
                raise  # waited long enough: the message goes on to the dead-letter queue
            return self._fail(source, request_id, exc)
        colors = options.color_names()
        if len(colors) != len(made.names):  # no colours asked: the vendor made its default ones
            colors = (
                ["default"] if len(made.names) == 1 else [f"default{i + 1}" for i in range(len(made.names))]
            )
        compliance = self._compliance(made, colors, options)
        confirmed, written = self._record_made(
            source, request_id, made, colors, prepared.note, kept, compliance
        )
        if not confirmed:
            return MakeResult(source.key, Outcome.STALE, "a newer version took over the record")
        count("PhotosMade")  # only here: the one attempt whose READY write is confirmed
        logger.info("photo made", extra={"colors": colors, "sheet_count": made.sheet_count})
        return MakeResult(source.key, Outcome.MADE, record=written)

    def _compliance(
        self, made: MadePhoto, colors: list[str], options: PhotoOptions
    ) -> dict[str, dict[str, Any]] | None:
        """Each preview measured against its spec, before READY: the status answer and the finals
        path only read the report (idphoto.compliance). None when the check is off."""
        if self._check_previews is None:
            return None
        reports = self._check_previews(made.previews, colors, options)
        failed = {
            c: r.get("failed") or r.get("error") for c, r in reports.items() if r.get("passed") is False
        }
        if failed:
            count("PreviewsNoncompliant", len(failed))
            logger.info("previews failed the compliance check", extra={"failed": failed})
        return reports

    def _keep_answer(self, source: SourceObject, made: MadePhoto) -> None:
        """Keep the vendor's answer outside DynamoDB when the result write failed, so that the retry
        finishes the record without a second (slow) make call. Only then: on the way that works it
        would cost a PutObject per photo. Best effort: without it the retry asks the vendor again,
        which is free."""
        try:
            self._storage.keep_answer(source.key, source.version_tag, asdict(made))
        except DataAccessError as exc:
            logger.warning("could not keep the vendor's answer", extra={"error": exc.message})

    def _kept_answer(self, source: SourceObject) -> MadePhoto | None:
        """An earlier attempt's answer, while its preview URLs still work (the vendor's lifetime)."""
        data = self._storage.kept_answer(source.key, source.version_tag)
        try:
            made = MadePhoto(**data) if data else None
        except TypeError:
            return None
        expires = previews_expiry(made.previews) if made else None
        if made is None or (expires is not None and expires < self._records.now() + ANSWER_MARGIN_SECONDS):
            return None
        count("VendorAnswersReused")
        logger.info("the vendor's answer of an earlier attempt finishes the record")
        return made

    def _record_made(
        self,
        source: SourceObject,
        request_id: str,
        made: MadePhoto,
        colors: list[str],
        note: str | None,
        kept: MadePhoto | None,
        compliance: dict[str, dict[str, Any]] | None = None,
    ) -> tuple[bool, PhotoRecord | None]:
        """The READY write, with its outcome made certain: an error or a failed condition may hide a
        write DynamoDB applied (the SDK retries an applied write, whose condition then fails).
        Returns whether it is confirmed, and the record as written when DynamoDB answered it."""
        try:
            written = self._records.mark_ready(
                source, request_id, made, colors, prepared=note, compliance=compliance
            )
            if written is not None:
                return True, written
        except DataAccessError:
            if kept is None:
                self._keep_answer(source, made)
            if self._records.made_by(source, request_id, made.names):  # raises while DynamoDB is down
                return True, None
            raise
        return self._records.made_by(source, request_id, made.names), None

    def _give_back(self, source: SourceObject, request_id: str, error: VendorError, attempt: int) -> None:
        """A transient failure: the platform retries; on its last attempt the record says why it gave up.

        The event itself then lands in the on-failure queue, from where it can be replayed: the
        record stays claimable (see ``records.RETRIES_EXHAUSTED``).
        """
        message = (
            f"gave up after {attempt} attempts: {error.message};"
            " the upload is in the upload dead-letter queue: redrive it (SQS DLQ redrive) once the cause is fixed"
        )
        self._hand_on_or_park(source, request_id, error, attempt, RETRIES_EXHAUSTED, message)

    def _give_back_quietly(
        self, source: SourceObject, request_id: str, error: Exception, attempt: int
    ) -> None:
        reason = VendorUnavailable(f"an internal error interrupted the attempt ({type(error).__name__})")
        try:
            self._give_back(source, request_id, reason, attempt)
        except Exception:  # the original error is the one to raise
            logger.warning("could not hand the claim back", extra={"error": type(error).__name__})

    def _park(
        self, source: SourceObject, request_id: str, error: VendorError, attempt: int, delivery: Delivery
    ) -> None:
        """The gateway refused our account: every upload fails alike until someone acts, so raise the
        alarm on each refusal and let the upload wait in its queue (:class:`UploadWaits`, the record
        says ``waiting``), to be made once the vendor accepts again. Only after the operator's limit
        (``refusal_wait_seconds``) the photo is recorded FAILED, restartable (``VENDOR_ACCOUNT``), and
        its message goes on to the dead-letter queue; a redrive after the fix makes it."""
        count("VendorAccountRefusals")  # watched by the template's VendorAccountAlarm
        logger.error("the vendor's gateway refused our account", extra={"error": error.message})
        now = self._records.now()
        queued_at = delivery.queued_at or now
        delay = (
            None
            if attempt >= self._settings.make_attempts
            else refusal_delay(attempt, now - queued_at, self._settings)
        )
        reason = f"the vendor's gateway refused our account (AppCode, quota or arrears): {error.message}"
        if delay is not None:
            self._records.wait(
                source, request_id, reason=reason, code=VENDOR_ACCOUNT, since=queued_at, retry_at=now + delay
            )
            raise UploadWaits(reason, delay) from error
        message = (
            f"{reason}; waited {(now - queued_at) // 60} min, the upload is in the upload dead-letter"
            " queue: fix the account, then redrive it (SQS DLQ redrive)"
        )
        self._records.mark_failed(source, request_id, VENDOR_ACCOUNT, message, error.vendor_code)
        count_by("PhotosFailed", "code", VENDOR_ACCOUNT)

    def _hand_on_or_park(
        self, source: SourceObject, request_id: str, error: VendorError, attempt: int, code: str, message: str
    ) -> None:
        """Release the claim so the platform's retry takes over at once; on the last attempt, record
        the photo FAILED under a restartable ``code`` (the event goes to the failed-events queue)."""
        if attempt < self._settings.make_attempts:
            self._records.release(source, request_id, error.message)
            return
        self._records.mark_failed(source, request_id, code, message, error.vendor_code)
        count_by("PhotosFailed", "code", code)

    def _fail(self, source: SourceObject, request_id: str, error: IdPhotoError) -> MakeResult:
        vendor_code = error.vendor_code if isinstance(error, VendorError) else None
        written = self._records.mark_failed(source, request_id, error.code, error.message, vendor_code)
        count_by("PhotosFailed", "code", str(vendor_code) if vendor_code else error.code)
        logger.warning(
            "photo failed", extra={"code": error.code, "error": error.message, "vendor_code": vendor_code}
        )
        return MakeResult(source.key, Outcome.FAILED, error.message, record=written)
