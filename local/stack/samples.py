"""Sample portraits made on the spot: nothing is downloaded when the demo or the tests run.

``skimage.data.astronaut()`` (a public-domain NASA portrait shipped inside scikit-image) is the first;
the second is the same person mirrored, smaller and on a wider canvas, so that crop and face detection
have different work to do.
"""

from __future__ import annotations

import io
from functools import cache

from PIL import Image, ImageOps
from skimage import data


def _jpeg(image: Image.Image, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _astronaut() -> Image.Image:
    pixels = data.astronaut()  # type: ignore[no-untyped-call]
    return Image.fromarray(pixels)


@cache
def astronaut() -> bytes:
    return _jpeg(_astronaut())


@cache
def astronaut_mirrored() -> bytes:
    """Mirrored, scaled to 75 %, centred on a grey 640 x 560 canvas."""
    person = ImageOps.mirror(_astronaut()).resize((384, 384), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (640, 560), (128, 128, 128))
    canvas.paste(person, ((640 - 384) // 2, 560 - 384))
    return _jpeg(canvas)


def phone_portrait(width: int = 3000, height: int = 4000) -> Image.Image:
    """An upright phone-sized portrait: the astronaut scaled to the canvas width, at the bottom."""
    side = min(width, height)
    person = _astronaut().resize((side, side), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (width, height), (128, 128, 128))
    canvas.paste(person, ((width - side) // 2, height - side))
    return canvas


@cache
def large_portrait() -> bytes:
    """A 1500 x 2000 upright portrait: enough pixels for every named spec's photo (the 512 px
    astronaut would have to be blown up for the larger ones, which make-photo refuses)."""
    return _jpeg(phone_portrait(1500, 2000))


@cache
def phone_sideways() -> bytes:
    """A 12 MP phone photo as phones store it: pixels sideways (landscape), EXIF orientation 6."""
    stored = phone_portrait().transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=92, exif=exif.tobytes())
    return buffer.getvalue()


@cache
def iphone_heic() -> bytes:
    """A 12 MP HEIC, as an iPhone stores photos by default."""
    import pillow_heif  # the full build: it encodes (the layer's pi-heif only decodes)

    pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    phone_portrait().save(buffer, "HEIF", quality=80)
    return buffer.getvalue()


def not_an_image() -> bytes:
    return b"This is a text file with a .jpg name, not a portrait.\n"
