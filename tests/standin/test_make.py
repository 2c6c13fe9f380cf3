"""``pic_handle_3`` success: response shape, names, URLs and the images themselves."""

import math
import re
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest

from local.standin.specs import CATALOGUE

from .support import BLUE, WHITE, Client, Clock, colour, decode, rgb_of

Body = Callable[..., dict[str, Any]]
URL = re.compile(
    r"^http://127\.0\.0\.1:\d+/result_wm%2F(?P<name>[^?]+?)(?P<print>_print)?\.jpg"
    r"\?Signature=[A-Za-z0-9%]+&Expires=(?P<expires>\d+)&OSSAccessKeyId=LOCALSTANDIN$"
)


def final_photo(client: Client, name: str) -> np.ndarray:
    answer = client.get_pic(name).json()
    assert answer["code"] == 200, answer
    return decode(client.fetch(answer["file_name"]).content)


def final_sheet(client: Client, name: str) -> np.ndarray:
    return decode(client.fetch(client.get_pic(name).json()["file_name_list"]).content)


def close_to(pixels: np.ndarray, rgb: np.ndarray, tolerance: float = 14) -> bool:
    return bool(np.abs(pixels.reshape(-1, 3).mean(axis=0) - rgb).max() <= tolerance)


def test_response_has_exactly_the_documented_fields(made: dict[str, Any]) -> None:
    assert set(made) == {"code", "final_pic_name", "wm_pic_url", "print_wm_pic_url", "one_sheet_num"}
    assert made["code"] == 200
    assert made["one_sheet_num"] == 8
    assert len(made["final_pic_name"]) == len(made["wm_pic_url"]) == len(made["print_wm_pic_url"]) == 2


def test_names_look_like_the_vendors_and_keep_colour_order(made: dict[str, Any]) -> None:
    for name, colour_name in zip(made["final_pic_name"], ["blue", "grad"], strict=True):
        assert re.fullmatch(rf"[0-9a-f]{{32}}clothesapi_20240521-3-boy{colour_name}", name)
    assert len(set(made["final_pic_name"])) == 2


def test_preview_urls_are_signed_and_expire_in_a_day(client: Client, body: Body, clock: Clock) -> None:
    # On the stand-in's stopped clock: a day from the make exactly, however long the make took.
    made = client.make(body(background_color=[colour(BLUE, "blue"), colour(WHITE, "white")])).json()
    for urls, is_print in ((made["wm_pic_url"], False), (made["print_wm_pic_url"], True)):
        for url, name in zip(urls, made["final_pic_name"], strict=True):
            match = URL.match(url)
            assert match, url
            assert match["name"] == name
            assert bool(match["print"]) is is_print
            assert int(match["expires"]) == math.ceil(clock.now + 86_400)


def test_previews_download_as_jpeg(client: Client, made: dict[str, Any]) -> None:
    for url in made["wm_pic_url"] + made["print_wm_pic_url"]:
        response = client.fetch(url)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.content[:2] == b"\xff\xd8"
    assert client.admin("stats")["downloads"]["preview"] == 4


def test_plain_background_fills_the_top_corners(client: Client, made: dict[str, Any]) -> None:
    photo = final_photo(client, made["final_pic_name"][0])
    assert close_to(photo[2:12, 2:12], rgb_of(BLUE))
    assert close_to(photo[2:12, -12:-2], rgb_of(BLUE))


def test_gradient_runs_from_start_colour_at_top_to_end_colour_below(
    client: Client, made: dict[str, Any]
) -> None:
    photo = final_photo(client, made["final_pic_name"][1]).astype(float)
    height = photo.shape[0]
    assert close_to(photo[2:12, 2:12], rgb_of(WHITE))
    row = int(height * 0.45)
    weight = row / (height - 1)
    expected = rgb_of(WHITE) * (1 - weight) + rgb_of(0xFF0000) * weight
    assert close_to(photo[row - 3 : row + 3, 2:8], expected, tolerance=16)
    assert photo[2:12, 2:12, 1].mean() - photo[row - 3 : row + 3, 2:8, 1].mean() > 80  # greener on top


def test_watermark_is_in_the_preview_not_in_the_final(client: Client, made: dict[str, Any]) -> None:
    preview = decode(client.fetch(made["wm_pic_url"][0]).content).astype(int)
    final = final_photo(client, made["final_pic_name"][0]).astype(int)
    assert preview.shape == final.shape
    difference = np.abs(preview - final).max(axis=2)
    assert (difference > 60).mean() > 0.03  # the text strokes cover a visible share of the photo
    assert np.abs(preview - final).mean() > 4


@pytest.mark.parametrize("spec_id", sorted(CATALOGUE))
def test_photo_has_the_specs_pixel_size(client: Client, body: Body, spec_id: int) -> None:
    answer = client.make(body(spec_id=spec_id)).json()
    photo = final_photo(client, answer["final_pic_name"][0])
    spec = CATALOGUE[spec_id]
    assert photo.shape == (spec.height_px, spec.width_px, 3)


def test_width_and_height_overrides(client: Client, body: Body) -> None:
    answer = client.make(body(spec_id=2, width_px=1050, height_px=1500)).json()
    assert final_photo(client, answer["final_pic_name"][0]).shape == (1500, 1050, 3)
    answer = client.make(body(spec_id=1, height_px=500)).json()
    assert final_photo(client, answer["final_pic_name"][0]).shape == (500, 295, 3)


def test_default_is_one_white_photo(client: Client, body: Body) -> None:
    answer = client.make(body()).json()
    assert len(answer["final_pic_name"]) == 1
    assert answer["final_pic_name"][0].endswith("clotheswhite")
    assert close_to(final_photo(client, answer["final_pic_name"][0])[2:12, 2:12], rgb_of(WHITE))


def test_one_photo_per_colour_up_to_six(client: Client, body: Body) -> None:
    colours = [
        colour(value, f"c{index}")
        for index, value in enumerate([0xFF0000, 0x00FF00, BLUE, 0, WHITE, 0x808080])
    ]
    answer = client.make(body(background_color=colours)).json()
    assert [name[32:] for name in answer["final_pic_name"]] == [f"clothesc{index}" for index in range(6)]
    assert len(answer["wm_pic_url"]) == len(answer["print_wm_pic_url"]) == 6


def count_cells(sheet: np.ndarray) -> int:
    blue = ((sheet[:, :, 2].astype(int) - sheet[:, :, 0]) > 80).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(blue)
    return sum(1 for index in range(1, count) if stats[index, cv2.CC_STAT_AREA] > 20_000)


@pytest.mark.parametrize(("print_type", "per_sheet"), [(1, 8), (2, 10)])
def test_print_sheet_is_six_inch_with_8_or_10_photos(
    client: Client, body: Body, print_type: int, per_sheet: int
) -> None:
    answer = client.make(body(print_type=print_type, background_color=[colour(BLUE, "blue")])).json()
    assert answer["one_sheet_num"] == per_sheet
    sheet = final_sheet(client, answer["final_pic_name"][0])
    assert sheet.shape == (1200, 1800, 3)
    assert count_cells(sheet) == per_sheet


def test_file_size_max_in_kb_is_honoured(client: Client, body: Body) -> None:
    answer = client.make(body(file_size_max=12)).json()
    data = client.fetch(client.get_pic(answer["final_pic_name"][0]).json()["file_name"]).content
    assert 0 < len(data) <= 12 * 1024
    assert decode(data).shape == (413, 295, 3)


def test_file_size_min_in_kb_is_reached_and_still_decodes(client: Client, body: Body) -> None:
    answer = client.make(body(file_size_min=200)).json()
    data = client.fetch(client.get_pic(answer["final_pic_name"][0]).json()["file_name"]).content
    assert len(data) >= 200 * 1024
    assert decode(data).shape == (413, 295, 3)


def test_equal_min_and_max_give_that_exact_size(client: Client, body: Body) -> None:
    answer = client.make(body(file_size_min=30, file_size_max=30)).json()
    data = client.fetch(client.get_pic(answer["final_pic_name"][0]).json()["file_name"]).content
    assert len(data) == 30 * 1024
    assert decode(data).shape == (413, 295, 3)


def test_unreachable_file_size_max_is_507(client: Client, body: Body) -> None:
    answer = client.make(body(spec_id=2, file_size_max=1)).json()
    assert answer["code"] == 507
    assert "file_size_max" in answer["error"]


def top_margin(photo: np.ndarray, background: np.ndarray) -> float:
    width = photo.shape[1]
    band = photo[:, int(width * 0.35) : int(width * 0.65)].astype(float)
    person_rows = np.flatnonzero((np.abs(band - background).max(axis=2) > 60).mean(axis=1) > 0.2)
    return float(person_rows[0] / photo.shape[0])


def test_ratios_place_the_head(client: Client, body: Body) -> None:
    ratios = [0.4, 0.45, -1, -1, 0.2, 0.25, -1, -1]
    answer = client.make(body(ratios=ratios, background_color=[colour(BLUE, "blue")])).json()
    low = final_photo(client, answer["final_pic_name"][0])
    assert 0.17 <= top_margin(low, rgb_of(BLUE)) <= 0.28
    answer = client.make(
        body(ratios=[0.6, 0.7, -1, -1, 0.02, 0.05, -1, -1], background_color=[colour(BLUE, "b")])
    ).json()
    high = final_photo(client, answer["final_pic_name"][0])
    assert 0.0 <= top_margin(high, rgb_of(BLUE)) <= 0.08


@pytest.mark.parametrize(
    "ratios",
    [
        [0.9, 0.95, -1, -1, 0.5, 0.6, -1, -1],  # head + top margin > the whole photo
        [0.7, 0.5, -1, -1, -1, -1, -1, -1],  # a minimum above its maximum
        [-1, -1, 0.95, 1, 0.3, 0.4, -1, -1],  # eyes near the bottom edge yet a big top margin
    ],
)
def test_impossible_ratios_are_507(client: Client, body: Body, ratios: list[float]) -> None:
    answer = client.make(body(ratios=ratios)).json()
    assert answer["code"] == 507
    assert "face cannot fit the ratios" in answer["error"]


def sharpness(photo: np.ndarray) -> float:
    height, width = photo.shape[:2]
    face = cv2.cvtColor(photo[height // 4 : height // 2, width // 3 : 2 * width // 3], cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(face, cv2.CV_64F).var())


def test_beauty_smooths_the_face(client: Client, body: Body) -> None:
    plain = client.make(body()).json()["final_pic_name"][0]
    smooth = client.make(body(need_origin_beauty=1, fair_level=3)).json()["final_pic_name"][0]
    assert sharpness(final_photo(client, smooth)) < 0.85 * sharpness(final_photo(client, plain))


@pytest.mark.parametrize(
    "extra", [{"pose_fix": 1}, {"hor_align_type": 1}, {"pose_fix": 0, "hor_align_type": 0}]
)
def test_pose_and_alignment_options_are_accepted(client: Client, body: Body, extra: dict[str, int]) -> None:
    answer = client.make(body(**extra)).json()
    assert answer["code"] == 200
    assert final_photo(client, answer["final_pic_name"][0]).shape == (413, 295, 3)


def test_png_source_and_unicode_colour_name(client: Client, body: Body, source: Any) -> None:
    answer = client.make(
        body(pic_url=source.url("/astronaut.png"), background_color=[colour(BLUE, "蓝色")])
    ).json()
    name = answer["final_pic_name"][0]
    assert name.endswith("clothes蓝色")
    assert client.fetch(answer["wm_pic_url"][0]).status_code == 200
    assert close_to(final_photo(client, name)[2:12, 2:12], rgb_of(BLUE))
