"""Checks of a kept final: size, JPEG, file size, background, and the lossless dpi stamp."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from idphoto.checks import Asked, Inspection, jfif_dpi, jpeg_size, set_dpi
from idphoto.options import BackgroundColor

WHITE = BackgroundColor("white", 0xFFFFFF, 0xFFFFFF)
BLUE = BackgroundColor("blue", 0x438EDB, 0x438EDB)
SKY = BackgroundColor("sky", 0x87CEEB, 0xFFFFFF)


def photo(width: int, height: int, top: int = 0xFFFFFF, bottom: int | None = None, dpi: int = 72) -> bytes:
    """A portrait-like JPEG: a background (plain or vertical gradient) with a dark 'person' in the middle."""
    bottom = top if bottom is None else bottom
    weights = np.linspace(0, 1, height)[:, None, None]
    start = np.array([(top >> 16) & 255, (top >> 8) & 255, top & 255], dtype=np.float64)
    end = np.array([(bottom >> 16) & 255, (bottom >> 8) & 255, bottom & 255], dtype=np.float64)
    pixels: np.ndarray = start * (1 - weights) + end * weights
    pixels = np.repeat(pixels, width, axis=1)
    pixels[height // 5 :, width // 4 : 3 * width // 4] = (60, 40, 30)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "JPEG", quality=90, dpi=(dpi, dpi))
    return buffer.getvalue()


def asked(**changes: object) -> Asked:
    values: dict[str, object] = {
        "width_px": 413,
        "height_px": 531,
        "min_kb": None,
        "max_kb": None,
        "background": WHITE,
        "dpi": 300,
    }
    values.update(changes)
    return Asked(**values)  # type: ignore[arg-type]


def results(inspection: Inspection) -> dict[str, bool]:
    return {r["rule"]: r["ok"] for r in inspection.results}


def test_given_the_asked_final_then_every_check_passes_and_the_dpi_is_stamped() -> None:
    body = photo(413, 531)
    inspection = Inspection(asked(max_kb=240))

    kept = inspection(body)

    assert results(inspection) == {
        "jpeg": True,
        "pixel_size": True,
        "file_size": True,
        "background": True,
        "dpi": True,
    }
    assert inspection.failed == []
    assert jfif_dpi(body) == 72 and jfif_dpi(kept) == 300
    with Image.open(io.BytesIO(kept)) as image:
        assert image.info["dpi"] == (300, 300)


def test_the_dpi_stamp_is_a_header_edit_the_pixels_and_length_stay() -> None:
    body = photo(120, 160)
    kept = set_dpi(body, 350)

    assert len(kept) == len(body) and kept[20:] == body[20:]  # JFIF APP0 ends at byte 20
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(kept))), np.asarray(Image.open(io.BytesIO(body))))


def test_a_jpeg_without_jfif_gets_one_inserted() -> None:
    body = photo(120, 160)
    length = int.from_bytes(body[4:6], "big")
    bare = body[:2] + body[4 + length :]  # drop the JFIF APP0 segment
    assert jfif_dpi(bare) is None

    kept = set_dpi(bare, 300)

    assert jfif_dpi(kept) == 300 and jpeg_size(kept) == (120, 160)
    assert Image.open(io.BytesIO(kept)).size == (120, 160)


def test_given_a_wrong_pixel_size_then_the_check_fails_with_the_measured_size() -> None:
    inspection = Inspection(asked())

    inspection(photo(400, 531))

    (failed,) = inspection.failed
    assert failed == {"rule": "pixel_size", "asked": "413 x 531 px", "measured": "400 x 531 px", "ok": False}


def test_given_an_oversized_file_then_the_file_size_check_fails() -> None:
    body = photo(413, 531)
    inspection = Inspection(asked(max_kb=1))

    kept = inspection(body)

    assert results(inspection)["file_size"] is False
    assert inspection.failed[0]["measured"] == f"{len(body) / 1024:.1f} KB"
    assert jfif_dpi(kept) == 300  # a failed check warns, the final is still kept


def test_given_an_undersized_file_then_the_file_size_check_fails() -> None:
    inspection = Inspection(asked(min_kb=500))

    inspection(photo(413, 531))

    assert [r["rule"] for r in inspection.failed] == ["file_size"]


def test_given_a_wrong_background_then_the_background_check_fails() -> None:
    inspection = Inspection(asked(background=BLUE))

    inspection(photo(413, 531, top=0xFFFFFF))

    (failed,) = inspection.failed
    assert failed["rule"] == "background" and failed["measured"].startswith("#ffffff")


def test_given_a_gradient_then_the_corners_are_compared_with_the_gradient_at_their_height() -> None:
    right = Inspection(asked(background=SKY))
    plain = Inspection(asked(background=BackgroundColor("sky", 0xFFFFFF, 0xFFFFFF)))

    right(photo(413, 531, top=0x87CEEB, bottom=0xFFFFFF))
    plain(photo(413, 531, top=0x87CEEB, bottom=0xFFFFFF))

    assert right.failed == []
    assert [r["rule"] for r in plain.failed] == ["background"]


def test_given_no_jpeg_then_only_the_jpeg_check_is_reported_failed_and_the_body_is_untouched() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (413, 531), "white").save(buffer, "PNG")
    inspection = Inspection(asked())

    kept = inspection(buffer.getvalue())

    assert kept == buffer.getvalue()
    assert [(r["rule"], r["ok"]) for r in inspection.results] == [("jpeg", False)]


def test_asked_comes_from_the_record_options_and_the_specs_dpi() -> None:
    options = {
        "spec_id": 6,
        "background": [{"name": "white", "top": 0xFFFFFF, "bottom": 0xFFFFFF}],
        "file_size_max": 40,
    }

    got = Asked.of(options, "white")

    assert got == Asked(358, 441, None, 40, WHITE, 350)
    assert Asked.of({"spec_id": 999}, "white") == Asked(None, None, None, None, None, None)
