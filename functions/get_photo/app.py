"""get-photo: the HTTPS API behind API Gateway.

``GET  /photos/{key+}``            status, options and watermarked previews (free)
``POST /finals/{key+}[?color=C]``  watermark-free photo and print sheet (billed once, then kept)

``key`` is the object key the client uploaded (with or without the upload prefix).

The routes are typed: their signatures (path and query parameters with their constraints) and their
return types (TypedDicts, below) are the API's contract. :func:`openapi_document` derives the committed
``docs/openapi.json`` from them; ``tests/unit/test_openapi.py`` fails when the two drift apart.

**Validation is a switch** (``API_VALIDATION=on``). On, Powertools validates every request and answer
against the contract with pydantic; the unit tests run every handler test both ways. Off (the deployed
default, and the local stack), the same routes run without pydantic, because importing it costs more
cold start than the whole rest of the function (about 215 ms with bytecode, 350 ms as built, against a
floor of about 300 ms; see the README): the contract's constraints on requests are then the hand
checks below (``_photo_key``, ``_color``), and the answers are checked against the document in CI by
schemathesis (``tests/integration/test_openapi_contract.py``).
"""

import inspect
import re
import time
from typing import Annotated, Any, Final, Literal, NotRequired, TypedDict, cast
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from idphoto import services
from idphoto.config import api_validation, get_settings
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
from idphoto.options import COLOR_NAME_PATTERN
from idphoto.records import PhotoRecord
from idphoto.source import principal_id

MAX_KEY_LENGTH = 1024  # S3's own limit, in bytes of UTF-8
SAFETY_SECONDS = 2.0
_COLOR = re.compile(COLOR_NAME_PATTERN)
API_VERSION: Final = "1.0.0"
VALIDATION: Final = api_validation()


class KeyPathResolver(APIGatewayRestResolver):
    """The REST resolver where a rule's ``<key>`` is API Gateway's greedy ``{key+}``.

    Powertools' ``<name>`` matches one path segment; ours matches the rest of the path, slashes included,
    and is still documented as the path parameter ``{key}``.
    """

    @staticmethod
    def _compile_regex(rule: str, base_regex: str = "^{}/*$") -> re.Pattern[str]:
        return re.compile(base_regex.format(re.sub(r"<(\w+)>", r"(?P<\1>.+)", rule)))


def query_arguments(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Without validation, pass the query parameters a route declares, as Powertools' validation does."""
    route = app.context["_route"]
    arguments = dict(app.context.get("_route_args") or {})
    declared = inspect.signature(route.func).parameters
    for name, value in (app.current_event.query_string_parameters or {}).items():
        if name in declared and name not in arguments:
            arguments[name] = value
    app.context["_route_args"] = arguments
    return next_middleware(app)


settings = get_settings()  # a misconfigured deployment fails at cold start
app = KeyPathResolver(enable_validation=VALIDATION)
if not VALIDATION:
    app.use([query_arguments])


class BadRequest(IdPhotoError):
    code = "BAD_REQUEST"


# --- the contract: parameters and answers -----------------------------------------------------------


def _param(kind: Literal["Path", "Query"], **constraints: Any) -> Any:
    """Powertools' ``Path(...)``/``Query(...)`` when validating; nothing otherwise (they import pydantic)."""
    if not VALIDATION:
        return None
    from aws_lambda_powertools.event_handler.openapi import params

    return getattr(params, kind)(**constraints)


KeyParam = Annotated[
    str,
    _param(
        "Path",
        min_length=1,
        description="the uploaded object's key, with or without the upload prefix; slashes may stay",
    ),
]
ColorQuery = Annotated[
    str | None,
    _param(
        "Query",
        pattern=COLOR_NAME_PATTERN,
        description="one of the photo's colours; all colours when left out",
    ),
]


class Background(TypedDict):
    """A result colour: plain when top == bottom, otherwise a vertical gradient."""

    name: str
    top: int
    """colour at the top, 0xRRGGBB as a decimal number"""
    bottom: int
    """colour at the bottom"""


class PhotoOptionsOut(TypedDict, total=False):
    """The vendor options the photo was (or will be) made with; unset options are left out."""

    spec_id: int
    width_px: int
    height_px: int
    background: list[Background]
    ratios: list[str]
    """the 8 portrait ratios, as exact decimal strings"""
    file_size_max: int
    """KB"""
    file_size_min: int
    """KB"""
    print_type: int
    """1: 8 a sheet, 2: 10 a sheet"""
    hor_align_type: int
    """0: centre crop, 1: by the ears"""
    pose_fix: int
    need_origin_beauty: int
    clothes: str


class PhotoVersion(TypedDict):
    """The upload's version the photo was made from."""

    etag: str
    version_id: str | None
    sequencer: str


class Preview(TypedDict):
    """A colour's watermarked photo and print sheet at the vendor (the URLs expire within about a day)."""

    color: str
    photo_url: str
    sheet_url: str


class PhotoError(TypedDict):
    """Why a photo FAILED: INVALID_OPTIONS, UNSUPPORTED_OBJECT, VENDOR_REJECTED or VENDOR_GATEWAY."""

    code: str
    message: str | None
    vendor_code: int | None


class PhotoStatus(TypedDict):
    """A photo's status, options and previews."""

    key: str
    """the uploaded object's key"""
    status: Literal["PROCESSING", "READY", "FAILED"]
    version: PhotoVersion
    options: PhotoOptionsOut
    colors: list[str]
    sheet_count: int | None
    """photos on one print sheet, once made"""
    previews: list[Preview]
    """empty while processing and once the vendor's URLs expired"""
    previews_expire_at: int | None
    """Unix time the preview URLs stop working"""
    previews_expired: bool
    finals_kept: list[str]
    """colours whose finals are kept already: fetching them again is free"""
    created_at: int
    updated_at: int
    stalled: bool
    """PROCESSING, but its last attempt died (timeout, out of memory, an AWS error): nobody is making
    it; its upload event is parked in the failed-events queue for a replay"""
    error: NotRequired[PhotoError]
    """only on a FAILED photo"""
    last_error: NotRequired[str]
    """the last transient error while the photo is retried"""
    ignored_metadata: NotRequired[list[str]]
    """upload metadata that is no option"""


class FinalLink(TypedDict):
    """A colour's watermark-free photo and print sheet, presigned GET URLs into our bucket."""

    color: str
    photo_url: str
    sheet_url: str
    expires_in: int
    """seconds the two URLs stay valid"""


class Finals(TypedDict):
    """The finals asked for."""

    key: str
    finals: list[FinalLink]


class ErrorDetail(TypedDict):
    code: str
    """machine-readable, e.g. PHOTO_NOT_FOUND"""
    message: str


class ErrorAnswer(TypedDict):
    """An error of the API: JSON, never a stack trace."""

    error: ErrorDetail


class GatewayError(TypedDict):
    """An answer of API Gateway itself: bad or missing signature (403), throttled (429), timeout (504)."""

    message: str


CONTRACT_TYPES: Final = (
    Background,
    PhotoOptionsOut,
    PhotoVersion,
    Preview,
    PhotoError,
    PhotoStatus,
    FinalLink,
    Finals,
    ErrorDetail,
    ErrorAnswer,
    GatewayError,
)


def _responses(success: str, *statuses: tuple[int, str]) -> dict[int, Any]:
    """OpenAPI responses: 200 is the route's return type; errors are the function's ErrorAnswer, or
    the gateway's own answer."""
    answers: dict[int, Any] = {200: {"description": success}}
    for status, description in statuses:
        model = GatewayError if status in (403, 429, 504) else ErrorAnswer
        answers[status] = {"description": description, "content": {"application/json": {"model": model}}}
    return answers


COMMON_ERRORS: Final = (
    (400, "BAD_REQUEST: malformed key or colour"),
    (403, "API Gateway: missing or invalid SigV4 signature, or no such route"),
    (404, "PHOTO_NOT_FOUND: no photo was made from that key (or it is another caller's)"),
    (429, "API Gateway: throttled"),
    (500, "INTERNAL: a bug; the request id is in the logs"),
    (504, "API Gateway: the function did not answer within 29 s"),
)


# --- the routes ------------------------------------------------------------------------------------


@app.get(
    "/photos/<key>",
    summary="Status, options and watermarked previews",
    description="Free: never calls the vendor's billed endpoint.",
    operation_id="getPhoto",
    tags=["photos"],
    responses=_responses("the photo's status", *COMMON_ERRORS),
)
def photo_status(key: KeyParam) -> PhotoStatus:
    record = services.finals().status(_photo_key(key), _caller())
    return _present(record, int(time.time()))


@app.post(
    "/finals/<key>",
    summary="Watermark-free photo and print sheet of one colour, or of all (billed once per colour)",
    description=(
        "The first request for a colour pays the vendor once and keeps both images in the bucket; "
        "every later request is served from that copy."
    ),
    operation_id="postFinals",
    tags=["photos"],
    responses=_responses(
        "the finals asked for",
        *COMMON_ERRORS,
        (409, "PHOTO_NOT_READY (Retry-After: 5), PHOTO_FAILED, or FINALS_IN_PROGRESS (Retry-After)"),
        (502, "VENDOR_REJECTED or VENDOR_GATEWAY: the vendor refused the billed call"),
        (503, "VENDOR_UNAVAILABLE: the vendor is unreachable (Retry-After: 30); nothing was kept"),
    ),
)
def photo_finals(key: KeyParam, color: ColorQuery = None) -> Finals:
    photo_key = _photo_key(key)
    context = app.lambda_context
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS
    links = services.finals().finals(
        photo_key, _color(color), caller=_caller(), request_id=context.aws_request_id, deadline=deadline
    )
    return {
        "key": photo_key,
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


def _photo_key(matched: str) -> str:
    """The upload's key from the greedy path parameter.

    API Gateway hands ``{key+}`` over decoded in ``pathParameters``; the router's match is of the raw
    path, so it is only the fallback for an event without them.
    """
    key = (app.current_event.path_parameters or {}).get("key") or unquote(matched)
    if not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_LENGTH or any(ord(c) < 32 for c in key):
        raise BadRequest("the path must name the uploaded object's key")
    prefix = settings.upload_prefix
    return key if key.startswith(prefix) else prefix + key.lstrip("/")


def _color(color: str | None) -> str | None:
    if color is not None and not _COLOR.fullmatch(color):
        raise BadRequest("color must be a colour name of the photo (a-z, 0-9, '-', '_')")
    return color


def _present(record: PhotoRecord, now: int) -> PhotoStatus:
    expired = record.previews_expire_at is not None and record.previews_expire_at <= now
    answer: PhotoStatus = {
        "key": record.key,
        "status": record.status.value,
        "version": {"etag": record.etag, "version_id": record.version_id, "sequencer": record.sequencer},
        "options": cast(PhotoOptionsOut, record.options),
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
        "stalled": record.is_stalled(now, settings.make_attempts),
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


@app.exception_handler(RequestValidationError)
def invalid_request(exc: RequestValidationError) -> Response[str]:
    """(Validation on.) A request the contract refuses is the caller's 400, in the API's error shape;
    an answer it refuses is our bug: 500."""
    problems = [(tuple(str(part) for part in e["loc"]), str(e.get("msg") or e["type"])) for e in exc.errors()]
    if any(loc[:1] == ("response",) for loc, _ in problems):
        logger.error("answer does not match the API contract", extra={"errors": problems})
        return _error(500, "INTERNAL", "internal error; the request id is in the logs")
    text = "; ".join(f"{'.'.join(loc[1:]) or loc[0]}: {message}" for loc, message in problems)
    return _error(400, "BAD_REQUEST", f"invalid request: {text}")


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


# --- the OpenAPI document (built on demand, with validation on: never at cold start) ------------------


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, as committed in ``docs/openapi.json`` (needs ``API_VALIDATION=on``).

    Powertools documents a 422 "Validation Error" for validated routes; this API answers a refused
    request with 400 ``BAD_REQUEST`` in its own error shape (``invalid_request``), so the 422 and its
    schemas are left out.
    """
    import json

    from aws_lambda_powertools.event_handler.openapi.models import APIKey, Server, ServerVariable

    if not VALIDATION:
        raise RuntimeError("the OpenAPI document needs the typed parameters: set API_VALIDATION=on")
    for model in CONTRACT_TYPES:  # field docstrings become the fields' descriptions
        type.__setattr__(model, "__pydantic_config__", {"use_attribute_docstrings": True})
    schema = app.get_openapi_json_schema(
        title="idphoto get-photo API",
        version=API_VERSION,
        description=(
            "Status and previews (free) and watermark-free finals (billed once per colour, then kept) of "
            "the ID photos made from uploads. Requests are signed with SigV4 (service execute-api); the "
            'local stack (`make up`) does not check signatures. Errors are {"error": {"code", "message"}}.'
        ),
        servers=[
            Server(
                url="https://{restApiId}.execute-api.{region}.amazonaws.com/v1",
                description="a deployed stack (its ApiUrl output)",
                variables={
                    "restApiId": ServerVariable(default="your-api-id"),
                    "region": ServerVariable(default="us-east-1"),
                },
            ),
            Server(url="http://127.0.0.1:3000/v1", description="the local stack (make up)"),
        ],
        security_schemes={
            "sigv4": APIKey.model_validate(
                {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "description": "AWS Signature Version 4 (service execute-api)",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                }
            )
        },
        security=[{"sigv4": []}],
    )
    document: dict[str, Any] = json.loads(schema)
    for path in document["paths"].values():
        for operation in path.values():
            operation["responses"].pop("422", None)
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        document["components"]["schemas"].pop(name, None)
    return document
