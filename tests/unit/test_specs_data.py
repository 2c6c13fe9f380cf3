"""The named-spec catalogue is data (``idphoto/specs.json``): how an entry becomes a PhotoSpec, and
what a bad entry gets. The catalogue's own consistency is tests/unit/test_specs.py's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from idphoto import specs
from idphoto.specs import NO_FRAMING, NOT_STATED, Framing, spec_from_entry


def entry(**changes: Any) -> dict[str, Any]:
    """A minimal valid entry (the required fields only), with changes."""
    base: dict[str, Any] = {
        "name": "xx-test",
        "title": "Test card",
        "spec_id": 3,
        "width_mm": 35,
        "height_mm": 45,
        "dpi": 300,
        "width_px": 413,
        "height_px": 531,
        "background": "white",
        "source": "a test",
    }
    return {**base, **changes}


def test_given_the_required_fields_then_the_rest_is_not_stated() -> None:
    spec = spec_from_entry(entry())

    assert (spec.name, spec.spec_id, spec.width_mm, spec.height_px) == ("xx-test", 3, 35, 531)
    assert spec.framing is NO_FRAMING
    assert (spec.framing_source, spec.digital, spec.digital_source) == (NOT_STATED,) * 3
    assert (spec.aliases, spec.backgrounds, spec.country, spec.kind) == ((), (), "INT", "general")


def test_given_framing_in_mm_then_ranges_keep_their_open_ends() -> None:
    spec = spec_from_entry(entry(framing_mm={"head": [32, 36], "eye": [28, None]}, framing_source="s"))

    assert spec.framing == Framing(head=(32, 36), eye=(28, None))
    assert spec.geometry() == "head 32-36 mm, eyes >= 28 mm"


def test_given_framing_in_pixels_then_it_becomes_mm_at_the_entrys_dpi() -> None:
    """GA 461 states its figures in pixels at 350 dpi: 207 px is 15.02 mm."""
    spec = spec_from_entry(entry(dpi=350, framing_px={"eye": [207, None], "top": [7, 21]}))

    assert spec.framing == Framing(eye=(15.02, None), top=(0.51, 1.52))


def test_given_lists_then_the_spec_holds_tuples_and_stays_hashable() -> None:
    spec = spec_from_entry(entry(aliases=["tc"], backgrounds=["white", "blue"]))

    assert (spec.aliases, spec.backgrounds) == (("tc",), ("white", "blue"))
    assert hash(spec)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"widht_mm": 35}, "widht_mm"),
        ({"framing_mm": {"head": [1, 2]}, "framing_px": {"head": [1, 2]}}, "not both"),
        ({"framing_mm": {"chin": [1, 2]}}, "chin"),
        ({"framing_mm": {"head": [32]}}, "[min, max]"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_entry_and_the_problem(
    changes: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match="xx-test") as caught:
        spec_from_entry(entry(**changes))
    assert problem in str(caught.value)


def test_an_entry_without_a_required_field_is_refused_naming_it() -> None:
    broken = entry()
    del broken["dpi"]
    with pytest.raises(ValueError, match="xx-test"):
        spec_from_entry(broken)


def test_the_catalogue_is_the_data_file_entry_for_entry(tmp_path: Path) -> None:
    data = json.loads(Path(specs.DATA_FILE).read_text(encoding="utf-8"))
    data["version"] = "test.1"
    data["specs"] = data["specs"][:2]
    path = tmp_path / "specs.json"
    path.write_text(json.dumps(data), encoding="utf-8")

    version, loaded = specs.load(str(path))

    assert version == "test.1"
    assert loaded == specs.SPECS[:2]
    assert specs.load() == (specs.VERSION, specs.SPECS)
    assert [s.name for s in specs.SPECS] == [
        e["name"] for e in json.loads(Path(specs.DATA_FILE).read_text())["specs"]
    ]
