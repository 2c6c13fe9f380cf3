"""Faces and their landmarks in an ID photo: MediaPipe's models on LiteRT, on the CPU.

Imported only by the compliance check (:mod:`idphoto.compliance`), itself imported lazily: numpy and
``ai_edge_litert`` cost the cold start of nothing else. Two models, both from the ``mediapipe`` wheel
(``layers/idphoto/fetch_models.py`` pins them by SHA-256 and ships them in the layer):

1. **BlazeFace short range** (128 x 128 RGB in [-1, 1] -> 896 anchored boxes with 6 keypoints each):
   every face, for the "exactly one face" rule. The photo is padded to a square first (the model's
   ``keep_aspect_ratio``), anchors and decoding as MediaPipe's ``face_detection_short_range.pbtxt``
   (SsdAnchorsCalculator: 4 layers, strides 8/16/16/16, fixed anchor size; TensorsToDetections:
   scale 128, sigmoid scores clipped at 100; weighted non-max suppression at IoU 0.3). It runs at
   two paddings (``DETECT_PADDINGS``) and the boxes of both are merged by that suppression: at 128 px a
   watermark's strokes across the face can pull one view's score under
   :data:`idphoto.compliance.FACE_SCORE` (``make demo``'s
   295 x 413 preview with its face at 0.59 of the height scored 0.73; the same preview in a 1.4 x
   larger square scored 0.92).
2. **Face landmarks** (192 x 192 RGB in [0, 1] -> 468 points): on a square crop 1.5 x the detector's
   box around its centre (MediaPipe's ``face_detection_front_detection_to_roi``). The vendor levels
   the head before it crops, so the crop is not rotated.

The chin is landmark 152, the eyes the midpoints of their corners (33/133, 362/263), the face's width
the cheek-to-cheek span of the face oval (234 to 454). The top of the head is not a landmark (hair):
:mod:`idphoto.compliance` finds it on the plain background.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import numpy as np
from ai_edge_litert.interpreter import Interpreter

DETECTOR: Final = "face_detection_short_range.tflite"
LANDMARKER: Final = "face_landmark.tflite"
DEFAULT_DIR: Final = Path(__file__).parent / "models"
DETECT_SIZE: Final = 128
# The square the photo is padded into, as a multiple of its longer side: each is one detector run.
DETECT_PADDINGS: Final = (1.0, 1.4)
LANDMARK_SIZE: Final = 192
MIN_SCORE: Final = 0.5
NMS_IOU: Final = 0.3
ROI_SCALE: Final = 1.5
CHIN: Final = 152
EYE_CORNERS: Final = ((33, 133), (362, 263))
CHEEKS: Final = (234, 454)


class ModelsMissing(RuntimeError):
    """The model files are not where the layer puts them (a build without ``fetch_models.py``)."""


@dataclass(frozen=True, slots=True)
class Box:
    """A detected face in photo pixels, with its detector score."""

    x: float
    y: float
    w: float
    h: float
    score: float


@dataclass(frozen=True, slots=True)
class Landmarks:
    """The points the compliance check measures, in photo pixels (y grows downwards)."""

    chin_y: float
    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    face_left: float
    face_right: float
    centre_x: float

    @property
    def eye_y(self) -> float:
        return (self.left_eye[1] + self.right_eye[1]) / 2

    @property
    def face_width(self) -> float:
        return self.face_right - self.face_left

    @property
    def eye_tilt_deg(self) -> float:
        (lx, ly), (rx, ry) = sorted((self.left_eye, self.right_eye))
        return math.degrees(math.atan2(ry - ly, rx - lx))


def _anchors() -> Any:
    """896 anchor centres (x, y) in [0, 1] (SsdAnchorsCalculator, fixed_anchor_size)."""
    centres = []
    for stride, per_cell in ((8, 2), (16, 6)):
        cells = DETECT_SIZE // stride
        for y in range(cells):
            for x in range(cells):
                centres.extend([((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell)
    return np.asarray(centres, dtype=np.float32)


class FaceModels:
    """Both interpreters, loaded once per process. A LiteRT ``Interpreter`` is not documented as
    thread-safe: one lock serialises the calls (make-photo measures one preview at a time)."""

    def __init__(self, directory: Path | None = None) -> None:
        folder = directory or DEFAULT_DIR
        paths = [folder / DETECTOR, folder / LANDMARKER]
        absent = [str(p) for p in paths if not p.is_file()]
        if absent:
            raise ModelsMissing(
                f"face models missing: {', '.join(absent)} (run layers/idphoto/fetch_models.py)"
            )
        self._detector = Interpreter(model_path=str(paths[0]), num_threads=1)
        self._landmarker = Interpreter(model_path=str(paths[1]), num_threads=1)
        self._detector.allocate_tensors()
        self._landmarker.allocate_tensors()
        self._anchors = _anchors()
        self._lock = threading.Lock()

    def _run(self, interpreter: Any, tensor: Any) -> list[Any]:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], tensor)
        interpreter.invoke()
        return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]

    def detect(self, rgb: Any) -> list[Box]:
        """Every face scoring at least ``MIN_SCORE`` in either padding, largest first."""
        boxes = [box for padding in DETECT_PADDINGS for box in self._detect(rgb, padding)]
        return [Box(x, y, w, h, s) for s, x, y, w, h in _suppress(boxes)]

    def _detect(self, rgb: Any, padding: float) -> list[tuple[float, ...]]:
        """(score, x, y, w, h) in photo pixels of one detector run, the photo centred in a square of
        ``padding`` times its longer side."""
        from PIL import Image

        height, width = rgb.shape[:2]
        side = round(max(width, height) * padding)
        square = np.zeros((side, side, 3), dtype=np.uint8)
        left, top = (side - width) // 2, (side - height) // 2
        square[top : top + height, left : left + width] = rgb
        small = np.asarray(
            Image.fromarray(square).resize((DETECT_SIZE, DETECT_SIZE), Image.Resampling.BILINEAR)
        )
        tensor = (small.astype(np.float32) / 127.5 - 1.0)[np.newaxis]
        with self._lock:
            outputs = self._run(self._detector, tensor)
        regressors, scores = sorted(outputs, key=lambda a: a.shape[-1], reverse=True)
        raw = regressors[0]
        score = 1 / (1 + np.exp(-np.clip(scores[0, :, 0].astype(np.float64), -100, 100)))
        keep = np.flatnonzero(score >= MIN_SCORE)
        boxes = []
        for i in keep:
            cx = raw[i, 0] / DETECT_SIZE + self._anchors[i, 0]
            cy = raw[i, 1] / DETECT_SIZE + self._anchors[i, 1]
            w, h = raw[i, 2] / DETECT_SIZE, raw[i, 3] / DETECT_SIZE
            box = ((cx - w / 2) * side - left, (cy - h / 2) * side - top, w * side, h * side)
            boxes.append((float(score[i]), *(float(v) for v in box)))
        return boxes

    def landmarks(self, rgb: Any, face: Box) -> Landmarks:
        """The measured points of ``face``: the landmark model on a square crop around it."""
        from PIL import Image

        side = ROI_SCALE * max(face.w, face.h)
        x0, y0 = face.x + face.w / 2 - side / 2, face.y + face.h / 2 - side / 2
        crop = Image.fromarray(rgb).transform(
            (LANDMARK_SIZE, LANDMARK_SIZE),
            Image.Transform.EXTENT,
            (x0, y0, x0 + side, y0 + side),
            Image.Resampling.BILINEAR,
        )
        tensor = (np.asarray(crop, dtype=np.float32) / 255.0)[np.newaxis]
        with self._lock:
            outputs = self._run(self._landmarker, tensor)
        points = max(outputs, key=lambda a: a.size).reshape(-1, 3)[:, :2] * (side / LANDMARK_SIZE)
        points = points + np.array([x0, y0], dtype=np.float32)

        def at(index: int) -> tuple[float, float]:
            return float(points[index, 0]), float(points[index, 1])

        eyes = [tuple((a + b) / 2 for a, b in zip(at(i), at(j), strict=True)) for i, j in EYE_CORNERS]
        left, right = sorted((at(CHEEKS[0])[0], at(CHEEKS[1])[0]))
        return Landmarks(
            chin_y=at(CHIN)[1],
            left_eye=(eyes[0][0], eyes[0][1]),
            right_eye=(eyes[1][0], eyes[1][1]),
            face_left=left,
            face_right=right,
            centre_x=(left + right) / 2,
        )


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ax, ay, aw, ah = a[1:]
    bx, by, bw, bh = b[1:]
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _suppress(boxes: list[tuple[float, ...]]) -> list[tuple[float, ...]]:
    """MediaPipe's weighted non-max suppression: overlapping boxes merge, weighted by score."""
    remaining = sorted(boxes, reverse=True)
    kept: list[tuple[float, ...]] = []
    while remaining:
        best = remaining[0]
        group = [b for b in remaining if _iou(best, b) > NMS_IOU]
        remaining = [b for b in remaining if _iou(best, b) <= NMS_IOU]
        total = sum(b[0] for b in group)
        merged = tuple(sum(b[k] * b[0] for b in group) / total for k in range(1, 5))
        kept.append((best[0], *merged))
    return sorted(kept, key=lambda b: b[3] * b[4], reverse=True)


@cache
def models(directory: str = "") -> FaceModels:
    """The process's models (``directory`` empty: the layer's own ``idphoto/models``)."""
    return FaceModels(Path(directory) if directory else None)
