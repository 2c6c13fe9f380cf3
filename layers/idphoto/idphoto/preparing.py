"""What the vendor downloads: the upload as it came, or a normalised copy of it.

An upright 8-bit YCbCr JPEG within the size limit goes as it came: no decode, no Pillow, no extra AWS
call; its end marker is still checked (pure Python), so a truncated one is refused here rather than
answered 506 by the vendor. Everything else (HEIC/AVIF/TIFF/PNG/WebP/BMP, EXIF rotation, CMYK,
greyscale, larger than the limit) is decoded and re-encoded by :mod:`idphoto.normalise`, imported only
then, and kept under the work prefix, which never triggers make-photo and expires with the uploads.

The vendor's own behaviour with EXIF orientation, HEIC or 48 MP input is not documented: nothing here
relies on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from idphoto import specs
from idphoto.errors import UnsupportedObject
from idphoto.imagefile import JpegHeader, image_format, jpeg_end, jpeg_header
from idphoto.options import PhotoOptions
from idphoto.source import SourceObject
from idphoto.storage import ObjectHead, PhotoStorage


@dataclass(frozen=True, slots=True)
class Prepared:
    key: str  # the object the vendor downloads
    version_id: str | None
    width: int  # upright pixel size of what the vendor gets
    height: int
    note: str | None = None  # what was done; None: sent as it came


def photo_size(options: PhotoOptions) -> tuple[int, int] | None:
    """The asked photo's pixel size: the custom size, else the spec's; None when neither is known."""
    spec = next((s for s in specs.active() if s.spec_id == options.spec_id), None)
    width = options.width_px or (spec.width_px if spec else None)
    height = options.height_px or (spec.height_px if spec else None)
    return (width, height) if width and height else None


# A frame blown up by at most this much still looks sharp at print size (resampling hides it).
MAX_BLOW_UP = 1.25


def check_big_enough(size: tuple[int, int], photo: tuple[int, int] | None) -> None:
    """Refuse an upload whose largest frame of the photo's shape must be blown up past MAX_BLOW_UP.

    The photo's frame (head plus margins) is at most the whole upload; when even that is much smaller
    than the photo, every pixel of the result is blown up (a 112 x 112 crop made into 295 x 413).
    Refused, not warned about: the result is an ID photo, whose rules ask for a sharp image, its
    final is billed, and no spec we know accepts a blurred one.
    """
    if photo is None:
        return
    width, height = size
    photo_w, photo_h = photo
    frame_h = min(height, width * photo_h / photo_w)
    if frame_h * MAX_BLOW_UP < photo_h:
        frame_w = frame_h * photo_w / photo_h
        raise UnsupportedObject(
            f"the uploaded image is {width}x{height} px, too small for a {photo_w}x{photo_h} px photo:"
            f" the largest frame of that shape in it is {frame_w:.0f}x{frame_h:.0f} px and would be"
            f" blown up {photo_h / frame_h:.1f}x; upload at least {photo_w}x{photo_h} px"
            " (a portrait a few times larger makes a sharp photo)"
        )


def prepare(
    storage: PhotoStorage, source: SourceObject, head: ObjectHead, options: PhotoOptions, max_side: int
) -> Prepared:
    """Raises UnsupportedObject with the reason when the upload cannot become the photo."""
    fmt = image_format(head.first_bytes) or "unknown"
    data = head.data
    header = jpeg_header(data) if fmt == "jpeg" else None
    if header is not None and _as_it_came(header, max_side):
        if jpeg_end(data) is None:
            raise UnsupportedObject(
                f"the uploaded JPEG is truncated: its {len(data)} bytes end inside the image"
                " (no end-of-image marker); upload the whole file"
            )
        check_big_enough((header.width, header.height), photo_size(options))
        return Prepared(source.key, source.version_id, header.width, header.height)
    from idphoto import normalise  # here, not at the top: Pillow only for uploads that need it

    done = normalise.normalise(data, fmt, max_side=max_side)
    check_big_enough(done.upright, photo_size(options))
    key = storage.work_key(source.key, source.version_tag)
    storage.put_work(key, done.jpeg)
    return Prepared(key, None, done.width, done.height, done.note)


def _as_it_came(header: JpegHeader, max_side: int) -> bool:
    """8-bit colour, upright, within the size limit: every JPEG decoder shows it as the uploader saw it."""
    small = not max_side or max(header.width, header.height) <= max_side
    return header.components == 3 and header.precision == 8 and header.orientation == 1 and small
