"""Where the crop goes: portrait landmarks and the ``ratios`` constraints, solved exactly.

Landmarks are measured in a levelled frame (the photo rotated so the eyes are horizontal):

- head top: the top of the person's silhouette (segmentation mask) above the face, hair included;
- chin: the bottom of the Haar face box; eye line: the detected eyes, else 38 % down the face box;
- face width: cheek to cheek (the face landmarks' box), or, for a spec whose authority states the
  head's width (``idphoto.specs.PhotoSpec.face_width_measure`` "head"), the silhouette's width at the
  ears (``idphoto.compliance.head_width``);
- horizontal centre: the face box centre (``hor_align_type`` 0, "centre crop"), or the midpoint of the
  silhouette's edges on the eye line, i.e. between the ears (``hor_align_type`` 1, "crop by the ears").

The ``ratios`` are read as the vendor lists them, with one interpretation: *eye height* is the distance
from the eye line to the **bottom** of the photo (the vendor's own example, eyes 0.5-0.72 with a top
margin of 0.05-0.15, only makes sense that way). With ``u = 1 / crop height`` and ``t`` the top margin
ratio, every constraint is linear in (u, t), so the feasible set is found exactly rather than searched:

    head_h * u in [h1, h2]     face_w * u / aspect in [f1, f2]     t in [t1, t2]
    1 - t - (eye - top) * u in [e1, e2]       t + head_h * u <= 1 (the chin stays in the photo)

The crop aims at the spec's head and top targets (or the middle of a given range), clamped into the
feasible set. When the ranges cannot all hold for this face, the crop meets them in order of
importance (the head and chin inside the photo, then head height, face width, top margin, eye line)
and comes as close as it can to each one it cannot meet: a vendor frames as best it can and lets the
buyer's check judge, it does not refuse a photo for a hard range. Only a request whose minimum
exceeds its maximum, or whose ranges no face could meet together (head and top margin minimums over the
whole photo; the eye line's minimum above the top margin's) is refused ("face cannot fit the ratios",
vendor code 507).
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
EAR_ROWS = 0.4  # the ears reach from the eye line to the nose's base (idphoto.compliance.EAR_ROWS)
HEAD_REACH = 1.2  # the head's outline is looked for this many face widths either side


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


def _silhouette_span(mask: Mask, face: Face, y: float) -> tuple[float, float] | None:
    """The silhouette's run through the face's centre on row ``y`` (left edge, right edge + 1)."""
    row = mask[min(max(int(y), 0), mask.shape[0] - 1)] > MASK_ON
    cx = int(face.centre[0])
    if not 0 <= cx < row.size or not row[cx]:
        return None
    left, right = cx, cx
    limit = int(1.5 * face.w)
    while left > 0 and row[left - 1] and cx - left < limit:
        left -= 1
    while right < row.size - 1 and row[right + 1] and right - cx < limit:
        right += 1
    return float(left), float(right + 1)


def _ear_centre(mask: Mask, face: Face, eye_y: float) -> float:
    span = _silhouette_span(mask, face, eye_y)
    return face.centre[0] if span is None else (span[0] + span[1]) / 2


def _head_width(mask: Mask, face: Face, eye_y: float) -> float:
    """The head's width at the ears as ``idphoto.compliance.head_width`` measures it, on the person
    mask: the median over the ears' rows of the silhouette's outermost span near the face."""
    chin = face.y + face.h
    first = min(max(int(eye_y), 0), mask.shape[0] - 1)
    last = min(max(int(eye_y + EAR_ROWS * (chin - eye_y)), first + 1), mask.shape[0])
    cx, reach = face.centre[0], HEAD_REACH * face.w
    left, right = max(0, int(cx - reach)), min(mask.shape[1], int(cx + reach) + 1)
    spans = []
    for row in mask[first:last, left:right] > MASK_ON:
        on = np.flatnonzero(row)
        if on.size:
            spans.append(float(on[-1] - on[0] + 1))
    return float(np.median(spans)) if spans else face.w


def measure(mask: Mask, face: Face, hor_align: int, width_measure: str = "face") -> Landmarks:
    """Landmarks of ``face`` (already in the levelled frame) using the levelled ``mask``.

    ``width_measure`` is what the spec's face width spans: "face" (cheek to cheek) or "head" (ear to
    ear, ``idphoto.specs.WIDTH_MEASURES``)."""
    eye_y = (face.eyes[0][1] + face.eyes[1][1]) / 2 if face.eyes else face.y + EYE_LINE_IN_BOX * face.h
    centre_x = _ear_centre(mask, face, eye_y) if hor_align == 1 else face.centre[0]
    width = _head_width(mask, face, eye_y) if width_measure == "head" else face.w
    return Landmarks(_head_top(mask, face), face.y + face.h, eye_y, width, centre_x)


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


def _meet(groups: list[tuple[float, float]]) -> tuple[float, float]:
    """The interval meeting the ``groups`` (lo, hi), most important first. A group that cannot hold
    together with those before it is met as nearly as possible: the interval shrinks to its end
    nearest to that group."""
    lo, hi = -math.inf, math.inf
    for g_lo, g_hi in groups:
        if g_lo > g_hi + EPS:  # cannot hold at all (e.g. a range for a measure the face lacks)
            continue
        if max(lo, g_lo) <= min(hi, g_hi) + EPS:
            lo, hi = max(lo, g_lo), max(min(hi, g_hi), max(lo, g_lo))
        else:
            lo = hi = hi if g_lo > hi else lo
    return lo, hi


def _aim(target: float, lo: float, hi: float) -> float:
    # Aim inside the range, not at its edge: the buyer's check measures the result again, and a figure
    # on the boundary fails it by a pixel.
    inset = INSET * (hi - lo)
    return min(max(target, lo + inset), hi - inset)


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
    # Ranges no face could meet together: refused, as a contradiction in the request.
    if h1 + t1 > 1:
        raise Unfit("face cannot fit the ratios: the head and top margin minimums exceed the photo")
    if e1 + t1 >= 1:
        raise Unfit("face cannot fit the ratios: the eye line minimum leaves no room for the top margin")
    head_h = max(marks.chin - marks.head_top, 1.0)
    eye_off = min(max(marks.eye_y - marks.head_top, 0.05 * head_h), 0.95 * head_h)
    # u = 1 / crop height: each constraint is an interval of u, most important first.
    u_lo, u_hi = _meet(
        [
            (EPS, (1 - t1) / head_h),  # the whole head fits below the minimum top margin
            (h1 / head_h, h2 / head_h),
            (f1 * aspect / marks.face_w, f2 * aspect / marks.face_w),
            ((1 - e2 - t2) / eye_off, min((1 - e1 - t1) / eye_off, e2 / (head_h - eye_off))),
        ]
    )
    given = ratios or (-1.0,) * 8
    u = _aim(_target((h1, h2), given[0:2], head_target) / head_h, u_lo, u_hi)
    # t = top margin: the crown and the chin inside the photo, then the top range, then the eye line.
    t_lo, t_hi = _meet(
        [
            (0.0, 1 - head_h * u),
            (t1, t2),
            (1 - e2 - eye_off * u, 1 - e1 - eye_off * u),
        ]
    )
    t = _aim(_target((t1, t2), given[4:6], top_target), t_lo, t_hi)
    height = 1 / u
    width = height * aspect
    return Crop(marks.centre_x - width / 2, marks.head_top - t * height, width, height)
