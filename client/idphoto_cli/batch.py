"""``idphoto batch DIR``: a folder of portraits in, photos (and optionally finals) and a CSV report out.

Resumable by construction: each file's upload key is derived from its content (``batch/<stem>-<hash>``),
and a journal in the output folder remembers what was uploaded and which finals are on disk. Run again
after an interruption, a file already uploaded is not uploaded again (its photo is found by its key),
and finals already kept are served from the bucket's copy, never billed twice (the service's pay-once
rule; the CLI only asks for finals a file does not have on disk yet).
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Final, TextIO

from idphoto_cli.api import ApiError, PhotoApi
from idphoto_cli.commands import (
    FINISHED,
    IMAGE_TYPES,
    Output,
    _download,
    _post_finals,
    _status_or_none,
    build_metadata,
    upload,
)
from idphoto_cli.errors import CliError, Exit
from idphoto_cli.target import Target

JOURNAL: Final = ".idphoto-batch.json"
REPORT: Final = "report.csv"
REPORT_FIELDS: Final = ("file", "key", "status", "reason", "output_files", "billed")


@dataclass
class Item:
    file: str
    key: str
    uploaded: bool = False
    status: str = "PENDING"
    reason: str = ""
    outputs: list[str] = field(default_factory=list)
    billed: list[str] = field(default_factory=list)  # colours this batch paid for


def content_key(target: Target, path: Path) -> str:
    """The same file always gets the same key: a re-run finds its upload instead of making another."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return f"{target.upload_prefix}batch/{path.stem}-{digest}{path.suffix.lower()}"


class Bar:
    """One progress line on stderr (redrawn on a terminal, a line per 10% otherwise)."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self._total = max(total, 1)
        self._stream = stream
        self._tty = stream.isatty()
        self._lock = threading.Lock()
        self._last = -1

    def show(self, label: str, done: int) -> None:
        with self._lock:
            share = done / self._total
            if self._tty:
                filled = int(share * 30)
                self._stream.write(f"\r{label:<9} [{'#' * filled}{'.' * (30 - filled)}] {done}/{self._total}")
                if done >= self._total:
                    self._stream.write("\n")
            elif int(share * 10) != self._last:
                self._last = int(share * 10)
                self._stream.write(f"{label} {done}/{self._total}\n")
            self._stream.flush()


class Batch:
    def __init__(
        self,
        target: Target,
        api: PhotoApi,
        out_dir: Path,
        *,
        metadata: dict[str, str],
        finals: bool,
        concurrency: int,
        timeout: float,
        out: Output,
        upload_file: Callable[[Target, Path, str, dict[str, str]], None] = upload,
    ) -> None:
        self._target = target
        self._api = api
        self._out_dir = out_dir
        self._metadata = metadata
        self._finals = finals
        self._concurrency = max(1, concurrency)
        self._timeout = timeout
        self._out = out
        self._upload = upload_file
        self._lock = threading.Lock()
        self.items: dict[str, Item] = {}

    # --- the journal ------------------------------------------------------------------------------

    def _load(self, files: Sequence[Path]) -> None:
        journal = self._out_dir / JOURNAL
        known: dict[str, Any] = json.loads(journal.read_text()) if journal.is_file() else {}
        for path in files:
            key = content_key(self._target, path)
            saved = known.get(str(path))
            self.items[str(path)] = (
                Item(**saved) if saved and saved.get("key") == key else Item(str(path), key)
            )

    def _save(self) -> None:
        with self._lock:
            document = {name: asdict(item) for name, item in self.items.items()}
            temporary = self._out_dir / (JOURNAL + ".tmp")
            temporary.write_text(json.dumps(document, indent=1))
            temporary.replace(self._out_dir / JOURNAL)  # atomic: an interruption leaves the old or the new

    # --- the steps --------------------------------------------------------------------------------

    def run(self, files: Sequence[Path]) -> Exit:
        self._out_dir.mkdir(parents=True, exist_ok=True)
        self._load(files)
        items = list(self.items.values())
        self._each("uploading", items, self._upload_one)
        self._wait(items)
        if self._finals:
            self._each("finals", [i for i in items if i.status == "READY"], self._finals_one)
        self._report(items)
        failed = any(i.status == "FAILED" for i in items)
        unfinished = any(i.status not in ("READY", "FAILED") for i in items)
        return Exit.TIMEOUT if unfinished else Exit.PHOTO_FAILED if failed else Exit.OK

    def _each(self, label: str, items: list[Item], step: Callable[[Item], None]) -> None:
        bar = Bar(len(items), self._out.err)
        done = 0
        bar.show(label, 0)
        with ThreadPoolExecutor(self._concurrency) as pool:
            for _ in pool.map(step, items):
                done += 1
                bar.show(label, done)
                self._save()

    def _upload_one(self, item: Item) -> None:
        if item.uploaded:
            return
        if _status_or_none(self._api, item.key) is None:  # not in the journal, maybe uploaded anyway
            self._upload(self._target, Path(item.file), item.key, self._metadata)
        item.uploaded = True

    def _wait(self, items: list[Item]) -> None:
        pending = [i for i in items if i.status not in FINISHED]
        bar = Bar(len(items), self._out.err)
        deadline = time.monotonic() + self._timeout
        delay = 0.3
        while pending:
            for item in list(pending):
                record = _status_or_none(self._api, item.key)
                if record is None:
                    continue
                item.status = record["status"]
                error = record.get("error") or {}
                item.reason = str(error.get("code", "")) + (
                    f": {error['message']}" if error.get("message") else ""
                )
                if item.status in FINISHED:
                    pending.remove(item)
            bar.show("waiting", len(items) - len(pending))
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
        for item in pending:
            item.reason = item.reason or f"not finished after {self._timeout:.0f} s"
        self._save()

    def _finals_one(self, item: Item) -> None:
        if item.outputs and all(Path(p).is_file() for p in item.outputs):
            return  # on disk from an earlier run
        try:
            record = self._api.status(item.key)
            kept_before = set(record.get("finals_kept") or [])
            answer = _post_finals(self._api, item.key, None, time.monotonic() + self._timeout, self._out)
        except ApiError as exc:  # this photo's finals only: the rest of the batch goes on
            item.reason = f"finals not fetched: {exc}"
            return
        stem = PurePosixPath(item.key).stem
        outputs = []
        try:
            for final in answer["finals"]:
                outputs.append(
                    str(_download(final["photo_url"], self._out_dir / f"{stem}-{final['color']}.jpg"))
                )
                outputs.append(
                    str(_download(final["sheet_url"], self._out_dir / f"{stem}-{final['color']}-sheet.jpg"))
                )
        except CliError as exc:  # kept in the bucket (and paid for): a re-run downloads it, free
            item.reason = f"finals kept but not downloaded: {exc.message}"
            outputs = []  # incomplete: a re-run fetches them again (from our copy)
        item.billed = sorted(
            set(item.billed) | {f["color"] for f in answer["finals"] if f["color"] not in kept_before}
        )
        item.outputs = outputs

    def _report(self, items: list[Item]) -> None:
        with (self._out_dir / REPORT).open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(REPORT_FIELDS)
            for item in items:
                billed = ",".join(item.billed) if item.billed else "no"
                writer.writerow(
                    (item.file, item.key, item.status, item.reason, ";".join(item.outputs), billed)
                )
        self._out.line(f"report: {self._out_dir / REPORT}")
        self._out.document({"report": str(self._out_dir / REPORT), "items": [asdict(i) for i in items]})


def portraits_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise CliError(f"{folder}: no such folder", Exit.USAGE)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_TYPES)


def run_batch(
    target: Target,
    api: PhotoApi,
    folder: Path,
    *,
    spec: str | None,
    background: str | None,
    finals: bool,
    out_dir: Path | None,
    concurrency: int,
    timeout: float,
    out: Output,
) -> Exit:
    files = portraits_in(folder)
    if not files:
        raise CliError(f"{folder}: no portraits ({', '.join(IMAGE_TYPES)})", Exit.USAGE)
    if finals:
        out.note("--finals: each photo's watermark-free finals are billed once per colour (never twice).")
    batch = Batch(
        target,
        api,
        out_dir or folder / "idphoto-out",
        metadata=build_metadata(spec, background, []),
        finals=finals,
        concurrency=concurrency,
        timeout=timeout,
        out=out,
    )
    try:
        return batch.run(files)
    except ApiError as exc:
        raise CliError(f"the API refused: {exc}", Exit.UNAVAILABLE) from exc
    finally:
        sys.stderr.flush()
