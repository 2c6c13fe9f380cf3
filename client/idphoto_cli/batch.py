"""``idphoto batch DIR``: a folder of portraits in, photos (and optionally finals) and a CSV report out.

Resumable by construction: each file's upload key is derived from its content (``batch/<stem>-<hash>``),
and a journal in the output folder remembers what was uploaded and which finals are on disk. Run again
after an interruption, a file already uploaded is not uploaded again (its photo is found by its key),
and finals already kept are served from the bucket's copy, never billed twice (the service's pay-once
rule; the CLI only asks for finals a file does not have on disk yet).

A file of the folder that is not taken (not an image type the pipeline takes, hidden, empty, a folder)
is in the report as SKIPPED with the reason, and counted. ``--finals`` asks before paying, as
``idphoto finals`` does (``--yes`` to confirm without asking), saying the most it can cost; the run ends
with a summary: made, failed by reason, skipped, finals paid, finals already kept.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Final, TextIO

from idphoto.options import parse_metadata
from idphoto_cli.api import ApiError, PhotoApi
from idphoto_cli.commands import (
    FINISHED,
    IMAGE_TYPES,
    Output,
    Uploaded,
    _ask,
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
    colors: list[str] = field(default_factory=list)  # the photo's colours, once READY
    kept: list[str] = field(default_factory=list)  # colours whose finals were kept before this run paid


@dataclass(frozen=True)
class Skipped:
    """A file of the folder the batch does not take, and why."""

    file: str
    reason: str


@dataclass
class Tally:
    """What this run did with the finals (a re-run counts what it did itself)."""

    paid: int = 0  # billed calls this run made
    kept: int = 0  # finals already in the bucket: served free
    declined: bool = False


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
        upload_file: Callable[[Target, Path, str, dict[str, str]], Uploaded | None] = upload,
        approve: Callable[[str], bool] = lambda _text: True,
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
        self._approve = approve
        self._lock = threading.Lock()
        self.items: dict[str, Item] = {}
        self.tally = Tally()

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

    def run(self, files: Sequence[Path], skipped: Sequence[Skipped] = ()) -> Exit:
        self._out_dir.mkdir(parents=True, exist_ok=True)
        self._load(files)
        items = list(self.items.values())
        self._each("uploading", items, self._upload_one)
        self._wait(items)
        if self._finals:
            ready = [i for i in items if i.status == "READY" and not self._on_disk(i)]
            if ready and self._approve(self._cost(ready)):
                self._each("finals", ready, self._finals_one)
            elif ready:
                self.tally.declined = True
        done = items + [Item(s.file, "", status="SKIPPED", reason=s.reason) for s in skipped]
        self._report(done)
        failed = any(i.status == "FAILED" for i in items)
        unfinished = any(i.status not in ("READY", "FAILED") for i in items)
        if self.tally.declined:
            return Exit.USAGE
        return Exit.TIMEOUT if unfinished else Exit.PHOTO_FAILED if failed else Exit.OK

    @staticmethod
    def _on_disk(item: Item) -> bool:
        return bool(item.outputs) and all(Path(p).is_file() for p in item.outputs)

    @staticmethod
    def _cost(ready: list[Item]) -> str:
        """What fetching these photos' finals can cost at most: one billed call per colour not kept."""
        billed = sum(len([c for c in i.colors if c not in i.kept]) for i in ready)
        free = sum(len([c for c in i.colors if c in i.kept]) for i in ready)
        return (
            f"This is the billed step: the finals of {len(ready)} photo(s) cost at most {billed} billed "
            f"call(s), one per colour not fetched before; the vendor bills each once"
            + (f". Kept already, free: {free}" if free else "")
            + "."
        )

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
                item.colors = list(record.get("colors") or [])
                item.kept = list(record.get("finals_kept") or [])
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
        paid = {f["color"] for f in answer["finals"] if f["color"] not in kept_before}
        with self._lock:
            self.tally.paid += len(paid)
            self.tally.kept += len([f for f in answer["finals"] if f["color"] in kept_before])
        item.billed = sorted(set(item.billed) | paid)
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
        summary = self.summary(items)
        for line in summary_lines(summary, finals=self._finals):
            self._out.line(line)
        self._out.line(f"report: {self._out_dir / REPORT}")
        self._out.document(
            {"report": str(self._out_dir / REPORT), "summary": summary, "items": [asdict(i) for i in items]}
        )

    def summary(self, items: list[Item]) -> dict[str, Any]:
        failed = Counter(i.reason.split(":", 1)[0] or "unknown" for i in items if i.status == "FAILED")
        return {
            "made": sum(i.status == "READY" for i in items),
            "failed": sum(failed.values()),
            "failed_by_reason": dict(sorted(failed.items())),
            "skipped": sum(i.status == "SKIPPED" for i in items),
            "unfinished": sum(i.status not in ("READY", "FAILED", "SKIPPED") for i in items),
            "finals_paid": self.tally.paid,
            "finals_already_kept": self.tally.kept,
            "finals_declined": self.tally.declined,
        }


def summary_lines(summary: dict[str, Any], *, finals: bool) -> list[str]:
    reasons = ", ".join(f"{code} {n}" for code, n in summary["failed_by_reason"].items())
    lines = [
        f"made {summary['made']}, failed {summary['failed']}"
        + (f" ({reasons})" if reasons else "")
        + f", skipped {summary['skipped']}"
        + (f", not finished {summary['unfinished']}" if summary["unfinished"] else "")
    ]
    if finals:
        lines.append(
            "finals: not fetched (not confirmed)"
            if summary["finals_declined"]
            else f"finals: paid {summary['finals_paid']} (billed calls), "
            f"already kept {summary['finals_already_kept']} (free)"
        )
    return lines


def portraits_in(folder: Path, out_dir: Path | None = None) -> tuple[list[Path], list[Skipped]]:
    """The portraits of ``folder``, and every other entry with the reason it is not taken (the output
    folder inside it is no input, and is not listed)."""
    if not folder.is_dir():
        raise CliError(f"{folder}: no such folder", Exit.USAGE)
    taken: list[Path] = []
    skipped: list[Skipped] = []
    for path in sorted(folder.iterdir()):
        if out_dir is not None and path.resolve() == out_dir.resolve():
            continue
        reason = _not_taken(path)
        if reason:
            skipped.append(Skipped(str(path), reason))
        else:
            taken.append(path)
    return taken, skipped


def _not_taken(path: Path) -> str:
    if path.is_dir():
        return "a folder: batch takes the files of DIR only, not of its subfolders"
    if path.name.startswith("."):
        return "a hidden file"
    if path.suffix.lower() not in IMAGE_TYPES:
        kind = path.suffix.lower() or "no extension"
        return f"not an image type the pipeline takes ({kind}; it takes {' '.join(IMAGE_TYPES)})"
    if not path.is_file() or path.stat().st_size == 0:
        return "an empty file"
    return ""


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
    yes: bool = False,
    confirm: Callable[[str], bool] | None = None,
) -> Exit:
    out_dir = out_dir or folder / "idphoto-out"
    files, skipped = portraits_in(folder, out_dir)
    for item in skipped:
        out.note(f"skipped {item.file}: {item.reason}")
    if not files:
        raise CliError(f"{folder}: no portraits ({', '.join(IMAGE_TYPES)})", Exit.USAGE)
    metadata = build_metadata(spec, background, [])
    if finals:
        out.note(
            f"--finals: at most {_most_billed(len(files), metadata)} billed call(s): each photo's "
            "watermark-free finals are billed once per colour (never twice); asked before paying."
        )
        if not yes and (confirm is None and not sys.stdin.isatty()):
            raise CliError(
                "refusing to spend money without a confirmation: nothing was uploaded",
                Exit.USAGE,
                "pass --yes to confirm the finals, or leave out --finals",
            )
    batch = Batch(
        target,
        api,
        out_dir,
        metadata=metadata,
        finals=finals,
        concurrency=concurrency,
        timeout=timeout,
        out=out,
        approve=_approver(yes, confirm, out),
    )
    try:
        return batch.run(files, skipped)
    except ApiError as exc:
        raise CliError(f"the API refused: {exc}", Exit.UNAVAILABLE) from exc
    finally:
        sys.stderr.flush()


def _most_billed(photos: int, metadata: dict[str, str]) -> str:
    """The most the finals can cost before any photo is made: photos x colours, when the colours are
    known from the options; each photo's own colours otherwise (counted again before paying)."""
    colors = parse_metadata(metadata).values.get("background")
    if colors:
        return f"{photos * len(colors)} ({photos} photo(s) x {len(colors)} colour(s))"
    return f"one per colour of each of {photos} photo(s)"


def _approver(yes: bool, confirm: Callable[[str], bool] | None, out: Output) -> Callable[[str], bool]:
    def approve(text: str) -> bool:
        out.note(text)
        if yes:
            return True
        if confirm is not None:
            return confirm("Fetch them? [y/N] ")
        return _ask("Fetch them? [y/N] ", out.err)

    return approve
