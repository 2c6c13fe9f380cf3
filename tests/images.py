"""Images the tests make themselves: phone photos in every EXIF orientation, HEIC, AVIF, odd modes.

The portrait is scikit-image's public-domain astronaut (as in the demo), scaled and placed on a
canvas; the stored pixels of an oriented photo are the upright ones turned the opposite way, so that
a viewer that applies the EXIF orientation shows them upright (EXIF 2.32, 4.6.4 tag 0x0112).
"""

from __future__ import annotations

import io
from functools import cache

from PIL import Image

from local.stack import samples

# For each orientation, how to store upright pixels so that applying the orientation undoes it.
STORE = {
    1: (),
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_90,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_270,),
}


@cache
def _astronaut() -> Image.Image:
    return Image.open(io.BytesIO(samples.astronaut())).convert("RGB")


def portrait(
    width: int = 480, height: int = 640, background: tuple[int, int, int] = (128, 128, 128)
) -> Image.Image:
    """An upright portrait: the astronaut, as wide as the canvas allows, at the bottom centre."""
    side = min(width, height)
    person = _astronaut().resize((side, side), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (width, height), background)
    canvas.paste(person, ((width - side) // 2, height - side))
    return canvas


def stored(upright: Image.Image, orientation: int) -> Image.Image:
    image = upright
    for method in STORE[orientation]:
        image = image.transpose(method)
    return image


def jpeg(image: Image.Image, orientation: int = 1, quality: int = 90, **options: object) -> bytes:
    """``image`` as a JPEG whose EXIF says ``orientation``; pixels stored turned accordingly."""
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored(image, orientation).save(buffer, "JPEG", quality=quality, exif=exif.tobytes(), **options)
    return buffer.getvalue()


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    if fmt in ("HEIF", "HEIC"):
        import pillow_heif  # the full build encodes; the layer's pi-heif only decodes

        pillow_heif.register_heif_opener()
        fmt = "HEIF"
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def palette_with_transparency(width: int = 480, height: int = 640) -> bytes:
    """A palette PNG whose background (index of the top-left colour) is transparent."""
    image = portrait(width, height, background=(0, 255, 0)).quantize(colors=64)
    top_left = image.getpixel((0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=top_left)
    return buffer.getvalue()


def rgba_png(width: int = 480, height: int = 640) -> bytes:
    image = portrait(width, height).convert("RGBA")
    pixels = image.load()
    assert pixels is not None
    for x in range(width):
        for y in range(height // 8):
            pixels[x, y] = (0, 0, 0, 0)  # a transparent band at the top: becomes white
    return encoded(image, "PNG")


def sixteen_bit_grey_png(width: int = 480, height: int = 640) -> bytes:
    grey = portrait(width, height).convert("L")
    wide = grey.point(lambda v: v * 257, "I").convert("I;16")
    return encoded(wide, "PNG")


def cmyk_jpeg(width: int = 480, height: int = 640) -> bytes:
    return encoded(portrait(width, height).convert("CMYK"), "JPEG", quality=90)


def grey_jpeg(width: int = 480, height: int = 640) -> bytes:
    return encoded(portrait(width, height).convert("L"), "JPEG", quality=90)


def motion_photo(width: int = 480, height: int = 640) -> bytes:
    """A JPEG with a (fake) MP4 appended after its end marker, as phones store motion photos."""
    video = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x10\x00mdat" + bytes(4088)
    return jpeg(portrait(width, height)) + video


def truncated_jpeg(width: int = 480, height: int = 640) -> bytes:
    whole = jpeg(portrait(width, height))
    return whole[: len(whole) * 2 // 3]


def bomb_png(side: int = 20_000) -> bytes:
    """A tiny PNG file that would decode to ``side`` x ``side`` pixels (400 MP at the default)."""
    return encoded(Image.new("1", (side, side)), "PNG", optimize=True)
