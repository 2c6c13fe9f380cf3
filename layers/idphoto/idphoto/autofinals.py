"""Automatic finals (opt-in, and it spends money per photo): once a photo is READY, fetch and keep its
finals through the API's own pay-once path, then write a manifest beside them.

Triggered by the "Photo Ready" event (an EventBridge rule invokes the auto-finals function). Which
finals: the upload's metadata ``finals`` (``auto``/``all``, ``off``/``none``, or colour names
``white,blue``), else the deployment's default (``AutoFinals``: ``off`` unless the operator says so).
Every final goes through :class:`idphoto.finals.PhotoFinals`, so duplicates of the event, Lambda's
retries and concurrent API requests for the same final share its claim and the billed call happens
at most once per final; a final already kept costs nothing. A colour whose preview failed its
compliance check (:mod:`idphoto.compliance`) is never fetched here: there is no one to say "pay anyway";
the "Photo Ready" event's ``compliance`` and the manifest's ``noncompliant`` say why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from idphoto.compliance import failed_descriptions
from idphoto.config import Settings
from idphoto.events import payable
from idphoto.finals import FinalLinks, PhotoFinals
from idphoto.observability import count, logger
from idphoto.options import wanted_colors
from idphoto.records import PhotoRecord, PhotoRecords, Status
from idphoto.source import version_tag
from idphoto.storage import PhotoStorage

MANIFEST_VERSION: Final = "1"


@dataclass(frozen=True)
class AutoResult:
    key: str
    fetched: tuple[str, ...]
    detail: str = ""


class AutoFinals:
    def __init__(
        self, settings: Settings, storage: PhotoStorage, records: PhotoRecords, finals: PhotoFinals
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._records = records
        self._finals = finals

    def on_ready(self, detail: dict[str, Any], *, request_id: str, deadline: float) -> AutoResult:
        key = str(detail["key"])
        record = self._records.get(key)
        if record is None or record.status is not Status.READY or record.sequencer != detail.get("sequencer"):
            return AutoResult(key, (), "not the version this event announced, or not ready")
        colors, unknown = wanted_colors(self._choice(record), record.colors)
        if unknown:
            logger.warning("automatic finals: unknown colours ignored", extra={"unknown": unknown})
        if not colors:
            return AutoResult(key, (), "no automatic finals wanted")
        allowed = payable(colors, record)
        refused = {c: failed_descriptions(record.compliance[c]) for c in colors if c not in allowed}
        if refused:
            count("AutoFinalsNoncompliantSkipped", len(refused))
            logger.warning("automatic finals: failing previews not paid for", extra={"noncompliant": refused})
        colors = allowed
        if not colors:
            return AutoResult(key, (), "every wanted preview failed its compliance check: nothing paid for")
        links = [
            link
            for color in colors
            for link in self._finals.finals(
                key, color, caller=record.owner, request_id=request_id, deadline=deadline
            )
        ]
        self._write_manifest(record, colors, unknown, links, refused)
        count("AutoFinalsPhotos")
        return AutoResult(key, tuple(colors))

    def _choice(self, record: PhotoRecord) -> str:
        """The upload's own wish (its ``finals`` metadata), else the deployment's default, as
        make-photo recorded it when it claimed the photo. A record made before make-photo recorded
        it follows the deployment's default: the function no longer reads uploads at all."""
        return record.auto_finals if record.auto_finals is not None else self._settings.auto_finals

    def _write_manifest(
        self,
        record: PhotoRecord,
        colors: list[str],
        unknown: list[str],
        links: list[FinalLinks],
        refused: dict[str, list[str]],
    ) -> None:
        tag = version_tag(record.sequencer)
        files = []
        for link in links:
            photo_key, sheet_key = self._storage.final_keys(record.key, tag, link.color)
            files.append(
                {
                    "color": link.color,
                    "photo_key": photo_key,
                    "sheet_key": sheet_key,
                    "billed_at": link.billed_at,
                }
            )
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "key": record.key,
            "version_id": record.version_id,
            "sequencer": record.sequencer,
            "owner": record.owner,
            "spec": record.options.get("spec_id"),
            "options": record.options,
            "files": files,
            "checks": {
                "colors_wanted": colors,
                "colors_kept": [f["color"] for f in files],
                "unknown_colors": unknown,
                # Wanted, but its preview failed the compliance check: not paid for (why, per colour).
                "noncompliant": refused,
                "complete": sorted(colors) == sorted(str(f["color"]) for f in files),
            },
            "billed_at": max((link.billed_at for link in links), default=0),
        }
        self._storage.put_json(self._storage.manifest_key(record.key, tag), manifest)
