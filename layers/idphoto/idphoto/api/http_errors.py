"""One place turns errors into HTTP answers: every error type has its own explicit status.

The table is looked up by the exact type: a subclass nobody mapped (a new error, a
:class:`~idphoto.errors.ConfigurationError`, a bug) is our fault, a 500, never the caller's 400.
``tests/unit/test_api_edge.py`` walks every :class:`~idphoto.errors.IdPhotoError` subclass and fails on
one missing here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from idphoto.errors import (
    AwsUnavailable,
    ConfigurationError,
    FinalsInProgress,
    FinalUncertain,
    GatewayError,
    IdPhotoError,
    InvalidOptions,
    PhotoFailed,
    PhotoNotFound,
    PhotoNotReady,
    PreviewNoncompliant,
    UnknownColor,
    UnsupportedObject,
    VendorError,
    VendorRejected,
    VendorUnavailable,
)
from idphoto.uploads import UploadRequestError

INTERNAL_MESSAGE: Final = "internal error; the request id is in the logs"
VENDOR_DOWN_MESSAGE: Final = "the ID-photo vendor is unavailable, retry later"
NOT_READY_RETRY_S: Final = 5
VENDOR_RETRY_S: Final = 30


class BadRequest(IdPhotoError):
    """The request names no valid key or colour (the API's own check, validation on or off)."""

    code = "BAD_REQUEST"


STATUS: Final[dict[type[IdPhotoError], int]] = {
    IdPhotoError: 500,  # raised bare, it says nothing about who is at fault
    BadRequest: 400,
    UnknownColor: 400,
    InvalidOptions: 400,  # the caller's options (make-photo records it; listed for completeness)
    UnsupportedObject: 400,  # the caller's upload (idem)
    UploadRequestError: 400,  # POST /uploads: a malformed body
    PhotoNotFound: 404,
    PhotoNotReady: 409,
    PhotoFailed: 409,
    FinalsInProgress: 409,
    FinalUncertain: 409,  # the billed call may have been charged: never retried unless asked
    PreviewNoncompliant: 422,  # the photo as made would be refused: not paid for unless asked
    AwsUnavailable: 503,  # DynamoDB or S3 failed beyond the SDK's retries: transient, ours
    ConfigurationError: 500,  # our deployment
    VendorError: 502,
    VendorRejected: 502,
    GatewayError: 502,  # 503 when transient (below)
    VendorUnavailable: 503,
}


@dataclass(frozen=True)
class ErrorReply:
    status: int
    code: str
    message: str
    headers: dict[str, str]

    @property
    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


def internal() -> ErrorReply:
    return ErrorReply(500, "INTERNAL", INTERNAL_MESSAGE, {})


def reply_for(exc: IdPhotoError) -> ErrorReply:
    """The answer to a domain error; an unmapped type is :func:`internal` (its message may be ours)."""
    status = STATUS.get(type(exc))
    if status is None or (status >= 500 and not isinstance(exc, VendorError | AwsUnavailable)):
        return internal()
    if isinstance(exc, VendorError) and exc.transient:
        return ErrorReply(503, exc.code, VENDOR_DOWN_MESSAGE, {"Retry-After": str(VENDOR_RETRY_S)})
    headers: dict[str, str] = {}
    if isinstance(exc, FinalsInProgress | AwsUnavailable):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, PhotoNotReady):
        headers["Retry-After"] = str(NOT_READY_RETRY_S)
    return ErrorReply(status, exc.code, exc.message, headers)


Problems = list[tuple[tuple[str, ...], str]]


def contract_refusal(
    errors: Iterable[Mapping[str, Any]], refusal: Callable[[str], IdPhotoError]
) -> tuple[ErrorReply, Problems]:
    """(API validation on.) The answer to Powertools' ``RequestValidationError``, and the problems to
    log when they are ours: a request the contract refuses is the caller's 400 (``refusal`` makes the
    route's error), in the API's error shape; an answer the contract refuses is our bug, a 500."""
    problems = [(tuple(str(part) for part in e["loc"]), str(e.get("msg") or e["type"])) for e in errors]
    if any(loc[:1] == ("response",) for loc, _ in problems):
        return internal(), problems
    text = "; ".join(f"{'.'.join(loc[1:]) or loc[0]}: {message}" for loc, message in problems)
    return reply_for(refusal(f"invalid request: {text}")), []
