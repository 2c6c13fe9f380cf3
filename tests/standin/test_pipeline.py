"""The imaging pipeline beyond the contract's letter: levelling, crop geometry, concurrency."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from local.standin.geometry import Landmarks, Unfit, solve_crop

from .conftest import TILT_DEG, SourceServer
from .support import BLUE, Client, colour, decode

Body = Callable[..., dict[str, Any]]


def final(client: Client, answer: dict[str, Any]) -> np.ndarray:
    assert answer["code"] == 200, answer
    return decode(client.fetch(client.get_pic(answer["final_pic_name"][0]).json()["file_name"]).content)


def test_a_tilted_head_comes_out_level(client: Client, body: Body, source: SourceServer) -> None:
    blue = [colour(BLUE, "blue")]
    upright = final(client, client.make(body(background_color=blue)).json()).astype(float)
    levelled = final(
        client, client.make(body(pic_url=source.url("/tilted.jpg"), background_color=blue)).json()
    )
    height, width = upright.shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), TILT_DEG, 1.0)
    left_tilted = cv2.warpAffine(upright, turn, (width, height), borderMode=cv2.BORDER_REPLICATE)
    # The levelled result is much closer to the upright one than a still-tilted one would be.
    assert np.abs(levelled - upright).mean() < 0.6 * np.abs(left_tilted - upright).mean()


def test_a_large_source_gives_the_same_photo(client: Client, body: Body, source: SourceServer) -> None:
    blue = [colour(BLUE, "blue")]
    small = final(client, client.make(body(background_color=blue)).json()).astype(float)
    large = final(client, client.make(body(pic_url=source.url("/large.jpg"), background_color=blue)).json())
    assert large.shape == small.shape
    assert np.abs(large - small).mean() < 12


def test_concurrent_calls_are_all_served(client: Client, body: Body, made: dict[str, Any]) -> None:
    def make(_: int) -> dict[str, Any]:
        answer: dict[str, Any] = Client(client.base).make(body()).json()
        return answer

    def get(_: int) -> int:
        return int(Client(client.base).get_pic(made["final_pic_name"][1]).json()["code"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        makes = list(pool.map(make, range(4)))
        gets = list(pool.map(get, range(8)))
    assert [answer["code"] for answer in makes] == [200] * 4
    assert len({answer["final_pic_name"][0] for answer in makes}) == 4
    assert gets == [200] * 8
    stats = client.admin("stats")
    assert stats["make_codes"] == {"200": 4}
    assert stats["billed_calls"] == 8


def ratios_of(marks: Landmarks, aspect: float, x0: float, y0: float, height: float) -> list[float]:
    del x0
    return [
        (marks.chin - marks.head_top) / height,
        1 - (marks.eye_y - y0) / height,
        (marks.head_top - y0) / height,
        marks.face_w / (height * aspect),
    ]


@st.composite
def feasible_cases(draw: st.DrawFn) -> tuple[Landmarks, float, list[float]]:
    head_top = draw(st.floats(0, 200))
    head_h = draw(st.floats(40, 400))
    marks = Landmarks(
        head_top=head_top,
        chin=head_top + head_h,
        eye_y=head_top + head_h * draw(st.floats(0.3, 0.6)),
        face_w=head_h * draw(st.floats(0.5, 0.9)),
        centre_x=draw(st.floats(100, 400)),
    )
    aspect = draw(st.floats(0.6, 1.3))
    head_ratio = draw(st.floats(0.3, 0.8))
    top_ratio = draw(st.floats(0.0, 1 - head_ratio))
    height = head_h / head_ratio
    truth = ratios_of(marks, aspect, 0, head_top - top_ratio * height, height)
    assume(truth[3] <= 1)  # the face must fit the photo's width for the case to be feasible
    ratios: list[float] = []
    for value in truth:
        if draw(st.booleans()):
            ratios += [-1.0, -1.0]
        else:
            ratios += [max(0.0, value - draw(st.floats(0, 0.1))), min(1.0, value + draw(st.floats(0, 0.1)))]
    return marks, aspect, ratios


@settings(max_examples=300, deadline=None)
@given(feasible_cases())
def test_solved_crop_meets_every_given_ratio(case: tuple[Landmarks, float, list[float]]) -> None:
    marks, aspect, ratios = case
    crop = solve_crop(marks, aspect, tuple(ratios), 0.6, 0.1)
    assert crop.width == pytest.approx(crop.height * aspect)
    measured = ratios_of(marks, aspect, crop.x0, crop.y0, crop.height)
    for index, value in enumerate(measured):
        low, high = ratios[2 * index], ratios[2 * index + 1]
        assert low == -1 or value >= low - 1e-6
        assert high == -1 or value <= high + 1e-6
    assert measured[2] >= -1e-6  # the head top is inside the photo
    assert measured[0] + measured[2] <= 1 + 1e-6  # and so is the chin
    assert crop.x0 + crop.width / 2 == pytest.approx(marks.centre_x)


def test_ranges_that_cannot_all_hold_are_met_in_order_and_the_rest_as_nearly_as_possible() -> None:
    """A vendor frames as best it can: no 507 for a hard range. The head stays whole inside the photo,
    the head height range holds, and the face width (less important) comes as near as it can."""
    marks = Landmarks(head_top=50, chin=250, eye_y=140, face_w=150, centre_x=200)
    # Eyes 0.9-0.95 from the bottom with a head of 0.5: the crown would leave the photo. The crown
    # stays in (top margin 0), the head range holds, the eyes come as high as that allows.
    crop = solve_crop(marks, 0.7, (0.5, 0.5, 0.9, 0.95, -1, -1, -1, -1), 0.6, 0.1)
    head, eyes, top, _ = ratios_of(marks, 0.7, crop.x0, crop.y0, crop.height)
    assert head == pytest.approx(0.5)
    assert top == pytest.approx(0.0, abs=1e-6)
    assert eyes == pytest.approx(1 - 90 / 200 * 0.5)
    # A small head with a wide face: the head range holds, the face is as narrow as it allows.
    crop = solve_crop(marks, 0.7, (-1, 0.5, -1, -1, -1, -1, 0.9, 0.95), 0.6, 0.1)
    head, _, _, face = ratios_of(marks, 0.7, crop.x0, crop.y0, crop.height)
    assert head == pytest.approx(0.5)
    assert face == pytest.approx(150 / (200 / 0.5 * 0.7))


def test_a_minimum_above_its_maximum_is_still_refused() -> None:
    marks = Landmarks(head_top=50, chin=250, eye_y=140, face_w=150, centre_x=200)
    with pytest.raises(Unfit):
        solve_crop(marks, 0.7, (0.9, 0.8, -1, -1, -1, -1, -1, -1), 0.6, 0.1)
