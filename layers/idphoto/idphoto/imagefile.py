"""What an uploaded file is, read from its bytes in pure Python (no Pillow: cold start stays small).

Enough to decide whether an upload can go to the vendor exactly as it came: its format by signature,
and for a JPEG its pixel size, colour components, EXIF orientation and whether the image ends (an
end-of-image marker after the last scan). Everything else is :mod:`idphoto.normalise`'s business.

References: JPEG markers and segment layout, ITU-T T.81 annex B (B.1.1.3: ``0xFF`` in entropy-coded
data is followed by a stuffed ``0x00``; ``RSTn`` markers ``FFD0``-``FFD7`` may appear inside a scan);
EXIF 2.32 section 4.5.4 (APP1 ``Exif\\0\\0`` + a TIFF header; tag 0x0112 Orientation, values 1-8);
ISO/IEC 14496-12 4.3 (the ``ftyp`` box of HEIF/AVIF files and its brands).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Brands of the ISO base media file format that name a still image we can decode (HEIF: ISO/IEC
# 23008-12 annex B; AVIF: the AV1 Image File Format spec, section 8).
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1"})

# Start-of-frame markers that carry the frame header (T.81 table B.1); C4, C8 and CC are not frames.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})  # TEM, SOI, RSTn: no length field
_SOS, _EOI, _APP1 = 0xDA, 0xD9, 0xE1
ORIENTATION_TAG = 0x0112


def image_format(first_bytes: bytes) -> str | None:
    """The image format by its signature; names lie (a text file called .jpg), bytes do not."""
    if first_bytes.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if first_bytes.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if first_bytes.startswith(b"BM"):
        return "bmp"
    if first_bytes[:4] == b"RIFF" and first_bytes[8:12] == b"WEBP":
        return "webp"
    if first_bytes[:4] in (b"II*\0", b"MM\0*"):
        return "tiff"
    return _iso_media_format(first_bytes)


def _iso_media_format(data: bytes) -> str | None:
    """HEIC, HEIF or AVIF from the ``ftyp`` box: major brand, then the compatible brands."""
    if data[4:8] != b"ftyp" or len(data) < 16:
        return None
    size = min(int.from_bytes(data[0:4], "big"), len(data))
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, size - 3, 4)}
    if brands & _AVIF_BRANDS:
        return "avif"
    if brands & _HEIC_BRANDS:
        return "heic"
    if brands & _HEIF_BRANDS:
        return "heif"
    return None


@dataclass(frozen=True, slots=True)
class JpegHeader:
    """A JPEG's frame header and EXIF orientation: what decides whether it needs normalising."""

    width: int
    height: int
    components: int  # 1 greyscale, 3 YCbCr/RGB, 4 CMYK/YCCK
    precision: int  # bits per sample: 8, or 12 for the rare 12-bit JPEGs
    orientation: int  # EXIF orientation, 1 (upright) when absent or unreadable

    @property
    def upright_size(self) -> tuple[int, int]:
        """Width and height once the orientation is applied (5-8 swap them)."""
        return (self.height, self.width) if self.orientation >= 5 else (self.width, self.height)


def jpeg_header(data: bytes) -> JpegHeader | None:
    """The header of a JPEG from its first bytes, or None when they do not reach the frame header.

    EXIF sits in APP1 right after SOI (EXIF 4.5.4: at most 64 KB); the frame header follows the
    application segments, so 64 KB read from the start almost always hold both.
    """
    pos, orientation = 2, 1
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        segment = data[pos + 4 : pos + 2 + length]
        if marker == _APP1 and segment.startswith(b"Exif\0\0"):
            orientation = exif_orientation(segment[6:])
        elif marker in _SOF:
            if len(segment) < 6:
                return None
            return JpegHeader(
                width=int.from_bytes(segment[3:5], "big"),
                height=int.from_bytes(segment[1:3], "big"),
                components=segment[5],
                precision=segment[0],
                orientation=orientation,
            )
        elif marker in (_SOS, _EOI):
            return None  # no frame header before the scan: not a JPEG anyone decodes
        pos += 2 + length
    return None


def exif_orientation(tiff: bytes) -> int:
    """Tag 0x0112 of IFD0 of an EXIF TIFF block; 1 when missing or malformed."""
    order: Literal["little", "big"]
    if tiff[:2] == b"II":
        order = "little"
    elif tiff[:2] == b"MM":
        order = "big"
    else:
        return 1
    ifd = int.from_bytes(tiff[4:8], order)
    count = int.from_bytes(tiff[ifd : ifd + 2], order)
    for i in range(count):
        entry = tiff[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
        if len(entry) < 12:
            break
        if int.from_bytes(entry[0:2], order) == ORIENTATION_TAG:
            value = int.from_bytes(entry[8:10], order)  # type SHORT, count 1: the value is inline
            return value if 1 <= value <= 8 else 1
    return 1


def jpeg_end(data: bytes) -> int | None:
    """Where the (first) image of a JPEG ends, after its EOI marker; None when it never ends.

    A truncated upload ends inside a scan. A phone's motion photo or an Ultra HDR JPEG carries more
    data (a video, a gain-map JPEG) after the end marker: that is no truncation. Entropy-coded data
    never holds a marker but RSTn, since a data ``0xFF`` is stuffed with ``0x00`` (T.81 B.1.1.5), so
    the next ``0xFF xx`` with another ``xx`` ends the scan; progressive JPEGs have several scans.
    """
    pos = 2
    size = len(data)
    while pos + 2 <= size:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == _EOI:
            return pos + 2
        if marker in _STANDALONE:
            pos += 2
            continue
        if pos + 4 > size:
            return None
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker != _SOS:
            continue
        while True:  # the entropy-coded data of this scan
            pos = data.find(b"\xff", pos)
            if pos < 0 or pos + 1 >= size:
                return None
            following = data[pos + 1]
            if following == 0x00 or 0xD0 <= following <= 0xD7:
                pos += 2
            elif following == 0xFF:
                pos += 1
            else:
                break
    return None
