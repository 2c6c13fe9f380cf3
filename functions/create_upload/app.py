"""create-upload: ``POST /uploads`` hands out a presigned POST form for one portrait (idphoto.uploads).

Body (JSON): ``{"content_type": "image/jpeg", "filename": "me.jpg", "options": {"spec": "us-passport"}}``.
Answer: the form (``upload.url`` and ``upload.fields``: post every field, then the file as ``file``), when
it expires, the largest file it takes, the photo's key and its status URL (``GET /photos/{key}``).

A function of its own, not a route of get-photo: its role holds ``s3:PutObject`` on the upload prefix
and nothing else, the one permission the form's signature lends the browser; get-photo (which pays the
vendor) keeps no write access to uploads, and this one reads no record, secret or final.
"""

import json
import time
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from idphoto.api import http_errors
from idphoto.api.http_errors import ErrorReply
from idphoto.aws import s3_client
from idphoto.config import get_settings
from idphoto.errors import IdPhotoError
from idphoto.observability import logger, metrics
from idphoto.owners import caller_owner
from idphoto.uploads import UploadForms, UploadRequestError, parse_request

settings = get_settings()  # a misconfigured deployment fails at cold start
forms = UploadForms(
    s3_client(),
    settings.bucket,
    settings.upload_prefix,
    max_bytes=settings.max_upload_bytes,
    ttl_seconds=settings.upload_form_ttl,
)
app = APIGatewayRestResolver()


@app.post("/uploads")
def create_upload() -> Response[str]:
    event = app.current_event
    try:
        body = json.loads(event.body or "null")
    except json.JSONDecodeError as exc:
        raise UploadRequestError(f"the body is not JSON: {exc.msg}") from exc
    request = parse_request(body, event.query_string_parameters)
    identity = event.request_context.identity
    owner = caller_owner(identity.cognito_identity_id, identity.caller)
    if owner is None:  # the route is AWS_IAM-authorised: API Gateway always names the caller
        raise IdPhotoError("the request names no caller")
    form = forms.create(request, owner, settings.defaults)
    logger.info("upload form issued", extra={"key": form.key, "owner": owner})
    answer = {
        "key": form.key,
        "upload": {"url": form.url, "fields": form.fields},
        "content_type": form.content_type,
        "max_bytes": form.max_bytes,
        "expires_at": form.expires_at,
        "expires_in": max(0, form.expires_at - int(time.time())),
        "status_path": _status_path(form.key),
        "status_url": _status_url(form.key),
    }
    return Response(201, content_types.APPLICATION_JSON, json.dumps(answer))


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
