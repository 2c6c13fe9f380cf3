"""Photo options: parsed from S3 metadata strings, checked against the vendor's limits, merged over defaults."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idphoto.errors import InvalidOptions
from idphoto.options import (
    MAX_COLORS,
    MAX_FILE_SIZE_KB,
    MAX_HEIGHT_PX,
    MAX_VALUE_LENGTH,
    MAX_WIDTH_PX,
    PARSERS,
    BackgroundColor,
    PhotoOptions,
    defaults_from,
    merge,
    parse_metadata,
)

WHITE = BackgroundColor("white", 0xFFFFFF, 0xFFFFFF)
BLUE = BackgroundColor("blue", 4427483, 4427483)  # the vendor's own example value
SKY = BackgroundColor("sky", 0x87CEEB, 0xFFFFFF)
EXAMPLE_RATIOS = "0.5,0.7,0.5,0.72,0.05,0.15,0.35,0.75"
# pic_handle_3's parameters (API.md), pic_url aside: nothing else may ever be sent.
VENDOR_PARAMETERS = {
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


def options_from(
    metadata: dict[str, str], defaults: PhotoOptions | dict[str, Any] | None = None
) -> PhotoOptions:
    return merge(defaults, parse_metadata(metadata))


def underscored(name: str) -> str:
    return name.replace("-", "_")


# --- every option, both spellings ---------------------------------------------------------------------

VALID = [
    ("spec-id", "25", "spec_id", 25),
    ("spec-id", " 99999999 ", "spec_id", 99_999_999),
    ("width-px", "295", "width_px", 295),
    ("width-px", "1050", "width_px", MAX_WIDTH_PX),
    ("height-px", "413", "height_px", 413),
    ("height-px", "1500", "height_px", MAX_HEIGHT_PX),
    ("background", "white,blue", "background", (WHITE, BLUE)),
    ("background", "sky=#87CEEB:#ffffff", "background", (SKY,)),
    ("background", "#87ceeb", "background", (BackgroundColor("87ceeb", 0x87CEEB, 0x87CEEB),)),
    ("background", "white:blue", "background", (BackgroundColor("white-blue", 0xFFFFFF, 4427483),)),
    (
        "background",
        " Grey , id_2=#000000 ",
        "background",
        (BackgroundColor("grey", 0xBFBFBF, 0xBFBFBF), BackgroundColor("id_2", 0, 0)),
    ),
    ("ratios", EXAMPLE_RATIOS, "ratios", (0.5, 0.7, 0.5, 0.72, 0.05, 0.15, 0.35, 0.75)),
    ("ratios", "-1, -1, 0, 1, -1, -1, 0.3, 0.8", "ratios", (-1.0, -1.0, 0.0, 1.0, -1.0, -1.0, 0.3, 0.8)),
    ("file-size-max", "500", "file_size_max", 500),
    ("file-size-min", "20", "file_size_min", 20),
    ("file-size-max", "10240", "file_size_max", MAX_FILE_SIZE_KB),
    ("print-type", "1", "print_type", 1),
    ("print-type", "compact", "print_type", 2),
    ("print-type", "Default", "print_type", 1),
    ("hor-align-type", "ears", "hor_align_type", 1),
    ("hor-align-type", "center", "hor_align_type", 0),
    ("hor-align-type", "0", "hor_align_type", 0),
    ("pose-fix", "yes", "pose_fix", 1),
    ("pose-fix", "off", "pose_fix", 0),
    ("need-origin-beauty", "TRUE", "need_origin_beauty", 1),
    ("need-origin-beauty", "0", "need_origin_beauty", 0),
    ("clothes", "api_20240521-3-boy", "clothes", "api_20240521-3-boy"),
    ("beauty-level", "1", "fair_level", 1),
    ("beauty-level", " 5 ", "fair_level", 5),
    ("beauty-level", "+3", "fair_level", 3),
]


@pytest.mark.parametrize("spelling", [str, underscored], ids=["dashes", "underscores"])
@pytest.mark.parametrize(("name", "value", "field", "expected"), VALID)
def test_given_valid_option_in_metadata_when_parsed_then_field_is_set(
    spelling: Any, name: str, value: str, field: str, expected: object
) -> None:
    parsed = parse_metadata({spelling(name): value})

    assert parsed.problems == []
    assert parsed.ignored == []
    assert parsed.values == {field: expected}
    assert getattr(options_from({spelling(name): value}, PhotoOptions(spec_id=1)), field) == expected


def test_given_the_valid_examples_then_every_option_is_covered() -> None:
    assert {name for name, *_ in VALID} == set(PARSERS)


def test_given_uppercase_metadata_name_when_parsed_then_recognised() -> None:
    assert parse_metadata({"Width-PX": "300"}).values == {"width_px": 300}


def test_given_six_colours_when_parsed_then_accepted() -> None:
    colors = options_from({"background": "white,blue,red,gray,lightblue,#000000"}, PhotoOptions(spec_id=1))

    assert len(colors.background) == MAX_COLORS
    assert colors.color_names() == ["white", "blue", "red", "gray", "lightblue", "000000"]


# --- every invalid value ---------------------------------------------------------------------------------

INVALID = [
    ("background", "white;blue"),
    ("background", "white,,blue"),
    ("background", "white,"),
    ("background", "purple"),
    ("background", "#12345"),
    ("background", "white,blue,red,gray,lightblue,#000000,#111111"),
    ("background", "a=white,a=blue"),
    ("background", "white,white"),
    ("background", "Bad Name=#ffffff"),
    ("background", "-x=white"),
    ("background", "x" * 33 + "=white"),
    ("width-px", "2000"),
    ("width-px", "0"),
    ("width-px", "-5"),
    ("width-px", "abc"),
    ("width-px", "1.5"),
    ("height-px", "1501"),
    ("height-px", "0"),
    ("spec-id", "0"),
    ("spec-id", "12a"),
    ("ratios", "0.5,0.7,0.5,0.72,0.05,0.15,0.35"),
    ("ratios", EXAMPLE_RATIOS + ",0.5"),
    ("ratios", "1.5,0.7,0.5,0.72,0.05,0.15,0.35,0.75"),
    ("ratios", "nan,0.7,0.5,0.72,0.05,0.15,0.35,0.75"),
    ("ratios", "0.5,0.7,0.5,0.72,0.05,0.15,0.35,inf"),
    ("ratios", "0.5,x,0.5,0.72,0.05,0.15,0.35,0.75"),
    ("ratios", "0.5,-0.5,0.5,0.72,0.05,0.15,0.35,0.75"),
    ("ratios", "0.5,,0.5,0.72,0.05,0.15,0.35,0.75"),
    ("print-type", "3"),
    ("print-type", "huge"),
    ("hor-align-type", "left"),
    ("pose-fix", "maybe"),
    ("need-origin-beauty", "2"),
    ("beauty-level", "0"),
    ("beauty-level", "6"),
    ("beauty-level", "-1"),
    ("beauty-level", "2.5"),
    ("beauty-level", "high"),
    ("beauty-level", "3,4"),
    ("clothes", "boy suit"),
    ("clothes", "-boy"),
    ("clothes", "b" * 65),
    ("clothes", "a" * (MAX_VALUE_LENGTH + 1)),
    ("background", "white," * 50),
    ("file-size-max", "0"),
    ("file-size-max", str(MAX_FILE_SIZE_KB + 1)),
    ("file-size-min", "-1"),
]


@pytest.mark.parametrize(("name", "value"), INVALID)
def test_given_invalid_option_when_merged_then_invalid_options_names_the_option(
    name: str, value: str
) -> None:
    parsed = parse_metadata({name: value})

    with pytest.raises(InvalidOptions) as caught:
        merge(PhotoOptions(spec_id=1), parsed)

    assert f"{name}:" in caught.value.message
    assert caught.value.message.startswith("invalid metadata")
    assert caught.value.code == "INVALID_OPTIONS"
    assert name.replace("-", "_") not in parsed.values


def test_given_value_of_exactly_max_length_when_parsed_then_accepted_and_one_more_rejected() -> None:
    fits = " " * (MAX_VALUE_LENGTH - 3) + "300"

    assert parse_metadata({"width-px": fits}).values == {"width_px": 300}
    assert parse_metadata({"width-px": " " + fits}).problems == [
        f"width-px: value longer than {MAX_VALUE_LENGTH} characters"
    ]


def test_given_file_size_min_above_max_when_merged_then_invalid_options_names_both() -> None:
    with pytest.raises(InvalidOptions, match=r"file-size-min .*file-size-max"):
        options_from({"file-size-min": "200", "file-size-max": "100"}, PhotoOptions(spec_id=1))


def test_given_upload_min_above_default_max_when_merged_then_invalid_options() -> None:
    with pytest.raises(InvalidOptions, match="file-size-min"):
        options_from({"file_size_min": "200"}, PhotoOptions(spec_id=1, file_size_max=100))


def test_given_several_invalid_options_when_merged_then_every_problem_is_listed_together() -> None:
    parsed = parse_metadata({"width-px": "2000", "height-px": "1501", "ratios": "1,2", "clothes": "a b"})

    with pytest.raises(InvalidOptions) as caught:
        merge(PhotoOptions(spec_id=1), parsed)

    assert len(parsed.problems) == 4
    for name in ("width-px", "height-px", "ratios", "clothes"):
        assert f"{name}:" in caught.value.message


# --- not set, unknown, merge ------------------------------------------------------------------------------


def test_given_empty_values_when_merged_then_defaults_apply() -> None:
    defaults = PhotoOptions(spec_id=3, width_px=500, background=(BLUE,))

    parsed = parse_metadata({"width-px": "", "background": "   ", "spec_id": "\t"})

    assert parsed.values == {}
    assert parsed.problems == []
    assert merge(defaults, parsed) == defaults


def test_given_unknown_metadata_when_parsed_then_ignored_and_listed_by_original_name() -> None:
    parsed = parse_metadata({"Camera-Model": "X100", "spec-id": "2", "author": "ann", "spec-id-2": "9"})

    assert parsed.ignored == ["Camera-Model", "author", "spec-id-2"]
    assert parsed.problems == []
    assert merge(None, parsed) == PhotoOptions(spec_id=2)


def test_given_defaults_when_upload_overrides_some_then_others_keep_their_default() -> None:
    defaults = PhotoOptions(
        spec_id=1, width_px=300, background=(WHITE,), need_origin_beauty=0, clothes="suit"
    )

    options = options_from({"background": "blue", "spec_id": "7", "need-origin-beauty": "yes"}, defaults)

    assert options == PhotoOptions(
        spec_id=7, width_px=300, background=(BLUE,), need_origin_beauty=1, clothes="suit"
    )
    assert options.beauty
    assert defaults.background == (WHITE,)


def test_given_no_defaults_when_upload_names_no_spec_id_then_invalid_options_asks_for_it() -> None:
    with pytest.raises(InvalidOptions, match="spec-id is required"):
        options_from({"background": "white"})


def test_given_no_defaults_when_upload_names_spec_id_then_options_are_the_upload_alone() -> None:
    assert options_from({"spec-id": "9", "width-px": "300"}) == PhotoOptions(spec_id=9, width_px=300)


def test_given_no_defaults_and_an_invalid_option_when_merged_then_problem_reported_before_missing_spec_id() -> (
    None
):
    with pytest.raises(InvalidOptions, match="width-px"):
        options_from({"width-px": "2000"})


# --- the vendor's body -------------------------------------------------------------------------------------


def test_given_every_option_when_rendered_for_vendor_then_body_matches_the_api_exactly() -> None:
    options = options_from(
        {
            "spec-id": "25",
            "width-px": "295",
            "height-px": "413",
            "background": "white,blue,sky=#87ceeb:#ffffff",
            "ratios": EXAMPLE_RATIOS,
            "file-size-max": "200",
            "file-size-min": "20",
            "print-type": "compact",
            "hor-align-type": "ears",
            "pose-fix": "yes",
            "need-origin-beauty": "no",
            "clothes": "api_20240521-3-boy",
            "beauty-level": "4",
        }
    )

    body = options.to_vendor()

    assert body == {
        "spec_id": 25,
        "width_px": 295,
        "height_px": 413,
        "background_color": [
            {"start_color": 16777215, "color_name": "white", "enc_color": 16777215},
            {"start_color": 4427483, "color_name": "blue", "enc_color": 4427483},
            {"start_color": 0x87CEEB, "color_name": "sky", "enc_color": 16777215},
        ],
        "ratios": [0.5, 0.7, 0.5, 0.72, 0.05, 0.15, 0.35, 0.75],
        "file_size_max": 200,
        "file_size_min": 20,
        "print_type": 2,
        "hor_align_type": 1,
        "pose_fix": 1,
        "need_origin_beauty": 0,
        "clothes": "api_20240521-3-boy",
        "fair_level": 4,
    }
    assert set(body) == VENDOR_PARAMETERS
    assert json.loads(json.dumps(body)) == body
    for key, value in body.items():
        if key not in ("background_color", "ratios", "clothes"):
            assert type(value) is int, key
    for color in body["background_color"]:
        assert list(color) == ["start_color", "color_name", "enc_color"]
        assert type(color["start_color"]) is int
        assert type(color["enc_color"]) is int


def test_given_only_spec_id_when_rendered_for_vendor_then_unset_options_are_left_out() -> None:
    assert PhotoOptions(spec_id=1).to_vendor() == {"spec_id": 1}
    assert PhotoOptions(spec_id=1, need_origin_beauty=0).to_vendor() == {
        "spec_id": 1,
        "need_origin_beauty": 0,
    }


# --- the record -------------------------------------------------------------------------------------------


def test_given_every_option_when_recorded_and_read_back_then_equal_and_json_without_floats() -> None:
    options = PhotoOptions(
        spec_id=25,
        width_px=295,
        height_px=413,
        background=(WHITE, SKY),
        ratios=(0.5, 0.7, 0.5, 0.72, 0.05, 0.15, 0.35, -1.0),
        file_size_max=200,
        file_size_min=20,
        print_type=2,
        hor_align_type=1,
        pose_fix=0,
        need_origin_beauty=1,
        clothes="suit",
        fair_level=5,
    )

    record = options.to_record()

    assert PhotoOptions.from_record(json.loads(json.dumps(record))) == options
    assert "float" not in json.dumps(record, default=lambda o: "unserialisable")
    assert not any(isinstance(v, float) for v in _leaves(record))  # DynamoDB takes no floats


def test_given_minimal_options_when_recorded_then_only_spec_id_and_read_back_equal() -> None:
    record = PhotoOptions(spec_id=4).to_record()

    assert record == {"spec_id": 4}
    assert PhotoOptions.from_record(record) == PhotoOptions(spec_id=4)


def test_given_precise_ratio_from_an_upload_when_recorded_and_read_back_then_ratio_is_unchanged() -> None:
    options = options_from({"spec-id": "1", "ratios": "0.1234567,0.7,0.5,0.72,0.05,0.15,0.35,0.75"})

    assert PhotoOptions.from_record(options.to_record()) == options


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list | tuple):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


# --- defaults ----------------------------------------------------------------------------------------------


def test_given_default_settings_when_read_then_option_values() -> None:
    assert defaults_from({"spec-id": "1", "background": "white,blue"}) == {
        "spec_id": 1,
        "background": (WHITE, BLUE),
    }


def test_given_no_default_settings_when_read_then_empty() -> None:
    assert defaults_from({}) == {}
    assert defaults_from({"spec-id": ""}) == {}


@pytest.mark.parametrize(
    "settings",
    [{"spec-id": "abc"}, {"spec-id": "1", "background": "purple"}, {"spec-id": "1", "ratios": "1,2,3"}],
)
def test_given_bad_default_when_read_then_invalid_options_names_default_and_option(
    settings: dict[str, str],
) -> None:
    with pytest.raises(InvalidOptions, match="invalid default option: "):
        defaults_from(settings)


def test_given_default_file_size_min_above_max_when_read_then_invalid_options() -> None:
    with pytest.raises(InvalidOptions, match="file-size-min"):
        defaults_from({"spec-id": "1", "file-size-min": "300", "file-size-max": "200"})


def test_given_defaults_without_spec_id_when_upload_names_spec_id_then_other_defaults_still_apply() -> None:
    # template.yaml: "DefaultSpecId empty = every upload must set spec-id", while DefaultBackground etc. may be
    # set. Those other defaults must not vanish silently.
    defaults = defaults_from({"background": "blue", "width-px": "300"})

    options = options_from({"spec-id": "5"}, defaults)

    assert options == PhotoOptions(spec_id=5, width_px=300, background=(BLUE,))


# --- properties ---------------------------------------------------------------------------------------------

COLOR_NAME = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,23}", fullmatch=True)  # 6 of them fit in 256 characters
RGB = st.integers(0, 0xFFFFFF)
RATIO = st.one_of(st.just(-1.0), st.floats(0.0, 1.0))
SPELLINGS: dict[str, dict[int, list[str]]] = {
    "print-type": {1: ["1", "default", "DEFAULT"], 2: ["2", "compact", " Compact "]},
    "hor-align-type": {0: ["0", "center"], 1: ["1", "ears", "EARS"]},
    "pose-fix": {0: ["0", "false", "no", "off"], 1: ["1", "true", "yes", "on", "Yes"]},
    "need-origin-beauty": {0: ["0", "False", "no", "off"], 1: ["1", "true", "YES", "on"]},
}


@st.composite
def valid_options(draw: st.DrawFn) -> PhotoOptions:
    low, high = sorted(draw(st.lists(st.integers(1, MAX_FILE_SIZE_KB), min_size=2, max_size=2)))
    colors = draw(
        st.lists(
            st.builds(BackgroundColor, COLOR_NAME, RGB, RGB), max_size=MAX_COLORS, unique_by=lambda c: c.name
        )
    )

    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.none() | strategy)

    return PhotoOptions(
        spec_id=draw(st.integers(1, 99_999_999)),
        width_px=maybe(st.integers(1, MAX_WIDTH_PX)),
        height_px=maybe(st.integers(1, MAX_HEIGHT_PX)),
        background=tuple(colors),
        ratios=maybe(st.tuples(*[RATIO] * 8)),
        file_size_max=maybe(st.just(high)),
        file_size_min=maybe(st.just(low)),
        print_type=maybe(st.sampled_from([1, 2])),
        hor_align_type=maybe(st.sampled_from([0, 1])),
        pose_fix=maybe(st.sampled_from([0, 1])),
        need_origin_beauty=maybe(st.sampled_from([0, 1])),
        clothes=maybe(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True)),
        fair_level=maybe(st.integers(1, 5)),
    )


@st.composite
def as_metadata(draw: st.DrawFn, options: PhotoOptions) -> dict[str, str]:
    """The metadata an uploader could have written for these options (any accepted spelling)."""

    def hex_of(value: int) -> str:
        text = f"{value:06x}"
        return draw(st.sampled_from(["#", ""])) + draw(st.sampled_from([text, text.upper()]))

    def color(c: BackgroundColor) -> str:
        bottom = f":{hex_of(c.bottom)}" if c.is_gradient or draw(st.booleans()) else ""
        return f"{c.name}={hex_of(c.top)}{bottom}"

    values: dict[str, str] = {}
    for name, (field, _) in PARSERS.items():
        value = getattr(options, field)
        if value is None or value == ():
            continue
        if name in SPELLINGS:
            text = draw(st.sampled_from(SPELLINGS[name][value]))
        elif name == "background":
            text = ",".join(color(c) for c in value)
        elif name == "ratios":
            text = draw(st.sampled_from([",", ", "])).join(repr(r) for r in value)
        else:
            text = str(value)
        values[draw(st.sampled_from([name, underscored(name)]))] = text
    return values


@given(st.data())
def test_given_any_valid_options_when_written_as_metadata_then_parsed_back_equal(data: st.DataObject) -> None:
    options = data.draw(valid_options())
    metadata = data.draw(as_metadata(options))

    parsed = parse_metadata(metadata)

    assert parsed.problems == []
    assert merge(None, parsed) == options


@given(valid_options())
def test_given_any_valid_options_when_recorded_and_read_back_then_equal(options: PhotoOptions) -> None:
    assert PhotoOptions.from_record(json.loads(json.dumps(options.to_record()))) == options


# Upload metadata the product reads besides PARSERS' options (written out here, not imported: the
# model says what the product must recognise): ``spec`` names a spec (idphoto.specs), ``finals`` asks
# for automatic finals (idphoto.autofinals). Neither is "ignored"; only ``spec`` can have problems.
NAMED_SPEC = "spec"
RECOGNISED = {*PARSERS, NAMED_SPEC, "finals"}
MAY_HAVE_PROBLEMS = {*PARSERS, NAMED_SPEC}
KNOWN_NAMES = sorted(RECOGNISED) + sorted(underscored(n) for n in RECOGNISED) + ["SPEC", " Finals "]
ANY_NAME = st.one_of(st.sampled_from(KNOWN_NAMES), st.text(max_size=20))
ANY_VALUE = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["us-passport", "cn-two-inch", "US-Passport ", "auto", "off", "white,blue"]),
    st.from_regex(r"\s*[-+]?[0-9]{0,12}\s*", fullmatch=True),
    st.lists(
        st.sampled_from(["white", "#ffffff", "x=blue", "a=#000000:#fff", "", " ", "=", ":", "Ü=red"]),
        max_size=8,
    ).map(",".join),
    st.lists(st.sampled_from(["0.5", "-1", "nan", "1e400", "", "x", "2", "0_5", "-0"]), max_size=10).map(
        ",".join
    ),
)


@given(
    st.dictionaries(ANY_NAME, ANY_VALUE, max_size=8),
    st.sampled_from([None, PhotoOptions(spec_id=1, file_size_max=100)]),
)
def test_given_arbitrary_metadata_when_parsed_then_never_raises_and_merge_raises_only_invalid_options(
    metadata: dict[str, str], defaults: PhotoOptions | None
) -> None:
    parsed = parse_metadata(metadata)

    for problem in parsed.problems:
        assert problem.split(":", 1)[0] in MAY_HAVE_PROBLEMS
    known = {n for n in metadata if n.strip().lower().replace("_", "-") in RECOGNISED}
    assert sorted(parsed.ignored) == sorted(set(metadata) - known)
    try:
        options = merge(defaults, parsed)
    except InvalidOptions:
        return
    assert parsed.problems == []
    assert options.to_vendor()["spec_id"] >= 1


OUT_OF_RANGE = st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not (x == -1 or 0 <= x <= 1))


@given(st.lists(RATIO, min_size=7, max_size=7), OUT_OF_RANGE, st.integers(0, 7))
def test_given_a_ratio_out_of_range_anywhere_when_merged_then_rejected(
    valid: list[float], bad: float, position: int
) -> None:
    ratios = [*valid[:position], bad, *valid[position:]]
    parsed = parse_metadata({"ratios": ",".join(repr(r) for r in ratios)})

    assert "ratios" not in parsed.values
    with pytest.raises(InvalidOptions, match="ratios: ratio"):
        merge(PhotoOptions(spec_id=1), parsed)
