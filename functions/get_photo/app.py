"""get-photo: the HTTPS API behind API Gateway.

``GET  /photos/{key+}``            status, options and watermarked previews (free)
``POST /finals/{key+}[?color=C]``  watermark-free photo and print sheet (billed once, then kept)

``key`` is the object key the client uploaded (with or without the upload prefix).
"""

from __future__ import annotations

import re
import time
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from idphoto import services
from idphoto.config import get_settings
from idphoto.errors import (
    FinalsInProgress,
    IdPhotoError,
    PhotoFailed,
    PhotoNotFound,
    PhotoNotReady,
    UnknownColor,
    VendorError,
)
from idphoto.observability import logger, metrics
from idphoto.records import PhotoRecord
from idphoto.source import principal_id

MAX_KEY_LENGTH = 1024  # S3's own limit
SAFETY_SECONDS = 2.0
_COLOR = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")

settings = get_settings()  # a misconfigured deployment fails at cold start
app = APIGatewayRestResolver()


class BadRequest(IdPhotoError):
    code = "BAD_REQUEST"


@app.get("/photos/.+")
def photo_status() -> dict[str, Any]:
    record = services.finals().status(_photo_key(), _caller())
    return _present(record, int(time.time()))


@app.post("/finals/.+")
def photo_finals() -> dict[str, Any]:
    key = _photo_key()
    color = app.current_event.get_query_string_value("color")
    if color is not None and not _COLOR.fullmatch(color):
        raise BadRequest("color must be a colour name of the photo (a-z, 0-9, '-', '_')")
    context = app.lambda_context
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS
    links = services.finals().finals(
        key, color, caller=_caller(), request_id=context.aws_request_id, deadline=deadline
    )
    return {
        "key": key,
        "finals": [
            {
                "color": link.color,
                "photo_url": link.photo_url,
                "sheet_url": link.sheet_url,
                "expires_in": link.expires_in,
            }
            for link in links
        ],
    }


def _caller() -> str | None:
    """The signed caller's IAM principal id (the API requires SigV4: API Gateway verified it)."""
    identity = app.current_event.request_context.identity
    return principal_id(identity.caller)


def _photo_key() -> str:
    """The upload's key from the greedy path parameter (API Gateway hands it over decoded)."""
    key = (app.current_event.path_parameters or {}).get("key", "")
    if not key or len(key) > MAX_KEY_LENGTH or any(ord(c) < 32 for c in key):
        raise BadRequest("the path must name the uploaded object's key")
    prefix = settings.upload_prefix
    return key if key.startswith(prefix) else prefix + key.lstrip("/")


def _present(record: PhotoRecord, now: int) -> dict[str, Any]:
    expired = record.previews_expire_at is not None and record.previews_expire_at <= now
    answer: dict[str, Any] = {
        "key": record.key,
        "status": record.status.value,
        "version": {"etag": record.etag, "version_id": record.version_id, "sequencer": record.sequencer},
        "options": record.options,
        "colors": record.colors,
        "sheet_count": record.sheet_count,
        "previews": []
        if expired
        else [
            {"color": color, "photo_url": photo, "sheet_url": sheet}
            for color, photo, sheet in zip(
                record.colors, record.previews, record.sheet_previews, strict=False
            )
        ],
        "previews_expire_at": record.previews_expire_at,
        "previews_expired": expired,
        "finals_kept": sorted(c for c, f in record.finals.items() if f.get("state") == "KEPT"),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }
    if record.error_code:
        answer["error"] = {
            "code": record.error_code,
            "message": record.error_message,
            "vendor_code": record.vendor_code,
        }
    if record.last_error:
        answer["last_error"] = record.last_error
    if record.ignored_metadata:
        answer["ignored_metadata"] = record.ignored_metadata
    return answer


# --- errors: one place turns domain errors into HTTP answers -------------------------------------

_STATUS = {
    PhotoNotFound: 404,
    PhotoNotReady: 409,
    PhotoFailed: 409,
    UnknownColor: 400,
    FinalsInProgress: 409,
    BadRequest: 400,
}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": {"code": code, "message": message}},  # type: ignore[arg-type]
        headers=headers,
    )


@app.exception_handler(IdPhotoError)
def domain_error(exc: IdPhotoError) -> Response[str]:
    headers: dict[str, str] | None = None
    if isinstance(exc, FinalsInProgress):
        headers = {"Retry-After": str(exc.retry_after)}
    elif isinstance(exc, PhotoNotReady):
        headers = {"Retry-After": "5"}
    if isinstance(exc, VendorError):
        logger.warning("vendor error answering finals", extra={"code": exc.code, "error": exc.message})
        if exc.transient:
            return _error(
                503, exc.code, "the ID-photo vendor is unavailable, retry later", {"Retry-After": "30"}
            )
        return _error(502, exc.code, exc.message)
    return _error(_STATUS.get(type(exc), 400), exc.code, exc.message, headers)


@app.not_found
def not_found(_: Exception) -> Response[str]:
    return _error(404, "NOT_FOUND", "no such route: use GET /photos/{key} or POST /finals/{key}")


@app.exception_handler(Exception)
def unexpected(_: Exception) -> Response[str]:
    logger.exception("unexpected error")
    return _error(500, "INTERNAL", "internal error; the request id is in the logs")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
