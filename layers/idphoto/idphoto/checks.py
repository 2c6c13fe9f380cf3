"""Every kept final checked against what was asked, and stamped with its spec's dpi.

Runs only in get-photo's finals path, once per final, on the bytes downloaded from the vendor before
they are written to our bucket (:meth:`idphoto.storage.PhotoStorage.keep`'s ``prepare``). Rules:

- ``jpeg``: the file is a baseline or progressive JPEG (SOI, a frame header, EOI);
- ``pixel_size``: exactly the asked width x height (the upload's ``width_px``/``height_px``, else its
  spec's);
- ``file_size``: within the asked ``file_size_min``/``file_size_max`` (KB = 1024 bytes, as the stand-in
  reads the contract's unstated unit);
- ``background``: the two top corners of the photo within ``BACKGROUND_TOLERANCE`` (per RGB channel) of
  the asked colour at that height (plain, or the vertical gradient from top to bottom colour). The top
  corners because the head is centred and the shoulders fill the lower corners;
- ``dpi``: the spec's dpi written into the JFIF APP0 density fields, a lossless header edit (the
  entropy-coded image is not touched; a JFIF segment is inserted after SOI when the file has none).

A failed check does not hide the final: the result carries the measured value beside the rule and the
caller logs a warning. Only the background needs decoded pixels: Pillow is imported here, lazily, and
decodes at 1/8 scale (JPEG DCT scaling through ``Image.draft``), so neither the cold start nor a status
answer pays for it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from idphoto import specs
from idphoto.options import BackgroundColor, PhotoOptions

KB: Final = 1024
BACKGROUND_TOLERANCE: Final = 24
CORNER_SHARE: Final = 0.08
JFIF_UNITS_DPI: Final = 1
_SOF_MARKERS: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})


class NotJpeg(ValueError):
    """The bytes are not a JPEG this module can read the header of."""


@dataclass(frozen=True)
class Asked:
    """What a final must be, from the photo's options and its spec."""

    width_px: int | None
    height_px: int | None
    min_kb: int | None
    max_kb: int | None
    background: BackgroundColor | None
    dpi: int | None

    @classmethod
    def of(cls, options: Mapping[str, Any], color: str) -> Asked:
        """What the record's options asked; nothing asked when they cannot be read (old records)."""
        try:
            parsed = PhotoOptions.from_record(options)
        except (KeyError, TypeError, ValueError):
            return cls(None, None, None, None, None, None)
        spec = next((s for s in specs.active() if s.spec_id == parsed.spec_id), None)
        return cls(
            width_px=parsed.width_px or (spec.width_px if spec else None),
            height_px=parsed.height_px or (spec.height_px if spec else None),
            min_kb=parsed.file_size_min,
            max_kb=parsed.file_size_max,
            background=next((c for c in parsed.background if c.name == color), None),
            dpi=spec.dpi if spec else None,
        )


def _check(rule: str, asked: str, measured: str, ok: bool) -> dict[str, Any]:
    return {"rule": rule, "asked": asked, "measured": measured, "ok": ok}


class Inspection:
    """Checks one final's bytes and stamps its dpi; ``results`` holds one entry per rule."""

    def __init__(self, asked: Asked) -> None:
        self._asked = asked
        self.results: list[dict[str, Any]] = []

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.results if not r["ok"]]

    def __call__(self, body: bytes) -> bytes:
        """The bytes to keep: stamped when they are a JPEG. Never raises: the final is paid for."""
        try:
            return self._inspect(body)
        except Exception as exc:  # a check's own bug must not lose a billed final
            self.results = [_check("checks", "checked", f"checks failed: {type(exc).__name__}", False)]
            return body

    def _inspect(self, body: bytes) -> bytes:
        asked = self._asked
        try:
            width, height = jpeg_size(body)
        except NotJpeg as exc:
            self.results = [_check("jpeg", "JPEG", f"not a JPEG ({exc})", False)]
            return body
        stamped = set_dpi(body, asked.dpi) if asked.dpi else body
        self.results = [
            _check("jpeg", "JPEG", "JPEG", True),
            self._pixel_size(width, height),
            self._file_size(len(body)),
            self._background(body),
            _check(
                "dpi",
                f"{asked.dpi} dpi" if asked.dpi else "no spec dpi",
                f"{jfif_dpi(stamped) or 'none'} dpi",
                asked.dpi is None or jfif_dpi(stamped) == asked.dpi,
            ),
        ]
        return stamped

    def _pixel_size(self, width: int, height: int) -> dict[str, Any]:
        w, h = self._asked.width_px, self._asked.height_px
        asked = f"{w} x {h} px" if w and h else "not asked"
        return _check(
            "pixel_size", asked, f"{width} x {height} px", not (w and h) or (width, height) == (w, h)
        )

    def _file_size(self, size: int) -> dict[str, Any]:
        low, high = self._asked.min_kb, self._asked.max_kb
        ok = (low is None or size >= low * KB) and (high is None or size <= high * KB)
        asked = "not asked" if low is None and high is None else f"{low or 0}-{high or 'any'} KB"
        return _check("file_size", asked, f"{size / KB:.1f} KB", ok)

    def _background(self, body: bytes) -> dict[str, Any]:
        color = self._asked.background
        if color is None:
            return _check("background", "not asked", "not measured", True)
        asked = color.describe()
        try:
            corners = border_colors(body)
        except (OSError, ValueError) as exc:
            return _check("background", asked, f"cannot decode ({type(exc).__name__})", False)
        worst = max(_distance(rgb, _expected(color, share)) for share, rgb in corners)
        measured = ", ".join(f"#{_hex(rgb)}" for _, rgb in corners) + f" (off by {worst})"
        return _check(
            "background", f"{asked} +- {BACKGROUND_TOLERANCE}", measured, worst <= BACKGROUND_TOLERANCE
        )


# --- the JPEG header --------------------------------------------------------------------------------


def _segments(body: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each header segment up to the start of scan (ITU-T T.81 B.1)."""
    if body[:2] != b"\xff\xd8":
        raise NotJpeg("no SOI marker")
    found, at = [], 2
    while at + 4 <= len(body):
        if body[at] != 0xFF:
            raise NotJpeg(f"no marker at byte {at}")
        marker = body[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _STANDALONE:
            at += 2
            continue
        end = at + 2 + int.from_bytes(body[at + 2 : at + 4], "big")
        found.append((marker, at, end))
        if marker == 0xDA:  # start of scan: the entropy-coded data follows
            return found
        at = end
    raise NotJpeg("truncated header")


def jpeg_size(body: bytes) -> tuple[int, int]:
    """(width, height) from the frame header; NotJpeg when there is none or no EOI."""
    for marker, start, _ in _segments(body):
        if marker in _SOF_MARKERS:
            height = int.from_bytes(body[start + 5 : start + 7], "big")
            width = int.from_bytes(body[start + 7 : start + 9], "big")
            if not body.rstrip(b"\0").endswith(b"\xff\xd9"):
                raise NotJpeg("no EOI marker")
            return width, height
    raise NotJpeg("no frame header")


def _jfif(body: bytes) -> tuple[int, int] | None:
    for marker, start, end in _segments(body):
        if marker == 0xE0 and body[start + 4 : start + 9] == b"JFIF\0" and end - start >= 16:
            return start, end
    return None


def jfif_dpi(body: bytes) -> int | None:
    """The JFIF density when it is in dots per inch and square, else None."""
    found = _jfif(body)
    if found is None:
        return None
    start = found[0]
    units = body[start + 11]
    x, y = (
        int.from_bytes(body[start + 12 : start + 14], "big"),
        int.from_bytes(body[start + 14 : start + 16], "big"),
    )
    return x if units == JFIF_UNITS_DPI and x == y else None


def set_dpi(body: bytes, dpi: int) -> bytes:
    """The same JPEG with its JFIF density set to ``dpi`` (JFIF 1.02: units byte, Xdensity, Ydensity)."""
    density = bytes([JFIF_UNITS_DPI]) + dpi.to_bytes(2, "big") * 2
    found = _jfif(body)
    if found is not None:
        start = found[0]
        return body[: start + 11] + density + body[start + 16 :]
    # No JFIF segment: insert one after SOI (version 1.02, no thumbnail).
    segment = b"\xff\xe0\x00\x10JFIF\x00\x01\x02" + density + b"\x00\x00"
    return body[:2] + segment + body[2:]


# --- the background ---------------------------------------------------------------------------------


def border_colors(body: bytes) -> list[tuple[float, tuple[int, int, int]]]:
    """The median colour of the two top corner patches, with the patch's height share (0 = top)."""
    from PIL import Image  # lazily: only the finals path pays for Pillow

    with Image.open(io.BytesIO(body)) as image:
        image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
        rgb = image.convert("RGB")
    width, height = rgb.size
    side = max(1, round(width * CORNER_SHARE))
    tall = max(1, round(height * CORNER_SHARE))
    corners = []
    for left in (0, width - side):
        patch = rgb.crop((left, 0, left + side, tall))
        raw = patch.tobytes()  # RGB, interleaved
        r, g, b = (_median(raw[i::3]) for i in range(3))
        corners.append(((tall / 2) / max(height - 1, 1), (r, g, b)))
    return corners


def _median(values: bytes) -> int:
    # Not statistics.median: that module's imports (fractions, decimal, random) would cost cold start.
    return sorted(values)[len(values) // 2]


def _channels(value: int) -> tuple[int, int, int]:
    return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF


def _expected(color: BackgroundColor, share: float) -> tuple[int, int, int]:
    top, bottom = _channels(color.top), _channels(color.bottom)
    r, g, b = (round(t + (u - t) * share) for t, u in zip(top, bottom, strict=True))
    return r, g, b


def _distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> int:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def _hex(rgb: tuple[int, int, int]) -> str:
    return "".join(f"{c:02x}" for c in rgb)


# The compliance check of previews (idphoto.compliance) holds the background to the same rule.
channels = _channels
expected_color = _expected
channel_distance = _distance
