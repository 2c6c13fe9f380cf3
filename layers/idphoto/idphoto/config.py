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
# Chosen by measurement with the stand-in (README, "Photos as phones take them").
DEFAULT_MAX_SIDE_PX = 2000
# The vendor's largest photo is 1500 px high: a smaller limit would blow every such photo up.
MIN_MAX_SIDE_PX = 1500


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
    # Normalised copies of uploads (idphoto.preparing): never under the upload prefix.
    work_prefix: str = "work/"
    # Uploads are scaled down to this long side before the vendor (0: never); see README.
    max_side_px: int = DEFAULT_MAX_SIDE_PX
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
                work_prefix=_prefix(env.get("WORK_PREFIX", "work/")),
                max_side_px=_max_side(env.get("MAX_SIDE_PX", str(DEFAULT_MAX_SIDE_PX))),
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
                defaults=defaults,
            )
            _check_prefixes_apart(settings.upload_prefix, settings.finals_prefix)
            _check_prefixes_apart(settings.upload_prefix, settings.work_prefix, "WORK_PREFIX")
            if settings.work_prefix == settings.finals_prefix:
                raise ValueError("WORK_PREFIX and FINALS_PREFIX must differ: they expire at different times")
            return settings
        except (IdPhotoError, ValueError) as exc:
            raise ConfigurationError(f"bad setting: {exc}") from exc


def _choice(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _check_prefixes_apart(upload: str, finals: str, name: str = "FINALS_PREFIX") -> None:
    """Finals (or normalised copies) written under the upload prefix would trigger make-photo on our own output."""
    if upload.startswith(finals) or finals.startswith(upload):
        raise ValueError(f"{name} {finals!r} and UPLOAD_PREFIX {upload!r} must not contain each other")


def _max_side(value: str) -> int:
    side = int(value)
    if side != 0 and side < MIN_MAX_SIDE_PX:
        raise ValueError(f"MAX_SIDE_PX must be 0 (never scale) or at least {MIN_MAX_SIDE_PX}, not {side}")
    return side


def _prefix(value: str) -> str:
    value = value.strip("/")
    if not value:
        raise ValueError("a prefix must not be empty: the functions' outputs would trigger make-photo")
    return value + "/"


@cache
def get_settings() -> Settings:
    return Settings.from_env(os.environ)
