"""Typed errors: each says who is at fault and whether trying again can help.

Raised in the domain, translated once at the edge (the make-photo handler records them, the API maps
them to HTTP answers).
"""

from __future__ import annotations


class IdPhotoError(Exception):
    """Base of every error this package raises on purpose."""

    code: str = "ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def redact(self, secret: str) -> None:
        """Remove a secret that a third party echoed into our message (it is recorded and shown)."""
        if secret and secret in self.message:
            self.message = self.message.replace(secret, "[redacted]")
            self.args = (self.message,)


class InvalidOptions(IdPhotoError):
    """The photo's options break the vendor's limits: the caller's fault, never sent to the vendor."""

    code = "INVALID_OPTIONS"


class UnsupportedObject(IdPhotoError):
    """The uploaded object cannot be a portrait (empty, too large, not an image type)."""

    code = "UNSUPPORTED_OBJECT"


class ConfigurationError(IdPhotoError):
    """The deployment is misconfigured (bad default option, missing setting): fail at cold start."""

    code = "CONFIGURATION"


class VendorError(IdPhotoError):
    """The vendor answered; `transient` says whether the same call may succeed later."""

    code = "VENDOR_ERROR"
    transient = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        vendor_code: int | None = None,
        reached_vendor: bool = True,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.vendor_code = vendor_code
        # The HTTP status of an answer that carried no vendor code; None when no answer came at all.
        self.http_status = http_status
        # False only when the request certainly never reached the vendor: then even the billed call
        # may be repeated without paying twice.
        self.reached_vendor = reached_vendor


class VendorRejected(VendorError):
    """A documented vendor code other than 200 (400, 422, 423, 506, 507): permanent for this input."""

    code = "VENDOR_REJECTED"


class VendorUnavailable(VendorError):
    """Timeouts, connection errors, 5xx, throttling, malformed answers: worth retrying."""

    code = "VENDOR_UNAVAILABLE"
    transient = True


class GatewayError(VendorError):
    """The API market's gateway answered for the vendor (header X-Ca-Error-Code).

    Credentials and quota problems are permanent until someone acts; throttling and 5xx are transient.
    """

    code = "VENDOR_GATEWAY"

    def __init__(
        self, message: str, *, gateway_code: str, http_status: int, transient: bool, reached_vendor: bool
    ) -> None:
        super().__init__(message, reached_vendor=reached_vendor)
        self.gateway_code = gateway_code
        self.http_status = http_status
        self.transient = transient


class PhotoNotFound(IdPhotoError):
    code = "PHOTO_NOT_FOUND"


class PhotoNotReady(IdPhotoError):
    code = "PHOTO_NOT_READY"


class PhotoFailed(IdPhotoError):
    code = "PHOTO_FAILED"


class UnknownColor(IdPhotoError):
    code = "UNKNOWN_COLOR"


class FinalsInProgress(IdPhotoError):
    """Another request is fetching (paying for) the same final right now."""

    code = "FINALS_IN_PROGRESS"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FinalUncertain(IdPhotoError):
    """The billed call for a final got no usable answer: the vendor may have charged it.

    Never retried automatically; the caller decides (``retry_uncertain=1`` accepts paying again)."""

    code = "FINAL_UNCERTAIN"


class PreviewNoncompliant(IdPhotoError):
    """The colour's preview failed its compliance check (idphoto.compliance): its final is not paid
    for unless the caller asks for it explicitly (``allow_noncompliant=true``)."""

    code = "PREVIEW_NONCOMPLIANT"


class AwsUnavailable(IdPhotoError):
    """An AWS call (DynamoDB, S3) failed beyond the SDK's own retries: transient, retry soon."""

    code = "AWS_UNAVAILABLE"
    retry_after = 2


class DataAccessError(Exception):
    """S3 or DynamoDB failed (throttling, 5xx, a timeout, a denied permission): our side, never the
    caller's. Raised by the data-access modules (storage, records) instead of botocore's errors, so
    nothing above them imports botocore. Deliberately not an ``IdPhotoError``: no edge maps it to a
    client error; the API answers 500, make-photo's invocation fails and Lambda retries it."""

    def __init__(self, message: str, *, aws_code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.aws_code = aws_code


class ObjectMissing(DataAccessError):
    """The object (or the version) the event named is gone: deleted or overwritten since."""
