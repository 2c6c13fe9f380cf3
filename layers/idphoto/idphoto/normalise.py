"""An upload the vendor should not get as it came, made into an upright 8-bit sRGB JPEG.

Imported only for such uploads (:mod:`idphoto.preparing` decides): Pillow and pi-heif cost cold-start
time that an ordinary upright JPEG must not pay.

- The whole file is decoded, so a truncated PNG/HEIC/... fails here with a reason, not at the vendor.
- Decompression bombs: the pixel size in the header is checked before any pixel is decoded. JPEGs are
  decoded in draft mode, i.e. by libjpeg at 1/2, 1/4 or 1/8 scale (the largest still at least the
  target size), which keeps a 48 MP photo's decode at a few MB instead of 144 MB.
- EXIF orientation is applied (HEIF's own rotation, ``irot``/``imir``, is applied by libheif, which
  then reports orientation 1); alpha is flattened onto white (ID photos have a plain background and a
  transparent one is most often a cut-out on white); palette, greyscale, 16-bit and CMYK become RGB;
  an embedded ICC profile (Display P3 from phones, CMYK press profiles) is converted to sRGB.
- The copy carries no metadata: EXIF (GPS position included) is dropped.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from PIL import Image, ImageCms, UnidentifiedImageError

from idphoto.errors import UnsupportedObject

# Refused before decoding. 120 MP covers every phone and nearly every camera (Pillow's own bomb
# check warns at 89 MP); a JPEG decodes at reduced scale, other formats at full size, so those must
# also fit DECODED_PIXELS_MAX (64 MP of RGBA = 256 MB; a 48 MP HEIC from an iPhone is 8064 x 6048).
SOURCE_PIXELS_MAX = 120_000_000
DECODED_PIXELS_MAX = 64_000_000
JPEG_QUALITY = 90
WHITE = (255, 255, 255)
_ROTATION = {3: "rotated 180°", 6: "rotated 90°", 8: "rotated 270°"}
_MIRRORED = {
    2: "mirrored",
    4: "mirrored vertically",
    5: "rotated 90° and mirrored",
    7: "rotated 270° and mirrored",
}
_FORMAT_NAMES = {
    "heic": "HEIC",
    "heif": "HEIF",
    "avif": "AVIF",
    "tiff": "TIFF",
    "png": "PNG",
    "webp": "WebP",
    "bmp": "BMP",
    "jpeg": "JPEG",
}

_heif_registered = False


@dataclass(frozen=True, slots=True)
class Normalised:
    jpeg: bytes
    width: int
    height: int
    note: str  # what was done, e.g. "converted from HEIC, rotated 90°, scaled 6000x4000 -> 2000x1333"
    upright: tuple[int, int]  # the upload's own pixel size once upright, before any scaling


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        import pi_heif  # only HEIC/HEIF uploads pay for loading libheif

        pi_heif.register_heif_opener()
        _heif_registered = True


def normalise(data: bytes, fmt: str, *, max_side: int) -> Normalised:
    """``fmt`` as :func:`idphoto.imagefile.image_format` named it; ``max_side`` 0: never scale."""
    if fmt in ("heic", "heif"):
        _register_heif()
    try:
        image = Image.open(io.BytesIO(data), formats=None)
    except Image.DecompressionBombError:
        # Pillow's own guard (twice Image.MAX_IMAGE_PIXELS) fires at open, before ours could.
        raise UnsupportedObject(
            f"the uploaded image is more than {SOURCE_PIXELS_MAX // 1_000_000} megapixels"
            " (refused before decoding: a decompression bomb or a far too large photo)"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise UnsupportedObject(
            f"the uploaded {_FORMAT_NAMES.get(fmt, fmt)} file cannot be read: {exc}"
        ) from None
    with image:
        return _normalise(image, fmt, max_side)


def _normalise(image: Image.Image, fmt: str, max_side: int) -> Normalised:
    name = _FORMAT_NAMES.get(fmt, fmt.upper())
    width, height = image.size
    if width * height > SOURCE_PIXELS_MAX:
        raise UnsupportedObject(
            f"the uploaded image is {width}x{height} px, more than {SOURCE_PIXELS_MAX // 1_000_000} megapixels"
        )
    notes: list[str] = []
    if fmt != "jpeg":
        notes.append(f"converted from {name}")
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # an animated WebP or a multi-page TIFF: the first frame is the portrait
    orientation = _orientation(image)
    if max_side and image.format == "JPEG" and max(width, height) > max_side:
        scale = max_side / max(width, height)
        image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
    if image.width * image.height > DECODED_PIXELS_MAX:
        raise UnsupportedObject(
            f"the uploaded image is {width}x{height} px: decoding it would take more memory than allowed"
            f" ({DECODED_PIXELS_MAX // 1_000_000} megapixels)"
        )
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        # What Pillow's decoders raise on bad data; a bug of ours (TypeError...) stays a bug.
        raise UnsupportedObject(f"the uploaded {name} image is damaged or truncated: {exc}") from None
    icc = image.info.get("icc_profile")
    rgb, mode_note = _to_rgb(image)
    if mode_note:
        notes.append(mode_note)
    if icc and _to_srgb(rgb, icc):
        notes.append("colour profile converted to sRGB")
    if orientation != 1:
        rgb = _orient(rgb, orientation)
        notes.append(
            _ROTATION.get(orientation) or _MIRRORED.get(orientation, f"orientation {orientation} applied")
        )
    upright = (height, width) if orientation >= 5 else (width, height)
    if max_side and max(upright) > max_side:
        scale = max_side / max(upright)
        target = (max(1, round(upright[0] * scale)), max(1, round(upright[1] * scale)))
        rgb = rgb.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
        notes.append(f"scaled {upright[0]}x{upright[1]} -> {target[0]}x{target[1]}")
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=False)
    return Normalised(buffer.getvalue(), rgb.width, rgb.height, ", ".join(notes) or "re-encoded", upright)


def _orientation(image: Image.Image) -> int:
    try:
        value = int(image.getexif().get(0x0112, 1))
    except (TypeError, ValueError, SyntaxError, OSError):
        return 1
    return value if 1 <= value <= 8 else 1


_TRANSPOSE = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


def _orient(image: Image.Image, orientation: int) -> Image.Image:
    """EXIF orientation applied, as ImageOps.exif_transpose does (same table), without its EXIF rewrite."""
    for method in _TRANSPOSE.get(orientation, ()):
        image = image.transpose(method)
    return image


def _to_rgb(image: Image.Image) -> tuple[Image.Image, str]:
    """8-bit RGB, alpha flattened onto white; the note names the conversion when it was not RGB."""
    mode = image.mode
    if mode == "RGB":
        return image, ""
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        if image.mode == "RGB":
            return image, "palette converted to RGB"
        return _flatten(image), "palette with transparency flattened onto white"
    if mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        return _flatten(image.convert("RGBA")), "transparency flattened onto white"
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit greyscale: convert("L") would clip at 255, so scale 0-65535 down to 0-255 first.
        eight = image.convert("I").point(lambda v: v * (1 / 257)).convert("L")
        return eight.convert("RGB"), "16-bit greyscale converted to 8-bit RGB"
    if mode == "L" or mode == "1":
        return image.convert("RGB"), "greyscale converted to RGB"
    if mode == "CMYK":
        return image.convert("RGB"), "CMYK converted to RGB"
    return image.convert("RGB"), f"{mode} converted to RGB"


def _flatten(rgba: Image.Image) -> Image.Image:
    canvas = Image.new("RGB", rgba.size, WHITE)
    canvas.paste(rgba, mask=rgba.getchannel("A"))
    return canvas


def _to_srgb(rgb: Image.Image, icc: bytes) -> bool:
    """Convert in place from the embedded profile to sRGB; False (unchanged) when it is sRGB already or unusable."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile) or ""
        if "srgb" in description.lower() or profile.profile.xcolor_space.strip() != "RGB":
            return False  # a CMYK profile no longer fits the RGB pixels; Pillow's conversion stands
        ImageCms.profileToProfile(rgb, profile, ImageCms.createProfile("sRGB"), inPlace=True)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError, AttributeError):
        return False
    return True
