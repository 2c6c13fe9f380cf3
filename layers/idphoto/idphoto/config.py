"""The deployment's settings: every environment variable is read here, once, at cold start.

The template sets these from its parameters. Nothing else in the package reads ``os.environ``; the AWS
SDK's own settings (region, ``AWS_ENDPOINT_URL`` for local emulation) stay the SDK's business.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from idphoto.errors import ConfigurationError, IdPhotoError
from idphoto.options import PARSERS, defaults_from

DEFAULT_VENDOR_URL = "https://wnt2.market.alicloudapi.com"


def default_env_name(option: str) -> str:
    """``spec-id`` -> ``DEFAULT_SPEC_ID``: where the template puts an option's default."""
    return "DEFAULT_" + option.upper().replace("-", "_")


@dataclass(frozen=True)
class Settings:
    bucket: str
    table: str
    appcode_secret_name: str
    upload_prefix: str = "uploads/"
    finals_prefix: str = "finals/"
    vendor_base_url: str = DEFAULT_VENDOR_URL
    vendor_connect_timeout: float = 3.05
    # The vendor usually answers in ~3 s; beauty mode adds 5-6 s, occasionally 30-40 s.
    vendor_read_timeout: float = 30.0
    vendor_beauty_read_timeout: float = 75.0
    max_upload_bytes: int = 15 * 1024 * 1024
    finals_url_ttl: int = 300
    secret_max_age: int = 300
    # Photo records are personal data too: DynamoDB deletes them this long after the upload (TTL).
    record_retention_days: int = 30
    # "uploader": a photo is visible only to the IAM principal that uploaded it; "any": to every
    # caller the API lets in.
    photo_access: str = "uploader"
    # Lambda's first attempt plus the retries of EventInvokeConfig.MaximumRetryAttempts.
    make_attempts: int = 3
    # The EventBridge bus photo events go to ("default": the account's); empty: no events.
    event_bus: str = ""
    # Automatic finals for uploads that say nothing ("off" or "auto"); they cost money per photo.
    auto_finals: str = "off"
    # Default option values (field -> value), possibly partial; uploads override them.
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        missing = [n for n in ("PHOTO_BUCKET", "PHOTOS_TABLE", "APPCODE_SECRET_NAME") if not env.get(n)]
        if missing:
            raise ConfigurationError(f"missing environment variables: {', '.join(missing)}")
        try:
            defaults = defaults_from(
                {o: env[default_env_name(o)] for o in PARSERS if default_env_name(o) in env}
            )
            settings = cls(
                bucket=env["PHOTO_BUCKET"],
                table=env["PHOTOS_TABLE"],
                appcode_secret_name=env["APPCODE_SECRET_NAME"],
                upload_prefix=_prefix(env.get("UPLOAD_PREFIX", "uploads/")),
                finals_prefix=_prefix(env.get("FINALS_PREFIX", "finals/")),
                vendor_base_url=env.get("VENDOR_BASE_URL", DEFAULT_VENDOR_URL).rstrip("/"),
                vendor_connect_timeout=float(env.get("VENDOR_CONNECT_TIMEOUT", "3.05")),
                vendor_read_timeout=float(env.get("VENDOR_READ_TIMEOUT", "30")),
                vendor_beauty_read_timeout=float(env.get("VENDOR_BEAUTY_READ_TIMEOUT", "75")),
                max_upload_bytes=int(float(env.get("MAX_UPLOAD_MB", "15")) * 1024 * 1024),
                finals_url_ttl=int(env.get("FINALS_URL_TTL_SECONDS", "300")),
                secret_max_age=int(env.get("APPCODE_CACHE_SECONDS", "300")),
                record_retention_days=int(env.get("RECORD_RETENTION_DAYS", "30")),
                photo_access=_choice(env.get("PHOTO_ACCESS", "uploader"), ("uploader", "any")),
                make_attempts=1 + int(env.get("PLATFORM_RETRY_ATTEMPTS", "2")),
                event_bus=env.get("EVENT_BUS_NAME", "").strip(),
                auto_finals=_choice(env.get("AUTO_FINALS", "off").strip().lower(), ("off", "auto")),
                defaults=defaults,
            )
            _check_prefixes_apart(settings.upload_prefix, settings.finals_prefix)
            return settings
        except (IdPhotoError, ValueError) as exc:
            raise ConfigurationError(f"bad setting: {exc}") from exc


def _choice(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _check_prefixes_apart(upload: str, finals: str) -> None:
    """Finals written under the upload prefix would trigger make-photo on our own output."""
    if upload.startswith(finals) or finals.startswith(upload):
        raise ValueError(f"FINALS_PREFIX {finals!r} and UPLOAD_PREFIX {upload!r} must not contain each other")


def _prefix(value: str) -> str:
    value = value.strip("/")
    if not value:
        raise ValueError("a prefix must not be empty: the functions' outputs would trigger make-photo")
    return value + "/"


@cache
def get_settings() -> Settings:
    return Settings.from_env(os.environ)
