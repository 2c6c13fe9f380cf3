"""Is the free preview a photo the authority would accept? Measured before any billed call.

The vendor's watermarked preview is the same making as the billed final (API.md: ``final_pic_name``
in the order of ``wm_pic_url``), so make-photo measures each colour's preview right after the vendor
made it and records the report with READY (:mod:`idphoto.making`); the status answer shows it and the
finals path (``POST /finals``, automatic finals) only reads it: no billed call for a failing preview.

The measures, each with its value, its allowed range and where that range comes from:

- ``faces``: exactly one face (the detector's faces scoring >= ``FACE_SCORE``);
- ``head_height``: chin (landmark) to crown, / photo height;
- ``eye_height``: the eye line's distance from the photo's **bottom** edge, / photo height (the
  vendor's ``ratios`` and the US rule measure it so, see :attr:`idphoto.specs.PhotoSpec.ratios`);
- ``top_margin``: the crown's distance from the top edge, / photo height;
- ``face_width``: / photo width, as the spec's authority defines it
  (:attr:`idphoto.specs.PhotoSpec.face_width_measure`): cheek to cheek (the face oval's landmarks
  234-454), or the head's width ear to ear (:func:`head_width`, on the plain background: GA 461 says
  "between the cheeks", the Chinese exit-entry standard "head width");
- ``centred``: the face's centre from the photo's vertical midline, / photo width, at most
  ``CENTRE_TOLERANCE``;
- ``eyes_level``: the eye line's tilt in degrees, at most ``TILT_TOLERANCE_DEG``;
- ``background``: the top corners within :data:`idphoto.checks.BACKGROUND_TOLERANCE` of the asked
  colour (the rule the kept finals are checked with), the watermark's strokes first taken out as for
  the crown (:func:`corner_distance`).

The four framing ranges are the photo's ``ratios`` (the vendor's 8 numbers: a named spec's framing
figures, :meth:`idphoto.specs.PhotoSpec.ratios`, or the upload's own), compared exactly: the
measurement's own error is a few pixels (``docs/compliance.md``). A photo without ratios has no
framing figures: it is measured and reported, never refused (``passed`` is None).

**The crown** is not a landmark (hair has none): it is the first row, going down above the eyes, where
the middle of the face's columns stop being the plain background the photo was asked for. The
vendor's watermark (thin diagonal text strokes, the stand-in's dark-outlined white "SAMPLE", a real
vendor's tiled logo) differs from the background too, so the differing pixels are first eroded by a
square about 1.2 % of the photo's height: strokes thinner than that vanish, hair does not; and a row
counts only when at least ``CROWN_COVER`` of the band differs there and in the rows just below.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from idphoto import checks, specs
from idphoto.options import BackgroundColor, PhotoOptions

CENTRE_TOLERANCE: Final = 0.05
TILT_TOLERANCE_DEG: Final = 5.0
CROWN_COLOR_TOLERANCE: Final = 40
CROWN_COVER: Final = 0.5
CROWN_BAND: Final = 0.25  # half-width of the searched columns, as a share of the face's width
CROWN_ERODE: Final = 0.012  # erosion square's side, as a share of the photo height
CROWN_PERSIST: Final = 0.015  # rows below the crown that must agree, as a share of the photo height
EAR_ROWS: Final = 0.4  # the ears reach from the eye line to the nose's base, 40 % down to the chin
HEAD_REACH: Final = 1.2  # the head's outline is looked for this many face widths either side
HEAD_WIDTH_NOTE: Final = "the head's width at the ears, ear to ear (the spec's measure)"
FRAMING: Final = ("head_height", "eye_height", "top_margin", "face_width")
UNIVERSAL_SOURCE: Final = "this product's rule for every ID photo"
DIGITS: Final = 4
# A face counts at this detector score: BlazeFace's weaker boxes (0.5-0.75) are mostly not faces.
FACE_SCORE: Final = 0.75  # shares of the photo are reported (and compared) to 1/10000


@dataclass(frozen=True)
class Measure:
    """One measure of one preview. ``ok`` is None when nothing is required of it."""

    measure: str
    value: float | None
    low: float | None
    high: float | None
    unit: str
    source: str
    ok: bool | None
    note: str = ""

    def describe(self) -> str:
        """'head_height 0.52 (allowed 0.71-0.80 of the photo height)'."""
        value = "not measured" if self.value is None else f"{self.value:g}"
        allowed = span(self.low, self.high)
        return f"{self.measure} {value}" + (f" (allowed {allowed} {self.unit})" if allowed else "")

    def to_record(self) -> dict[str, Any]:
        # Numbers as decimal strings: DynamoDB's numbers come back as Decimal and records read them
        # as whole numbers (``records._plain``).
        out: dict[str, Any] = {
            "measure": self.measure,
            "value": _text(self.value),
            "low": _text(self.low),
            "high": _text(self.high),
            "unit": self.unit,
            "source": self.source,
            "ok": self.ok,
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Report:
    """One colour's preview against its requirements. ``passed`` None: no framing figures to hold it to
    (reported, never refused)."""

    color: str
    passed: bool | None
    measures: list[Measure] = field(default_factory=list)
    error: str = ""

    @property
    def failed(self) -> list[Measure]:
        return [m for m in self.measures if m.ok is False]

    def to_record(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "passed": self.passed,
            "failed": [m.measure for m in self.failed],
            "measures": [m.to_record() for m in self.measures],
        }
        if self.error:
            out["error"] = self.error
        return out


def _text(value: float | None) -> str | None:
    return None if value is None else f"{value:.4f}".rstrip("0").rstrip(".")


def span(low: float | None, high: float | None, number: Callable[[float], str] = "{:g}".format) -> str:
    """An allowed range as the report and the demo show it: '0.6-0.75', '<= 5', '>= 0.1', '' for none."""
    if low is None:
        return "" if high is None else f"<= {number(high)}"
    if high is None:
        return f">= {number(low)}"
    return number(low) if low == high else f"{number(low)}-{number(high)}"


# --- what is required --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirements:
    """The four framing ranges (None: nothing required) and where they come from."""

    ranges: Mapping[str, tuple[float | None, float | None] | None]
    source: str
    background: BackgroundColor | None
    width_measure: str = "face"  # idphoto.specs.WIDTH_MEASURES

    @property
    def framed(self) -> bool:
        return any(r is not None for r in self.ranges.values())


def requirements(options: PhotoOptions, color: str) -> Requirements:
    ratios = options.ratios
    background = next((c for c in options.background if c.name == color), None)
    if ratios is None:
        return Requirements(dict.fromkeys(FRAMING), "no framing figures (no ratios)", background)
    ranges: dict[str, tuple[float | None, float | None] | None] = {}
    for name, low, high in zip(FRAMING, ratios[::2], ratios[1::2], strict=True):
        span = (None if low == -1 else low, None if high == -1 else high)
        ranges[name] = None if span == (None, None) else span
    named = [s for s in specs.active() if s.spec_id == options.spec_id and s.ratios == options.ratios]
    # The face width as the named spec's authority defines it; the upload's own ratios on a spec id
    # are measured as the named specs of that id define it (as the stand-in frames them).
    width = named[0].face_width_measure if named else specs.width_measure(options.spec_id, specs.active())
    return Requirements(ranges, _ratios_source(named), background, width)


def _ratios_source(named: Sequence[specs.PhotoSpec]) -> str:
    """The named spec whose framing these ratios are, else the upload's own ratios."""
    if not named:
        return "the upload's ratios"
    first = named[0]
    also = f" (and {len(named) - 1} more with the same figures)" if len(named) > 1 else ""
    return f"spec {first.name}{also}: {first.framing_source}"


# --- measuring ---------------------------------------------------------------------------------------


def measure(body: bytes, options: PhotoOptions, color: str, model_dir: str = "") -> Report:
    """The report of one preview (JPEG bytes). Needs numpy and the face models: imported here only."""
    import numpy as np
    from PIL import Image

    from idphoto import faces

    asked = requirements(options, color)
    with Image.open(io.BytesIO(body)) as opened:
        rgb = np.asarray(opened.convert("RGB"))
    height, width = rgb.shape[:2]
    models = faces.models(model_dir)
    found = sorted(
        (box for box in models.detect(rgb) if box.score >= FACE_SCORE),
        key=lambda box: box.score,
        reverse=True,
    )
    result = [
        Measure("faces", float(len(found)), 1, 1, "faces", UNIVERSAL_SOURCE, len(found) == 1),
    ]
    if found:
        marks = models.landmarks(rgb, found[0])
        crown = find_crown(rgb, marks, asked.background)
        across = marks.face_width
        if asked.width_measure == "head":
            across = head_width(rgb, marks, asked.background)
        # Rounded as reported, then compared: the range holds the figure the report shows.
        values = {
            "head_height": round((marks.chin_y - crown) / height, DIGITS),
            "eye_height": round((height - marks.eye_y) / height, DIGITS),
            "top_margin": round(crown / height, DIGITS),
            "face_width": round(across / width, DIGITS),
        }
        cut = "the head reaches the photo's top edge" if crown <= 0 else ""
        notes = dict.fromkeys(FRAMING, cut)
        notes["face_width"] = HEAD_WIDTH_NOTE if asked.width_measure == "head" else ""
        result += [_framing(name, values[name], asked, notes[name]) for name in FRAMING]
        offset = round(abs(marks.centre_x / width - 0.5), DIGITS)
        result.append(
            Measure("centred", offset, None, CENTRE_TOLERANCE, "of the photo width off centre",
                    UNIVERSAL_SOURCE, offset <= CENTRE_TOLERANCE)
        )  # fmt: skip
        tilt = round(abs(marks.eye_tilt_deg), 2)
        result.append(
            Measure("eyes_level", tilt, None, TILT_TOLERANCE_DEG, "degrees of tilt", UNIVERSAL_SOURCE,
                    tilt <= TILT_TOLERANCE_DEG)
        )  # fmt: skip
    result.append(_background(rgb, asked.background))
    passed = all(m.ok is not False for m in result) if asked.framed else None
    return Report(color, passed, result)


def _framing(name: str, value: float, asked: Requirements, note: str) -> Measure:
    span = asked.ranges.get(name)
    unit = "of the photo width" if name == "face_width" else "of the photo height"
    if span is None:
        return Measure(name, value, None, None, unit, asked.source, None, note)
    low, high = span
    ok = (low is None or value >= low) and (high is None or value <= high)
    if note and name in ("head_height", "top_margin"):
        ok = False  # a cut-off head measures short: its true height is unknown
    return Measure(name, value, low, high, unit, asked.source, ok, note)


def _background(rgb: Any, color: BackgroundColor | None) -> Measure:
    source = f"the asked colour, within {checks.BACKGROUND_TOLERANCE} a channel at the top corners"
    if color is None:
        return Measure("background", None, None, None, "", "no colour asked (the vendor's default)", None)
    worst = corner_distance(rgb, color)
    return Measure(
        "background", float(worst), None, float(checks.BACKGROUND_TOLERANCE), "of 255 off the asked colour",
        source, worst <= checks.BACKGROUND_TOLERANCE,
    )  # fmt: skip


def corner_distance(rgb: Any, color: BackgroundColor) -> int:
    """The worst of the two top corner patches (``checks.CORNER_SHARE`` of each side): the median of
    each pixel's largest channel difference from the asked colour, after a grey erosion.

    The kept finals' rule takes the median colour of a corner from a JPEG decoded at 1/8 scale
    (:func:`idphoto.checks.border_colors`); on a preview that scale averages the watermark's strokes
    into every pixel of the corner (the stand-in's "SAMPLE" read 32 off white on ``make demo``'s
    photos). Here each pixel's difference is the least within a square of ``CROWN_ERODE`` of the
    photo's height around it, at full scale: a stroke thinner than the square vanishes, a background
    of the wrong colour, a shadow or an object in the corner is wider and stays."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    height, width = rgb.shape[:2]
    side = max(1, round(width * checks.CORNER_SHARE))
    tall = max(1, round(height * checks.CORNER_SHARE))
    square = max(1, min(round(CROWN_ERODE * height), side, tall))
    expected = _background_rows(rgb, color, tall)
    worst = 0
    for left in (0, width - side):
        patch = rgb[:tall, left : left + side].astype(np.int16)
        distance = np.abs(patch - expected[:, None, :]).max(axis=2)
        eroded = sliding_window_view(distance, (square, square)).min(axis=(2, 3))
        worst = max(worst, int(np.median(eroded)))
    return worst


def find_crown(rgb: Any, marks: Any, color: BackgroundColor | None) -> float:
    """The top of the head, in rows (module docstring). 0 when the head reaches the top edge."""
    import numpy as np

    height, width = rgb.shape[:2]
    eye_row = int(min(max(marks.eye_y, 1), height))
    half = max(2, int(CROWN_BAND * marks.face_width))
    left, right = max(0, int(marks.centre_x) - half), min(width, int(marks.centre_x) + half + 1)
    band = rgb[:eye_row, left:right].astype(np.int16)
    expected = _background_rows(rgb, color, eye_row)
    differs = np.abs(band - expected[:, None, :]).max(axis=2) > CROWN_COLOR_TOLERANCE
    side = max(3, round(CROWN_ERODE * height))
    solid = _erode(differs, side)
    cover = solid.mean(axis=1)
    persist = max(2, round(CROWN_PERSIST * height))
    covered = cover >= CROWN_COVER
    for row in range(eye_row):
        if covered[row : row + persist].all():
            # The erosion moved the head's top edge down by half its square: undo that.
            return float(max(0, row - side // 2))
    return float(eye_row)


def head_width(rgb: Any, marks: Any, color: BackgroundColor | None) -> float:
    """The head's width at the ears, in pixels, as the plain background shows its outline.

    On each row of the ears' band (from the eye line ``EAR_ROWS`` of the way down to the chin: the ear
    reaches from about the eyes to the nose's base), the span between the outermost pixels that differ
    from the background within ``HEAD_REACH`` face widths of the face's centre; the median of those
    rows. The differing pixels are eroded as for the crown, so the watermark's strokes do not count,
    and the erosion's narrowing (a square's side less one) is added back. Hair beside the ears counts:
    it is the head's outline the photo shows."""
    import numpy as np

    height, width = rgb.shape[:2]
    first = int(min(max(marks.eye_y, 0), height - 1))
    last = int(min(max(marks.eye_y + EAR_ROWS * (marks.chin_y - marks.eye_y), first + 1), height))
    side = max(3, round(CROWN_ERODE * height))
    top, bottom = max(0, first - side), min(height, last + side)
    expected = _background_rows(rgb, color, height)[top:bottom]
    band = np.abs(rgb[top:bottom].astype(np.int16) - expected[:, None, :]).max(axis=2) > CROWN_COLOR_TOLERANCE
    reach = HEAD_REACH * marks.face_width
    left, right = max(0, int(marks.centre_x - reach)), min(width, int(marks.centre_x + reach) + 1)
    solid = _erode(band, side)[first - top : last - top, left:right]
    spans = []
    for row in solid:
        on = np.flatnonzero(row)
        if on.size:
            spans.append(float(on[-1] - on[0] + 1 + side - 1))
    return float(np.median(spans)) if spans else float(marks.face_width)


def _background_rows(rgb: Any, color: BackgroundColor | None, rows: int) -> Any:
    """The expected background colour of each row: the asked colour (plain or gradient), else the
    colour of the photo's top corners."""
    import numpy as np

    height = rgb.shape[0]
    if color is None:
        corner = max(1, round(rgb.shape[1] * checks.CORNER_SHARE))
        patch = np.concatenate([rgb[:corner, :corner], rgb[:corner, -corner:]], axis=1).reshape(-1, 3)
        return np.tile(np.median(patch, axis=0).astype(np.int16), (rows, 1))
    shares = np.arange(rows, dtype=np.float64) / max(height - 1, 1)
    top = np.array(checks.channels(color.top), dtype=np.float64)
    bottom = np.array(checks.channels(color.bottom), dtype=np.float64)
    return np.rint(top + (bottom - top) * shares[:, None]).astype(np.int16)


def _erode(mask: Any, side: int) -> Any:
    """Binary erosion by a ``side`` x ``side`` square: True only where the whole square is True.
    Summed-area table, so it costs the same for any side (numpy only, no OpenCV in the layer)."""
    import numpy as np

    rows, cols = mask.shape
    if rows < side or cols < side:
        return np.zeros_like(mask)
    table = np.zeros((rows + 1, cols + 1), dtype=np.int32)
    table[1:, 1:] = mask.astype(np.int32).cumsum(0).cumsum(1)
    full = table[side:, side:] - table[:-side, side:] - table[side:, :-side] + table[:-side, :-side]
    out = np.zeros_like(mask)
    lo = side // 2
    out[lo : lo + rows - side + 1, lo : lo + cols - side + 1] = full == side * side
    return out


# --- reading a recorded report -----------------------------------------------------------------------


def failing(report: Mapping[str, Any] | None) -> bool:
    """Whether a recorded report refuses payment: it failed, or could not be measured at all.

    No report (the check is switched off, or a record made before it existed) and a report without
    framing figures (``passed`` None) refuse nothing."""
    if not report:
        return False
    return report.get("passed") is False


def failed_descriptions(report: Mapping[str, Any]) -> list[str]:
    """'head_height 0.52 (allowed 0.71-0.8 of the photo height)' for each failed measure."""
    out = []
    for item in report.get("measures", ()):
        if item.get("ok") is False:
            out.append(_from_record(item).describe())
    if report.get("error"):
        out.append(f"measured: {report['error']}")
    return out


def _from_record(item: Mapping[str, Any]) -> Measure:
    def number(key: str) -> float | None:
        value = item.get(key)
        return None if value is None else float(value)

    return Measure(
        str(item["measure"]), number("value"), number("low"), number("high"), str(item.get("unit", "")),
        str(item.get("source", "")), item.get("ok"), str(item.get("note", "")),
    )  # fmt: skip


def unmeasured(color: str, reason: str) -> Report:
    """The report of a preview that could not be measured: it refuses payment like a failure (nothing
    is paid for on a guess), and the explicit override still pays."""
    return Report(color, False, [], reason)


def check_previews(
    fetch: Any, previews: Sequence[str], colors: Sequence[str], options: PhotoOptions, model_dir: str = ""
) -> dict[str, dict[str, Any]]:
    """Each colour's report as the record keeps it. ``fetch(url) -> bytes`` downloads a preview."""
    reports: dict[str, dict[str, Any]] = {}
    for color, url in zip(colors, previews, strict=False):
        try:
            report = measure(fetch(url), options, color, model_dir)
        except Exception as exc:  # a preview that cannot be read or measured is not paid for on a guess
            report = unmeasured(color, f"the preview could not be measured ({type(exc).__name__})")
        reports[color] = report.to_record()
    return reports
