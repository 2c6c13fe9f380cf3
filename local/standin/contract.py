"""Validation of the two vendor calls, rule by rule, as API.md states them.

Every failure raises :class:`VendorError` carrying the vendor code and a precise ``error`` string.
Checks run in this order and stop at the first failure:

1. body (``pic_handle_3``): not JSON, NaN/Infinity, duplicate keys or not an object -> **400**;
2. unknown parameter -> 422 ``unknown parameter: <name>`` (names sorted, first one reported);
3. the parameters in API.md's table order -> 422 (messages below);
4. ``fair_level`` not an integer -> **423**;
5. ``pic_url`` absent -> 422 ``missing parameter: pic_url`` (the stand-in takes no base64 input).

Integers are JSON integers: ``true``/``false``, ``1.0`` and ``"1"`` are rejected. ``file_size_max`` and
``file_size_min`` are in **KB (1024 bytes)** and must be positive, with min <= max. ``ratios`` entries
are numbers in [0, 1] or exactly -1; a min above its max is not a 422 but an unsatisfiable request
(507 when the photo is made), as the vendor says "unreasonable values lower the success rate".
``get_pic_3`` takes exactly one ``file_name`` query parameter; missing, repeated or unknown -> 422.
"""

import json
import math
from dataclasses import dataclass
from typing import Any, NoReturn

from local.standin.specs import CATALOGUE, Spec

MAX_COLOURS = 6
MAX_WIDTH_PX = 1050
MAX_HEIGHT_PX = 1500
MAX_RGB = 0xFFFFFF
RATIO_COUNT = 8

MAKE_PARAMS = frozenset(
    {
        "pic_url",
        "spec_id",
        "width_px",
        "height_px",
        "background_color",
        "ratios",
        "file_size_max",
        "file_size_min",
        "print_type",
        "hor_align_type",
        "pose_fix",
        "need_origin_beauty",
        "clothes",
        "fair_level",
    }
)
COLOUR_FIELDS = frozenset({"start_color", "enc_color", "color_name"})


class VendorError(Exception):
    """A vendor answer other than 200: ``{"code": code, "error": message}``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Colour:
    start: int
    end: int
    name: str


WHITE = Colour(0xFFFFFF, 0xFFFFFF, "white")


@dataclass(frozen=True, slots=True)
class MakeRequest:
    pic_url: str
    spec: Spec
    width_px: int
    height_px: int
    colours: tuple[Colour, ...] = (WHITE,)
    ratios: tuple[float, ...] | None = None
    file_size_max_kb: int | None = None
    file_size_min_kb: int | None = None
    print_type: int = 1
    hor_align_type: int = 0
    pose_fix: int = 0
    need_origin_beauty: int = 0
    clothes: str = ""
    fair_level: int | None = None


def _fail(message: str, code: int = 422) -> NoReturn:
    raise VendorError(code, message)


def _is_int(value: object) -> bool:
    # bool is a subclass of int in Python, but JSON true/false are not integers.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_int(value)


def _int_in(body: dict[str, Any], key: str, low: int, high: int, default: int) -> int:
    if key not in body:
        return default
    value = body[key]
    if not _is_int(value) or not low <= value <= high:
        _fail(f"{key} must be an integer between {low} and {high}")
    return int(value)


def _choice(body: dict[str, Any], key: str, allowed: tuple[int, int], default: int) -> int:
    if key not in body:
        return default
    value = body[key]
    if not _is_int(value) or value not in allowed:
        _fail(f"{key} must be {allowed[0]} or {allowed[1]}")
    return int(value)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def parse_body(raw: bytes) -> dict[str, Any]:
    """Decode the request body; anything but one strict JSON object is an illegal request (400)."""
    try:
        decoded = json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_no_duplicates
        )
    except (UnicodeDecodeError, ValueError):
        _fail("illegal request: body is not valid JSON", 400)
    if not isinstance(decoded, dict):
        _fail("illegal request: body must be a JSON object", 400)
    return decoded


def _spec(body: dict[str, Any]) -> Spec:
    if "spec_id" not in body:
        _fail("missing parameter: spec_id")
    value = body["spec_id"]
    if not _is_int(value):
        _fail("spec_id must be an integer")
    if value not in CATALOGUE:
        _fail(f"unknown spec_id: {value}")
    return CATALOGUE[value]


def _colours(body: dict[str, Any]) -> tuple[Colour, ...]:
    if "background_color" not in body:
        return (WHITE,)
    value = body["background_color"]
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_COLOURS:
        _fail(f"background_color must be a list of 1 to {MAX_COLOURS} colours")
    colours = []
    for index, item in enumerate(value):
        where = f"background_color[{index}]"
        if not isinstance(item, dict) or set(item) != COLOUR_FIELDS:
            _fail(f"{where} must be an object with exactly start_color, enc_color and color_name")
        for key in ("start_color", "enc_color"):
            if not _is_int(item[key]) or not 0 <= item[key] <= MAX_RGB:
                _fail(f"{where}.{key} must be an integer between 0 and {MAX_RGB}")
        name = item["color_name"]
        if not isinstance(name, str) or not name:
            _fail(f"{where}.color_name must be a non-empty string")
        colours.append(Colour(item["start_color"], item["enc_color"], name))
    return tuple(colours)


def _ratios(body: dict[str, Any]) -> tuple[float, ...] | None:
    if "ratios" not in body:
        return None
    value = body["ratios"]
    if not isinstance(value, list) or len(value) != RATIO_COUNT:
        _fail("ratios must be a list of exactly 8 numbers")
    for index, item in enumerate(value):
        if not _is_number(item) or not (0 <= item <= 1 or item == -1):
            _fail(f"ratios[{index}] must be a number between 0 and 1, or -1")
    return tuple(float(item) for item in value)


def _size_kb(body: dict[str, Any], key: str) -> int | None:
    if key not in body:
        return None
    value = body[key]
    if not _is_int(value) or value < 1:
        _fail(f"{key} must be a positive integer (KB)")
    return int(value)


def validate_make(body: dict[str, Any]) -> MakeRequest:
    """Check a ``pic_handle_3`` body and return it typed; raise :class:`VendorError` otherwise."""
    unknown = sorted(set(body) - MAKE_PARAMS)
    if unknown:
        _fail(f"unknown parameter: {unknown[0]}")
    pic_url = body.get("pic_url")
    if "pic_url" in body and not isinstance(pic_url, str):
        _fail("pic_url must be a string")
    spec = _spec(body)
    width = _int_in(body, "width_px", 1, MAX_WIDTH_PX, spec.width_px)
    height = _int_in(body, "height_px", 1, MAX_HEIGHT_PX, spec.height_px)
    colours = _colours(body)
    ratios = _ratios(body)
    size_max = _size_kb(body, "file_size_max")
    size_min = _size_kb(body, "file_size_min")
    if size_max is not None and size_min is not None and size_min > size_max:
        _fail("file_size_min must not exceed file_size_max")
    print_type = _choice(body, "print_type", (1, 2), 1)
    hor_align = _choice(body, "hor_align_type", (0, 1), 0)
    pose_fix = _choice(body, "pose_fix", (0, 1), 0)
    beauty = _choice(body, "need_origin_beauty", (0, 1), 0)
    clothes = body.get("clothes", "")
    if not isinstance(clothes, str):
        _fail("clothes must be a string")
    fair_level = body.get("fair_level")
    if "fair_level" in body and not _is_int(fair_level):
        _fail("fair_level must be an integer", 423)
    if not pic_url:
        _fail("missing parameter: pic_url")
    return MakeRequest(
        pic_url=pic_url,
        spec=spec,
        width_px=width,
        height_px=height,
        colours=colours,
        ratios=ratios,
        file_size_max_kb=size_max,
        file_size_min_kb=size_min,
        print_type=print_type,
        hor_align_type=hor_align,
        pose_fix=pose_fix,
        need_origin_beauty=beauty,
        clothes=clothes,
        fair_level=fair_level,
    )


def validate_get(query: dict[str, list[str]]) -> str:
    """Check the ``get_pic_3`` query and return the requested ``file_name``."""
    unknown = sorted(set(query) - {"file_name"})
    if unknown:
        _fail(f"unknown parameter: {unknown[0]}")
    values = query.get("file_name", [])
    if not values or not values[0]:
        _fail("missing parameter: file_name")
    if len(values) > 1:
        _fail("file_name must be given once")
    return values[0]
