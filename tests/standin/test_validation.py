"""API.md's parameter table, notes 1-2 and status codes 400/422/423: one case per rule."""

from collections.abc import Callable
from typing import Any

import pytest

from .support import GET, MAKE, Client, colour

MISSING = object()
GOOD_COLOUR = colour(0xFFFFFF, "white")

# (parameter, value or MISSING, expected code, expected error)
CASES: list[tuple[str, object, int, str]] = [
    ("spec_id", MISSING, 422, "missing parameter: spec_id"),
    ("spec_id", "1", 422, "spec_id must be an integer"),
    ("spec_id", 1.0, 422, "spec_id must be an integer"),
    ("spec_id", True, 422, "spec_id must be an integer"),
    ("spec_id", 999, 422, "unknown spec_id: 999"),
    ("width_px", 0, 422, "width_px must be an integer between 1 and 1050"),
    ("width_px", 1051, 422, "width_px must be an integer between 1 and 1050"),
    ("width_px", 300.5, 422, "width_px must be an integer between 1 and 1050"),
    ("height_px", 1501, 422, "height_px must be an integer between 1 and 1500"),
    ("height_px", False, 422, "height_px must be an integer between 1 and 1500"),
    ("background_color", {"start_color": 1}, 422, "background_color must be a list of 1 to 6 colours"),
    ("background_color", [], 422, "background_color must be a list of 1 to 6 colours"),
    ("background_color", [GOOD_COLOUR] * 7, 422, "background_color must be a list of 1 to 6 colours"),
    (
        "background_color",
        [{"start_color": 0, "enc_color": 0}],
        422,
        "background_color[0] must be an object with exactly start_color, enc_color and color_name",
    ),
    (
        "background_color",
        [GOOD_COLOUR, {**GOOD_COLOUR, "alpha": 1}],
        422,
        "background_color[1] must be an object with exactly start_color, enc_color and color_name",
    ),
    (
        "background_color",
        [colour(0x1000000, "x")],
        422,
        "background_color[0].start_color must be an integer between 0 and 16777215",
    ),
    (
        "background_color",
        [{**GOOD_COLOUR, "enc_color": -1}],
        422,
        "background_color[0].enc_color must be an integer between 0 and 16777215",
    ),
    (
        "background_color",
        [{**GOOD_COLOUR, "enc_color": True}],
        422,
        "background_color[0].enc_color must be an integer between 0 and 16777215",
    ),
    ("background_color", [colour(0, "")], 422, "background_color[0].color_name must be a non-empty string"),
    (
        "background_color",
        [{**GOOD_COLOUR, "color_name": 3}],
        422,
        "background_color[0].color_name must be a non-empty string",
    ),
    ("ratios", [0.5] * 7, 422, "ratios must be a list of exactly 8 numbers"),
    ("ratios", [0.5] * 9, 422, "ratios must be a list of exactly 8 numbers"),
    ("ratios", "0.5", 422, "ratios must be a list of exactly 8 numbers"),
    ("ratios", [0.5, 1.5, -1, -1, -1, -1, -1, -1], 422, "ratios[1] must be a number between 0 and 1, or -1"),
    ("ratios", [-1, -1, -0.5, -1, -1, -1, -1, -1], 422, "ratios[2] must be a number between 0 and 1, or -1"),
    ("ratios", [-1, -1, -1, "0.5", -1, -1, -1, -1], 422, "ratios[3] must be a number between 0 and 1, or -1"),
    ("ratios", [-1, -1, -1, -1, None, -1, -1, -1], 422, "ratios[4] must be a number between 0 and 1, or -1"),
    ("file_size_max", 0, 422, "file_size_max must be a positive integer (KB)"),
    ("file_size_max", "50", 422, "file_size_max must be a positive integer (KB)"),
    ("file_size_min", -1, 422, "file_size_min must be a positive integer (KB)"),
    ("print_type", 3, 422, "print_type must be 1 or 2"),
    ("print_type", 0, 422, "print_type must be 1 or 2"),
    ("hor_align_type", 2, 422, "hor_align_type must be 0 or 1"),
    ("pose_fix", True, 422, "pose_fix must be 0 or 1"),
    ("need_origin_beauty", "1", 422, "need_origin_beauty must be 0 or 1"),
    ("clothes", 5, 422, "clothes must be a string"),
    ("fair_level", "3", 423, "fair_level must be an integer"),
    ("fair_level", 1.5, 423, "fair_level must be an integer"),
    ("fair_level", True, 423, "fair_level must be an integer"),
    ("pic_url", MISSING, 422, "missing parameter: pic_url"),
    ("pic_url", "", 422, "missing parameter: pic_url"),
    ("pic_url", 42, 422, "pic_url must be a string"),
    ("base64", "aGVsbG8=", 422, "unknown parameter: base64"),
    ("Spec_Id", 1, 422, "unknown parameter: Spec_Id"),
]


@pytest.mark.parametrize(
    ("key", "value", "code", "error"), CASES, ids=[f"{c[0]}-{c[1]!r}"[:60] for c in CASES]
)
def test_each_rule_answers_its_code_and_error(
    client: Client, body: Callable[..., dict[str, Any]], key: str, value: object, code: int, error: str
) -> None:
    payload = body()
    if value is MISSING:
        payload.pop(key, None)
    else:
        payload[key] = value
    response = client.make(payload)
    assert response.status_code == 200  # the default: the vendor code travels inside HTTP 200
    assert response.json() == {"code": code, "error": error}


def test_file_size_min_above_max_is_422(client: Client, body: Callable[..., dict[str, Any]]) -> None:
    answer = client.make(body(file_size_max=20, file_size_min=30)).json()
    assert answer == {"code": 422, "error": "file_size_min must not exceed file_size_max"}


def test_first_unknown_parameter_is_named_even_when_others_are_wrong(client: Client) -> None:
    answer = client.make({"zeta": 1, "alpha": 2, "spec_id": "bad"}).json()
    assert answer == {"code": 422, "error": "unknown parameter: alpha"}


def test_fair_level_is_checked_after_the_table_parameters(
    client: Client, body: Callable[..., dict[str, Any]]
) -> None:
    assert client.make(body(fair_level="x", print_type=9)).json()["code"] == 422
    assert client.make(body(fair_level="x")).json()["code"] == 423


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"spec_id=1", "illegal request: body is not valid JSON"),
        (b"", "illegal request: body is not valid JSON"),
        (b'{"spec_id": 1', "illegal request: body is not valid JSON"),
        (b'{"spec_id": NaN}', "illegal request: body is not valid JSON"),
        (b'{"spec_id": 1, "spec_id": 2}', "illegal request: body is not valid JSON"),
        (b"\xff\xfe{}", "illegal request: body is not valid JSON"),
        (b"[1, 2]", "illegal request: body must be a JSON object"),
        (b'"spec_id"', "illegal request: body must be a JSON object"),
    ],
)
def test_body_that_is_not_a_json_object_is_400(client: Client, raw: bytes, error: str) -> None:
    response = client.http.post(
        client.base + MAKE, data=raw, headers={**client.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json() == {"code": 400, "error": error}


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({}, "missing parameter: file_name"),
        ({"file_name": ""}, "missing parameter: file_name"),
        ({"file_name": ["a", "b"]}, "file_name must be given once"),
        ({"file_name": "a", "fileName": "a"}, "unknown parameter: fileName"),
        ({"file_name": "0" * 32 + "clothesblue"}, "unknown file_name: " + "0" * 32 + "clothesblue"),
    ],
)
def test_get_pic_parameters(client: Client, query: dict[str, Any], error: str) -> None:
    response = client.http.get(client.base + GET, params=query, headers=client.auth())
    assert response.json() == {"code": 422, "error": error}
    assert client.admin("stats")["billed_calls"] == 0
