"""From a decoded source image to a cropped, levelled portrait and its person mask.

Steps, all of them real (no canned output):

1. work on a copy at most 640 px on its long side: face detection and landmarks with the layer's
   models (``vision.FaceDetector``: largest face; none -> 507; another face at least half its width
   -> 507, a group photo), and a first segmentation of the whole picture;
2. level the head: rotate so the eyes are horizontal when both were found (the vendor's default);
   with ``pose_fix`` = 1 the rotation is the mean of the eye tilt and the shoulder-line tilt measured on
   the silhouette, a compromise that straightens both somewhat (one rigid rotation cannot do both);
3. measure head top, chin, eyes, face width and centre, and solve the crop for the ``ratios``;
4. warp the full-resolution source straight into the output size (one affine: scale, rotate, crop);
   areas beyond the source's edges become background;
5. measure that first result again as the buyer will (``refine``, ``REFINE_PASSES`` times: the product's own crown, landmarks
   and head width, on the result laid on a plain background) and solve and warp once more with those
   figures: the coarse person mask of a small person in a large photo puts the crown a few pixels off,
   which a tight range (GA 461's 7-21 px top margin) does not forgive;
6. segment the crop itself (sharper than the first pass) and, with ``need_origin_beauty`` = 1 or a
   ``fair_level``, smooth (more at a higher level).
"""

from dataclasses import dataclass

import cv2
import numpy as np

from local.standin.contract import MakeRequest, VendorError
from local.standin.geometry import Crop, Landmarks, Unfit, measure, shoulder_tilt_deg, solve_crop
from local.standin.imaging import beautify, beauty_level, composite, watermark
from local.standin.vision import Face, FaceDetector, GroupPhoto, Image, Mask, Segmenter, as_image, as_mask

WORK_SIDE = 640
# Downscaling by warpAffine alone aliases; beyond this factor the source is first shrunk by INTER_AREA.
MAX_WARP_SHRINK = 0.7
# Measure-and-solve-again passes: the first corrects the coarse mask's crown and head width, the second
# the few pixels a measure moves when the photo's scale changes (a tight range such as cn-visa's).
REFINE_PASSES = 2


@dataclass(frozen=True, slots=True)
class Portrait:
    rgb: Image
    mask: Mask


def _rotate_face(face: Face, turn: np.ndarray) -> Face:
    if face.eyes is None:
        return face
    eyes = [tuple(turn @ np.array([x, y, 1.0])) for x, y in face.eyes]
    return Face(face.x, face.y, face.w, face.h, ((eyes[0][0], eyes[0][1]), (eyes[1][0], eyes[1][1])))


def _tilt(face: Face, mask: Mask, pose_fix: int) -> float:
    tilts = [face.eye_tilt_deg()]
    if pose_fix == 1:
        tilts.append(shoulder_tilt_deg(mask, face))
    known = [t for t in tilts if t is not None]
    return float(np.mean(known)) if known else 0.0


def _affine3(matrix: np.ndarray) -> np.ndarray:
    return np.vstack([matrix, [0.0, 0.0, 1.0]])


def _valid_area(inverse: np.ndarray, width: int, height: int, src_w: int, src_h: int) -> Mask:
    """1 where an output pixel maps inside the source, else 0."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    sx = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    sy = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    inside = (sx >= -0.5) & (sx <= src_w - 0.5) & (sy >= -0.5) & (sy <= src_h - 0.5)
    return as_mask(inside)


def _soften(mask: Mask) -> Mask:
    # The model's probabilities are soft everywhere; a smoothstep keeps a thin soft edge and solid inside.
    ramp = np.clip((mask - 0.25) / 0.5, 0.0, 1.0)
    return as_mask(ramp * ramp * (3 - 2 * ramp))


def make_portrait(
    source: Image, request: MakeRequest, detector: FaceDetector, segmenter: Segmenter
) -> Portrait:
    src_h, src_w = source.shape[:2]
    scale = min(1.0, WORK_SIDE / max(src_h, src_w))
    small = source
    if scale < 1:
        size = (max(1, round(src_w * scale)), max(1, round(src_h * scale)))
        small = as_image(cv2.resize(source, size, interpolation=cv2.INTER_AREA))
    try:
        face = detector.detect(small)
    except GroupPhoto as exc:
        raise VendorError(
            507, f"making the ID photo failed: {exc.faces} faces in the photo, one is needed"
        ) from exc
    if face is None:
        raise VendorError(507, "making the ID photo failed: no face found in the photo")
    mask_small = segmenter.mask(small)

    angle = _tilt(face, mask_small, request.pose_fix)
    turn = cv2.getRotationMatrix2D(face.centre, angle, 1.0)
    level_mask = as_mask(cv2.warpAffine(mask_small, turn, (small.shape[1], small.shape[0])))
    # Chin, eyes and cheeks measured again on the levelled picture: rotating only the eye points
    # would leave the chin where the tilted head had it.
    levelled = as_image(cv2.warpAffine(small, turn, (small.shape[1], small.shape[0])))
    try:
        upright = detector.detect(levelled) if angle else None
    except GroupPhoto:
        upright = None
    width_measure = request.spec.width_measure
    marks = measure(level_mask, upright or _rotate_face(face, turn), request.hor_align_type, width_measure)
    out_w, out_h = request.width_px, request.height_px

    def solve(found: Landmarks) -> Crop:
        try:
            return solve_crop(
                found, out_w / out_h, request.ratios, request.spec.head_target, request.spec.top_target
            )
        except Unfit as exc:
            raise VendorError(507, f"making the ID photo failed: {exc}") from exc

    crop = solve(marks)
    rgb, mask = _render(source, small, turn, crop, out_w, out_h, segmenter)
    # Only ranges need the buyer's figures; without ratios the spec's targets are aims, not rules.
    for _ in range(REFINE_PASSES if request.ratios else 0):
        better = refine(rgb, mask, crop, marks, width_measure, keep_centre=request.hor_align_type == 1)
        if better is None:
            break
        crop = solve(better)
        rgb, mask = _render(source, small, turn, crop, out_w, out_h, segmenter)
    if request.need_origin_beauty == 1 or request.fair_level is not None:
        rgb = beautify(rgb, beauty_level(request.fair_level))
    return Portrait(np.ascontiguousarray(rgb), mask.astype(np.float32))


def refine(
    rgb: Image, mask: Mask, crop: Crop, marks: Landmarks, width_measure: str, *, keep_centre: bool
) -> Landmarks | None:
    """The landmarks measured again on a first result, as the buyer's check measures them
    (``idphoto.compliance``: the face models' chin, eyes and cheeks, the crown and the head's width
    found on a plain, watermarked background), in the levelled frame. None when the result shows no face, or the
    head is cut at the top (its crown unknown): the first figures then stand."""
    from idphoto import compliance, faces
    from idphoto.options import BackgroundColor

    plain = BackgroundColor("white", 0xFFFFFF, 0xFFFFFF)
    # Watermarked as the preview the buyer measures is: its strokes move a measure by a few pixels.
    laid = watermark(composite(rgb, mask, plain.top, plain.bottom))
    models = faces.models()
    found = [box for box in models.detect(laid) if box.score >= compliance.FACE_SCORE]
    if not found:
        return None
    seen = models.landmarks(laid, max(found, key=lambda box: box.score))
    crown = compliance.find_crown(laid, seen, plain)
    if crown <= 0 or seen.chin_y >= laid.shape[0]:
        return None
    across = compliance.head_width(laid, seen, plain) if width_measure == "head" else seen.face_width
    scale = crop.width / rgb.shape[1]  # output px -> levelled-frame units
    return Landmarks(
        head_top=crop.y0 + crown * scale,
        chin=crop.y0 + seen.chin_y * scale,
        eye_y=crop.y0 + seen.eye_y * scale,
        face_w=across * scale,
        centre_x=marks.centre_x if keep_centre else crop.x0 + seen.centre_x * scale,
    )


def _render(
    source: Image, small: Image, turn: np.ndarray, crop: Crop, out_w: int, out_h: int, segmenter: Segmenter
) -> tuple[Image, Mask]:
    """The full-resolution source warped into the output (one affine) and its person mask."""
    src_h, src_w = source.shape[:2]
    zoom = out_w / crop.width
    to_output = np.array([[zoom, 0, -crop.x0 * zoom], [0, zoom, -crop.y0 * zoom], [0, 0, 1.0]])
    to_small = np.diag([small.shape[1] / src_w, small.shape[0] / src_h, 1.0])
    matrix = to_output @ _affine3(turn) @ to_small
    if matrix[0, 0] ** 2 + matrix[0, 1] ** 2 < MAX_WARP_SHRINK**2:
        shrink = min(1.0, float(np.hypot(matrix[0, 0], matrix[0, 1])) * 1.5)
        size = (max(1, round(src_w * shrink)), max(1, round(src_h * shrink)))
        source = as_image(cv2.resize(source, size, interpolation=cv2.INTER_AREA))
        matrix = matrix @ np.diag([src_w / size[0], src_h / size[1], 1.0])  # shrunk -> original px
    rgb = as_image(
        cv2.warpAffine(source, matrix[:2], (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    )
    inside = _valid_area(
        cv2.invertAffineTransform(matrix[:2]), out_w, out_h, source.shape[1], source.shape[0]
    )
    return rgb, as_mask(_soften(segmenter.mask(rgb)) * inside)
