"""The deployment's settings: every environment variable is read here, once, at cold start.

The template sets these from its parameters. Nothing else in the package reads ``os.environ`` but
:mod:`idphoto.environment`, which holds the variables of modules config imports (re-exported here); the
AWS SDK's own settings (region, ``AWS_ENDPOINT_URL`` for local emulation) stay the SDK's business.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

from idphoto.environment import VENDOR_IDS_ENV as VENDOR_IDS_ENV
from idphoto.environment import spec_vendor_ids as spec_vendor_ids
from idphoto.errors import ConfigurationError, IdPhotoError
from idphoto.options import PARSERS, defaults_from

API_VALIDATION_ENV = "API_VALIDATION"

DEFAULT_VENDOR_URL = "https://wnt2.market.alicloudapi.com"
# Chosen by measurement with the stand-in (docs/phone-photos.md, "Choosing MaxSidePx").
DEFAULT_MAX_SIDE_PX = 2000
# The vendor's largest photo is 1500 px high: a smaller limit would blow every such photo up.
MIN_MAX_SIDE_PX = 1500


def default_env_name(option: str) -> str:
    """``spec-id`` -> ``DEFAULT_SPEC_ID``: where the template puts an option's default."""
    return "DEFAULT_" + option.upper().replace("-", "_")


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


def setting(env: str, default: str, parse: Callable[[str], Any] = str) -> Any:
    """A setting's one source: its environment variable, its default (as the environment would
    spell it) and its parser, written once. ``Settings()`` holds the parsed default; ``from_env``
    parses what the environment says instead."""
    return field(default=parse(default), metadata={"env": env, "parse": parse, "default": default})


def _required(env: str) -> Any:
    return field(metadata={"env": env, "parse": str, "required": True})


def _megabytes(value: str) -> int:
    return int(float(value) * 1024 * 1024)


def _receives(value: str) -> int:
    """The upload queue's redrive ``maxReceiveCount``: the receives of a message before SQS moves it
    to the dead-letter queue (1-1000)."""
    count = int(value)
    if not 1 <= count <= 1000:
        raise ValueError(f"UPLOAD_MAX_RECEIVE_COUNT must be 1-1000, not {count}")
    return count


def _minutes(value: str) -> int:
    return int(float(value) * 60)


def _url(value: str) -> str:
    return value.rstrip("/")


def _photo_access(value: str) -> str:
    return _choice(value, ("uploader", "any"))


def _boolean(value: str) -> bool:
    return _choice(value.strip().lower(), ("true", "false")) == "true"


def _auto_finals(value: str) -> str:
    return _choice(value.strip().lower(), ("off", "auto"))


def _on_off(value: str) -> bool:
    return _choice(value.strip().lower(), ("on", "off")) == "on"


@dataclass(frozen=True)
class Settings:
    bucket: str = _required("PHOTO_BUCKET")
    table: str = _required("PHOTOS_TABLE")
    appcode_secret_name: str = _required("APPCODE_SECRET_NAME")
    upload_prefix: str = setting("UPLOAD_PREFIX", "uploads/", _prefix)
    finals_prefix: str = setting("FINALS_PREFIX", "finals/", _prefix)
    # Normalised copies of uploads (idphoto.preparing): never under the upload prefix.
    work_prefix: str = setting("WORK_PREFIX", "work/", _prefix)
    # Uploads are scaled down to this long side before the vendor (0: never); see docs/phone-photos.md.
    max_side_px: int = setting("MAX_SIDE_PX", str(DEFAULT_MAX_SIDE_PX), _max_side)
    vendor_base_url: str = setting("VENDOR_BASE_URL", DEFAULT_VENDOR_URL, _url)
    vendor_connect_timeout: float = setting("VENDOR_CONNECT_TIMEOUT", "3.05", float)
    # The vendor usually answers in ~3 s; beauty mode adds 5-6 s, occasionally 30-40 s.
    vendor_read_timeout: float = setting("VENDOR_READ_TIMEOUT", "30", float)
    vendor_beauty_read_timeout: float = setting("VENDOR_BEAUTY_READ_TIMEOUT", "75", float)
    max_upload_bytes: int = setting("MAX_UPLOAD_MB", "15", _megabytes)
    finals_url_ttl: int = setting("FINALS_URL_TTL_SECONDS", "300", int)
    # Lifetime of the presigned POST forms of POST /uploads (idphoto.uploads).
    upload_form_ttl: int = setting("UPLOAD_FORM_TTL_SECONDS", "300", int)
    # The unique id (AROA...) of the role that signs those forms: an upload S3 says it signed carries
    # its owner in the policy-fixed owner metadata (idphoto.owners); empty: no upload does.
    upload_signer: str = setting("UPLOAD_SIGNER_ID", "", str.strip)
    secret_max_age: int = setting("APPCODE_CACHE_SECONDS", "300", int)
    # Photo records are personal data too: DynamoDB deletes them this long after the upload (TTL).
    record_retention_days: int = setting("RECORD_RETENTION_DAYS", "30", int)
    # "uploader": a photo is visible only to the IAM principal that uploaded it; "any": to every
    # caller the API lets in.
    photo_access: str = setting("PHOTO_ACCESS", "uploader", _photo_access)
    # Attempts at one upload message: SQS's receives before its dead-letter queue (the template's
    # UploadMaxReceiveCount, the queue's redrive policy).
    make_attempts: int = setting("UPLOAD_MAX_RECEIVE_COUNT", "100", _receives)
    # The upload queue make-photo reads (its waiting uploads' visibility is changed there).
    upload_queue_url: str = setting("UPLOAD_QUEUE_URL", "")
    # While the vendor refuses our account, an upload waits this long before its dead-letter queue
    # (VendorRefusalWaitMinutes). A failed upload comes back after a back-off that doubles from the
    # first to the cap (idphoto.upload_messages); a crashed or timed-out one after the visibility timeout.
    refusal_wait_seconds: int = setting("VENDOR_REFUSAL_WAIT_MINUTES", "1440", _minutes)
    backoff_seconds: int = setting("BACKOFF_SECONDS", "30", int)
    backoff_cap_seconds: int = setting("BACKOFF_CAP_SECONDS", "900", int)
    # The EventBridge bus photo events go to ("default": the account's); empty: no events.
    event_bus: str = setting("EVENT_BUS_NAME", "default", str.strip)
    # Automatic finals for uploads that say nothing ("off" or "auto"); they cost money per photo.
    auto_finals: str = setting("AUTO_FINALS", "off", _auto_finals)
    # Whether an upload's metadata may ask for automatic finals the deployment does not make (template
    # parameter AllowUploaderAutoFinals; refused by default: they are billed, and not to the uploader).
    uploader_auto_finals: bool = setting("ALLOW_UPLOADER_AUTO_FINALS", "false", _boolean)
    # The compliance check of each preview before any billed call (idphoto.compliance): "on" or "off".
    # Off: no report is recorded and finals pay as before.
    compliance_check: bool = setting("COMPLIANCE_CHECK", "on", _on_off)
    # Where the face models are; empty: the layer's own (idphoto/models, put there by its build).
    face_model_dir: str = setting("FACE_MODEL_DIR", "", str.strip)
    # Default option values (field -> value), possibly partial; uploads override them. Read from
    # one DEFAULT_<OPTION> variable per option (``default_env_name``), parsed by options.py.
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        variables = [f for f in fields(cls) if "env" in f.metadata]
        missing = [
            f.metadata["env"]
            for f in variables
            if f.metadata.get("required") and not env.get(f.metadata["env"])
        ]
        if missing:
            raise ConfigurationError(f"missing environment variables: {', '.join(missing)}")
        try:
            values = {
                f.name: f.metadata["parse"](env[f.metadata["env"]])
                for f in variables
                if f.metadata["env"] in env
            }
            values["defaults"] = defaults_from(
                {o: env[default_env_name(o)] for o in PARSERS if default_env_name(o) in env}
            )
            settings = cls(**values)
            _check_prefixes_apart(settings.upload_prefix, settings.finals_prefix)
            _check_prefixes_apart(settings.upload_prefix, settings.work_prefix, "WORK_PREFIX")
            if settings.work_prefix == settings.finals_prefix:
                raise ValueError("WORK_PREFIX and FINALS_PREFIX must differ: they expire at different times")
            return settings
        except (IdPhotoError, ValueError) as exc:
            raise ConfigurationError(f"bad setting: {exc}") from exc


def api_validation(env: Mapping[str, str] = os.environ) -> bool:
    """get-photo's switch for Powertools' request/answer validation (``on``/``off``, default off).

    Read at the handler's import, before the settings: it decides how the routes are declared."""
    return env.get(API_VALIDATION_ENV, "off").strip().lower() == "on"


@cache
def get_settings() -> Settings:
    return Settings.from_env(os.environ)
