"""Photos as phones and cameras make them, through the whole local stack.

The stand-in ignores EXIF orientation and reads neither HEIC nor AVIF (as a vendor that decodes raw
pixels may): a photo that reached it sideways or as HEIC would fail with 506/507. So READY here
proves the normalised copy was upright and a JPEG; comparing the final with the one made from the
upright upload proves it was not mirrored either. Every failure must have cost no vendor call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from local.stack import Stack
from tests import images
from tests.integration.conftest import image, vendor_delta
from tests.integration.test_pipeline import download, finals_of

pytestmark = pytest.mark.integration

# A 1200 x 1600 portrait: big enough for every spec, small enough to keep the tests quick.
UPRIGHT = images.portrait(1200, 1600)


def _made(
    stack: Stack, key: str, body: bytes, content_type: str = "image/jpeg"
) -> tuple[dict[str, Any], int]:
    before = stack.vendor_stats()
    record = stack.wait_for_photo(stack.upload(key, body, {"background": "white"}, content_type))
    after = stack.vendor_stats()
    return record, vendor_delta(before, after, "make_calls")


def _final(stack: Stack, record: dict[str, Any]) -> Image.Image:
    return image(download(finals_of(stack, record["key"])["finals"][0]["photo_url"]))


def _difference(a: Image.Image, b: Image.Image) -> float:
    return float(sum(ImageStat.Stat(ImageChops.difference(a, b)).mean))


@pytest.fixture(scope="module")
def reference(stack: Stack) -> Image.Image:
    record, _ = _made(stack, "it/phone-reference.jpg", images.jpeg(UPRIGHT))
    assert record["status"] == "READY", record
    assert "prepared" not in record  # an upright JPEG within the limit goes as it came
    return _final(stack, record)


@pytest.mark.parametrize("orientation", range(2, 9))
def test_every_exif_orientation_becomes_an_upright_photo(
    stack: Stack, key: str, reference: Image.Image, orientation: int
) -> None:
    record, make_calls = _made(stack, key, images.jpeg(UPRIGHT, orientation=orientation))

    assert record["status"] == "READY", record.get("error")
    assert make_calls == 1
    assert "rotated" in record["prepared"] or "mirrored" in record["prepared"]
    final = _final(stack, record)
    mirrored = reference.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert _difference(final, reference) < _difference(final, mirrored) / 2


@pytest.mark.parametrize(
    ("name", "make", "content_type", "note"),
    [
        ("heic", lambda: images.encoded(UPRIGHT, "HEIC"), "image/heic", "converted from HEIC"),
        ("avif", lambda: images.encoded(UPRIGHT, "AVIF"), "image/avif", "converted from AVIF"),
        ("tiff", lambda: images.encoded(UPRIGHT, "TIFF"), "image/tiff", "converted from TIFF"),
        ("cmyk", lambda: images.cmyk_jpeg(1200, 1600), "image/jpeg", "CMYK converted to RGB"),
        ("grey", lambda: images.grey_jpeg(1200, 1600), "image/jpeg", "greyscale converted to RGB"),
        ("16-bit", lambda: images.sixteen_bit_grey_png(1200, 1600), "image/png", "16-bit greyscale"),
        (
            "palette",
            lambda: images.palette_with_transparency(1200, 1600),
            "image/png",
            "palette with transparency",
        ),
        (
            "huge",
            lambda: images.jpeg(images.portrait(6000, 8000), quality=60),
            "image/jpeg",
            "scaled 6000x8000 -> 1500x2000",
        ),
    ],
)
def test_odd_uploads_are_normalised_and_made(
    stack: Stack, key: str, name: str, make: Callable[[], bytes], content_type: str, note: str
) -> None:
    suffix = {"heic": ".heic", "avif": ".avif", "tiff": ".tiff"}.get(
        name, ".png" if "png" in content_type else ".jpg"
    )
    record, make_calls = _made(stack, key.removesuffix(".jpg") + suffix, make(), content_type)

    assert record["status"] == "READY", record.get("error")
    assert make_calls == 1
    assert note in record["prepared"]


def test_a_motion_photo_is_made_as_it_came(stack: Stack, key: str) -> None:
    video_after_the_image = images.motion_photo(1200, 1600)

    record, make_calls = _made(stack, key, video_after_the_image)

    assert record["status"] == "READY", record.get("error")
    assert make_calls == 1
    assert "prepared" not in record


@pytest.mark.parametrize(
    ("name", "body", "reason"),
    [
        ("truncated", images.truncated_jpeg(1200, 1600), "truncated"),
        ("bomb", images.bomb_png(), "megapixels"),
        ("empty", b"", "empty"),
        ("too-small", images.jpeg(images.portrait(112, 112)), "112x112 px, too small for a 295x413 px photo"),
        ("cut-heic", images.encoded(UPRIGHT, "HEIC")[:20_000], "HEIC"),
    ],
)
def test_what_the_vendor_would_refuse_fails_before_it(
    stack: Stack, key: str, name: str, body: bytes, reason: str
) -> None:
    suffix = ".heic" if "heic" in name else ".png" if name == "bomb" else ".jpg"

    record, make_calls = _made(stack, key.removesuffix(".jpg") + suffix, body)

    assert record["status"] == "FAILED"
    assert record["error"]["code"] == "UNSUPPORTED_OBJECT"
    assert reason in record["error"]["message"]
    assert make_calls == 0
