"""The two learned parts: OpenCV Haar face/eye detection and TFLite person segmentation.

Both are loaded once. Neither a ``CascadeClassifier`` nor a TFLite ``Interpreter`` is documented as safe
to share between threads, so each lives in a small pool and a request borrows one for the call.
"""

import math
import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from numpy.typing import NDArray

from local.standin.models import require_model

POOL_SIZE = 2
SEG_SIZE = 256
MAX_EYE_TILT_DEG = 20.0
# Another face at least this share of the largest one's width makes a group photo; smaller ones are
# passers-by in the background (or the detector's noise), which a real vendor crops away.
GROUP_FACE_SHARE = 0.5


class GroupPhoto(Exception):
    def __init__(self, faces: int) -> None:
        super().__init__(f"{faces} faces")
        self.faces = faces


Image = NDArray[np.uint8]
Mask = NDArray[np.float32]
# Where the Haar cascades ship inside the wheel (cv2.data is not in OpenCV's type stubs).
CASCADES = Path(cv2.__file__).parent / "data"


def as_image(array: object) -> Image:
    """View an OpenCV result as 8-bit pixels (no copy when it already is)."""
    return np.asarray(array, dtype=np.uint8)


def as_mask(array: object) -> Mask:
    return np.asarray(array, dtype=np.float32)


class Pool[T]:
    def __init__(self, make: Callable[[], T], size: int = POOL_SIZE) -> None:
        self._items: queue.LifoQueue[T] = queue.LifoQueue()
        for _ in range(size):
            self._items.put(make())

    @contextmanager
    def borrow(self) -> Iterator[T]:
        item = self._items.get()
        try:
            yield item
        finally:
            self._items.put(item)


@dataclass(frozen=True, slots=True)
class Face:
    """A face box and, when both were found, the eye centres (left, right in the image)."""

    x: float
    y: float
    w: float
    h: float
    eyes: tuple[tuple[float, float], tuple[float, float]] | None

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)

    def eye_tilt_deg(self) -> float | None:
        if self.eyes is None:
            return None
        (lx, ly), (rx, ry) = self.eyes
        return math.degrees(math.atan2(ry - ly, rx - lx))


def _cascade(name: str) -> cv2.CascadeClassifier:
    classifier = cv2.CascadeClassifier(str(CASCADES / name))
    if classifier.empty():
        raise RuntimeError(f"cannot load OpenCV cascade {name}")
    return classifier


class FaceDetector:
    """Faces and their landmarks with the layer's own face models (:mod:`idphoto.faces`: MediaPipe's
    BlazeFace and 468-point face mesh on LiteRT), so the stand-in frames by the chin, eyes and cheeks
    the product's compliance check measures. The Haar cascades below remain for ``detect_haar``."""

    def __init__(self) -> None:
        from idphoto.faces import models

        self._models = models()
        self._faces = Pool(lambda: _cascade("haarcascade_frontalface_default.xml"))
        self._eyes = Pool(lambda: _cascade("haarcascade_eye.xml"))

    def detect(self, rgb: Image) -> Face | None:
        """The largest face in ``rgb`` as a box from forehead to chin, cheek to cheek, with its eyes.

        The box's top is as far above the eyes as the chin is below them (about the hairline); the
        crown itself comes from the person mask (``geometry._head_top``)."""
        # The Haar cascade finds upright faces only, as a vendor that reads raw pixels does (a sideways
        # photo: none; a group: several, 507). The landmark models then measure the face it found.
        gray = as_image(cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)))
        haar = self.detect_haar(gray)
        if haar is None:
            return None
        hx, hy = haar.centre
        found = [b for b in self._models.detect(rgb) if b.x <= hx <= b.x + b.w and b.y <= hy <= b.y + b.h]
        if not found:
            return haar
        marks = self._models.landmarks(rgb, max(found, key=lambda box: box.score))
        if abs(marks.eye_tilt_deg) > MAX_EYE_TILT_DEG:
            return haar
        top = marks.eye_y - (marks.chin_y - marks.eye_y)
        return Face(
            marks.face_left,
            top,
            marks.face_width,
            marks.chin_y - top,
            (marks.left_eye, marks.right_eye),
        )

    def detect_haar(self, gray: Image) -> Face | None:
        """The largest frontal face in ``gray`` (with eyes if two plausible ones are found)."""
        side = min(gray.shape[:2])
        smallest = max(24, side // 12)
        with self._faces.borrow() as cascade:
            found = cascade.detectMultiScale(
                gray, scaleFactor=1.1, minNeighbors=5, minSize=(smallest, smallest)
            )
        if len(found) == 0:
            return None
        x, y, w, h = (int(v) for v in max(found, key=lambda box: int(box[2]) * int(box[3])))
        # A group photo: the vendor makes the photo of one person, it does not pick one (507).
        rivals = [box for box in found if int(box[2]) >= w * GROUP_FACE_SHARE]
        if len(rivals) > 1:
            raise GroupPhoto(len(rivals))
        return Face(x, y, w, h, self._find_eyes(gray, x, y, w, h))

    def _find_eyes(
        self, gray: Image, x: int, y: int, w: int, h: int
    ) -> tuple[tuple[float, float], tuple[float, float]] | None:
        # Eyes sit in the upper part of the face box; searching only there avoids nostrils and mouths.
        roi = gray[y : y + int(h * 0.6), x : x + w]
        with self._eyes.borrow() as cascade:
            found = cascade.detectMultiScale(roi, scaleFactor=1.1, minNeighbors=5, minSize=(w // 8, w // 8))
        left = [b for b in found if b[0] + b[2] / 2 < w / 2]
        right = [b for b in found if b[0] + b[2] / 2 >= w / 2]
        if not left or not right:
            return None
        centres = [
            (x + b[0] + b[2] / 2, y + b[1] + b[3] / 2)
            for b in (max(left, key=lambda b: b[2]), max(right, key=lambda b: b[2]))
        ]
        (lx, ly), (rx, ry) = centres
        if abs(math.degrees(math.atan2(ry - ly, rx - lx))) > MAX_EYE_TILT_DEG:
            return None
        return ((float(lx), float(ly)), (float(rx), float(ry)))


class Segmenter:
    """Person probability per pixel, from the selfie-segmentation model."""

    def __init__(self, model: Path | None = None) -> None:
        path = str(require_model(model))

        def load() -> Interpreter:
            interpreter = Interpreter(model_path=path, num_threads=1)
            interpreter.allocate_tensors()
            return interpreter

        self._pool = Pool(load)

    def mask(self, rgb: Image) -> Mask:
        """A float mask in [0, 1] the size of ``rgb``."""
        height, width = rgb.shape[:2]
        tensor = cv2.resize(rgb, (SEG_SIZE, SEG_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
        tensor = (tensor / 255.0)[np.newaxis]
        with self._pool.borrow() as interpreter:
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], tensor)
            interpreter.invoke()
            out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0, :, :, 0]
        resized = cv2.resize(out.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
        return as_mask(np.clip(resized, 0.0, 1.0))
