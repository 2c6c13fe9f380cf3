"""Where the crop goes: portrait landmarks and the ``ratios`` constraints, solved exactly.

Landmarks are measured in a levelled frame (the photo rotated so the eyes are horizontal):

- head top: the top of the person's silhouette (segmentation mask) above the face, hair included;
- chin: the bottom of the Haar face box; eye line: the detected eyes, else 38 % down the face box;
- face width: the width of the Haar face box;
- horizontal centre: the face box centre (``hor_align_type`` 0, "centre crop"), or the midpoint of the
  silhouette's edges on the eye line, i.e. between the ears (``hor_align_type`` 1, "crop by the ears").

The ``ratios`` are read as the vendor lists them, with one interpretation: *eye height* is the distance
from the eye line to the **bottom** of the photo (the vendor's own example, eyes 0.5-0.72 with a top
margin of 0.05-0.15, only makes sense that way). With ``u = 1 / crop height`` and ``t`` the top margin
ratio, every constraint is linear in (u, t), so the feasible set is found exactly rather than searched:

    head_h * u in [h1, h2]     face_w * u / aspect in [f1, f2]     t in [t1, t2]
    1 - t - (eye - top) * u in [e1, e2]       t + head_h * u <= 1 (the chin stays in the photo)

The crop aims at the spec's head and top targets (or the middle of a given range), clamped into the
feasible set. An empty set means "face cannot fit the ratios" (vendor code 507).
"""

import math
from dataclasses import dataclass

import numpy as np

from local.standin.vision import Face, Mask

EYE_LINE_IN_BOX = 0.38
HAIR_FALLBACK = 0.30
MASK_ON = 0.5
MIN_COVER = 0.15
EPS = 1e-9
INSET = 0.2  # share of a feasible range kept free at each end


class Unfit(ValueError):
    """The requested ratios cannot all hold for this face."""


@dataclass(frozen=True, slots=True)
class Landmarks:
    head_top: float
    chin: float
    eye_y: float
    face_w: float
    centre_x: float


@dataclass(frozen=True, slots=True)
class Crop:
    x0: float
    y0: float
    width: float
    height: float


def _head_top(mask: Mask, face: Face) -> float:
    # Walk up from the forehead while the silhouette still covers the middle of the face's columns;
    # walking (not searching) keeps unrelated blobs higher up in the picture out.
    x0, x1 = int(face.x + 0.3 * face.w), int(face.x + 0.7 * face.w) + 1
    start = min(int(face.y + 0.25 * face.h), mask.shape[0] - 1)
    band = mask[: start + 1, max(x0, 0) : max(x1, 1)] > MASK_ON
    top = None
    for row in range(start, -1, -1):
        if band[row].mean() < MIN_COVER:
            break
        top = row
    if top is None or top > face.y:  # the mask missed the head: assume typical hair
        return face.y - HAIR_FALLBACK * face.h
    return float(top)


def _ear_centre(mask: Mask, face: Face, eye_y: float) -> float:
    row = mask[min(max(int(eye_y), 0), mask.shape[0] - 1)] > MASK_ON
    cx = int(face.centre[0])
    if not 0 <= cx < row.size or not row[cx]:
        return face.centre[0]
    left, right = cx, cx
    limit = int(1.5 * face.w)
    while left > 0 and row[left - 1] and cx - left < limit:
        left -= 1
    while right < row.size - 1 and row[right + 1] and right - cx < limit:
        right += 1
    return (left + right + 1) / 2


def measure(mask: Mask, face: Face, hor_align: int) -> Landmarks:
    """Landmarks of ``face`` (already in the levelled frame) using the levelled ``mask``."""
    eye_y = (face.eyes[0][1] + face.eyes[1][1]) / 2 if face.eyes else face.y + EYE_LINE_IN_BOX * face.h
    centre_x = _ear_centre(mask, face, eye_y) if hor_align == 1 else face.centre[0]
    return Landmarks(_head_top(mask, face), face.y + face.h, eye_y, face.w, centre_x)


def shoulder_tilt_deg(mask: Mask, face: Face, limit_deg: float = 20.0) -> float | None:
    """Tilt of the shoulder line: the silhouette's top on either side of the neck, below the chin."""
    cx, _ = face.centre
    columns = (int(cx - 1.1 * face.w), int(cx + 1.1 * face.w))
    start = int(face.y + face.h)
    if columns[0] < 0 or columns[1] >= mask.shape[1] or start >= mask.shape[0]:
        return None
    tops = []
    for column in columns:
        hits = np.flatnonzero(mask[start:, column] > MASK_ON)
        if hits.size == 0:
            return None
        tops.append(start + int(hits[0]))
    tilt = math.degrees(math.atan2(tops[1] - tops[0], columns[1] - columns[0]))
    return tilt if abs(tilt) <= limit_deg else None


def _pairs(ratios: tuple[float, ...] | None) -> list[tuple[float, float]]:
    values = ratios or (-1.0,) * 8
    pairs = []
    for lo, hi in zip(values[::2], values[1::2], strict=True):
        pairs.append((0.0 if lo == -1 else lo, 1.0 if hi == -1 else hi))
    return pairs


def _target(pair: tuple[float, float], given: tuple[float, ...], default: float) -> float:
    # Both ends given: aim at the middle of the range; otherwise at the spec default.
    return (pair[0] + pair[1]) / 2 if -1 not in given else default


def solve_crop(
    marks: Landmarks,
    aspect: float,
    ratios: tuple[float, ...] | None,
    head_target: float,
    top_target: float,
) -> Crop:
    """The crop rectangle (levelled-frame units) of width/height ``aspect`` meeting ``ratios``."""
    (h1, h2), (e1, e2), (t1, t2), (f1, f2) = _pairs(ratios)
    if h1 > h2 or e1 > e2 or t1 > t2 or f1 > f2:
        raise Unfit("face cannot fit the ratios: a minimum exceeds its maximum")
    head_h = max(marks.chin - marks.head_top, 1.0)
    eye_off = min(max(marks.eye_y - marks.head_top, 0.05 * head_h), 0.95 * head_h)
    u_lo = max(h1 / head_h, f1 * aspect / marks.face_w, (1 - e2 - t2) / eye_off, EPS)
    u_hi = min(
        h2 / head_h,
        f2 * aspect / marks.face_w,
        (1 - e1 - t1) / eye_off,
        (1 - t1) / head_h,
        e2 / (head_h - eye_off),
    )
    if u_lo > u_hi + EPS:
        raise Unfit("face cannot fit the ratios")
    given = ratios or (-1.0,) * 8
    # Aim inside the feasible range, not at its edge: the buyer's check measures the result again,
    # and a figure on the boundary fails it by a pixel.
    inset = INSET * (u_hi - u_lo)
    u_lo, u_hi = u_lo + inset, u_hi - inset
    u = min(max(_target((h1, h2), given[0:2], head_target) / head_h, u_lo), u_hi)
    t_lo = max(t1, 1 - e2 - eye_off * u)
    t_hi = min(t2, 1 - e1 - eye_off * u, 1 - head_h * u)
    if t_lo > t_hi + EPS:
        raise Unfit("face cannot fit the ratios")
    inset = INSET * (t_hi - t_lo)
    t = min(max(_target((t1, t2), given[4:6], top_target), t_lo + inset), t_hi - inset)
    height = 1 / u
    width = height * aspect
    return Crop(marks.centre_x - width / 2, marks.head_top - t * height, width, height)
