"""Named specs: the catalogue's own consistency, the ``spec`` metadata option, per-deployment vendor ids."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from idphoto import specs
from idphoto.config import Settings
from idphoto.errors import ConfigurationError, InvalidOptions
from idphoto.options import PARSERS, BackgroundColor, PhotoOptions, merge, parse_metadata
from idphoto.specs import (
    CATALOGUE,
    MM_PER_INCH,
    Catalogue,
    PhotoSpec,
    parse_vendor_ids,
    spec_from_entry,
    width_measure,
)
from local.standin.specs import CATALOGUE as STANDIN

WHITE = BackgroundColor("white", 0xFFFFFF, 0xFFFFFF)
BLUE = BackgroundColor("blue", 0x438EDB, 0x438EDB)


@pytest.fixture(autouse=True)
def fresh_catalogue(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test reads SPEC_VENDOR_IDS afresh (the deployment reads it once per cold start)."""
    monkeypatch.delenv(specs.VENDOR_IDS_ENV, raising=False)
    specs.active.cache_clear()
    yield
    specs.active.cache_clear()


# --- the catalogue ------------------------------------------------------------------------------------


def test_the_issue_names_are_in_the_catalogue() -> None:
    for name in (
        "cn-one-inch",
        "cn-two-inch",
        "cn-passport",
        "passport-35x45",
        "us-passport",
        "schengen-visa",
    ):
        assert CATALOGUE.get(name) is not None, name
    assert CATALOGUE.get("cn-id-card") is not None


@pytest.mark.parametrize("spec", list(CATALOGUE), ids=lambda s: s.name)
def test_pixels_are_the_printed_size_at_the_specs_dpi(spec: PhotoSpec) -> None:
    assert abs(spec.width_px - spec.width_mm / MM_PER_INCH * spec.dpi) <= 1
    assert abs(spec.height_px - spec.height_mm / MM_PER_INCH * spec.dpi) <= 1


@pytest.mark.parametrize("spec", list(CATALOGUE), ids=lambda s: s.name)
def test_every_spec_fits_the_vendors_limits_and_parses(spec: PhotoSpec) -> None:
    options = merge(None, parse_metadata({"spec": spec.name}))

    assert options.spec_id == spec.spec_id
    assert spec.width_px <= 1050 and spec.height_px <= 1500
    assert spec.source and spec.title
    if spec.file_size_min_kb is not None and spec.file_size_max_kb is not None:
        assert spec.file_size_min_kb <= spec.file_size_max_kb


def test_specs_sharing_a_vendor_id_share_the_pixel_size() -> None:
    for spec in CATALOGUE:
        same_id = [s for s in CATALOGUE if s.spec_id == spec.spec_id]
        assert {(s.width_px, s.height_px, s.dpi) for s in same_id} == {
            (spec.width_px, spec.height_px, spec.dpi)
        }


def test_specs_sharing_a_vendor_id_measure_the_face_width_alike_and_the_stand_in_frames_so() -> None:
    """The vendor's ratios carry one "face width": the check and the stand-in read it per spec id."""
    for spec in CATALOGUE:
        widths = {
            s.face_width_measure for s in CATALOGUE if s.spec_id == spec.spec_id and s.framing.face_width
        }
        assert len(widths) <= 1, (spec.spec_id, widths)
        assert STANDIN[spec.spec_id].width_measure == width_measure(spec.spec_id)
    assert {s.name for s in CATALOGUE if s.face_width_measure == "head"} == {
        "cn-passport", "cn-hk-macau-permit", "cn-taiwan-permit", "cn-graduate-exam", "cn-visa"
    }  # fmt: skip


def test_an_unknown_face_width_measure_is_refused() -> None:
    entry = {"name": "x", "title": "x", "spec_id": 1, "width_mm": 25, "height_mm": 35, "dpi": 300,
             "width_px": 295, "height_px": 413, "background": "white", "source": "x",
             "face_width_measure": "ears"}  # fmt: skip
    with pytest.raises(ValueError, match="face_width_measure"):
        spec_from_entry(entry)


def test_the_stand_in_makes_every_id_of_the_catalogue_at_its_size() -> None:
    assert set(STANDIN) == {s.spec_id for s in CATALOGUE}
    for spec in CATALOGUE:
        made = STANDIN[spec.spec_id]
        assert (made.width_px, made.height_px, made.dpi) == (spec.width_px, spec.height_px, spec.dpi)


def test_the_stand_in_keeps_its_historic_ids() -> None:
    """Uploads, defaults (DefaultSpecId=1) and docs say spec-id 1..6: those ids keep their sizes."""
    sizes = {i: (STANDIN[i].width_px, STANDIN[i].height_px) for i in range(1, 7)}

    assert sizes == {
        1: (295, 413),
        2: (413, 579),
        3: (413, 531),
        4: (600, 600),
        5: (260, 378),
        6: (358, 441),
    }


def test_names_are_case_and_underscore_insensitive_and_aliases_resolve() -> None:
    assert CATALOGUE.get(" US_Passport ") is CATALOGUE.get("us-passport")
    assert CATALOGUE.get("one-inch") is CATALOGUE.get("cn-one-inch")
    assert CATALOGUE.get("nope") is None


def test_a_name_used_twice_is_refused() -> None:
    spec = CATALOGUE.get("us-passport")
    assert spec is not None

    with pytest.raises(ValueError, match="used twice"):
        Catalogue((spec, spec))


def test_file_size_is_described_for_people() -> None:
    visa = CATALOGUE.get("us-visa")
    one_inch = CATALOGUE.get("cn-one-inch")
    assert visa is not None and one_inch is not None

    assert visa.file_size == "<= 240 KB"
    assert one_inch.file_size == ""
    assert visa.to_dict()["file_size_max_kb"] == 240


# --- the spec option -----------------------------------------------------------------------------------


def test_given_a_spec_when_parsed_then_it_sets_spec_id_background_size_and_framing() -> None:
    parsed = parse_metadata({"spec": "us-passport"})

    assert parsed.problems == [] and parsed.ignored == []
    # head 25-35 mm and eyes 28-35 mm from the bottom, on 50.8 mm: the rule as the vendor's ratios
    assert parsed.values == {
        "spec_id": 4,
        "background": (WHITE,),
        "width_px": 600,
        "height_px": 600,
        "ratios": (0.4921, 0.689, 0.5512, 0.689, -1.0, -1.0, -1.0, -1.0),
    }


def test_given_a_spec_with_file_limits_then_they_are_sent_unless_the_upload_sets_its_own() -> None:
    spec_only = parse_metadata({"spec": "us-visa"}).values
    own = parse_metadata({"spec": "us-visa", "file-size-max": "100", "ratios": "-1,-1,-1,-1,-1,-1,-1,-1"})

    assert spec_only["file_size_max"] == 240 and "file_size_min" not in spec_only
    assert own.values["file_size_max"] == 100
    assert own.values["ratios"] == (-1.0,) * 8


def test_given_a_spec_and_colours_when_parsed_then_the_uploads_colours_win() -> None:
    parsed = parse_metadata({"spec": "cn-one-inch", "background": "blue|white"})

    assert parsed.values == {"spec_id": 1, "background": (BLUE, WHITE), "width_px": 295, "height_px": 413}


def test_given_a_spec_when_merged_then_its_background_beats_the_deployments_default() -> None:
    defaults = PhotoOptions(spec_id=1, background=(BLUE,), print_type=2)

    options = merge(defaults, parse_metadata({"SPEC": "cn_id_card"}))

    assert (options.spec_id, options.background, options.print_type) == (6, (WHITE,), 2)


def test_given_spec_and_the_same_spec_id_then_accepted() -> None:
    assert merge(None, parse_metadata({"spec": "us-visa", "spec-id": "4"})).spec_id == 4


def test_given_spec_and_another_spec_id_then_refused_with_both_in_the_message() -> None:
    parsed = parse_metadata({"spec-id": "1", "spec": "us-passport"})

    with pytest.raises(InvalidOptions, match=r"spec: 'us-passport' is spec id 4, but spec-id says 1"):
        merge(None, parsed)


def test_given_an_unknown_spec_then_the_problem_lists_the_known_names() -> None:
    parsed = parse_metadata({"spec": "moon-passport", "background": "purple"})

    assert len(parsed.problems) == 2
    assert parsed.problems[1].startswith("spec: 'moon-passport' is not a known spec (one of cn-one-inch")


def test_given_an_empty_or_overlong_spec_then_default_or_problem() -> None:
    assert parse_metadata({"spec": "  "}).values == {}
    assert parse_metadata({"spec": "x" * 300}).problems == ["spec: value longer than 256 characters"]


def test_the_spec_option_is_no_vendor_parameter() -> None:
    assert "spec" not in PARSERS
    body = merge(None, parse_metadata({"spec": "cn-passport"})).to_vendor()
    assert set(body) == {"spec_id", "background_color", "width_px", "height_px", "ratios"}


# --- vendor ids per deployment -------------------------------------------------------------------------


def test_vendor_ids_are_parsed_from_name_id_pairs() -> None:
    assert parse_vendor_ids(" us-passport=40 | cn_id_card=7,") == {"us-passport": 40, "cn-id-card": 7}
    assert parse_vendor_ids("") == {}


@pytest.mark.parametrize("text", ["us-passport", "us-passport=x", "us-passport=0", "us-passport=123456789"])
def test_bad_vendor_id_pairs_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="name=id"):
        parse_vendor_ids(text)


def test_given_deployment_vendor_ids_then_named_specs_resolve_to_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(specs.VENDOR_IDS_ENV, "us-passport=40|one-inch=12")

    assert merge(None, parse_metadata({"spec": "us-passport"})).spec_id == 40
    assert merge(None, parse_metadata({"spec": "cn-one-inch"})).spec_id == 12
    assert merge(None, parse_metadata({"spec": "us-visa"})).spec_id == 4  # not mapped: unchanged
    assert specs.active().version.endswith("+custom-ids")
    built_in = CATALOGUE.get("us-passport")
    assert built_in is not None and built_in.spec_id == 4  # the built-in catalogue is left alone


def test_given_bad_deployment_vendor_ids_then_the_cold_start_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(specs.VENDOR_IDS_ENV, "moon-passport=3")
    env = {"PHOTO_BUCKET": "b", "PHOTOS_TABLE": "t", "APPCODE_SECRET_NAME": "s", "DEFAULT_SPEC_ID": "1"}

    with pytest.raises(ConfigurationError, match="SPEC_VENDOR_IDS: unknown spec names: moon-passport"):
        Settings.from_env(env)


# --- the catalogue of documents: sources and framing --------------------------------------------------


def test_the_catalogue_lists_at_least_40_documents_of_the_countries_asked_for() -> None:
    countries = {s.country for s in CATALOGUE}

    assert len(CATALOGUE) >= 40
    assert {"CN", "US", "GB", "EU", "CA", "AU", "IN", "JP", "KR", "RU", "BR", "MX", "DE", "FR"} <= countries
    for name in ("cn-driving-licence", "cn-social-security-card", "cn-civil-service-exam", "cn-cet"):
        assert CATALOGUE.get(name) is not None, name


@pytest.mark.parametrize("spec", list(CATALOGUE), ids=lambda s: s.name)
def test_every_figure_has_a_source_or_says_it_is_not_stated(spec: PhotoSpec) -> None:
    assert spec.source.strip() and spec.framing_source.strip() and spec.digital_source.strip()
    assert spec.country and spec.kind
    assert spec.background in (spec.backgrounds or (spec.background,))
    if spec.framing.stated:
        assert spec.framing_source != specs.NOT_STATED
    else:
        assert spec.framing_source == specs.NOT_STATED and spec.ratios is None
    has_limits = spec.file_size_min_kb is not None or spec.file_size_max_kb is not None
    if has_limits:
        assert spec.digital_source != specs.NOT_STATED


@pytest.mark.parametrize("spec", [s for s in CATALOGUE if s.ratios], ids=lambda s: s.name)
def test_framing_becomes_eight_valid_vendor_ratios_that_parse(spec: PhotoSpec) -> None:
    ratios = spec.ratios
    assert ratios is not None and len(ratios) == 8
    assert all(r == -1 or 0 <= r <= 1 for r in ratios)
    for low, high in zip(ratios[::2], ratios[1::2], strict=True):
        assert low == -1 or high == -1 or low <= high
    # what the upload would say is what the spec sends
    assert parse_metadata({"ratios": ",".join(map(repr, ratios))}).values["ratios"] == ratios


def test_the_ratios_are_the_rules_millimetres_over_the_photos_side() -> None:
    spec = CATALOGUE.get("cn-visa")
    assert spec is not None
    # head 28-33 mm and crown 3-5 mm of 48 mm height; face width 15-22 mm of 33 mm width
    assert spec.ratios == (
        round(28 / 48, 4),
        round(33 / 48, 4),
        -1.0,
        -1.0,
        round(3 / 48, 4),
        round(5 / 48, 4),
        round(15 / 33, 4),
        round(22 / 33, 4),
    )
    assert spec.geometry() == "head 28-33 mm, top 3-5 mm, face width 15-22 mm"
