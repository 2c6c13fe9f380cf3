"""Uploads as phones and cameras make them: what goes to the vendor as it came, what is normalised."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from idphoto.errors import UnsupportedObject
from idphoto.imagefile import image_format, jpeg_end, jpeg_header
from idphoto.normalise import normalise
from idphoto.options import PhotoOptions
from idphoto.preparing import check_big_enough, prepare
from idphoto.storage import PhotoStorage
from tests import images
from tests.unit.conftest import BUCKET, upload

MAX_SIDE = 2000


def _marker_at(image: Image.Image) -> tuple[int, int]:
    """Where the red marker (top-left corner of the upright picture) ended up, as quadrant signs."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    corners = {
        (0, 0): (5, 5),
        (1, 0): (width - 6, 5),
        (0, 1): (5, height - 6),
        (1, 1): (width - 6, height - 6),
    }
    return max(corners, key=lambda c: _redness(rgb.getpixel(corners[c])))


def _redness(pixel: Any) -> int:
    r, g, b = pixel[:3]
    return int(r) - int(g) - int(b)


def _marked(width: int = 300, height: int = 400) -> Image.Image:
    """A plain upright picture with a red block in its top-left corner."""
    image = Image.new("RGB", (width, height), (40, 40, 200))
    image.paste((255, 0, 0), (0, 0, width // 5, height // 5))
    return image


def _decoded(jpeg: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG"
    return image


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_ends_upright(orientation: int) -> None:
    data = images.jpeg(_marked(), orientation=orientation)

    done = normalise(data, "jpeg", max_side=MAX_SIDE)

    made = _decoded(done.jpeg)
    assert made.size == (300, 400)
    assert _marker_at(made) == (0, 0)
    assert "0x0112" not in str(dict(made.getexif()))  # no orientation left for a viewer to re-apply
    if orientation != 1:
        assert "rotated" in done.note or "mirrored" in done.note


@pytest.mark.parametrize("orientation", [6, 8])
def test_the_jpeg_header_tells_orientation_and_upright_size_without_pillow(orientation: int) -> None:
    header = jpeg_header(images.jpeg(_marked(300, 400), orientation=orientation))

    assert header is not None
    assert header.orientation == orientation
    assert (header.width, header.height) == (400, 300)  # stored sideways
    assert header.upright_size == (300, 400)


@pytest.mark.parametrize(
    ("fmt", "make", "expected_format", "note"),
    [
        ("heic", lambda: images.encoded(images.portrait(), "HEIC"), "heic", "converted from HEIC"),
        ("avif", lambda: images.encoded(images.portrait(), "AVIF"), "avif", "converted from AVIF"),
        ("tiff", lambda: images.encoded(images.portrait(), "TIFF"), "tiff", "converted from TIFF"),
        ("cmyk", images.cmyk_jpeg, "jpeg", "CMYK converted to RGB"),
        ("grey", images.grey_jpeg, "jpeg", "greyscale converted to RGB"),
        ("16-bit", images.sixteen_bit_grey_png, "png", "16-bit greyscale converted to 8-bit RGB"),
        (
            "palette",
            images.palette_with_transparency,
            "png",
            "palette with transparency flattened onto white",
        ),
        ("rgba", images.rgba_png, "png", "transparency flattened onto white"),
    ],
)
def test_odd_formats_and_modes_become_an_8_bit_rgb_jpeg(
    fmt: str, make: Any, expected_format: str, note: str
) -> None:
    data = make()
    assert image_format(data[:64]) == expected_format

    done = normalise(data, expected_format, max_side=MAX_SIDE)

    made = _decoded(done.jpeg)
    assert made.mode == "RGB"
    assert made.size == (480, 640)
    assert note in done.note


def test_transparency_is_flattened_onto_white() -> None:
    done = normalise(images.palette_with_transparency(), "png", max_side=MAX_SIDE)

    r, g, b = _decoded(done.jpeg).convert("RGB").getpixel((2, 2))  # type: ignore[misc]
    assert min(r, g, b) > 240  # white, not the green the transparent index holds


def test_sixteen_bit_keeps_its_tones() -> None:
    done = normalise(images.sixteen_bit_grey_png(), "png", max_side=MAX_SIDE)

    made = _decoded(done.jpeg).convert("L")
    low, high = made.getextrema()
    assert isinstance(low, int)
    assert isinstance(high, int)
    assert high - low > 150  # scaled into 8 bits, not clipped to white


def test_a_large_photo_is_scaled_to_the_long_side_and_says_so() -> None:
    data = images.jpeg(images.portrait(6000, 4000), quality=70)

    done = normalise(data, "jpeg", max_side=MAX_SIDE)

    assert (done.width, done.height) == (2000, 1333)
    assert done.note == "scaled 6000x4000 -> 2000x1333"
    assert done.upright == (6000, 4000)


def test_a_48_megapixel_jpeg_is_decoded_in_draft_mode_within_memory(tmp_path: Path) -> None:
    """In its own interpreter, so that the peak RSS is this decode's (ru_maxrss never goes down).

    Decoded at full size, 8000 x 6000 RGB alone is 144 MB; in draft mode (1/4 scale) it is 9 MB.
    """
    photo = tmp_path / "48mp.jpg"
    photo.write_bytes(images.jpeg(images.portrait(6000, 8000), orientation=6, quality=70))
    # VmHWM, the peak RSS, starts afresh at exec (ru_maxrss would carry over this process's own).
    code = (
        "import sys\n"
        "from idphoto.normalise import normalise\n"
        "def peak(): return int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "before = peak()\n"
        "done = normalise(data, 'jpeg', max_side=2000)\n"
        "print(done.width, done.height, (peak() - before) // 1024, done.note)\n"
    )
    answer = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code, str(photo)], capture_output=True, text=True, check=True, timeout=300
    )
    width, height, grew_mb, note = answer.stdout.split(maxsplit=3)
    assert (width, height) == ("1500", "2000")
    assert note.strip() == "rotated 90°, scaled 6000x8000 -> 1500x2000"
    assert int(grew_mb) < 100


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    data = images.bomb_png()
    assert len(data) < 200_000

    with pytest.raises(UnsupportedObject, match="more than 120 megapixels"):
        normalise(data, "png", max_side=MAX_SIDE)


@pytest.mark.parametrize("fmt", ["PNG", "HEIC", "JPEG"])
def test_a_truncated_file_is_refused_with_a_reason(fmt: str) -> None:
    whole = images.jpeg(images.portrait()) if fmt == "JPEG" else images.encoded(images.portrait(), fmt)
    cut = whole[: len(whole) * 2 // 3]

    with pytest.raises(UnsupportedObject, match=r"damaged or truncated|cannot be read"):
        normalise(cut, image_format(cut) or "", max_side=MAX_SIDE)


def test_jpeg_end_tells_a_truncated_jpeg_from_a_motion_photo() -> None:
    whole = images.jpeg(images.portrait())
    progressive = images.jpeg(images.portrait(), progressive=True)

    assert jpeg_end(whole) == len(whole)
    assert jpeg_end(progressive) == len(progressive)
    assert jpeg_end(images.truncated_jpeg()) is None
    motion = images.motion_photo()
    assert jpeg_end(motion) == len(whole)
    assert len(motion) > len(whole)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "heic"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", "heic"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "avif"),
        (b"\x00\x00\x00\x14ftypmif1\x00\x00\x00\x00mif1", "heif"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", None),  # a video is no portrait
        (b"II*\x00\x08\x00\x00\x00", "tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "tiff"),
    ],
)
def test_formats_are_told_by_their_signature(data: bytes, expected: str | None) -> None:
    assert image_format(data) == expected


# --- preparing: what the vendor gets ---------------------------------------------------------


@pytest.fixture
def storage(aws: dict[str, Any]) -> PhotoStorage:
    return PhotoStorage(aws["s3"], BUCKET, "uploads/", "finals/", "work/")


class CountingS3:
    """Wraps the S3 client and counts the calls, to prove an ordinary JPEG costs no extra one."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if callable(attribute) and not name.startswith("generate_presigned"):
            self.calls.append(name)
        return attribute


def _prepared(aws: dict[str, Any], body: bytes, key: str = "uploads/me.jpg", spec: int = 1) -> Any:
    counting = CountingS3(aws["s3"])
    storage = PhotoStorage(counting, BUCKET, "uploads/", "finals/", "work/")  # type: ignore[arg-type]
    source = upload(aws["s3"], key, body)
    head = storage.peek(source.key, source.version_id, read_all=lambda first, size: True)
    prepared = prepare(storage, source, head, PhotoOptions(spec_id=spec), MAX_SIDE)
    return prepared, counting.calls, source


def test_an_upright_jpeg_within_the_limit_goes_as_it_came_with_one_get(aws: dict[str, Any]) -> None:
    prepared, calls, source = _prepared(aws, images.jpeg(images.portrait()))

    assert (prepared.key, prepared.note) == (source.key, None)
    assert calls == ["get_object"]


def test_a_motion_photo_goes_as_it_came(aws: dict[str, Any]) -> None:
    prepared, calls, source = _prepared(aws, images.motion_photo())

    assert (prepared.key, prepared.note) == (source.key, None)
    assert calls == ["get_object"]


def test_a_truncated_upright_jpeg_is_refused_before_the_vendor(aws: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedObject, match="truncated"):
        _prepared(aws, images.truncated_jpeg())


def test_a_sideways_photo_is_kept_upright_under_the_work_prefix(aws: dict[str, Any]) -> None:
    prepared, calls, source = _prepared(
        aws, images.jpeg(images.portrait(), orientation=6), key="uploads/a b.jpg"
    )

    assert prepared.key == f"work/a b.jpg/{source.version_tag}.jpg"
    assert prepared.note == "rotated 90°"
    assert calls == ["get_object", "put_object"]
    kept = aws["s3"].get_object(Bucket=BUCKET, Key=prepared.key)
    assert kept["ContentType"] == "image/jpeg"
    assert Image.open(io.BytesIO(kept["Body"].read())).size == (480, 640)


def test_a_heic_is_converted(aws: dict[str, Any]) -> None:
    prepared, _, _ = _prepared(aws, images.encoded(images.portrait(), "HEIC"), key="uploads/me.heic")

    assert prepared.note == "converted from HEIC"
    assert prepared.key.startswith("work/")


def test_a_photo_too_small_for_the_spec_is_refused_with_the_sizes(aws: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedObject, match=r"112x112 px, too small for a 295x413 px photo.*80x112"):
        _prepared(aws, images.jpeg(images.portrait(112, 112)))


def test_big_enough_is_judged_on_the_largest_frame_of_the_photo_shape() -> None:
    check_big_enough((295, 413), (295, 413))
    check_big_enough((2000, 413), (295, 413))
    check_big_enough((640, 560), (600, 600))  # 1.07x: within what resampling hides
    with pytest.raises(UnsupportedObject, match=r"blown up 1\.4x"):
        check_big_enough((413, 295), (295, 413))
    check_big_enough((10, 10), None)  # a spec we know no size of: the vendor judges it
