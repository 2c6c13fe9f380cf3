"""Status and finals of a photo: the logic behind the get-photo API.

Status is free. Finals cost money at the vendor (``get_pic_3``), so each colour's final is fetched
at most once: claimed in the record, fetched, its answer recorded *before* the download, copied into
our bucket (the vendor's URLs expire) and from then on served from our copy as short-lived URLs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from idphoto.config import Settings
from idphoto.errors import (
    FinalsInProgress,
    PhotoFailed,
    PhotoNotFound,
    PhotoNotReady,
    UnknownColor,
    VendorError,
)
from idphoto.events import NO_EVENTS, PhotoEvents
from idphoto.observability import count, logger
from idphoto.records import FinalState, PhotoRecord, PhotoRecords, Status
from idphoto.source import version_tag
from idphoto.storage import PhotoStorage
from idphoto.vendor import FinalUrls, VendorClient

# How long one request waits for another that is paying for the same final, before answering
# "in progress, retry after".
WAIT_FOR_OTHER_SECONDS = 4.0
POLL_SECONDS = 0.25
FETCH_LEASE_SECONDS = 60
DOWNLOAD_TIMEOUT = 20.0


@dataclass(frozen=True)
class FinalLinks:
    color: str
    photo_url: str
    sheet_url: str
    expires_in: int
    billed_at: int


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
        """The finals of one colour, or of all when ``color`` is None; billed only the first time."""
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
        links = [self._final(record, c, request_id, deadline) for c in colors]
        self._events.finals_kept(record, colors, [k.billed_at for k in links], self._storage.final_keys)
        return links

    def _final(self, record: PhotoRecord, color: str, request_id: str, deadline: float) -> FinalLinks:
        waited_until = self._clock() + WAIT_FOR_OTHER_SECONDS
        while True:
            final = record.finals.get(color)
            state = final.get("state") if final else None
            if final is not None and state == FinalState.KEPT:
                count("FinalsServedFromCopy")
                return self._links(color, final)
            if (
                final is not None
                and state == FinalState.BILLED
                and final["urls_expire_at"] > self._records.now()
            ):
                urls = FinalUrls(final["photo_url"], final["sheet_url"])
                return self._keep(record, color, urls, final["billed_at"])
            if self._records.claim_final(record, color, request_id, FETCH_LEASE_SECONDS):
                return self._fetch(record, color, request_id, deadline)
            # Another request holds the claim: wait a little for its copy, then say "retry".
            if self._clock() >= waited_until:
                raise FinalsInProgress(
                    f"the {color!r} final of {record.key!r} is being fetched by another request",
                    retry_after=2,
                )
            self._sleep(POLL_SECONDS)
            record = self._records.get(record.key) or record

    def _fetch(self, record: PhotoRecord, color: str, request_id: str, deadline: float) -> FinalLinks:
        name = record.names[record.colors.index(color)]
        try:
            urls = self._vendor.get_final(
                name, read_timeout=self._settings.vendor_read_timeout, deadline=deadline
            )
        except VendorError:
            self._records.release_final(record, color, request_id)
            raise
        billed_at = self._records.now()
        if not self._records.record_billed(record, color, request_id, urls):
            # Our lease ran out mid-call and someone else took over: keep anyway, it is paid for.
            logger.warning("final claim lost during the billed call", extra={"color": color})
        return self._keep(record, color, urls, billed_at)

    def _keep(self, record: PhotoRecord, color: str, urls: FinalUrls, billed_at: int) -> FinalLinks:
        photo_key, sheet_key = self._storage.final_keys(record.key, version_tag(record.sequencer), color)
        moved = self._storage.keep(urls.photo_url, photo_key, self._session, DOWNLOAD_TIMEOUT)
        moved += self._storage.keep(urls.sheet_url, sheet_key, self._session, DOWNLOAD_TIMEOUT)
        self._records.record_kept(record, color, photo_key, sheet_key, billed_at)
        logger.info("final kept", extra={"color": color, "bytes": moved})
        return self._links(color, {"photo_key": photo_key, "sheet_key": sheet_key, "billed_at": billed_at})

    def _links(self, color: str, final: dict[str, Any]) -> FinalLinks:
        ttl = self._settings.finals_url_ttl
        return FinalLinks(
            color=color,
            photo_url=self._storage.presign_get(final["photo_key"], ttl),
            sheet_url=self._storage.presign_get(final["sheet_key"], ttl),
            expires_in=ttl,
            billed_at=int(final.get("billed_at", 0)),
        )
