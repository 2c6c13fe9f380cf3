"""A named spec's fixed properties against the upload's own options: a contradiction is refused
(INVALID_OPTIONS naming it, before the vendor is called), a compliant choice is taken."""

from __future__ import annotations

import pytest

from idphoto.errors import InvalidOptions
from idphoto.options import merge, parse_metadata
from idphoto.specs import CATALOGUE

UK = next(s for s in CATALOGUE if s.file_size_max_kb is not None and s.file_size_min_kb is not None)


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        (
            {"spec": "us-passport", "background": "blue"},
            "background: blue is not allowed by us-passport (allowed: white)",
        ),
        ({"spec": "us-passport", "background": "white,sky=#87ceeb"}, "background: sky is not allowed"),
        ({"spec": "us-passport", "width-px": "500"}, "width-px: 500 px, but us-passport is 600 px"),
        ({"spec": "us-passport", "height_px": "700"}, "height-px: 700 px, but us-passport is 600 px"),
        (
            {"spec": "us-passport", "ratios": "0.5,0.5,0.5,0.5,-1,-1,-1,-1"},
            "ratios: us-passport frames the face",
        ),
        ({"spec": UK.name, "file-size-max": str((UK.file_size_max_kb or 0) + 1)}, "file-size-max"),
        ({"spec": UK.name, "file-size-min": str(max(1, (UK.file_size_min_kb or 2) - 1))}, "file-size-min"),
    ],
)
def test_an_option_contradicting_the_named_spec_is_refused_by_name(
    metadata: dict[str, str], named: str
) -> None:
    parsed = parse_metadata(metadata)

    with pytest.raises(InvalidOptions, match="invalid metadata") as refused:
        merge({"spec_id": 1}, parsed)

    assert named in refused.value.message
    assert "leave out spec and give spec-id=" in refused.value.message


@pytest.mark.parametrize(
    "metadata",
    [
        {"spec": "us-passport", "background": "white"},
        {"spec": "us-passport", "background": "plain=#ffffff"},  # the same colour, named otherwise
        {"spec": "us-passport", "width-px": "600", "height-px": "600"},
        {"spec": "cn-two-inch", "background": "white,blue,red"},
        {"spec-id": "4", "background": "blue", "width-px": "500"},  # no named spec: nothing is fixed
    ],
)
def test_options_the_spec_allows_are_taken(metadata: dict[str, str]) -> None:
    options = merge({"spec_id": 1}, parse_metadata(metadata))

    assert options.spec_id in (4, CATALOGUE.get("cn-two-inch").spec_id)  # type: ignore[union-attr]


def test_a_tighter_file_size_range_than_the_specs_is_still_compliant() -> None:
    low, high = UK.file_size_min_kb or 1, UK.file_size_max_kb or 2
    metadata = {"spec": UK.name, "file-size-min": str(low + 1), "file-size-max": str(high - 1)}

    options = merge({"spec_id": 1}, parse_metadata(metadata))

    assert (options.file_size_min, options.file_size_max) == (low + 1, high - 1)
