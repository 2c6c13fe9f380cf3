"""The four commands: ``make``, ``status``, ``finals``, ``specs``. Human output on stdout (or JSON with
``--json``), progress on stderr, failures as :class:`CliError` with their exit code."""

from __future__ import annotations

import difflib
import json
import re
import secrets
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final, TextIO

import requests

from idphoto import specs
from idphoto.options import PARSERS, SPEC_OPTION, parse_metadata
from idphoto_cli import history
from idphoto_cli.api import ApiError, PhotoApi
from idphoto_cli.errors import CliError, Exit
from idphoto_cli.progress import Progress
from idphoto_cli.target import Target

# What make-photo accepts (idphoto.preparing converts HEIC/HEIF/AVIF/TIFF before the vendor sees it;
# others are refused here: the wait would only end in UNSUPPORTED_OBJECT).
IMAGE_TYPES: Final = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".bmp": "image/bmp",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".avif": "image/avif",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}
FINISHED: Final = ("READY", "FAILED")
DOWNLOAD_TIMEOUT: Final = (5.0, 60.0)


@dataclass
class Output:
    """Where results go (text for people, or one JSON document for scripts), and where remarks and
    progress go (``err``: never mixed into the results)."""

    stream: TextIO
    err: TextIO
    as_json: bool = False

    def line(self, text: str = "") -> None:
        if not self.as_json:
            self.stream.write(text + "\n")

    def document(self, data: Any) -> None:
        if self.as_json:
            self.stream.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def note(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()


# --- specs ---------------------------------------------------------------------------------------


def run_specs(name: str | None, out: Output, *, country: str | None = None, kind: str | None = None) -> Exit:
    catalogue = specs.CATALOGUE
    if name is not None:
        spec = catalogue.get(name)
        if spec is None:
            raise CliError(f"no spec named {name!r}", Exit.USAGE, spec_hint(name))
        out.document(spec.to_dict())
        for label, value in _spec_details(spec):
            out.line(f"{label:<12} {value}")
        return Exit.OK
    chosen = [
        s
        for s in catalogue
        if (country is None or s.country == country.strip().upper())
        and (kind is None or s.kind == kind.strip().lower())
    ]
    if not chosen:
        countries = ", ".join(sorted({s.country for s in catalogue}))
        kinds = ", ".join(sorted({s.kind for s in catalogue}))
        raise CliError("no spec matches the filter", Exit.USAGE, f"countries: {countries}; kinds: {kinds}")
    out.document(
        {
            "version": catalogue.version,
            "ids": specs.VENDOR_IDS_SOURCE,
            "specs": [s.to_dict() for s in chosen],
        }
    )
    rows = [("name", "country", "kind", "size", "pixels", "dpi", "file size", "background", "framing")]
    rows += [
        (
            s.name,
            s.country,
            s.kind,
            s.size_mm,
            s.size_px,
            str(s.dpi),
            s.file_size or "-",
            "/".join(s.backgrounds or (s.background,)),
            s.geometry() or specs.NOT_STATED,
        )
        for s in chosen
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.line("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    out.line()
    out.line(
        f"{len(chosen)} of {len(catalogue)} specs; catalogue {catalogue.version}; {specs.VENDOR_IDS_SOURCE}."
    )
    out.line(
        "framing: head = chin to crown, eyes = eye line above the bottom edge, top = crown below the top edge."
    )
    out.line("`idphoto specs NAME` shows a spec's sources; `idphoto make --spec NAME` uses one.")
    return Exit.OK


def spec_hint(name: str) -> str:
    """The closest spec names to a mistyped one (not all 44)."""
    catalogue = specs.CATALOGUE
    names = [n for s in catalogue for n in (s.name, *s.aliases)]
    close = difflib.get_close_matches(specs.normalise(name), names, n=3, cutoff=0.5)
    found = f"did you mean {' or '.join(close)}? " if close else ""
    return found + "`idphoto specs` lists them all (--country CC, --kind KIND to narrow)"


def _spec_details(spec: specs.PhotoSpec) -> list[tuple[str, str]]:
    ratios = (
        ", ".join(f"{r:g}" for r in spec.ratios) if spec.ratios else "none (the vendor's default framing)"
    )
    return [
        ("name", spec.name + (f" (also {', '.join(spec.aliases)})" if spec.aliases else "")),
        ("title", spec.title),
        ("country", f"{spec.country}, {spec.kind}"),
        ("size", f"{spec.size_mm}, {spec.size_px} at {spec.dpi} dpi"),
        ("file size", spec.file_size or "no limit set by the authority"),
        ("digital", spec.digital),
        (
            "background",
            f"{spec.background} (when --background is not given); allowed: "
            + ", ".join(spec.backgrounds or (spec.background,)),
        ),
        ("framing", spec.geometry() or specs.NOT_STATED),
        ("ratios", ratios),
        ("spec id", f"{spec.spec_id} ({specs.VENDOR_IDS_SOURCE})"),
        ("source", spec.source),
        ("framing src", spec.framing_source),
        ("digital src", spec.digital_source),
    ]


# --- make ----------------------------------------------------------------------------------------


def build_metadata(spec: str | None, background: str | None, options: Sequence[str]) -> dict[str, str]:
    """The upload's metadata, checked here with the service's own parser: a typo fails before upload."""
    metadata: dict[str, str] = {}
    if spec:
        metadata[SPEC_OPTION] = spec
    if background:
        metadata["background"] = background
    for item in options:
        name, sep, value = item.partition("=")
        name = name.strip().lower().replace("_", "-")
        if not sep or not name:
            raise CliError(f"--option {item!r} is not NAME=VALUE", Exit.USAGE)
        if name in metadata:
            raise CliError(f"option {name!r} is given twice", Exit.USAGE)
        metadata[name] = value.strip()
    parsed = parse_metadata(metadata)
    if parsed.ignored:
        known = ", ".join([SPEC_OPTION, *sorted(PARSERS)])
        raise CliError(f"unknown option {', '.join(parsed.ignored)}", Exit.USAGE, f"known options: {known}")
    if parsed.problems:
        name = spec or ""
        unknown_spec = bool(name) and specs.CATALOGUE.get(name) is None
        # The service's message lists every spec name; a person wants the few closest.
        problems = [
            f"{SPEC_OPTION}: {name.strip()!r} is not a known spec"
            if p.startswith(f"{SPEC_OPTION}: ") and unknown_spec
            else p
            for p in parsed.problems
        ]
        hint = spec_hint(name) if unknown_spec else ""
        raise CliError("invalid options: " + "; ".join(problems), Exit.USAGE, hint)
    return metadata


def upload_key(target: Target, portrait: Path, key: str | None) -> str:
    """``--key`` as given (under the upload prefix), else the file's name with a random tag, so that
    uploads of ``me.jpg`` by different people or at different times do not replace each other."""
    if key:
        key = key.lstrip("/")
        return key if key.startswith(target.upload_prefix) else target.upload_prefix + key
    return f"{target.upload_prefix}{portrait.stem}-{secrets.token_hex(3)}{portrait.suffix.lower()}"


def check_portraits(portraits: Sequence[str], key: str | None) -> list[Path]:
    if key and len(portraits) > 1:
        raise CliError("--key names one upload: give one portrait with it", Exit.USAGE)
    paths: list[Path] = []
    for name in portraits:
        path = Path(name)
        if path.suffix.lower() not in IMAGE_TYPES:
            raise CliError(
                f"{name}: not an image name ({', '.join(IMAGE_TYPES)}): it would not be made", Exit.USAGE
            )
        if not path.is_file():
            raise CliError(f"{name}: no such file", Exit.USAGE)
        paths.append(path)
    return paths


@dataclass(frozen=True)
class Uploaded:
    """The version PutObject made: the photo to wait for is the one made from it, not an older one."""

    etag: str
    version_id: str | None

    def made(self, record: dict[str, Any]) -> bool:
        """Whether ``record`` is the photo of this version. S3's event carries the same version id and
        ETag as the PutObject answer (Amazon S3 User Guide, "Event message structure")."""
        version = record.get("version") or {}
        if self.version_id and version.get("version_id"):
            return bool(version["version_id"] == self.version_id)
        return str(version.get("etag", "")).strip('"') == self.etag


def upload(target: Target, path: Path, key: str, metadata: dict[str, str]) -> Uploaded:
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    try:
        s3 = target.session().client("s3", endpoint_url=target.endpoint_url)
        answer = s3.put_object(
            Bucket=target.bucket,
            Key=key,
            Body=path.read_bytes(),
            Metadata=metadata,
            ContentType=IMAGE_TYPES[path.suffix.lower()],
        )
    except EndpointConnectionError as exc:
        hint = "is the local stack up? run `make up`" if target.local else ""
        raise CliError(
            f"cannot reach S3 at {exc.kwargs.get('endpoint_url', '')}", Exit.UNAVAILABLE, hint
        ) from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code == "NoSuchBucket":
            raise CliError(
                f"no bucket {target.bucket}", Exit.NOT_FOUND, "pass --bucket or --stack (or start `make up`)"
            ) from exc
        exit_code = (
            Exit.UNAVAILABLE if code in ("SlowDown", "ServiceUnavailable", "InternalError") else Exit.USAGE
        )
        raise CliError(f"upload of {path} refused: {code}: {error.get('Message', '')}", exit_code) from exc
    except BotoCoreError as exc:
        raise CliError(f"upload of {path} failed: {exc}", Exit.UNAVAILABLE) from exc
    history.remember(key, path, target.bucket)
    return Uploaded(str(answer.get("ETag", "")).strip('"'), answer.get("VersionId"))


def upload_via_api(api: PhotoApi, path: Path, metadata: dict[str, str]) -> str:
    """POST /uploads for a form (the API checks the options and picks the key), then the file with it
    straight to S3: needs only ``execute-api:Invoke``, no access to the bucket. Returns the key."""
    form = api.upload_form(IMAGE_TYPES[path.suffix.lower()], path.name, metadata)
    data = path.read_bytes()
    if len(data) > int(form["max_bytes"]):
        raise CliError(f"{path}: {len(data)} bytes, the upload limit is {form['max_bytes']}", Exit.USAGE)
    try:
        answer = requests.post(
            form["upload"]["url"],
            data=form["upload"]["fields"],
            files={"file": (path.name, data, form["content_type"])},
            timeout=DOWNLOAD_TIMEOUT,
        )
    except requests.RequestException as exc:
        raise CliError(f"upload of {path} failed: {exc}", Exit.UNAVAILABLE) from exc
    if not answer.ok:
        message = re.search(r"<Message>([^<]*)</Message>", answer.text)
        raise CliError(
            f"upload of {path} refused: HTTP {answer.status_code} {message.group(1) if message else ''}",
            Exit.USAGE,
        )
    return str(form["key"])


def run_make(
    target: Target,
    api: PhotoApi,
    portraits: Sequence[str],
    *,
    spec: str | None,
    background: str | None,
    options: Sequence[str],
    key: str | None,
    wait: bool,
    timeout: float,
    out: Output,
    via_api: bool = False,
) -> Exit:
    if via_api and key:
        raise CliError("--key cannot go with --via-api: the API picks the key (in your folder)", Exit.USAGE)
    paths = check_portraits(portraits, key)
    metadata = build_metadata(spec, background, options)
    keys: list[str] = []
    versions: dict[str, Uploaded] = {}
    for path in paths:
        if via_api:
            # The API picks a fresh key for every form, so no earlier version of it can be shown.
            photo_key = upload_via_api(api, path, metadata)
            history.remember(photo_key, path, target.bucket)
            # The bucket is the API's business: a caller of the API alone may not even learn its name.
            out.note(f"uploaded {path} through the API -> {photo_key}")
        else:
            photo_key = upload_key(target, path, key)
            versions[photo_key] = upload(target, path, photo_key, metadata)
            out.note(f"uploaded {path} -> s3://{target.bucket}/{photo_key}")
        keys.append(photo_key)
    if not wait:
        out.document([{"file": str(p), "key": k} for p, k in zip(paths, keys, strict=True)])
        for photo_key in keys:
            out.line(photo_key)
        return Exit.OK
    records = wait_for(api, keys, timeout, out.err, versions=versions)
    codes = [_outcome(photo_key, records.get(photo_key), timeout, out) for photo_key in keys]
    out.document(
        [
            {"file": str(p), "key": k, "exit": int(c), "photo": records.get(k)}
            for p, k, c in zip(paths, keys, codes, strict=True)
        ]
    )
    return max(codes, default=Exit.OK)


def wait_for(
    api: PhotoApi,
    keys: Sequence[str],
    timeout: float,
    err: TextIO,
    clock: Callable[[], float] = time.monotonic,
    versions: Mapping[str, Uploaded] | None = None,
) -> dict[str, dict[str, Any]]:
    """Poll GET /photos/{key} until every photo is READY or FAILED, or ``timeout`` seconds pass.

    A 404 means make-photo has not picked the upload up yet; so does, for a key in ``versions``, a
    photo of another (older) version of the key: a re-upload waits for its own photo. Returns the
    last status seen of each photo of the right version.
    """
    versions = versions or {}
    progress = Progress(list(keys), err)
    deadline = clock() + timeout
    delay = 0.3
    records: dict[str, dict[str, Any]] = {}
    pending = list(keys)
    try:
        while pending:
            for photo_key in list(pending):
                record = _status_or_none(api, photo_key)
                if record is None:
                    continue
                if photo_key in versions and not versions[photo_key].made(record):
                    progress.update(photo_key, "UPLOADED")  # the previous version's photo
                    continue
                records[photo_key] = record
                progress.update(photo_key, record["status"])
                if record["status"] in FINISHED:
                    pending.remove(photo_key)
            if not pending or clock() >= deadline:
                break
            progress.tick()
            time.sleep(min(delay, max(0.0, deadline - clock())))
            delay = min(delay * 1.5, 2.0)
    finally:
        progress.close()
    return records


def _status_or_none(api: PhotoApi, key: str) -> dict[str, Any] | None:
    try:
        return api.status(key)
    except ApiError as exc:
        if exc.code_name == "PHOTO_NOT_FOUND":
            return None
        raise


def _outcome(key: str, record: dict[str, Any] | None, timeout: float, out: Output) -> Exit:
    if record is None:
        out.line(f"{key}  not picked up after {timeout:.0f} s")
        out.line(f"  check it later: idphoto status {key} --wait")
        return Exit.TIMEOUT
    if record["status"] == "PROCESSING":
        out.line(f"{key}  still PROCESSING after {timeout:.0f} s" + _last_error(record))
        out.line(f"  check it later: idphoto status {key} --wait")
        return Exit.TIMEOUT
    describe(record, out)
    if record["status"] == "FAILED":
        return Exit.PHOTO_FAILED
    out.line(f"  watermark-free finals (billed once per colour): idphoto finals {key} --out DIR")
    return Exit.OK


def _last_error(record: dict[str, Any]) -> str:
    return f" (retrying after: {record['last_error']})" if record.get("last_error") else ""


def describe(record: dict[str, Any], out: Output) -> None:
    """A photo's status for people."""
    options = record.get("options") or {}
    head = f"{record['key']}  {record['status']}"
    if "spec_id" in options:
        names = [s.name for s in specs.CATALOGUE if s.spec_id == options["spec_id"]]
        head += f"  spec {options['spec_id']}" + (f" ({' / '.join(names)})" if names else "")
    out.line(head)
    error = record.get("error")
    if error:
        vendor = f" (vendor code {error['vendor_code']})" if error.get("vendor_code") else ""
        out.line(f"  {error['code']}: {error.get('message') or ''}{vendor}")
    elif record["status"] == "PROCESSING":
        out.line("  being made" + _last_error(record))
    if record.get("ignored_metadata"):
        out.line(f"  ignored metadata: {', '.join(record['ignored_metadata'])}")
    if record["status"] != "READY":
        return
    kept = set(record.get("finals_kept") or [])
    out.line(f"  colours: {', '.join(record['colors'])}; {record.get('sheet_count')} photos a print sheet")
    if record.get("previews_expired"):
        out.line("  previews: expired at the vendor (the finals can still be fetched)")
    for preview in record.get("previews") or []:
        out.line(f"  preview {preview['color']}: {preview['photo_url']}")
        out.line(f"  {'sheet':>{len(preview['color']) + 8}}: {preview['sheet_url']}")
    if kept:
        out.line(f"  finals kept (free to fetch again): {', '.join(sorted(kept))}")


# --- status --------------------------------------------------------------------------------------


def run_status(
    api: PhotoApi, key: str, *, wait: bool, timeout: float, out: Output, target: Target | None = None
) -> Exit:
    if target is not None:
        key = photo_key_of(target, key, out)
    record: dict[str, Any] | None
    try:
        record = api.status(key)
    except ApiError as exc:
        if exc.code_name != "PHOTO_NOT_FOUND":
            raise
        if not wait:
            raise CliError(exc.message, exc.code, not_found_hint(target, key)) from exc
        if target is not None and upload_exists(target, key) is False:
            raise CliError(
                f"no photo for {key}: nothing was uploaded under that key",
                Exit.NOT_FOUND,
                not_found_hint(target, key),
            ) from exc
        record = None
    if wait and (record is None or record["status"] not in FINISHED):
        record = wait_for(api, [key], timeout, out.err).get(key)
    if record is None:
        raise CliError(
            f"no photo for {key} after {timeout:.0f} s", Exit.NOT_FOUND, not_found_hint(target, key)
        )
    out.document(record)
    describe(record, out)
    if record["status"] == "FAILED":
        return Exit.PHOTO_FAILED
    if wait and record["status"] == "PROCESSING":
        return Exit.TIMEOUT
    return Exit.OK


HINT_NOT_FOUND: Final = "check the key (as uploaded, with or without the upload prefix)"


def photo_key_of(target: Target, given: str, out: Output) -> str:
    """The key a person means by what the tool printed: ``s3://bucket/key`` (the address ``make``
    prints), a key with or without the upload prefix, or the local file ``make`` uploaded (``make``
    adds a tag to its name: the history knows which key it got)."""
    if given.startswith("s3://"):
        bucket, _, key = given.removeprefix("s3://").partition("/")
        if bucket != target.bucket:
            raise CliError(
                f"{given} is in bucket {bucket}, not in {target.bucket}",
                Exit.USAGE,
                "pass --stack or --bucket for that bucket, or give the key alone",
            )
        return key
    if Path(given).is_file():
        known = history.keys_for_file(given, target.bucket)
        if known:
            if len(known) > 1:
                out.note(
                    f"{given} was uploaded {len(known)} times; the latest: {known[0]} (`idphoto list` shows all)"
                )
            return known[0]
    return given


def not_found_hint(target: Target | None, key: str) -> str:
    hint = HINT_NOT_FOUND
    if target is not None:
        name = PurePosixPath(key).name
        similar = [u.key for u in history.uploads(target.bucket) if PurePosixPath(u.file).name == name]
        if similar:
            return f"`make` adds a tag to the file's name: did you mean {similar[0]}? (`idphoto list` shows your uploads)"
    return (
        hint
        + "; `make` adds a tag to the file's name (me.jpg -> uploads/me-1a2b3c.jpg): `idphoto list` shows your uploads"
    )


def upload_exists(target: Target, key: str) -> bool | None:
    """Whether an object is at ``key``: None when S3 will not say (without s3:GetObject a missing key and
    a forbidden one are both 403; Amazon S3 API Reference, HeadObject)."""
    from botocore.exceptions import BotoCoreError, ClientError

    full = key if key.startswith(target.upload_prefix) else target.upload_prefix + key.lstrip("/")
    try:
        target.session().client("s3", endpoint_url=target.endpoint_url).head_object(
            Bucket=target.bucket, Key=full
        )
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return False if code in ("404", "NoSuchKey", "NotFound") else None
    except BotoCoreError:
        return None
    return True


def run_list(api: PhotoApi, target: Target, *, out: Output) -> Exit:
    """The uploads this tool made to this bucket from this machine, each with its status (free)."""
    uploads = history.uploads(target.bucket)
    if not uploads:
        out.document([])
        out.line(f"no uploads to {target.bucket} from this machine (recorded in {history.path()})")
        return Exit.OK
    rows = []
    for entry in uploads:
        try:
            status = api.status(entry.key)["status"]
        except ApiError as exc:
            status = exc.code_name or f"HTTP {exc.status}"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.time))
        rows.append(
            {"key": entry.key, "file": entry.file, "uploaded": entry.time, "status": status, "when": when}
        )
    out.document(rows)
    width = max(len(r["key"]) for r in rows)
    for row in rows:
        out.line(f"{row['key']:<{width}}  {row['status']:<16} {row['when']}  {row['file']}")
    return Exit.OK


# --- finals --------------------------------------------------------------------------------------


def run_finals(
    api: PhotoApi,
    key: str,
    *,
    out_dir: Path,
    color: str | None,
    yes: bool,
    timeout: float,
    out: Output,
    confirm: Callable[[str], bool] | None = None,
    target: Target | None = None,
) -> Exit:
    deadline = time.monotonic() + timeout
    if target is not None:
        key = photo_key_of(target, key, out)
    record = api.status(key)
    if record["status"] == "PROCESSING":
        record = wait_for(api, [key], timeout, out.err).get(key, record)
    if record["status"] == "FAILED":
        describe(record, Output(out.err, out.err))
        raise CliError(f"{key} failed: there are no finals to fetch", Exit.PHOTO_FAILED)
    if record["status"] != "READY":
        raise CliError(f"{key} is still being made after {timeout:.0f} s", Exit.TIMEOUT)
    colors = [color] if color else list(record["colors"])
    if color and color not in record["colors"]:
        raise CliError(
            f"{record['key']} has no colour {color!r}",
            Exit.USAGE,
            f"its colours: {', '.join(record['colors'])}",
        )
    billed = [c for c in colors if c not in set(record.get("finals_kept") or [])]
    if billed and not _confirmed(billed, colors, yes, confirm, out):
        raise CliError("nothing fetched: not confirmed", Exit.USAGE)
    answer = _post_finals(api, record["key"], color, deadline, out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = PurePosixPath(record["key"]).stem
    files = []
    for final in answer["finals"]:
        photo = _download(final["photo_url"], out_dir / f"{stem}-{final['color']}.jpg")
        sheet = _download(final["sheet_url"], out_dir / f"{stem}-{final['color']}-sheet.jpg")
        files.append({"color": final["color"], "photo": str(photo), "sheet": str(sheet)})
        width = max(len(final["color"]), len("sheet"))
        out.line(f"{final['color']:>{width}}: {photo}")
        out.line(f"{'sheet':>{width}}: {sheet}")
    out.document({"key": record["key"], "billed_colors": billed, "files": files})
    left = answer.get("pending") or []
    if left:  # what came is on disk; say what did not, and why
        raise CliError(
            "not fetched: " + "; ".join(f"{p['color']}: {p['code']} {p['message']}" for p in left),
            Exit.UNAVAILABLE,
            "run the same command again later for the rest (what is kept is free)",
        )
    return Exit.OK


def _confirmed(
    billed: list[str], colors: list[str], yes: bool, confirm: Callable[[str], bool] | None, out: Output
) -> bool:
    free = [c for c in colors if c not in billed]
    text = (
        f"This is the billed step: {len(billed)} watermark-free final(s) not fetched before "
        f"({', '.join(billed)}); the vendor bills one call for each, once"
        + (f". Kept already, free: {', '.join(free)}" if free else "")
        + "."
    )
    out.note(text)
    if yes:
        return True
    if confirm is None:
        if not sys.stdin.isatty():
            raise CliError(
                "refusing to spend money without a confirmation", Exit.USAGE, "pass --yes to confirm"
            )
        return _ask("Fetch them? [y/N] ", out.err)
    return confirm("Fetch them? [y/N] ")


def _ask(prompt: str, err: TextIO) -> bool:
    err.write(prompt)
    err.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _post_finals(api: PhotoApi, key: str, color: str | None, deadline: float, out: Output) -> dict[str, Any]:
    """POST /finals; while another request fetches the same final (409 FINALS_IN_PROGRESS), wait; while
    the answer lists colours as ``pending`` with a ``retry_after``, ask again for the rest (what was
    served comes again, free)."""
    while True:
        try:
            answer = api.finals(key, color)
        except ApiError as exc:
            if exc.code_name not in ("FINALS_IN_PROGRESS", "PHOTO_NOT_READY"):
                raise
            pause = exc.retry_after or 2.0
            if time.monotonic() + pause > deadline:
                raise
            out.note(f"{exc.api_message}: retrying in {pause:.0f} s")
            time.sleep(pause)
            continue
        waits = [p["retry_after"] for p in answer.get("pending", []) if p.get("retry_after") is not None]
        if not waits or time.monotonic() + max(waits) > deadline:
            return answer
        out.note(f"{len(waits)} colour(s) pending: retrying in {max(waits):.0f} s")
        time.sleep(max(waits))


def _download(url: str, path: Path) -> Path:
    try:
        with requests.get(url, timeout=DOWNLOAD_TIMEOUT, stream=True) as response:
            response.raise_for_status()
            with path.open("wb") as file:
                for chunk in response.iter_content(chunk_size=1 << 16):
                    file.write(chunk)
    except requests.RequestException as exc:
        raise CliError(f"download of {path.name} failed: {exc}", Exit.UNAVAILABLE) from exc
    return path
