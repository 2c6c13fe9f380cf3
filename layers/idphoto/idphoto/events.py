"""State changes of a photo as EventBridge events: "Photo Ready", "Photo Failed", "Finals Kept".

Events are built from the photo record (never from the vendor's answer), so they carry no image data
and no signed URL: only names, keys and the owner, for rules to route on. Each ``detail`` holds its
``schema_version`` (the schemas are in ``docs/events/``) and an ``event_id`` that is the same every
time the same state change is announced: EventBridge delivers at least once and we may announce a
change more than once (a retried invocation, finals handed out again), so consumers deduplicate on it.

Publishing never changes the photo's work: it runs after the record is written. When EventBridge
keeps refusing an entry, :class:`EventsUndelivered` is raised *after* the work is safe, so the platform
retries the invocation, which finds the work done (a duplicate) and announces the record again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from idphoto.compliance import failed_descriptions, failing
from idphoto.observability import count, logger
from idphoto.options import wanted_colors
from idphoto.records import RETRIES_EXHAUSTED, PhotoRecord, Status
from idphoto.source import version_tag

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

SOURCE: Final = "idphoto"
SCHEMA_VERSION: Final = "1"
PHOTO_READY: Final = "Photo Ready"
PHOTO_FAILED: Final = "Photo Failed"
FINALS_KEPT: Final = "Finals Kept"
DETAIL_TYPES: Final = (PHOTO_READY, PHOTO_FAILED, FINALS_KEPT)
# PutEvents takes at most 10 entries per call (EventBridge quotas).
MAX_ENTRIES: Final = 10
# Our own retries of entries EventBridge refused, on top of botocore's retries of the whole call.
PUBLISH_ATTEMPTS: Final = 4
BACKOFF_SECONDS: Final = 0.2


class EventsUndelivered(Exception):
    """EventBridge refused entries on every attempt; the work they announce is already recorded.

    Not an ``IdPhotoError``: it is our fault, not the caller's (the API answers 500), and it is
    worth retrying, which announces the recorded state again.
    """


@dataclass(frozen=True)
class PhotoEvent:
    detail_type: str
    detail: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.detail["event_id"])


def event_id(detail_type: str, record: PhotoRecord, discriminator: str = "") -> str:
    """Deterministic: one state change of one photo version has one id, however often announced."""
    text = "\n".join((detail_type, record.key, record.sequencer, discriminator))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _common(detail_type: str, record: PhotoRecord, discriminator: str = "") -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id(detail_type, record, discriminator),
        "bucket": record.bucket,
        "key": record.key,
        "version_id": record.version_id,
        "sequencer": record.sequencer,
        "owner": record.owner,
    }


def outcome_event(record: PhotoRecord) -> PhotoEvent | None:
    """The event of a finished make (READY or FAILED), or None while the photo is being made."""
    if record.status is Status.READY:
        detail = _common(PHOTO_READY, record) | {
            "status": record.status.value,
            "colors": list(record.colors),
            "sheet_count": record.sheet_count,
            "options": dict(record.options),
            "made_at": record.updated_at,
            # What the template's auto-finals rule matches on, so no function runs for the photos
            # that want none; unknown (an older record): true, and the function decides.
            # Colours whose preview failed the compliance check never count: automatic finals do not
            # pay for them, and ``compliance`` says why.
            "auto_finals": record.auto_finals is None
            or bool(payable(wanted_colors(record.auto_finals, record.colors)[0], record)),
        }
        if record.compliance:
            detail["compliance"] = {
                color: {"passed": report.get("passed"), "failed": failed_descriptions(report)}
                for color, report in record.compliance.items()
            }
        return PhotoEvent(PHOTO_READY, detail)
    if record.status is Status.FAILED:
        code = record.error_code or "ERROR"
        detail = _common(PHOTO_FAILED, record, code) | {
            "status": record.status.value,
            "error_code": code,
            "error_message": record.error_message or "",
            "vendor_code": record.vendor_code,
            # Only a failure that says nothing about the photo (the vendor was out) can end otherwise
            # when the parked upload event is replayed; the others are permanent for this upload.
            "replayable": code == RETRIES_EXHAUSTED,
            "failed_at": record.updated_at,
        }
        return PhotoEvent(PHOTO_FAILED, detail)
    return None


def payable(colors: Sequence[str], record: PhotoRecord) -> list[str]:
    """The colours whose preview did not fail its compliance check (idphoto.compliance)."""
    return [c for c in colors if not failing(record.compliance.get(c))]


def finals_event(
    record: PhotoRecord, color: str, photo_key: str, sheet_key: str, billed_at: int
) -> PhotoEvent:
    detail = _common(FINALS_KEPT, record, color) | {
        "color": color,
        "photo_key": photo_key,
        "sheet_key": sheet_key,
        "billed_at": billed_at,
    }
    return PhotoEvent(FINALS_KEPT, detail)


class EventPublisher:
    """PutEvents to one bus: refused entries are retried with backoff, then reported and raised."""

    def __init__(
        self,
        client: EventBridgeClient,
        bus_name: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._bus = bus_name
        self._sleep = sleep

    def publish(self, events: Sequence[PhotoEvent]) -> None:
        for start in range(0, len(events), MAX_ENTRIES):
            self._publish_batch(list(events[start : start + MAX_ENTRIES]))

    def _publish_batch(self, pending: list[PhotoEvent]) -> None:
        problem = ""
        for attempt in range(PUBLISH_ATTEMPTS):
            if attempt:
                self._sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
            try:
                answer = self._client.put_events(Entries=[self._entry(e) for e in pending])
            except (ClientError, BotoCoreError) as exc:
                problem = type(exc).__name__
                continue
            # A partial failure: the answer's entries line up with the request's, refused ones carry
            # an ErrorCode (PutEvents API reference, "PutEventsResultEntry").
            refused = [e for e, r in zip(pending, answer["Entries"], strict=False) if r.get("ErrorCode")]
            problem = ", ".join(
                sorted({str(r.get("ErrorCode")) for r in answer["Entries"] if r.get("ErrorCode")})
            )
            count("EventsPublished", len(pending) - len(refused))
            if not refused:
                return
            pending = refused
        count("EventsUndelivered", len(pending))
        logger.error(
            "events not delivered to EventBridge",
            extra={
                "bus": self._bus,
                "event_ids": [e.event_id for e in pending],
                "detail_types": sorted({e.detail_type for e in pending}),
                "problem": problem,
            },
        )
        raise EventsUndelivered(f"{len(pending)} event(s) refused by EventBridge: {problem}")

    def _entry(self, event: PhotoEvent) -> PutEventsRequestEntryTypeDef:
        return {
            "Source": SOURCE,
            "DetailType": event.detail_type,
            "Detail": json.dumps(event.detail, separators=(",", ":"), sort_keys=True),
            "EventBusName": self._bus,
        }


@dataclass
class Announcement:
    """What one make attempt wrote, when it knows: the record to announce without reading it back."""

    written: PhotoRecord | None = None


class RecordReader(Protocol):
    def get(self, key: str) -> PhotoRecord | None: ...


# PhotoStorage.final_keys: (upload key, version tag, colour) -> (photo key, sheet key)
FinalKeys = Callable[[str, str, str], tuple[str, str]]


class PhotoEvents:
    """The hooks the logic calls; with no publisher (no bus configured) they do nothing at all."""

    def __init__(self, publisher: EventPublisher | None, records: RecordReader | None) -> None:
        self._publisher = publisher
        self._records = records

    @property
    def enabled(self) -> bool:
        return self._publisher is not None

    @contextmanager
    def announcing(self, key: str) -> Iterator[Announcement]:
        """Around one make attempt: afterwards, announce the record's outcome, if it has one.

        Taken from the record, never from the attempt: the record as the attempt's own write returned
        it (``Announcement.written``), or else read back, so a duplicate delivery (whose attempt did
        nothing) announces again what an earlier attempt may have failed to announce.
        """
        announcement = Announcement()
        try:
            yield announcement
        except Exception:
            # The attempt failed (a transient vendor error): on its last try the record says FAILED.
            try:
                self._announce_outcome(key, raising=False)
            except Exception:  # DynamoDB down too: the attempt's own error is the one to raise
                logger.warning("could not read the outcome back to announce it", extra={"key": key})
            raise
        self._announce_outcome(key, raising=True, written=announcement.written)

    def _announce_outcome(self, key: str, *, raising: bool, written: PhotoRecord | None = None) -> None:
        if self._publisher is None or self._records is None:
            return
        record = written or self._records.get(key)
        event = outcome_event(record) if record is not None else None
        if event is None:
            return
        try:
            self._publisher.publish([event])
        except EventsUndelivered:
            if raising:
                raise

    def finals_kept(
        self, record: PhotoRecord, colors: Sequence[str], billed_at: Sequence[int], final_keys: FinalKeys
    ) -> None:
        """Announced when finals are kept, and again (same ids) while their record says the event
        may not have reached EventBridge (``idphoto.finals``); raises :class:`EventsUndelivered`."""
        if self._publisher is None or not colors:
            return
        events = []
        for color, billed in zip(colors, billed_at, strict=True):
            photo_key, sheet_key = final_keys(record.key, version_tag(record.sequencer), color)
            events.append(finals_event(record, color, photo_key, sheet_key, billed))
        self._publisher.publish(events)


NO_EVENTS: Final = PhotoEvents(None, None)
