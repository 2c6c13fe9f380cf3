"""The compliance check of previews: each measure on previews cut to known framings (tests/framing.py),
its boundaries, the watermark, and what a preview that cannot be measured means."""

from __future__ import annotations

import pytest

from idphoto import compliance, specs
from idphoto.compliance import Report, check_previews, failed_descriptions, failing, measure
from idphoto.options import BackgroundColor, PhotoOptions
from tests.framing import BLUE, WHITE, Framing, preview

WHITE_BG = (BackgroundColor("white", WHITE, WHITE),)
# How close the check must come to the hand-measured truth, as a share of the photo's height.
TRUE_WITHIN = 0.02


def spec_options(name: str, background: tuple[BackgroundColor, ...] = WHITE_BG) -> PhotoOptions:
    spec = specs.CATALOGUE.get(name)
    assert spec is not None and spec.ratios is not None
    return PhotoOptions(spec_id=spec.spec_id, ratios=spec.ratios, background=background)


ICAO = spec_options("passport-35x45")


def values(report: Report) -> dict[str, float | None]:
    return {m.measure: m.value for m in report.measures}


def test_a_well_framed_preview_passes_and_its_figures_match_the_hand_measured_truth() -> None:
    framing = Framing(head=0.75, top=0.10)
    report = measure(preview(framing), ICAO, "white")
    got = values(report)
    assert report.passed is True, [m.describe() for m in report.failed]
    assert got["faces"] == 1
    assert got["head_height"] == pytest.approx(framing.head, abs=TRUE_WITHIN)
    assert got["top_margin"] == pytest.approx(framing.top, abs=TRUE_WITHIN)
    assert got["eye_height"] == pytest.approx(framing.eye_height, abs=TRUE_WITHIN)
    head = next(m for m in report.measures if m.measure == "head_height")
    assert (head.low, head.high) == (0.7111, 0.8)
    assert head.source.startswith("spec passport-35x45") and "ICAO" in head.source


@pytest.mark.parametrize(
    ("framing", "kwargs", "fails"),
    [
        (Framing(head=0.50), {}, "head_height"),  # head too small
        (Framing(head=0.90, top=0.03), {}, "head_height"),  # head too large
        (Framing(shift=0.15), {}, "centred"),
        (Framing(), {"tilt_deg": -12.0}, "eyes_level"),
        (Framing(), {"second_face": True}, "faces"),
        (Framing(), {"color": BLUE}, "background"),  # white asked, blue made
    ],
)
def test_a_preview_that_breaks_one_rule_fails_that_measure(
    framing: Framing, kwargs: dict[str, object], fails: str
) -> None:
    report = measure(preview(framing, **kwargs), ICAO, "white")  # type: ignore[arg-type]
    assert report.passed is False
    assert fails in [m.measure for m in report.failed]


def test_top_margin_and_eye_line_and_face_width_are_held_to_the_specs_that_state_them() -> None:
    visa = spec_options("cn-visa")  # top margin 3-5 mm of 48: 0.0625-0.1042
    assert "top_margin" not in [
        m.measure for m in measure(preview(Framing(head=0.64, top=0.08)), visa, "white").failed
    ]
    low_top = measure(preview(Framing(head=0.64, top=0.20)), visa, "white")
    assert "top_margin" in [m.measure for m in low_top.failed]
    us = spec_options("us-passport")  # eyes 28-35 mm from the bottom of 50.8: 0.5512-0.689
    framing = Framing(head=0.55, top=0.12, width=600, height=600)
    assert 0.5512 < framing.eye_height < 0.689
    assert measure(preview(framing), us, "white").passed is True
    low_eyes = Framing(head=0.55, top=0.30, width=600, height=600)  # eyes 0.42 from the bottom
    assert "eye_height" in [m.measure for m in measure(preview(low_eyes), us, "white").failed]
    small_face = measure(preview(Framing(head=0.45)), spec_options("cn-passport"), "white")
    assert "face_width" in [m.measure for m in small_face.failed]


@pytest.mark.parametrize("framing", [Framing(), Framing(head=0.6, top=0.25), Framing(head=0.85, top=0.05)])
def test_the_watermark_does_not_move_any_measure(framing: Framing) -> None:
    clean = values(measure(preview(framing), ICAO, "white"))
    marked = values(measure(preview(framing, marked=True), ICAO, "white"))
    for name in ("head_height", "eye_height", "top_margin", "face_width", "centred"):
        assert marked[name] == pytest.approx(clean[name], abs=TRUE_WITHIN), name


@pytest.mark.parametrize(("color", "name"), [(WHITE, "white"), (BLUE, "blue")])
def test_the_watermark_over_the_top_corners_is_not_a_wrong_background(color: int, name: str) -> None:
    # 295 x 413 (make demo's default size): the stand-in's "SAMPLE" crosses the top-right corner, and
    # the finals' rule (a JPEG decoded at 1/8) read it 32 off white, 26 off blue.
    options = PhotoOptions(spec_id=1, background=(BackgroundColor(name, color, color),))
    body = preview(Framing(head=0.59, top=0.107, width=295, height=413), color, marked=True)
    background = next(m for m in measure(body, options, name).measures if m.measure == "background")
    assert background.ok is True and background.value is not None and background.value <= 4


def test_an_object_in_a_top_corner_is_a_wrong_background_under_the_watermark_too() -> None:
    import io

    from PIL import Image, ImageDraw

    body = preview(Framing(head=0.59, top=0.107, width=295, height=413), marked=True)
    with Image.open(io.BytesIO(body)) as opened:
        photo = opened.convert("RGB")
    ImageDraw.Draw(photo).rectangle((0, 0, 22, 30), fill=(200, 200, 200))  # a grey lamp, 22 x 30 px
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=92)
    options = PhotoOptions(spec_id=1, background=WHITE_BG)
    background = next(
        m for m in measure(buffer.getvalue(), options, "white").measures if m.measure == "background"
    )
    assert background.ok is False and background.value == pytest.approx(55, abs=3)


@pytest.mark.parametrize("index", range(4))
def test_each_framing_measure_is_compared_with_its_range_inclusively(index: int) -> None:
    """A range that ends exactly at the measured value passes; one 0.001 beyond it fails."""
    body = preview(Framing())
    name = compliance.FRAMING[index]
    value = values(measure(body, ICAO, "white"))[name]
    assert value is not None

    def verdict(low: float, high: float) -> bool | None:
        ratios = [-1.0] * 8
        ratios[2 * index], ratios[2 * index + 1] = low, high
        options = PhotoOptions(spec_id=3, ratios=tuple(ratios), background=WHITE_BG)
        return next(m for m in measure(body, options, "white").measures if m.measure == name).ok

    assert verdict(value, value) is True
    assert verdict(value + 0.001, 1.0) is False
    assert verdict(0.0, value - 0.001) is False


def test_the_universal_tolerances_are_inclusive_and_stated() -> None:
    report = measure(preview(Framing(shift=0.15)), ICAO, "white")
    centred = next(m for m in report.measures if m.measure == "centred")
    assert centred.high == compliance.CENTRE_TOLERANCE and centred.ok is False
    level = next(m for m in report.measures if m.measure == "eyes_level")
    assert level.high == compliance.TILT_TOLERANCE_DEG and level.ok is True


def test_without_framing_figures_a_preview_is_measured_but_never_refused() -> None:
    options = PhotoOptions(spec_id=1, background=WHITE_BG)  # cn-one-inch: no authority figures
    report = measure(preview(Framing(head=0.4)), options, "white")
    assert report.passed is None
    assert values(report)["head_height"] == pytest.approx(0.4, abs=TRUE_WITHIN)
    assert not failing(report.to_record())


def test_the_upload_s_own_ratios_are_the_range_and_say_so() -> None:
    options = PhotoOptions(spec_id=3, ratios=(0.4, 0.5, -1, -1, -1, -1, -1, -1), background=WHITE_BG)
    report = measure(preview(Framing(head=0.45)), options, "white")
    head = next(m for m in report.measures if m.measure == "head_height")
    assert head.source == "the upload's ratios" and head.ok is True


def test_a_preview_that_cannot_be_measured_refuses_payment_and_says_why() -> None:
    def broken(url: str) -> bytes:
        return b"not a jpeg"

    reports = check_previews(broken, ["https://vendor/p.jpg"], ["white"], ICAO)
    assert failing(reports["white"])
    assert "could not be measured" in failed_descriptions(reports["white"])[0]


def test_the_recorded_report_names_each_failed_measure_with_value_and_range() -> None:
    record = measure(preview(Framing(head=0.5)), ICAO, "white").to_record()
    assert record["failed"] == ["head_height"]
    (text,) = failed_descriptions(record)
    assert text.startswith("head_height 0.4") and "allowed 0.7111-0.8 of the photo height" in text


def test_a_head_width_spec_measures_the_head_at_the_ears_not_the_cheeks() -> None:
    """cn-passport's "head width" (the exit-entry standard's 头部宽度) is the head's outline at the ears;
    cn-id-card's face width (GA 461: between the ear roots) is the cheek-to-cheek landmark span."""
    body = preview(Framing(head=0.64, width=390, height=567))
    head = next(
        m for m in measure(body, spec_options("cn-passport"), "white").measures if m.measure == "face_width"
    )
    cheeks = next(
        m for m in measure(body, spec_options("cn-id-card"), "white").measures if m.measure == "face_width"
    )
    assert head.value is not None and cheeks.value is not None
    assert head.value > cheeks.value * 1.15  # hair and ears beside the cheeks
    assert head.note == compliance.HEAD_WIDTH_NOTE and cheeks.note == ""
    assert specs.width_measure(7) == "head" and specs.width_measure(6) == "face"
    assert specs.width_measure(3) == "face"  # no width figure on the id: cheek to cheek


def test_the_head_width_is_the_outline_on_the_ear_rows_and_the_watermark_does_not_widen_it() -> None:
    import io

    import numpy as np
    from PIL import Image

    from idphoto import faces

    body = preview(Framing(head=0.64, width=390, height=567), marked=True)
    rgb = np.array(Image.open(io.BytesIO(body)).convert("RGB"))
    marks = faces.models().landmarks(rgb, max(faces.models().detect(rgb), key=lambda b: b.score))
    white = WHITE_BG[0]
    before = compliance.head_width(rgb, marks, white)
    # Dark bars across the ears' rows, 40 px beyond each side of the measured head: the new outline.
    first, last = int(marks.eye_y), int(marks.eye_y + compliance.EAR_ROWS * (marks.chin_y - marks.eye_y))
    left, right = int(marks.centre_x - before / 2 - 40), int(marks.centre_x + before / 2 + 40)
    rgb[first:last, left : left + 10] = 0
    rgb[first:last, right - 10 : right] = 0
    assert compliance.head_width(rgb, marks, white) == pytest.approx(right - left, abs=2)
    clean = preview(Framing(head=0.64, width=390, height=567))
    passport = spec_options("cn-passport")
    marked = values(measure(body, passport, "white"))["face_width"]
    assert marked == pytest.approx(values(measure(clean, passport, "white"))["face_width"], abs=TRUE_WITHIN)
