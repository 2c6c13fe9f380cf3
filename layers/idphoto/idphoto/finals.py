"""Status and finals of a photo: the logic behind the get-photo API.

Status is free. Finals cost money at the vendor (``get_pic_3``), so each colour's final is fetched
at most once: claimed in the record, fetched, its answer recorded *before* the download, copied into
our bucket (the vendor's URLs expire) and from then on served from our copy as short-lived URLs.

The bucket is the last word on what is paid for: the finals keys are deterministic, so before any
billed call (and when the record says "billed, not copied") the claim holder looks there first, and a
final found there is served and its record repaired, whatever a failed write lost. A billed call that
got no usable answer may have been charged: its final is UNCERTAIN, said so, and fetched again only for
a request that accepts paying again (``retry_uncertain``).

All colours of a photo are fetched concurrently and every step is bounded by the request's deadline
(API Gateway gives up after 29 s): what is not done in time is answered as *pending*, to retry.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import requests

from idphoto.checks import Asked, Inspection
from idphoto.compliance import failed_descriptions, failing
from idphoto.config import Settings
from idphoto.errors import (
    AwsUnavailable,
    FinalsInProgress,
    FinalUncertain,
    GatewayError,
    IdPhotoError,
    PhotoFailed,
    PhotoNotFound,
    PhotoNotReady,
    PreviewNoncompliant,
    UnknownColor,
    VendorError,
    VendorRejected,
)
from idphoto.events import NO_EVENTS, EventsUndelivered, PhotoEvents
from idphoto.observability import count, logger
from idphoto.records import FinalState, PhotoRecord, PhotoRecords, Status
from idphoto.source import version_tag
from idphoto.storage import PhotoStorage
from idphoto.vendor import FinalUrls, VendorClient

# How long one request waits for another that is paying for the same final, before answering
# "in progress, retry after".
WAIT_FOR_OTHER_SECONDS = 4.0
POLL_SECONDS = 0.25
# A claim on a final outlives the request that holds it: its lease runs to the request's own deadline
# (the Lambda's remaining time less the handler's safety seconds) plus this margin, which covers those
# safety seconds and the answer. auto-finals holds claims for up to ~295 s, get-photo for ~23 s: one
# constant would rob the one or block the other. A live holder is never robbed, so never paid twice.
FETCH_LEASE_MARGIN_SECONDS = 30
DOWNLOAD_TIMEOUT = 20.0
# A billed call is started only with this much time left for it and the two downloads: a call cut
# short by the deadline may be charged without an answer (UNCERTAIN), so it is better not begun.
MIN_BILLED_SECONDS = 8.0
# Below this, a paid-for final's copy is left for the next request (the record holds the vendor's URLs).
MIN_DOWNLOAD_SECONDS = 1.5
# After the deadline, how long the answer waits for a colour whose every step is already bounded by it.
GRACE_SECONDS = 0.5
RETRY_SOON = 2  # seconds, Retry-After of a final left for the next request


@dataclass(frozen=True)
class FinalLinks:
    color: str
    photo_url: str
    sheet_url: str
    expires_in: int
    billed_at: int
    checks: tuple[dict[str, Any], ...] = ()
    # Whether "Finals Kept" is known to have reached EventBridge (the record's ``announced``).
    announced: bool = field(default=True, compare=False)


@dataclass(frozen=True)
class PendingFinal:
    """A colour not served by this request, and why: ``error.retry_after`` when retrying helps soon."""

    color: str
    error: IdPhotoError

    @property
    def retry_after(self) -> int | None:
        if isinstance(self.error, FinalsInProgress):
            return self.error.retry_after
        if isinstance(self.error, VendorError) and self.error.transient:
            return VENDOR_RETRY_AFTER
        if isinstance(self.error, AwsUnavailable):
            return RETRY_SOON
        return None  # uncertain or refused: retrying as is would not help


VENDOR_RETRY_AFTER = 30


@dataclass(frozen=True)
class FinalsOutcome:
    """What one request served, and what is left for another (each colour on its own)."""

    done: list[FinalLinks]
    pending: list[PendingFinal]

    @property
    def retry_after(self) -> int | None:
        waits = [p.retry_after for p in self.pending if p.retry_after is not None]
        return max(waits) if waits else None


@dataclass(frozen=True)
class _Request:
    request_id: str
    deadline: float
    retry_uncertain: bool
    allow_noncompliant: bool = False


def may_have_billed(exc: VendorError) -> bool:
    """True when a failed billed call may have been charged all the same.

    The vendor charges for delivering a watermark-free photo. An answer that delivered none (a vendor
    code, an HTTP error status, the gateway's own refusal) was not charged; no answer at all (read
    timeout, connection dropped mid-answer), an unreadable HTTP 200, or the gateway's word that its
    backend failed after getting the call may have been.
    """
    if isinstance(exc, GatewayError):
        return exc.reached_vendor
    if isinstance(exc, VendorRejected) or not exc.reached_vendor or exc.vendor_code is not None:
        return False
    return exc.http_status is None or exc.http_status == 200


class PhotoFinals:
    def __init__(
        self,
        settings: Settings,
        storage: PhotoStorage,
        records: PhotoRecords,
        vendor: VendorClient,
        session: requests.Session,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        events: PhotoEvents = NO_EVENTS,
    ) -> None:
        self._events = events
        self._settings = settings
        self._storage = storage
        self._records = records
        self._vendor = vendor
        self._session = session
        self._sleep = sleep
        self._clock = clock

    def status(self, key: str, caller: str | None) -> PhotoRecord:
        """The record, if ``caller`` may see it; a photo of someone else is as good as absent."""
        record = self._records.get(key)
        if record is None or not self._visible(record, caller):
            raise PhotoNotFound(f"no photo was made from {key!r}")
        return record

    def _visible(self, record: PhotoRecord, caller: str | None) -> bool:
        if self._settings.photo_access == "any":
            return True
        return record.owner is not None and record.owner == caller

    def finals(
        self, key: str, color: str | None, *, caller: str | None, request_id: str, deadline: float
    ) -> list[FinalLinks]:
        """All the finals asked for, or the first colour's error (callers that want all or nothing)."""
        outcome = self.fetch(key, color, caller=caller, request_id=request_id, deadline=deadline)
        if outcome.pending:
            raise outcome.pending[0].error
        return outcome.done

    def fetch(
        self,
        key: str,
        color: str | None,
        *,
        caller: str | None,
        request_id: str,
        deadline: float,
        retry_uncertain: bool = False,
        allow_noncompliant: bool = False,
    ) -> FinalsOutcome:
        """The finals of one colour, or of all when ``color`` is None; billed only the first time.

        Colours are fetched concurrently, each bounded by ``deadline`` (monotonic): what is not done
        by then is *pending*, with the reason, for the next request. Nothing here pays twice: each
        colour's billed call is claimed in the record, and a final already in the bucket is never
        bought again, whatever the record says. A colour whose preview failed its compliance check is
        not paid for (``PreviewNoncompliant``) unless ``allow_noncompliant``; one already kept is served.
        """
        record = self.status(key, caller)
        if record.status is Status.PROCESSING:
            raise PhotoNotReady(f"the photo {key!r} is still being made")
        if record.status is Status.FAILED:
            raise PhotoFailed(f"the photo {key!r} failed: {record.error_message}")
        if color is not None and color not in record.colors:
            raise UnknownColor(
                f"the photo {key!r} has no colour {color!r}; it has {', '.join(record.colors)}"
            )
        colors = [color] if color is not None else record.colors
        request = _Request(request_id, deadline, retry_uncertain, allow_noncompliant)
        if len(colors) == 1:
            return self._announced(
                record, self._gather(colors, {colors[0]: self._attempt(record, colors[0], request)})
            )
        # One thread per colour (at most 6): the billed calls and downloads of different colours are
        # independent. The boto3 clients are thread-safe; the requests.Session is shared for its
        # connection pool (urllib3's pool is thread-safe and sized for this in services.http_session).
        pool = ThreadPoolExecutor(len(colors), thread_name_prefix="final")
        futures = {c: pool.submit(self._attempt, record, c, request) for c in colors}
        budget = min(max(0.0, deadline - self._clock()), 900.0)  # no Lambda runs longer than 15 min
        wait(futures.values(), timeout=budget + GRACE_SECONDS)
        pool.shutdown(wait=False)  # a straggler finishes on its own; its claim keeps others off
        results: dict[str, FinalLinks | IdPhotoError] = {}
        for c, future in futures.items():
            if future.done():
                results[c] = future.result()
            else:
                results[c] = FinalsInProgress(
                    f"the {c!r} final is still being fetched", retry_after=RETRY_SOON
                )
        return self._announced(record, self._gather(colors, results))

    def lease_seconds(self, deadline: float) -> int:
        """How long a claim taken now, by a request that must be done by ``deadline``, stays its own."""
        return math.ceil(max(0.0, deadline - self._clock())) + FETCH_LEASE_MARGIN_SECONDS

    def _announced(self, record: PhotoRecord, outcome: FinalsOutcome) -> FinalsOutcome:
        """Announce again what a kept final's own announcement may have missed: the finals whose
        record says ``announced: false`` (EventBridge refused it, or the record was repaired from the
        bucket). The others were announced when they were kept: a kept answer costs no PutEvents.
        Announced again with the same event ids, so consumers see a duplicate at worst."""
        unannounced = [link for link in outcome.done if not link.announced]
        if unannounced and self._events.enabled:
            self._events.finals_kept(
                record,
                [link.color for link in unannounced],
                [link.billed_at for link in unannounced],
                self._storage.final_keys,
            )
            for link in unannounced:
                self._mark_announced(record, link.color)
        return outcome

    def _announce_kept(self, record: PhotoRecord, color: str, billed_at: int) -> EventsUndelivered | None:
        """ "Finals Kept" for one final just put in the bucket, or why EventBridge refused it: the
        record then says ``announced: false``, the caller raises it after recording (so this request,
        or Lambda's retry of automatic finals, asks again) and the next answer announces it again."""
        try:
            self._events.finals_kept(record, [color], [billed_at], self._storage.final_keys)
        except EventsUndelivered as exc:
            return exc
        return None

    def _mark_announced(self, record: PhotoRecord, color: str) -> None:
        try:
            self._records.mark_final_announced(record, color)
        except Exception:  # announced again by the next answer: a duplicate event, nothing lost
            logger.exception("cannot record that the final was announced", extra={"color": color})

    @staticmethod
    def _gather(colors: list[str], results: dict[str, FinalLinks | IdPhotoError]) -> FinalsOutcome:
        done = [r for c in colors if isinstance(r := results[c], FinalLinks)]
        pending = [PendingFinal(c, r) for c in colors if not isinstance(r := results[c], FinalLinks)]
        return FinalsOutcome(done, pending)

    def _attempt(self, record: PhotoRecord, color: str, request: _Request) -> FinalLinks | IdPhotoError:
        """One colour, its failure as a value (the answer reports each colour on its own)."""
        try:
            return self._final(record, color, request)
        except IdPhotoError as exc:
            return exc
        except Exception as exc:  # an AWS call failed beyond the SDK's retries
            logger.exception("final failed", extra={"color": color})
            return AwsUnavailable(f"the {color!r} final could not be served ({type(exc).__name__}), retry")

    def _final(self, record: PhotoRecord, color: str, request: _Request) -> FinalLinks:
        waited_until = min(self._clock() + WAIT_FOR_OTHER_SECONDS, request.deadline)
        while True:
            final = record.finals.get(color)
            state = final.get("state") if final else None
            if final is not None and state == FinalState.KEPT:
                count("FinalsServedFromCopy")
                return self._links(color, final)
            if final is not None and state == FinalState.UNCERTAIN and not request.retry_uncertain:
                raise FinalUncertain(_uncertain_message(color, str(final.get("reason", ""))))
            if (
                final is not None
                and state == FinalState.BILLED
                and final["urls_expire_at"] > self._records.now()
            ):
                repaired = self._from_bucket(record, color)
                if repaired is not None:
                    return repaired
                urls = FinalUrls(final["photo_url"], final["sheet_url"])
                return self._keep(record, color, urls, final["billed_at"], request.deadline)
            if self._refused(record, color, request):
                # Paid for earlier with the override, and only the record lost it: served, not refused.
                repaired = self._from_bucket(record, color)
                if repaired is not None:
                    return repaired
                raise _noncompliant(color, record.compliance[color])
            if self._clock() + MIN_BILLED_SECONDS > request.deadline:
                raise FinalsInProgress(
                    f"no time left in this request for the {color!r} final", retry_after=RETRY_SOON
                )
            if self._records.claim_final(
                record,
                color,
                request.request_id,
                self.lease_seconds(request.deadline),
                take_uncertain=request.retry_uncertain,
            ):
                return self._fetch(record, color, request)
            # Another request holds the claim: wait a little for its copy, then say "retry".
            if self._clock() >= waited_until:
                raise FinalsInProgress(
                    f"the {color!r} final of {record.key!r} is being fetched by another request",
                    retry_after=RETRY_SOON,
                )
            self._sleep(POLL_SECONDS)
            record = self._records.get(record.key) or record

    @staticmethod
    def _refused(record: PhotoRecord, color: str, request: _Request) -> bool:
        """Money follows the check: a failing preview's final is bought only when asked explicitly."""
        if not failing(record.compliance.get(color)):
            return False
        if request.allow_noncompliant:
            count("NoncompliantFinalsAllowed")
            logger.warning("paying for a non-compliant preview, as asked", extra={"color": color})
            return False
        count("NoncompliantFinalsRefused")
        return True

    def _from_bucket(self, record: PhotoRecord, color: str) -> FinalLinks | None:
        """The final, when both its images are already in the bucket: the record is repaired from it."""
        photo_key, sheet_key = self._final_keys(record, color)
        billed_at = self._storage.kept(photo_key, sheet_key)
        if billed_at is None:
            return None
        count("FinalsRepairedFromBucket")
        logger.warning("final found in the bucket, not in the record: repaired", extra={"color": color})
        self._record_kept(record, color, photo_key, sheet_key, billed_at, repaired=True)
        return self._links(color, {"photo_key": photo_key, "sheet_key": sheet_key, "billed_at": billed_at})

    def _fetch(self, record: PhotoRecord, color: str, request: _Request) -> FinalLinks:
        # Before paying: what the record lost (a failed write after an earlier billed call), the
        # bucket still has under the final's deterministic keys.
        name = record.names[record.colors.index(color)]
        try:
            repaired = self._from_bucket(record, color)
            if repaired is not None:
                return repaired
            urls = self._vendor.get_final(
                name, read_timeout=self._settings.vendor_read_timeout, deadline=request.deadline
            )
        except VendorError as exc:
            if not may_have_billed(exc):
                self._records.release_final(record, color, request.request_id)
                raise
            count("FinalsUncertain")
            logger.error("billed call without an answer: final uncertain", extra={"color": color})
            if not self._records.record_uncertain(record, color, request.request_id, exc.message):
                logger.error("cannot record the uncertain final", extra={"color": color})
            raise FinalUncertain(_uncertain_message(color, exc.message)) from None
        except Exception:
            # Before the request left (the bucket check, reading the AppCode): nothing was billed; give
            # the claim back at once rather than making every request wait for its lease.
            self._records.release_final(record, color, request.request_id)
            raise
        billed_at = self._records.now()
        recorded = self._record_billed(record, color, request.request_id, urls)
        try:
            return self._keep(record, color, urls, billed_at, request.deadline)
        except BaseException:
            if not recorded:  # one more try: without it the paid URLs are lost with this request
                self._record_billed(record, color, request.request_id, urls)
            raise

    def _record_billed(self, record: PhotoRecord, color: str, claim_id: str, urls: FinalUrls) -> bool:
        try:
            if not self._records.record_billed(record, color, claim_id, urls):
                # Our lease ran out mid-call and someone else took over: keep anyway, it is paid for.
                logger.warning("final claim lost during the billed call", extra={"color": color})
            return True
        except Exception:  # paid, but not recorded: the copy in the bucket will be the record
            logger.exception("cannot record the billed call", extra={"color": color})
            return False

    def _final_keys(self, record: PhotoRecord, color: str) -> tuple[str, str]:
        return self._storage.final_keys(record.key, version_tag(record.sequencer), color)

    def _keep(
        self, record: PhotoRecord, color: str, urls: FinalUrls, billed_at: int, deadline: float
    ) -> FinalLinks:
        timeout = min(DOWNLOAD_TIMEOUT, deadline - self._clock())
        if timeout < MIN_DOWNLOAD_SECONDS:
            raise FinalsInProgress(
                f"the {color!r} final is paid for; its copy is left for the next request",
                retry_after=RETRY_SOON,
            )
        photo_key, sheet_key = self._final_keys(record, color)
        checked = Inspection(Asked.of(record.options, color))
        # The two downloads at once: each is bounded by the deadline, and both are paid for already.
        with ThreadPoolExecutor(1, thread_name_prefix="sheet") as other:
            sheet = other.submit(
                self._storage.keep, urls.sheet_url, sheet_key, self._session, timeout, billed_at
            )
            moved = self._storage.keep(
                urls.photo_url, photo_key, self._session, timeout, billed_at, prepare=checked
            )
            moved += sheet.result()
        logger.info("final kept", extra={"color": color, "bytes": moved, "failed_checks": checked.failed})
        self._record_kept(record, color, photo_key, sheet_key, billed_at, checks=checked.results)
        final = {
            "photo_key": photo_key,
            "sheet_key": sheet_key,
            "billed_at": billed_at,
            "checks": checked.results,
        }
        return self._links(color, final)

    def _record_kept(
        self,
        record: PhotoRecord,
        color: str,
        photo_key: str,
        sheet_key: str,
        billed_at: int,
        *,
        checks: list[dict[str, Any]] | None = None,
        repaired: bool = False,
    ) -> None:
        """Both images are in the bucket: announce them, then record the copy and whether the event
        went out. Announced before the record says KEPT: a consumer that asks at once is answered
        from the bucket (``_from_bucket``) until the record catches up. An EventBridge refusal is
        raised only once the copy is recorded."""
        refused = self._announce_kept(record, color, billed_at)
        try:
            self._records.record_kept(
                record,
                color,
                photo_key,
                sheet_key,
                billed_at,
                checks=checks,
                repaired=repaired,
                announced=refused is None,
            )
        except Exception:  # the bucket stays the last word: the next request repairs the record from it
            logger.exception("cannot record the kept final", extra={"color": color, "repaired": repaired})
        if refused is not None:
            raise refused

    def _links(self, color: str, final: dict[str, Any]) -> FinalLinks:
        ttl = self._settings.finals_url_ttl
        return FinalLinks(
            color=color,
            photo_url=self._storage.presign_get(final["photo_key"], ttl),
            sheet_url=self._storage.presign_get(final["sheet_key"], ttl),
            expires_in=ttl,
            billed_at=int(final.get("billed_at", 0)),
            checks=tuple(final.get("checks") or ()),
            announced=final.get("announced") is not False,  # absent: kept before the flag existed
        )


def _noncompliant(color: str, report: dict[str, Any]) -> PreviewNoncompliant:
    return PreviewNoncompliant(
        f"the {color!r} preview fails its compliance check, so its final is not paid for: "
        + "; ".join(failed_descriptions(report))
        + ". POST again with allow_noncompliant=true to pay for it anyway"
    )


def _uncertain_message(color: str, reason: str) -> str:
    return (
        f"the billed call for the {color!r} final got no usable answer ({reason or 'unknown'}): the vendor"
        " may have charged it. It is not retried automatically; POST again with retry_uncertain=1 to"
        " fetch it again, which the vendor may charge a second time"
    )
