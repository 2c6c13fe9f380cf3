"""Pixels in and out: decoding, background, beauty filter, watermark, print sheet, sized JPEGs.

- Decoding uses Pillow and IGNORES EXIF orientation, as pipelines that decode raw pixels do (the real
  vendor's handling is not documented, so ours must not depend on it: a sideways phone photo arrives
  sideways and finds no face, 507). JPEG, PNG, WebP, BMP and TIFF decode; HEIC/AVIF are not accepted
  (506: nothing says the vendor reads them). Bytes that do not fully decode as an image, a truncated
  JPEG included, are vendor code 506; images over 50 megapixels are 507.
- Time grows with the input (``input_delay_s``): the download at ``DOWNLOAD_BYTES_PER_S`` and the
  decode at ``DECODE_S_PER_MEGAPIXEL``, slept on top of the real work, modelling a vendor that fetches
  pic_url across borders and decodes at full size (its documentation asks for about 1500 px).
- Background: the person (mask) over a plain colour, or a vertical gradient from ``start_color`` (top)
  to ``enc_color`` (bottom) when they differ.
- Beauty (``need_origin_beauty`` = 1, or any ``fair_level``): an edge-preserving bilateral filter
  blended over the portrait, stronger with the level (see ``beautify``).
- Previews carry a diagonal repeated "SAMPLE" watermark, dark-outlined white text, visible on any colour.
- The print sheet is 6 inch (1800 x 1200 px at 300 dpi, landscape): 8 one-inch cells in 4 x 2
  (``print_type`` 1) or 10 in 5 x 2 (``print_type`` 2), grey cut lines between them; a photo of another
  aspect is scaled to fit inside its 295 x 413 cell.
- ``file_size_max`` / ``file_size_min`` (KB = 1024 bytes) bind the watermark-free photo: the highest
  JPEG quality under the maximum is used (507 if even quality 5 is over it); below the minimum, quality
  goes up to 100 and then the file is padded with JPEG comment segments, which every decoder skips.
"""

import io
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from local.standin.contract import VendorError
from local.standin.specs import SHEET_CELL_PX, SHEET_DPI, SHEET_SIZE_PX
from local.standin.vision import Image, Mask, as_image, as_mask

MAX_PIXELS = 50_000_000
# The modelled cost of input size (see the module docstring): a 12 MP phone JPEG of 4 MB costs
# 0.4 s + 1.2 s; the same photo at 2000 px (2.7 MP, 0.5 MB) 0.05 s + 0.27 s.
DOWNLOAD_BYTES_PER_S = 10_000_000
DECODE_S_PER_MEGAPIXEL = 0.1
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "TIFF", "MPO"})
DEFAULT_QUALITY = 92
MIN_QUALITY = 5
MAX_QUALITY = 100
KB = 1024
WATERMARK_TEXT = "SAMPLE"
CUT_LINE_GREY = 170


def input_delay_s(size_bytes: int, pixels: int) -> float:
    return size_bytes / DOWNLOAD_BYTES_PER_S + pixels / 1e6 * DECODE_S_PER_MEGAPIXEL


def decode(data: bytes) -> Image:
    try:
        with PILImage.open(io.BytesIO(data)) as opened:
            if opened.format not in ACCEPTED_FORMATS:
                raise VendorError(506, f"the data at pic_url is not an image it reads ({opened.format})")
            if opened.width * opened.height > MAX_PIXELS:
                raise VendorError(507, "making the ID photo failed: image larger than 50 megapixels")
            opened.load()  # raw pixels: EXIF orientation is ignored on purpose (module docstring)
            rgb = opened.convert("RGB")
    except PILImage.DecompressionBombError as exc:
        raise VendorError(507, "making the ID photo failed: image too large") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise VendorError(506, "the data at pic_url is not an image") from exc
    return np.asarray(rgb, dtype=np.uint8)


def _rgb(value: int) -> np.ndarray:
    return np.array([(value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF], dtype=np.float32)


def background_column(height: int, start: int, end: int) -> Mask:
    """An (height, 1, 3) float column: broadcasting it over the width saves building the full plane."""
    weights = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None] if height > 1 else np.zeros((1, 1))
    column = _rgb(start) * (1 - weights) + _rgb(end) * weights
    return as_mask(column[:, None, :])


def composite(person: Image, mask: Mask, start: int, end: int) -> Image:
    alpha = mask[:, :, None]
    out = person.astype(np.float32) * alpha + background_column(person.shape[0], start, end) * (1 - alpha)
    return as_image(np.clip(out + 0.5, 0, 255))


# The vendor's direct API documents fair_level as a level 1-5, default 1
# (http://apicall.id-photo-verify.com/api_doc/pages/api_2.html); our contract only says "an integer"
# (423 otherwise), so other integers are accepted and clamped to the nearest documented level.
BEAUTY_LEVELS = (1, 5)
DEFAULT_BEAUTY_LEVEL = 1


def beauty_level(fair_level: int | None) -> int:
    low, high = BEAUTY_LEVELS
    return min(max(DEFAULT_BEAUTY_LEVEL if fair_level is None else fair_level, low), high)


def beautify(rgb: Image, level: int = DEFAULT_BEAUTY_LEVEL) -> Image:
    """Smoother skin the higher the level: the filter's colour range and its share of the result grow
    (level 1: 40 % of a light filter, level 5: the full strong filter, run twice), so a test can see
    which level arrived, e.g. by the face's local variance."""
    level = beauty_level(level)
    smooth = cv2.bilateralFilter(rgb, d=9, sigmaColor=20 + 10 * level, sigmaSpace=9)
    if level == BEAUTY_LEVELS[1]:
        smooth = cv2.bilateralFilter(smooth, d=9, sigmaColor=20 + 10 * level, sigmaSpace=9)
    weight = 0.4 + 0.15 * (level - 1)
    return as_image(cv2.addWeighted(smooth, weight, rgb, 1 - weight, 0))


@lru_cache(maxsize=32)
def _watermark_alphas(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(dark outline, light fill) alpha planes of the diagonal text, cached per size."""
    side = int(np.hypot(width, height)) + 2
    scale = min(max(min(width, height) / 500, 0.5), 1.5)  # readable on a photo, not huge on a sheet
    thickness = max(1, round(2 * scale))
    (text_w, text_h), _ = cv2.getTextSize(WATERMARK_TEXT, cv2.FONT_HERSHEY_DUPLEX, scale, thickness)
    dark = np.zeros((side, side), np.uint8)
    light = np.zeros((side, side), np.uint8)
    step_y = text_h * 4
    for row, y in enumerate(range(text_h, side, step_y)):
        offset = (row % 2) * (text_w // 2 + text_h)
        for x in range(-offset, side, text_w + 2 * text_h):
            origin = (x, y)
            cv2.putText(dark, WATERMARK_TEXT, origin, cv2.FONT_HERSHEY_DUPLEX, scale, 255, thickness + 2)
            cv2.putText(light, WATERMARK_TEXT, origin, cv2.FONT_HERSHEY_DUPLEX, scale, 255, thickness)
    turn = cv2.getRotationMatrix2D((side / 2, side / 2), 30, 1.0)
    planes = []
    for plane, strength in ((dark, 0.35), (light, 0.55)):
        rotated = cv2.warpAffine(plane, turn, (side, side))
        top, left = (side - height) // 2, (side - width) // 2
        crop = rotated[top : top + height, left : left + width].astype(np.float32) / 255 * strength
        crop.setflags(write=False)
        planes.append(crop[:, :, None])
    return planes[0], planes[1]


def watermark(rgb: Image) -> Image:
    dark, light = _watermark_alphas(rgb.shape[1], rgb.shape[0])
    out = rgb.astype(np.float32) * (1 - dark)
    out = out * (1 - light) + 255 * light
    return as_image(np.clip(out + 0.5, 0, 255))


def print_sheet(photo: Image, per_sheet: int) -> Image:
    sheet_w, sheet_h = SHEET_SIZE_PX
    cell_w, cell_h = SHEET_CELL_PX
    cols, rows = per_sheet // 2, 2
    scale = min(cell_w / photo.shape[1], cell_h / photo.shape[0])
    size = (max(1, round(photo.shape[1] * scale)), max(1, round(photo.shape[0] * scale)))
    fitted = cv2.resize(photo, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    gap_x = (sheet_w - cols * cell_w) // (cols + 1)
    gap_y = (sheet_h - rows * cell_h) // (rows + 1)
    canvas = np.full((sheet_h, sheet_w, 3), 255, np.uint8)
    lefts = [gap_x + c * (cell_w + gap_x) + (cell_w - size[0]) // 2 for c in range(cols)]
    tops = [gap_y + r * (cell_h + gap_y) + (cell_h - size[1]) // 2 for r in range(rows)]
    # Cut lines run the whole sheet along every photo edge; the photos are pasted over them.
    for left in lefts:
        canvas[:, [left - 1, left + size[0]]] = CUT_LINE_GREY
    for top in tops:
        canvas[[top - 1, top + size[1]], :] = CUT_LINE_GREY
    for top in tops:
        for left in lefts:
            canvas[top : top + size[1], left : left + size[0]] = fitted
    return canvas


def encode_jpeg(rgb: Image, quality: int = DEFAULT_QUALITY, dpi: int = SHEET_DPI) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(rgb).save(buffer, "JPEG", quality=quality, dpi=(dpi, dpi))
    return buffer.getvalue()


def _pad(jpeg: bytes, extra: int) -> bytes:
    """Insert ``extra`` bytes (>= 4) of COM segments right after the SOI marker."""
    segments = []
    while extra > 0:
        payload = min(extra - 4, 65533)
        if 0 < extra - 4 - payload < 4:  # never leave a remainder too small for its own segment
            payload -= 4
        segments.append(b"\xff\xfe" + (payload + 2).to_bytes(2, "big") + b"\0" * payload)
        extra -= payload + 4
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def encode_sized(rgb: Image, dpi: int, max_kb: int | None, min_kb: int | None) -> bytes:
    """The photo as JPEG within [min_kb, max_kb] KB, or vendor code 507 if it cannot get under max."""
    high = max_kb * KB if max_kb else None
    low = min_kb * KB if min_kb else 0
    if high is None:
        quality, data = DEFAULT_QUALITY, encode_jpeg(rgb, DEFAULT_QUALITY, dpi)
    else:
        data = encode_jpeg(rgb, MIN_QUALITY, dpi)
        if len(data) > high:
            raise VendorError(507, f"making the ID photo failed: cannot get under file_size_max {max_kb} KB")
        quality, lo_q, hi_q = MIN_QUALITY, MIN_QUALITY + 1, MAX_QUALITY
        while lo_q <= hi_q:  # highest quality that still fits (size grows with quality)
            mid = (lo_q + hi_q) // 2
            attempt = encode_jpeg(rgb, mid, dpi)
            if len(attempt) <= high:
                quality, data, lo_q = mid, attempt, mid + 1
            else:
                hi_q = mid - 1
    if len(data) < low and high is None and quality < MAX_QUALITY:
        quality, data = MAX_QUALITY, encode_jpeg(rgb, MAX_QUALITY, dpi)
    while 0 < low - len(data) < 4 and quality > MIN_QUALITY:  # padding needs 4 bytes at least
        quality -= 1
        data = encode_jpeg(rgb, quality, dpi)
    if len(data) < low:
        data = _pad(data, low - len(data))
    return data
