"""``fair_level``: 423 for a non-integer (the contract), and a retouch that grows with the level."""

from typing import Any

import cv2
import numpy as np
import pytest

from local.standin.imaging import beautify

from .support import Client
from .test_make import Body, final_photo


def face_variance(photo: np.ndarray) -> float:
    """Mean local (5 x 5) variance of the grey face region: skin texture, which smoothing lowers."""
    height, width = photo.shape[:2]
    face = photo[height // 4 : height // 2, width // 3 : 2 * width // 3]
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY).astype(np.float64)
    mean = cv2.blur(grey, (5, 5))
    return float((cv2.blur(grey * grey, (5, 5)) - mean * mean).mean())


def made_at(client: Client, body: Body, **extra: Any) -> np.ndarray:
    answer = client.make(body(**extra)).json()
    assert answer["code"] == 200, answer
    return final_photo(client, answer["final_pic_name"][0])


@pytest.mark.parametrize("value", ["5", 2.5, None, [3], {"skin": 3}])
def test_a_non_integer_level_is_423(client: Client, body: Body, value: Any) -> None:
    answer = client.make(body(fair_level=value)).json()
    assert answer["code"] == 423
    assert answer["error"] == "fair_level must be an integer"


def test_a_higher_level_smooths_the_face_more(client: Client, body: Body) -> None:
    plain = face_variance(made_at(client, body))
    light = face_variance(made_at(client, body, fair_level=1))
    strong = face_variance(made_at(client, body, fair_level=5))
    assert light < plain
    assert strong < 0.8 * light


def test_the_level_alone_turns_the_retouch_on_as_with_need_origin_beauty(client: Client, body: Body) -> None:
    level = face_variance(made_at(client, body, fair_level=3))
    both = face_variance(made_at(client, body, fair_level=3, need_origin_beauty=1))
    plain = face_variance(made_at(client, body))
    assert level < plain
    assert both == pytest.approx(level, rel=0.02)


def test_levels_beyond_the_documented_range_are_the_nearest_level(astronaut: np.ndarray) -> None:
    face = np.ascontiguousarray(astronaut[:200, 150:350])
    assert np.array_equal(beautify(face, 9), beautify(face, 5))
    assert np.array_equal(beautify(face, 0), beautify(face, 1))
    assert not np.array_equal(beautify(face, 1), beautify(face, 5))
