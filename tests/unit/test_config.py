"""Settings from the environment: read once, and a bad deployment fails at cold start."""

from __future__ import annotations

import pytest

from idphoto.config import Settings
from idphoto.errors import ConfigurationError

BASE = {"PHOTO_BUCKET": "b", "PHOTOS_TABLE": "t", "APPCODE_SECRET_NAME": "s"}


def test_defaults_and_settings_are_parsed() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "DEFAULT_SPEC_ID": "2",
            "DEFAULT_BACKGROUND": "white|blue",
            "DEFAULT_PRINT_TYPE": "",
            "MAX_UPLOAD_MB": "2",
            "PLATFORM_RETRY_ATTEMPTS": "1",
            "PHOTO_ACCESS": "any",
        }
    )

    assert settings.defaults["spec_id"] == 2
    assert [c.name for c in settings.defaults["background"]] == ["white", "blue"]
    assert "print_type" not in settings.defaults
    assert (settings.max_upload_bytes, settings.make_attempts, settings.photo_access) == (
        2 * 1024 * 1024,
        2,
        "any",
    )


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"PHOTO_BUCKET": ""}, "PHOTO_BUCKET"),
        ({"DEFAULT_BACKGROUND": "purple"}, "background"),
        ({"FINALS_PREFIX": "uploads/"}, "must not contain each other"),
        ({"FINALS_PREFIX": "uploads/finals/"}, "must not contain each other"),
        ({"UPLOAD_PREFIX": "/"}, "must not be empty"),
        ({"PHOTO_ACCESS": "everyone"}, "everyone"),
        ({"MAX_UPLOAD_MB": "lots"}, "lots"),
    ],
)
def test_a_bad_deployment_fails_loudly(extra: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        Settings.from_env({**BASE, **extra})
