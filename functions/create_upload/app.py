"""create-upload: ``POST /uploads`` hands out a presigned POST form for one portrait (idphoto.uploads).

Body (JSON): ``{"content_type": "image/jpeg", "filename": "me.jpg", "options": {"spec": "us-passport"}}``.
Answer: the form (``upload.url`` and ``upload.fields``: post every field, then the file as ``file``), when
it expires, the largest file it takes, the photo's key and its status URL (``GET /photos/{key}``).

A function of its own, not a route of get-photo: its role holds ``s3:PutObject`` on the upload prefix
and nothing else, the one permission the form's signature lends the browser; get-photo (which pays the
vendor) keeps no write access to uploads, and this one reads no record, secret or final.

Typed as get-photo is: the route's body and answer types are the API's contract
(:mod:`idphoto.api.contract`: ``NewUpload``, ``UploadAnswer``), documented with get-photo's routes in
``docs/openapi.json``, and ``API_VALIDATION=on`` switches Powertools' validation on; off (deployed, as
get-photo: pydantic is not in the layer and would double this function's import time), the body is
parsed by hand. Either way :func:`idphoto.uploads.parse_request` decides what a body may hold; with
validation on it runs as pydantic's first step (``contract.checked_upload``).
"""

import json
import time
from typing import Annotated, Any, Final, cast
from urllib.parse import quote

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from idphoto.api import http_errors
from idphoto.api.contract import (
    UPLOAD_ERRORS,
    ImageType,
    NewUpload,
    UploadAnswer,
    param,
    responses,
    upload_check,
)
from idphoto.api.http_errors import ErrorReply
from idphoto.api.resolver import KeyPathResolver
from idphoto.aws import s3_client
from idphoto.config import api_validation, get_settings
from idphoto.errors import IdPhotoError
from idphoto.observability import logger, metrics
from idphoto.owners import caller_owner
from idphoto.uploads import UploadForms, UploadRequestError, parse_request

VALIDATION: Final = api_validation()

settings = get_settings()  # a misconfigured deployment fails at cold start
forms = UploadForms(
    s3_client(),
    settings.bucket,
    settings.upload_prefix,
    max_bytes=settings.max_upload_bytes,
    ttl_seconds=settings.upload_form_ttl,
)
# KeyPathResolver for its query rule (idphoto.api.query): the route takes no query parameter, so any is a
# 400 naming it, as on get-photo's routes. (No rule here has a <key>.)
app = KeyPathResolver(enable_validation=VALIDATION)

UploadBody = Annotated[
    NewUpload,
    upload_check(VALIDATION),
    param(VALIDATION, "Body", description="The file's type, its name and the photo's options."),
]
# Validation off, Powertools passes no body: the route reads it from the event. The default makes the
# body optional in Powertools' eyes only; a request without one is refused (parse_request), and the
# document says the body is required (idphoto.api.openapi).
NO_BODY: Final = cast(NewUpload, None)


@app.post(
    "/uploads",
    summary="An upload form (presigned S3 POST) for one portrait, its options checked first",
    description=(
        "Free: nothing is made until the file arrives in the bucket through the form. The options are "
        "checked with make-photo's own parser before anything is uploaded; the form's policy fixes the "
        "type, the size range, the key (in the caller's folder), each option and the owner."
    ),
    operation_id="createUpload",
    tags=["uploads"],
    responses=responses("the upload form", *UPLOAD_ERRORS, created=True),
)
def create_upload(body: UploadBody = NO_BODY) -> Response[UploadAnswer]:
    event = app.current_event
    # The resolver refused any query parameter already (KeyPathResolver); validation on, ``body`` is
    # what parse_request took already, normalised, and it takes it again as it is.
    request = parse_request(body if body is not None else _json_body(), None)
    identity = event.request_context.identity
    owner = caller_owner(identity.cognito_identity_id, identity.caller)
    if owner is None:  # the route is AWS_IAM-authorised: API Gateway always names the caller
        raise IdPhotoError("the request names no caller")
    form = forms.create(request, owner, settings.defaults)
    logger.info("upload form issued", extra={"key": form.key, "owner": owner})
    answer: UploadAnswer = {
        "key": form.key,
        "upload": {"url": form.url, "fields": form.fields},
        "content_type": cast(ImageType, form.content_type),  # parse_request checked it
        "max_bytes": form.max_bytes,
        "expires_at": form.expires_at,
        "expires_in": max(0, form.expires_at - int(time.time())),
        "status_path": _status_path(form.key),
        "status_url": _status_url(form.key),
    }
    return Response(201, content_types.APPLICATION_JSON, answer)


def _json_body() -> Any:
    try:
        return json.loads(app.current_event.body or "null")
    except json.JSONDecodeError as exc:
        raise UploadRequestError(f"the body is not JSON: {exc.msg}") from exc


def _status_path(key: str) -> str:
    return "/photos/" + quote(key, safe="/")


def _status_url(key: str) -> str:
    """The API's own URL for the photo: the stage's base as the client called it, then the route."""
    event = app.current_event
    context = event.request_context
    proto = event.headers.get("X-Forwarded-Proto") or event.headers.get("x-forwarded-proto") or "https"
    return f"{proto}://{context.domain_name}/{context.stage}{_status_path(key)}"


def _answer(reply: ErrorReply) -> Response[str]:
    return Response(
        reply.status, content_types.APPLICATION_JSON, json.dumps(reply.body), reply.headers or None
    )


@app.exception_handler(IdPhotoError)
def domain_error(exc: IdPhotoError) -> Response[str]:
    reply = http_errors.reply_for(exc)
    if reply.status >= 500:
        logger.exception("unmapped or internal error", extra={"code": exc.code})
    return _answer(reply)


@app.exception_handler(RequestValidationError)
def invalid_request(exc: RequestValidationError) -> Response[str]:
    """(Validation on.) A request the contract refuses is the caller's 400, in the API's error shape;
    an answer it refuses is our bug: 500."""
    reply, ours = http_errors.contract_refusal(exc.errors(), UploadRequestError)
    if ours:
        logger.error("answer does not match the API contract", extra={"errors": ours})
    return _answer(reply)


@app.not_found
def not_found(_: Exception) -> Response[str]:
    return _answer(ErrorReply(404, "NOT_FOUND", "no such route: use POST /uploads", {}))


@app.exception_handler(Exception)
def unexpected(_: Exception) -> Response[str]:
    logger.exception("unexpected error")
    return _answer(http_errors.internal())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
