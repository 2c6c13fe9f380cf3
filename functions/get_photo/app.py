"""get-photo: the HTTPS API behind API Gateway.

``GET  /photos/{key+}``            status, options and watermarked previews (free)
``POST /finals/{key+}[?color=C]``  watermark-free photo and print sheet (billed once, then kept)

``key`` is the object key the client uploaded (with or without the upload prefix), percent-encoded in
the URL; it is read from the request's raw path (:mod:`idphoto.api.keys`). The routes' signatures and
return types are the API's contract (:mod:`idphoto.api.contract`, documented with create-upload's
``POST /uploads`` by :mod:`idphoto.api.openapi` in ``docs/openapi.json``); errors are answered by one table
(:mod:`idphoto.api.http_errors`).

**Validation is a switch** (``API_VALIDATION=on``). On, Powertools validates every request and answer
against the contract with pydantic; the unit tests run every handler test both ways. Off (the deployed
default, and the local stack), the same routes run without pydantic, because importing it costs more
cold start than the whole rest of the function (see the README): the contract's constraints on
requests are then the hand checks below, and the answers are checked against the document in CI by
schemathesis (``tests/integration/test_openapi_contract.py``).
"""

import re
import time
from typing import Annotated, Any, Final, cast

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from idphoto import services
from idphoto.api import http_errors, keys
from idphoto.api.contract import (
    COMMON_ERRORS,
    PATH_DECODING_HEADER,
    FinalCheck,
    Finals,
    PhotoStatus,
    param,
    responses,
)
from idphoto.api.http_errors import BadRequest, ErrorReply
from idphoto.api.present import present
from idphoto.api.resolver import KeyPathResolver
from idphoto.config import api_validation, get_settings
from idphoto.errors import IdPhotoError, VendorError
from idphoto.finals import FinalsOutcome
from idphoto.observability import logger, metrics
from idphoto.options import COLOR_NAME_PATTERN
from idphoto.owners import caller_owner

SAFETY_SECONDS = 2.0
_COLOR = re.compile(COLOR_NAME_PATTERN)
VALIDATION: Final = api_validation()

settings = get_settings()  # a misconfigured deployment fails at cold start
app = KeyPathResolver(enable_validation=VALIDATION)

KeyParam = Annotated[
    str,
    param(
        VALIDATION,
        "Path",
        min_length=1,
        description="the uploaded object's key, percent-encoded, with or without the upload prefix; "
        "slashes may stay",
    ),
]
ColorQuery = Annotated[
    str | None,
    param(
        VALIDATION,
        "Query",
        pattern=COLOR_NAME_PATTERN,
        description="one of the photo's colours; all colours when left out",
    ),
]
RetryUncertainQuery = Annotated[
    str | None,
    param(
        VALIDATION,
        "Query",
        pattern=r"^(0|1|true|false)$",
        description="1: fetch a final whose billed call is UNCERTAIN again, accepting that the vendor may "
        "charge it a second time (a final already in our bucket is never paid for again)",
    ),
]
AllowNoncompliantQuery = Annotated[
    str | None,
    param(
        VALIDATION,
        "Query",
        pattern=r"^(0|1|true|false)$",
        description="true: pay for a final whose preview failed its compliance check (see the status "
        "answer's compliance), accepting a photo an authority may refuse; otherwise such a colour is "
        "answered PREVIEW_NONCOMPLIANT and nothing is billed",
    ),
]


def path_decoding(app: KeyPathResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Say on a route's answer how API Gateway delivered ``pathParameters`` (for the smoke test; an
    error answered by an exception handler goes round this middleware and has no such header)."""
    answer = next_middleware(app)
    answer.headers[PATH_DECODING_HEADER] = _decoding()
    return answer


app.use([path_decoding])


# --- the routes ------------------------------------------------------------------------------------


@app.get(
    "/photos/<key>",
    summary="Status, options and watermarked previews",
    description="Free: never calls the vendor's billed endpoint.",
    operation_id="getPhoto",
    tags=["photos"],
    responses=responses("the photo's status", *COMMON_ERRORS),
)
def photo_status(key: KeyParam) -> PhotoStatus:  # noqa: ARG001 - documents {key}; read from the raw path
    record = services.finals().status(_photo_key(), _caller())
    return present(record, int(time.time()), settings.make_attempts)


@app.post(
    "/finals/<key>",
    summary="Watermark-free photo and print sheet of one colour, or of all (billed once per colour)",
    description=(
        "The first request for a colour pays the vendor once and keeps both images in the bucket; "
        "every later request is served from that copy."
    ),
    operation_id="postFinals",
    tags=["photos"],
    responses=responses(
        "the finals asked for",
        *COMMON_ERRORS,
        (
            409,
            "PHOTO_NOT_READY (Retry-After: 5), PHOTO_FAILED, FINALS_IN_PROGRESS (Retry-After), or "
            "FINAL_UNCERTAIN: the billed call got no answer and may have been charged; not retried "
            "unless asked with retry_uncertain=1",
        ),
        (
            422,
            "PREVIEW_NONCOMPLIANT: the colour's preview failed its compliance check (the message names "
            "each failed measure); nothing was billed. POST with allow_noncompliant=true to pay anyway",
        ),
        (502, "VENDOR_REJECTED or VENDOR_GATEWAY: the vendor refused the billed call"),
        (503, "VENDOR_UNAVAILABLE: the vendor is unreachable (Retry-After: 30); nothing was kept"),
        (503, "AWS_UNAVAILABLE: DynamoDB or S3 failed beyond retries (Retry-After: 2)"),
    ),
)
def photo_finals(
    key: KeyParam,  # noqa: ARG001 - documents {key}; read from the raw path
    color: ColorQuery = None,
    retry_uncertain: RetryUncertainQuery = None,
    allow_noncompliant: AllowNoncompliantQuery = None,
) -> Response[Finals]:
    photo_key = _photo_key()
    # Validation off, Powertools passes path parameters only: the query is read from the event.
    event = app.current_event
    color = color or event.get_query_string_value("color")
    retry_uncertain = retry_uncertain or event.get_query_string_value("retry_uncertain")
    allow_noncompliant = allow_noncompliant or event.get_query_string_value("allow_noncompliant")
    context = app.lambda_context
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS
    outcome = services.finals().fetch(
        photo_key,
        _color(color),
        caller=_caller(),
        request_id=context.aws_request_id,
        deadline=deadline,
        retry_uncertain=_flag(retry_uncertain, "retry_uncertain"),
        allow_noncompliant=_flag(allow_noncompliant, "allow_noncompliant"),
    )
    if not outcome.done:  # nothing to hand out: the first colour's error is the answer
        raise outcome.pending[0].error
    return _finals_answer(photo_key, outcome)


def _finals_answer(photo_key: str, outcome: FinalsOutcome) -> Response[Finals]:
    body: Finals = {
        "key": photo_key,
        "finals": [
            {
                "color": link.color,
                "photo_url": link.photo_url,
                "sheet_url": link.sheet_url,
                "expires_in": link.expires_in,
                "checks": cast(list[FinalCheck], list(link.checks)),
            }
            for link in outcome.done
        ],
        "pending": [
            {"color": p.color, "code": p.error.code, "message": p.error.message, "retry_after": p.retry_after}
            for p in outcome.pending
        ],
    }
    retry = outcome.retry_after
    headers = {"Retry-After": str(retry)} if retry is not None else None
    return Response(200, content_types.APPLICATION_JSON, body, headers)


def _flag(value: str | None, name: str) -> bool:
    if value is None or value in ("0", "false"):
        return False
    if value in ("1", "true"):
        return True
    raise BadRequest(f"{name} must be 1 or 0 (true or false)")


def _caller() -> str | None:
    """Whom the signed request speaks for (the API requires SigV4: API Gateway verified it): its
    Cognito identity, else its IAM principal id (idphoto.owners)."""
    identity = app.current_event.request_context.identity
    return caller_owner(identity.cognito_identity_id, identity.caller)


def _requested() -> keys.RequestedKey:
    event = app.current_event
    try:
        return keys.requested_key(event.path, event.resource, event.path_parameters)
    except keys.MalformedKey as exc:
        raise BadRequest(str(exc)) from exc


def _photo_key() -> str:
    """The upload's key, read from the raw path (the route's match is only the router's)."""
    requested = _requested()
    if requested.decoding is keys.Decoding.MISMATCH:
        logger.warning("pathParameters disagree with the path", extra={"path_decoding": requested.decoding})
    prefix = settings.upload_prefix
    key = requested.key
    return key if key.startswith(prefix) else prefix + key.lstrip("/")


def _decoding() -> str:
    try:
        return _requested().decoding.value
    except BadRequest:
        return keys.Decoding.MISMATCH.value


def _color(color: str | None) -> str | None:
    if color is not None and not _COLOR.fullmatch(color):
        raise BadRequest("color must be a colour name of the photo (a-z, 0-9, '-', '_')")
    return color


# --- errors: answered by one table (idphoto.api.http_errors) ---------------------------------------


def _answer(reply: ErrorReply) -> Response[str]:
    return Response(
        status_code=reply.status,
        content_type=content_types.APPLICATION_JSON,
        body=reply.body,  # type: ignore[arg-type]
        headers=reply.headers or None,
    )


@app.exception_handler(IdPhotoError)
def domain_error(exc: IdPhotoError) -> Response[str]:
    reply = http_errors.reply_for(exc)
    if isinstance(exc, VendorError):
        logger.warning("vendor error answering finals", extra={"code": exc.code, "error": exc.message})
    elif reply.status >= 500:
        logger.exception("unmapped or internal error", extra={"code": exc.code})
    return _answer(reply)


@app.exception_handler(RequestValidationError)
def invalid_request(exc: RequestValidationError) -> Response[str]:
    """(Validation on.) A request the contract refuses is the caller's 400, in the API's error shape;
    an answer it refuses is our bug: 500."""
    reply, ours = http_errors.contract_refusal(exc.errors(), BadRequest)
    if ours:
        logger.error("answer does not match the API contract", extra={"errors": ours})
    return _answer(reply)


@app.not_found
def not_found(_: Exception) -> Response[str]:
    return _answer(
        ErrorReply(404, "NOT_FOUND", "no such route: use GET /photos/{key} or POST /finals/{key}", {})
    )


@app.exception_handler(Exception)
def unexpected(_: Exception) -> Response[str]:
    logger.exception("unexpected error")
    return _answer(http_errors.internal())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
