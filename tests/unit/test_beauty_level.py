"""The beauty level (``fair_level``): the deployment's default, the CLI's flag, and the make-photo path."""

from __future__ import annotations

from typing import Any

import pytest

from idphoto.config import Settings, default_env_name
from idphoto.errors import ConfigurationError
from idphoto.making import Outcome, PhotoMaker
from idphoto.options import MAX_BEAUTY_LEVEL, MIN_BEAUTY_LEVEL, PhotoOptions
from idphoto.records import PhotoRecords, Status
from idphoto.storage import PhotoStorage
from idphoto_cli import commands
from idphoto_cli.errors import CliError
from idphoto_cli.main import make_options, parser
from tests.template import template
from tests.unit.conftest import FakeVendor, upload

DEADLINE = 170.0
BASE = {"PHOTO_BUCKET": "b", "PHOTOS_TABLE": "t", "APPCODE_SECRET_NAME": "s", "DEFAULT_SPEC_ID": "1"}


# --- the deployment's default -----------------------------------------------------------------------


def test_the_template_wires_the_default_into_the_functions_environment() -> None:
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert default_env_name("beauty-level") == "DEFAULT_BEAUTY_LEVEL"
    assert variables["DEFAULT_BEAUTY_LEVEL"] == {"Ref": "DefaultBeautyLevel"}


def test_every_allowed_template_value_parses_and_empty_is_the_vendors_default() -> None:
    parameter = template()["Parameters"]["DefaultBeautyLevel"]
    assert parameter["Default"] == ""
    allowed = [str(v) for v in parameter["AllowedValues"]]
    assert allowed == ["", *[str(n) for n in range(MIN_BEAUTY_LEVEL, MAX_BEAUTY_LEVEL + 1)]]
    for value in allowed:
        settings = Settings.from_env({**BASE, "DEFAULT_BEAUTY_LEVEL": value})
        assert settings.defaults.get("fair_level") == (int(value) if value else None)


@pytest.mark.parametrize("value", ["0", "6", "1.5", "strong"])
def test_a_bad_default_fails_the_cold_start_naming_the_option(value: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid default option: beauty-level"):
        Settings.from_env({**BASE, "DEFAULT_BEAUTY_LEVEL": value})


# --- idphoto make --beauty-level --------------------------------------------------------------------


def test_the_cli_flag_becomes_the_upload_option() -> None:
    args = parser().parse_args(["make", "me.jpg", "--beauty-level", "4", "--option", "pose-fix=yes"])
    assert commands.build_metadata(None, None, make_options(args)) == {"pose-fix": "yes", "beauty-level": "4"}


def test_without_the_flag_the_upload_says_nothing_of_beauty() -> None:
    args = parser().parse_args(["make", "me.jpg"])
    assert commands.build_metadata(None, None, make_options(args)) == {}


@pytest.mark.parametrize(("value", "reason"), [("9", "9 is outside 1..5"), ("2.5", "not a whole number")])
def test_the_cli_refuses_a_bad_level_before_uploading(value: str, reason: str) -> None:
    args = parser().parse_args(["make", "me.jpg", "--beauty-level", value])
    with pytest.raises(CliError, match=reason):
        commands.build_metadata(None, None, make_options(args))


def test_the_flag_and_the_same_option_together_are_refused() -> None:
    args = parser().parse_args(["make", "me.jpg", "--beauty-level", "2", "--option", "beauty_level=3"])
    with pytest.raises(CliError, match="given twice"):
        commands.build_metadata(None, None, make_options(args))


# --- make-photo -------------------------------------------------------------------------------------


@pytest.fixture
def vendor() -> FakeVendor:
    return FakeVendor()


@pytest.fixture
def maker(settings: Settings, storage: PhotoStorage, records: PhotoRecords, vendor: FakeVendor) -> PhotoMaker:
    return PhotoMaker(settings, storage, records, vendor, clock=lambda: 0.0)  # type: ignore[arg-type]


def test_the_level_is_sent_as_fair_level_and_recorded(
    aws: dict[str, Any], maker: PhotoMaker, records: PhotoRecords, vendor: FakeVendor
) -> None:
    source = upload(aws["s3"], "uploads/me.jpg", metadata={"beauty-level": "3"})

    assert maker.make(source, request_id="r1", deadline=DEADLINE).outcome is Outcome.MADE

    assert vendor.bodies == [{"spec_id": 1, "fair_level": 3}]
    record = records.get("uploads/me.jpg")
    assert record is not None and record.status is Status.READY
    assert record.options["fair_level"] == 3
    assert PhotoOptions.from_record(record.options).fair_level == 3


@pytest.mark.parametrize(
    ("value", "reason"),
    [("0", "0 is outside 1..5"), ("6", "6 is outside 1..5"), ("2.5", "'2.5' is not a whole number")],
)
def test_a_bad_level_fails_the_photo_without_calling_the_vendor(
    aws: dict[str, Any], maker: PhotoMaker, records: PhotoRecords, vendor: FakeVendor, value: str, reason: str
) -> None:
    source = upload(aws["s3"], "uploads/bad.jpg", metadata={"beauty-level": value})

    assert maker.make(source, request_id="r1", deadline=DEADLINE).outcome is Outcome.FAILED

    assert vendor.stats.make_calls == 0
    record = records.get("uploads/bad.jpg")
    assert record is not None and record.status is Status.FAILED
    assert record.error_code == "INVALID_OPTIONS"
    assert f"beauty-level: {reason}" in (record.error_message or "")
