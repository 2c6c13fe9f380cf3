"""The beauty level through the local stack: the option reaches the vendor (the stand-in smooths the face
more at a higher level), the record and status show it, and bad levels never reach the vendor."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import requests
from PIL import ImageFilter

from idphoto_cli.errors import Exit
from idphoto_cli.main import main
from local.stack import Stack
from tests.integration.conftest import image, vendor_delta

pytestmark = pytest.mark.integration


def face_variance(photo: bytes) -> float:
    """Skin texture: the grey face region's mean squared distance from its 5 x 5 local mean (the
    stand-in's retouch lowers it)."""
    picture = image(photo)
    width, height = picture.size
    face = picture.crop((width // 3, height // 4, 2 * width // 3, height // 2)).convert("L")
    grey = np.asarray(face, dtype=np.float64)
    mean = np.asarray(face.filter(ImageFilter.BoxBlur(2)), dtype=np.float64)
    return float(((grey - mean) ** 2).mean())


def made_photo(stack: Stack, key: str) -> bytes:
    answer = stack.finals(key)
    assert answer.status_code == 200, answer.text
    [final] = answer.json()["finals"]
    download = requests.get(final["photo_url"], timeout=30)
    assert download.status_code == 200
    return download.content


def test_the_same_portrait_at_two_levels_is_smoother_at_the_higher_one(
    stack: Stack, key: str, portrait: bytes
) -> None:
    before = stack.vendor_stats()
    light_key = stack.upload(key.replace(".jpg", "-1.jpg"), portrait, {"beauty-level": "1"})
    strong_key = stack.upload(key.replace(".jpg", "-5.jpg"), portrait, {"beauty_level": "5"})

    light, strong = stack.wait_for_photo(light_key), stack.wait_for_photo(strong_key)

    assert (light["status"], strong["status"]) == ("READY", "READY")
    assert light["options"]["fair_level"] == 1
    assert strong["options"]["fair_level"] == 5
    assert vendor_delta(before, stack.vendor_stats(), "make_calls") == 2
    assert face_variance(made_photo(stack, strong_key)) < 0.8 * face_variance(made_photo(stack, light_key))


@pytest.mark.parametrize(
    ("value", "reason"),
    [("0", "0 is outside 1..5"), ("6", "6 is outside 1..5"), ("2.5", "'2.5' is not a whole number")],
)
def test_a_bad_level_is_refused_before_the_vendor(
    stack: Stack, key: str, portrait: bytes, value: str, reason: str
) -> None:
    before = stack.vendor_stats()

    full_key = stack.upload(key, portrait, {"beauty-level": value})
    record = stack.wait_for_photo(full_key)

    assert record["status"] == "FAILED"
    assert record["error"]["code"] == "INVALID_OPTIONS"
    assert f"beauty-level: {reason}" in record["error"]["message"]
    assert vendor_delta(before, stack.vendor_stats(), "make_calls") == 0


def test_idphoto_make_beauty_level_is_the_photos_level(
    stack: Stack, portrait: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDPHOTO_AWS_PORT", str(urlsplit(stack.aws_url).port))
    monkeypatch.setenv("IDPHOTO_API_PORT", str(urlsplit(stack.api_url).port))
    path = tmp_path / "me.jpg"
    path.write_bytes(portrait)
    stdout, stderr = io.StringIO(), io.StringIO()

    code = main(["make", str(path), "--beauty-level", "4", "--json"], stdout=stdout, stderr=stderr)

    assert code == Exit.OK, stderr.getvalue()
    answer: list[dict[str, Any]] = json.loads(stdout.getvalue())
    [made] = answer
    assert made["photo"]["status"] == "READY"
    assert made["photo"]["options"]["fair_level"] == 4
