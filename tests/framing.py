"""Previews of known framing, cut from a real portrait: for the compliance check's tests.

The portrait is scikit-image's astronaut (512 x 512), put on a plain background with the stand-in's
person mask (MediaPipe selfie segmentation). Its landmarks were measured by hand on the original
image, independently of the check's models: crown (top of the hair) at row 16, eye line at row 103,
chin at row 175, face centre at column 225. A preview is the crop (scaled to the photo's size) that
puts those points where the asked framing says; what falls outside the portrait is background.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from local.standin.imaging import composite, watermark
from local.standin.vision import Segmenter
from tests.images import _astronaut

CROWN, EYES, CHIN, CENTRE_X = 16.0, 103.0, 175.0, 225.0
HEAD = CHIN - CROWN
WHITE, BLUE = 0xFFFFFF, 0x438EDB


@cache
def _segmenter() -> Segmenter:
    return Segmenter()


@cache
def on_background(color: int) -> Image.Image:
    rgb = np.asarray(_astronaut())
    mask = _segmenter().mask(rgb)
    return Image.fromarray(composite(rgb, np.clip((mask - 0.25) / 0.5, 0, 1), color, color))


@dataclass(frozen=True)
class Framing:
    """Where the head goes: shares of the photo's height (``shift``: of its width, to the right)."""

    head: float = 0.75
    top: float = 0.10
    shift: float = 0.0
    width: int = 413
    height: int = 531

    @property
    def eye_height(self) -> float:
        """The eye line's true distance from the bottom edge, / photo height."""
        return 1 - self.top - (EYES - CROWN) / HEAD * self.head


def preview(
    framing: Framing,
    color: int = WHITE,
    *,
    marked: bool = False,
    tilt_deg: float = 0.0,
    second_face: bool = False,
) -> bytes:
    """A JPEG preview of ``framing`` on ``color``; ``marked`` with the stand-in's watermark."""
    source = on_background(color)
    if tilt_deg:
        fill = ((color >> 16) & 255, (color >> 8) & 255, color & 255)
        source = source.rotate(tilt_deg, center=(CENTRE_X, (EYES + CHIN) / 2), fillcolor=fill)
    scale = framing.head * framing.height / HEAD  # output px per source px
    crop_w, crop_h = framing.width / scale, framing.height / scale
    x0 = CENTRE_X - crop_w / 2 - framing.shift * crop_w
    y0 = CROWN - framing.top * crop_h
    fill = ((color >> 16) & 255, (color >> 8) & 255, color & 255)
    photo = source.transform(
        (framing.width, framing.height),
        Image.Transform.EXTENT,
        (x0, y0, x0 + crop_w, y0 + crop_h),
        Image.Resampling.BICUBIC,
        fillcolor=fill,
    )
    if second_face:  # two people side by side, each framed alike in half the width
        half = photo.resize((framing.width // 2, framing.height // 2))
        photo.paste(half, (0, framing.height // 2))
        photo.paste(half, (framing.width // 2, framing.height // 2))
    rgb = np.asarray(photo.convert("RGB"))
    if marked:
        rgb = watermark(rgb)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()
