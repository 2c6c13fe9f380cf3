"""Named specs through the whole local stack: framed to the authority's rule, and every check passes.

The framing is measured on the kept final with the stand-in's own face detector and person mask
(``local.standin.geometry.measure``), the way the stand-in measured the source when it cropped. A
re-detection on the smaller final is not pixel-identical to the first one, so each range is widened
by ``SLACK`` (a share of the photo side) before comparing; the ranges themselves are the spec's.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import requests
from PIL import Image

from idphoto.checks import jfif_dpi
from idphoto.specs import CATALOGUE, PhotoSpec
from local.stack import Stack, samples
from local.standin.geometry import measure
from local.standin.vision import FaceDetector, Segmenter, as_image

pytestmark = pytest.mark.integration

# Measurement noise of a second Haar detection on the final, as a share of the photo side.
SLACK = 0.04
NAMED = (
    "cn-id-card",
    "cn-passport",
    "cn-visa",
    "cn-graduate-exam",
    "passport-35x45",
    "uk-passport",
    "us-passport",
    "us-visa",
    "ca-passport",
    "ca-visa",
    "jp-passport",
    "kr-passport",
)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter()


def framing(
    body: bytes, detector: FaceDetector, segmenter: Segmenter, width_measure: str = "face"
) -> dict[str, float]:
    """The final's head height, eye line (from the bottom), top margin and face width, as shares."""
    rgb = as_image(np.asarray(Image.open(io.BytesIO(body)).convert("RGB")))
    height, width = rgb.shape[:2]
    face = detector.detect(rgb)
    assert face is not None, "no face found in the final"
    # The width as the spec's authority defines it: cheek to cheek, or the head at the ears.
    marks = measure(segmenter.mask(rgb), face, 0, width_measure)
    return {
        "head": (marks.chin - marks.head_top) / height,
        "eye": (height - marks.eye_y) / height,
        "top": max(marks.head_top, 0.0) / height,
        "face": marks.face_w / width,
    }


def within(value: float, low: float, high: float) -> bool:
    return (low == -1 or value >= low - SLACK) and (high == -1 or value <= high + SLACK)


@pytest.mark.parametrize("name", NAMED)
def test_a_named_specs_final_is_framed_to_its_rule_and_passes_every_check(
    stack: Stack, key: str, name: str, detector: FaceDetector, segmenter: Segmenter
) -> None:
    spec = CATALOGUE.get(name)
    assert isinstance(spec, PhotoSpec) and spec.ratios is not None

    full_key = stack.upload(key, samples.large_portrait(), {"spec": name})
    record = stack.wait_for_photo(full_key)
    assert record["status"] == "READY", record
    assert [float(r) for r in record["options"]["ratios"]] == list(spec.ratios)
    answer = stack.finals(full_key)
    assert answer.status_code == 200, answer.text
    (final,) = answer.json()["finals"]

    failed = [c for c in final["checks"] if not c["ok"]]
    assert failed == [], failed
    assert {c["rule"] for c in final["checks"]} == {"jpeg", "pixel_size", "file_size", "background", "dpi"}
    body = requests.get(final["photo_url"], timeout=30).content
    assert jfif_dpi(body) == spec.dpi
    assert Image.open(io.BytesIO(body)).size == (spec.width_px, spec.height_px)
    measured = framing(body, detector, segmenter, spec.face_width_measure)
    ranges = dict(
        zip(
            ("head", "eye", "top", "face"), zip(spec.ratios[::2], spec.ratios[1::2], strict=True), strict=True
        )
    )
    outside = {k: (round(measured[k], 3), r) for k, r in ranges.items() if not within(measured[k], *r)}
    assert outside == {}, outside
    status = stack.photo_body(full_key)
    assert status["checks"][final["color"]] == final["checks"]
