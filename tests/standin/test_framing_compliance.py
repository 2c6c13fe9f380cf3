"""The stand-in frames what newcomers send so that the product's compliance check passes it: the
sideways 12 MP phone photo (as make-photo turns it upright and scales it), a large photo with a small
person and the astronaut, for every named spec with framing figures."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from idphoto import compliance, specs
from idphoto.options import BackgroundColor, PhotoOptions
from local.stack import samples
from local.standin.contract import validate_make
from local.standin.imaging import composite, encode_jpeg, watermark
from local.standin.pipeline import make_portrait
from local.standin.vision import FaceDetector, Segmenter

WHITE = BackgroundColor("white", 0xFFFFFF, 0xFFFFFF)


def upright(data: bytes, side: int = 2000) -> np.ndarray:
    """What make-photo sends: EXIF orientation applied, long side at most MAX_SIDE_PX."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    scale = min(1.0, side / max(image.size))
    return np.asarray(image.resize((round(image.width * scale), round(image.height * scale))))


@pytest.fixture(scope="module")
def tools() -> tuple[FaceDetector, Segmenter]:
    return FaceDetector(), Segmenter()


FRAMED = [spec.name for spec in specs.CATALOGUE if spec.ratios is not None]


def test_the_framed_specs_are_the_catalogue_s() -> None:
    # The parametrisation below reads the catalogue: a spec with framing cannot be left out.
    assert {"cn-passport", "cn-hk-macau-permit", "cn-taiwan-permit", "cn-graduate-exam", "cn-id-card"} <= set(
        FRAMED
    )


@pytest.fixture(scope="module")
def sources() -> dict[str, np.ndarray]:
    return {
        name: upright(getattr(samples, name)()) for name in ("phone_sideways", "large_portrait", "astronaut")
    }


@pytest.mark.parametrize("sample", ["phone_sideways", "large_portrait", "astronaut"])
@pytest.mark.parametrize("name", FRAMED)
def test_the_stand_in_s_preview_passes_the_product_s_check(
    tools: tuple[FaceDetector, Segmenter], sources: dict[str, np.ndarray], sample: str, name: str
) -> None:
    spec = specs.CATALOGUE.get(name)
    assert spec is not None and spec.ratios is not None
    body = {"pic_url": "http://x", "spec_id": spec.spec_id, "width_px": spec.width_px,
            "height_px": spec.height_px, "ratios": list(spec.ratios)}  # fmt: skip
    portrait = make_portrait(sources[sample], validate_make(body), *tools)  # a VendorError fails
    photo = watermark(composite(portrait.rgb, portrait.mask, WHITE.top, WHITE.bottom))
    options = PhotoOptions(spec_id=spec.spec_id, ratios=spec.ratios, background=(WHITE,))
    report = compliance.measure(encode_jpeg(photo), options, "white")
    assert report.passed is True, [m.describe() for m in report.failed]


BLUE = BackgroundColor("blue", 0x438EDB, 0x438EDB)


@pytest.mark.parametrize("color", [WHITE, BLUE], ids=["white", "blue"])
@pytest.mark.parametrize("sample", ["phone_sideways", "large_portrait", "astronaut"])
def test_a_preview_without_framing_figures_passes_every_measure_it_is_held_to(
    tools: tuple[FaceDetector, Segmenter], sources: dict[str, np.ndarray], sample: str, color: BackgroundColor
) -> None:
    """What ``make demo`` sends most (spec id 1, no ratios, 295 x 413): its watermark, tiled over the
    face and the top corners at this size, fooled the face count and the background once."""
    body = {"pic_url": "http://x", "spec_id": 1, "width_px": 295, "height_px": 413}
    portrait = make_portrait(sources[sample], validate_make(body), *tools)
    photo = watermark(composite(portrait.rgb, portrait.mask, color.top, color.bottom))
    options = PhotoOptions(spec_id=1, background=(color,))
    report = compliance.measure(encode_jpeg(photo), options, color.name)
    assert report.passed is None  # no framing figures: reported, never refused
    held = {m.measure: m.ok for m in report.measures if m.ok is not None}
    assert held == dict.fromkeys(("faces", "centred", "eyes_level", "background"), True), [
        m.describe() for m in report.measures
    ]
