"""``python -m local.stack demo``: sample portraits through the whole system, results in ``out/demo/``.

Starts the local stack (free ports unless told otherwise, so it runs beside ``up``), uploads each sample
with boto3 ``put_object`` and its options as S3 metadata, waits for it through the API, asks the API for
the finals twice (the second answer must come from our copy: one billed call per colour), downloads
finals, print sheets and previews, prints a table and writes ``contact-sheet.jpg``. Photos go one at a
time so that the vendor calls in each row are that photo's own. Each READY photo's compliance report
(idphoto.compliance, in its status answer) is shown per colour: in the table's ``compliance`` column
(pass, or the failed measures against their ranges) and under each preview and final on the contact
sheet (a pass/fail mark and the measure nearest its limit, or furthest outside it). Exits 1 if any
photo ended otherwise than expected (the bad uploads must be FAILED, the others READY, and no READY
photo's preview may fail its own check). Function logs go to ``stack.log``.
"""

from __future__ import annotations

import contextlib
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import requests

from idphoto import compliance
from local.stack import samples
from local.stack.contact_sheet import Mark, Row, Tile, render
from local.stack.stack import Stack, start_stack


@dataclass(frozen=True)
class Case:
    name: str
    key: str  # under the upload prefix; spaces and '+' on purpose: S3 event keys are encoded
    body: Callable[[], bytes]
    metadata: dict[str, str]
    expect: str
    about: str
    content_type: str = "image/jpeg"


def cases() -> list[Case]:
    return [
        Case(
            "a-default",
            "demo/astronaut white+blue.jpg",
            samples.astronaut,
            {"background": "white,blue"},
            "READY",
            "default spec, two colours",
        ),
        Case(
            "b-gradient",
            "demo/mirrored sky gradient.jpg",
            samples.astronaut_mirrored,
            {"background": "sky=#87ceeb:#ffffff", "print-type": "2"},
            "READY",
            "gradient, compact sheet",
        ),
        Case(
            "c-custom-size",
            "demo/astronaut 358x441 red.jpg",
            samples.astronaut,
            {"width-px": "358", "height-px": "441", "background": "red"},
            "READY",
            "custom pixel size",
        ),
        Case(
            "d-us-passport",
            "demo/mirrored us passport.jpg",
            samples.astronaut_mirrored,
            {"spec": "us-passport"},  # the named spec: its framing figures are held to (idphoto.specs)
            "READY",
            "US passport spec",
        ),
        Case(
            "e-bad-colour",
            "demo/astronaut purple.jpg",
            samples.astronaut,
            {"background": "purple"},
            "FAILED",
            "invalid option",
        ),
        Case(
            "g-phone-sideways",
            "demo/phone sideways.jpg",
            samples.phone_sideways,
            {"background": "white"},
            "READY",
            "12 MP phone JPEG, EXIF rotate 90",
        ),
        Case(
            "h-iphone-heic",
            "demo/iphone.heic",
            samples.iphone_heic,
            {"background": "blue"},
            "READY",
            "12 MP iPhone HEIC",
            content_type="image/heic",
        ),
        Case("f-not-an-image", "demo/notes.jpg", samples.not_an_image, {}, "FAILED", "text named .jpg"),
    ]


@dataclass
class Outcome:
    case: Case
    key: str
    record: dict[str, Any]
    seconds: float
    make_calls: int
    billed_calls: int
    images: list[tuple[str, bytes]] = field(default_factory=list)
    final_size: str = "-"

    @property
    def status(self) -> str:
        return str(self.record.get("status"))

    @property
    def ok(self) -> bool:
        return self.status == self.case.expect and not self.noncompliant

    @property
    def noncompliant(self) -> list[str]:
        """The colours whose preview failed its own compliance check (the demo expects none)."""
        reports = self.record.get("compliance") or {}
        return [color for color, report in reports.items() if report.get("passed") is False]


def run_demo(options: Mapping[str, Any], out_dir: str) -> int:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    console = sys.stdout
    started = time.monotonic()
    with (out / "stack.log").open("w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
        stack = start_stack(**options)
        try:
            say(
                console,
                f"stack up in {time.monotonic() - started:.1f} s (API {stack.api_url}); logs in {out / 'stack.log'}",
            )
            outcomes = [run_case(stack, case, out, console) for case in cases()]
        finally:
            stack.stop()
    say(console, "\n" + table(outcomes))
    sheet = render([contact_row(o) for o in outcomes], out / "contact-sheet.jpg")
    failed = [o for o in outcomes if not o.ok]
    say(console, f"\ncontact sheet: {sheet}\nwall time: {time.monotonic() - started:.1f} s")
    for outcome in failed:
        if outcome.status != outcome.case.expect:
            say(
                console,
                f"UNEXPECTED: {outcome.case.name} is {outcome.status}, expected {outcome.case.expect}",
            )
        for color in outcome.noncompliant:
            say(console, f"UNEXPECTED: {outcome.case.name}'s {color} preview fails its compliance check")
    return 1 if failed else 0


def say(console: TextIO, text: str) -> None:
    print(text, file=console, flush=True)


def run_case(stack: Stack, case: Case, out: Path, console: TextIO) -> Outcome:
    folder = out / case.name
    folder.mkdir(parents=True, exist_ok=True)
    body = case.body()
    before = stack.vendor_stats()
    started = time.monotonic()
    key = stack.upload(case.key, body, case.metadata, case.content_type)
    record = stack.wait_for_photo(key, timeout=120)
    outcome = Outcome(case, key, record, time.monotonic() - started, 0, 0)
    _save(folder / ("source" + Path(case.key).suffix.lower()), body)
    outcome.images.append(("source", body))
    if outcome.status == "READY" and not outcome.noncompliant:
        _collect(stack, outcome, folder)
    after = stack.vendor_stats()
    outcome.make_calls = after["make_calls"] - before["make_calls"]
    outcome.billed_calls = after["billed_calls"] - before["billed_calls"]
    say(console, f"  {case.name:<16} {outcome.status:<7} {outcome.seconds:5.1f} s  {key}")
    return outcome


def _collect(stack: Stack, outcome: Outcome, folder: Path) -> None:
    for preview in outcome.record["previews"]:
        color = preview["color"]
        outcome.images.append(
            (f"preview {color}", _fetch(preview["photo_url"], folder / f"preview-{color}.jpg"))
        )
        _fetch(preview["sheet_url"], folder / f"preview-{color}_print.jpg")
    answer = stack.finals(outcome.key)
    answer.raise_for_status()
    again = stack.finals(outcome.key)  # served from our copy: must not be billed again
    again.raise_for_status()
    sheets = []
    for final in answer.json()["finals"]:
        color = final["color"]
        photo = _fetch(final["photo_url"], folder / f"final-{color}.jpg")
        sheets.append((f"sheet {color}", _fetch(final["sheet_url"], folder / f"final-{color}_print.jpg")))
        outcome.images.append((f"final {color}", photo))
        if outcome.final_size == "-":
            from PIL import Image

            with Image.open(folder / f"final-{color}.jpg") as image:
                outcome.final_size = f"{image.width}x{image.height}"
    outcome.images.extend(sheets[:1])


def _fetch(url: str, path: Path) -> bytes:
    answer = requests.get(url, timeout=30)
    answer.raise_for_status()
    _save(path, answer.content)
    return answer.content


def _save(path: Path, body: bytes) -> None:
    path.write_bytes(body)


def _spec(record: Mapping[str, Any]) -> str:
    from local.standin.specs import CATALOGUE

    options = record.get("options") or {}
    spec_id = options.get("spec_id")
    if spec_id is None:
        return "-"
    spec = CATALOGUE.get(int(spec_id))
    text = f"{spec_id} {spec.name if spec else '?'}"
    if options.get("width_px") or options.get("height_px"):
        text += f" {options.get('width_px', '')}x{options.get('height_px', '')}"
    return text


def table(outcomes: list[Outcome]) -> str:
    header = (
        "photo", "spec", "size", "colours", "status", "make", "billed", "s upload->done", "compliance", "note"
    )  # fmt: skip
    rows = [header]
    for o in outcomes:
        prepared = o.record.get("prepared")
        note = (
            o.case.about + (f" ({prepared})" if prepared else "")
            if o.status == "READY"
            else failure(o.record)
        )
        rows.append(
            (
                o.case.name,
                _spec(o.record),
                o.final_size,
                ",".join(o.record.get("colors") or []) or "-",
                o.status + ("" if o.ok else " (!)"),
                str(o.make_calls),
                str(o.billed_calls),
                f"{o.seconds:.1f}",
                compliance_cell(o.record),
                note,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def failure(record: dict[str, Any]) -> str:
    """Why a photo is not READY, as its status says it: the code, the reason, the vendor's code if any."""
    error = record.get("error") or {}
    if not error:
        return str(record.get("last_error") or "no error recorded")
    message = str(error.get("message") or "no reason recorded")
    code = error.get("vendor_code")
    vendor = f" (vendor code {code})" if code and f"vendor code {code}" not in message else ""
    return f"{error.get('code')}: {message}{vendor}"


# --- compliance, as the status answer reports it per colour (idphoto.compliance) ------------------------


def compliance_cell(record: Mapping[str, Any]) -> str:
    """'pass', 'FAIL head_height 0.52 not in 0.6-0.75', per colour when there are several."""
    if record.get("status") != "READY":
        return "-"
    reports: Mapping[str, Mapping[str, Any]] = record.get("compliance") or {}
    if not reports:
        return "not checked"  # the deployment switched the check off (ComplianceCheck=off)
    cells = [verdict(report) for report in reports.values()]
    if len(reports) == 1:
        return cells[0]
    return "; ".join(f"{color}: {cell}" for color, cell in zip(reports, cells, strict=True))


def verdict(report: Mapping[str, Any]) -> str:
    failed = [outside(m) for m in report.get("measures", ()) if m.get("ok") is False]
    if report.get("error"):
        failed.append(str(report["error"]))
    if report.get("passed") is True:
        return "pass"
    if report.get("passed") is False:
        return "FAIL " + ", ".join(failed)
    # No framing figures: measured and reported, never refused.
    return "no framing figures" + (f" ({', '.join(failed)})" if failed else " (the rest pass)")


def _number(value: Any) -> str:
    return f"{float(value):.3g}"


def span(measure: Mapping[str, Any]) -> str:
    low, high = measure.get("low"), measure.get("high")
    shown = compliance.span(
        None if low is None else float(low), None if high is None else float(high), _number
    )
    return shown or "any"


def outside(measure: Mapping[str, Any]) -> str:
    """'head_height 0.52 not in 0.6-0.75'."""
    value = measure.get("value")
    shown = "not measured" if value is None else _number(value)
    return f"{measure['measure']} {shown} not in {span(measure)}"


def margin(measure: Mapping[str, Any]) -> float:
    """How far inside its range a measure is, as a share of the range (negative: outside)."""
    value, low, high = (
        None if measure.get(k) is None else float(measure[k]) for k in ("value", "low", "high")
    )
    if value is None:
        return float("-inf")
    bounds = [b for b in (low, high) if b is not None]
    scale = (high - low) if low is not None and high is not None and high > low else max(map(abs, bounds))
    rooms = ([value - low] if low is not None else []) + ([high - value] if high is not None else [])
    room = min(rooms)
    return room / (scale or 1.0)


def worst(report: Mapping[str, Any]) -> str:
    """The measure nearest its limit (or furthest outside it): 'head_height 0.71 in 0.69-0.74'."""
    held = [
        m for m in report.get("measures", ())
        if m.get("ok") is not None and (m.get("low") is not None or m.get("high") is not None)
        and not (m["measure"] == "faces" and m.get("ok"))
    ]  # fmt: skip
    if not held:
        return str(report.get("error") or "no framing figures")
    measure = min(held, key=margin)
    if measure.get("ok") is False:
        return outside(measure)
    return f"{measure['measure']} {_number(measure['value'])} in {span(measure)}"


def mark(report: Mapping[str, Any] | None) -> Mark | None:
    if report is None:
        return None
    return Mark(report.get("passed"), worst(report))


def contact_row(outcome: Outcome) -> Row:
    lines = [outcome.case.about, f"spec {_spec(outcome.record)}  size {outcome.final_size}"]
    if outcome.record.get("prepared"):
        lines += textwrap.wrap(str(outcome.record["prepared"]), 42, max_lines=2)
    lines.append(
        f"{outcome.status} in {outcome.seconds:.1f} s; make {outcome.make_calls}, billed {outcome.billed_calls}"
    )
    error = outcome.record.get("error")
    if error:
        message = str(error.get("message", ""))
        lines += textwrap.wrap(message, 42, max_lines=4)
    reports: Mapping[str, Mapping[str, Any]] = outcome.record.get("compliance") or {}
    tiles = []
    for caption, body in outcome.images:
        kind, _, color = caption.partition(" ")
        # The report is the preview's; the final is the same making without the watermark.
        measured = reports.get(color) if kind in ("preview", "final") else None
        tiles.append(Tile(caption, body, mark(measured)))
    return Row(outcome.case.name, lines, tiles)
