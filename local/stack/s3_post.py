"""S3's POST form uploads with their policy enforced: what moto accepts unchecked, refused as S3 does.

moto (5.x, server mode) stores any multipart POST to a bucket: it checks no signature, no policy, no
expiry and no condition. Browser uploads through ``POST /uploads`` rest on exactly those checks, so the
local stack wraps moto's POST handler (moto runs in this process, as for :mod:`local.stack.s3_events`)
and checks each form first, following the Amazon S3 API Reference, "Browser-Based Uploads Using POST
(AWS Signature Version 4)", "Creating a POST Policy" and "Calculating a Signature":

* the form is signed: ``x-amz-algorithm`` is ``AWS4-HMAC-SHA256``, ``x-amz-credential`` names a known
  access key (a function's role session, or the local user), the signature is HMAC-SHA256 of the
  base64 policy with the key derived from the secret and the credential's scope, and a session's
  ``x-amz-security-token`` is its own -> 403 ``InvalidAccessKeyId`` / ``SignatureDoesNotMatch`` /
  ``InvalidToken``; an unsigned form -> 403 ``AccessDenied`` (the bucket is not public);
* the policy has not expired (``expiration``) -> 403 ``AccessDenied``, "Policy expired";
* every condition holds: ``{"field": "value"}`` and ``["eq", "$field", "value"]`` exactly,
  ``["starts-with", "$field", "prefix"]``, ``{"bucket": ...}`` against the bucket posted to ->
  403 ``AccessDenied``, "Policy Condition failed: ...";
  ``["content-length-range", min, max]`` against the file's size -> 400 ``EntityTooLarge`` /
  ``EntityTooSmall``;
* every form field is covered by a condition, except ``policy``, ``x-amz-signature``, ``file`` and
  ``x-ignore-*`` fields -> 403 ``AccessDenied``, "Extra input fields: ...".

Field names are compared without case, values exactly. Answers (refusals too) carry the bucket's CORS
headers, as S3's do, so a page can read why its upload was refused.

Not enforced (said, not guessed): the signer's IAM permission at upload time (the accepted upload is
recorded as the signing function's ``s3:PutObject`` call, which :mod:`local.stack.least_privilege`
judges with the role's policy after the run), ``success_action_*`` and ``acl`` conditions beyond
equality, and the date in ``x-amz-date`` against the credential's scope.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from xml.sax.saxutils import escape

from moto.s3.responses import S3Response

from local.stack import s3_events
from local.stack.access import Call

_MARK: Final = "_idphoto_local_post_policy"
ALGORITHM: Final = "AWS4-HMAC-SHA256"
UNCHECKED: Final = frozenset({"policy", "x-amz-signature", "file"})


@dataclass(frozen=True)
class Signer:
    """Whose access key signed a form: its secret, its session token, and who it is."""

    secret_key: str
    token: str | None
    principal: str  # as S3 events name it: AWS:AIDA... or AWS:AROA...:session
    function: str | None = None  # the function's logical id when a function's role signed


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Form:
    bucket: str
    fields: Mapping[str, str]  # lower-cased names -> values, the file excluded
    size: int


def check(form: Form, signers: Mapping[str, Signer], now: datetime) -> Signer:
    """The signer of a form S3 would accept; :class:`Refused` with S3's answer otherwise."""
    fields = form.fields
    if "policy" not in fields:
        raise Refused(403, "AccessDenied", "Access Denied")  # anonymous: the bucket blocks public access
    if fields.get("x-amz-algorithm") != ALGORITHM:
        raise Refused(400, "InvalidArgument", f"x-amz-algorithm must be {ALGORITHM}")
    signer = _signer(fields, signers)
    if not hmac.compare_digest(_signature(signer.secret_key, fields), fields.get("x-amz-signature", "")):
        raise Refused(403, "SignatureDoesNotMatch", "The request signature we calculated does not match")
    if signer.token is not None and fields.get("x-amz-security-token") != signer.token:
        raise Refused(403, "InvalidToken", "The provided token is malformed or otherwise invalid.")
    policy = _policy(fields["policy"])
    if _expiry(policy) <= now:
        raise Refused(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    covered = {"bucket"}
    for condition in policy.get("conditions", []):
        covered |= _check_condition(condition, form)
    extra = sorted(
        n for n in fields if n not in covered and n not in UNCHECKED and not n.startswith("x-ignore-")
    )
    if extra:
        raise Refused(
            403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {', '.join(extra)}"
        )
    return signer


def _signer(fields: Mapping[str, str], signers: Mapping[str, Signer]) -> Signer:
    parts = fields.get("x-amz-credential", "").split("/")
    if len(parts) != 5 or parts[3] != "s3" or parts[4] != "aws4_request":
        raise Refused(400, "AuthorizationQueryParametersError", "malformed x-amz-credential")
    signer = signers.get(parts[0])
    if signer is None:
        raise Refused(
            403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
        )
    return signer


def _signature(secret: str, fields: Mapping[str, str]) -> str:
    """SigV4 for POST: the string to sign is the base64 policy itself."""
    _, date, region, service, terminal = fields["x-amz-credential"].split("/")
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, terminal):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, fields["policy"].encode(), hashlib.sha256).hexdigest()


def _policy(encoded: str) -> dict[str, Any]:
    try:
        policy = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        raise Refused(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from None
    if (
        not isinstance(policy, dict)
        or "expiration" not in policy
        or not isinstance(policy.get("conditions"), list)
    ):
        raise Refused(400, "InvalidPolicyDocument", "Invalid Policy: expiration and conditions are required.")
    return policy


def _expiry(policy: Mapping[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(policy["expiration"]).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise Refused(400, "InvalidPolicyDocument", "Invalid Policy: Invalid 'expiration' value.") from None


def _check_condition(condition: Any, form: Form) -> set[str]:
    """Checks one condition; returns the field names it covers."""
    if isinstance(condition, dict) and len(condition) == 1:
        name, value = next(iter(condition.items()))
        _require(form, ["eq", f"${name}", value], "eq", name.lower(), str(value))
        return {name.lower()}
    if isinstance(condition, list) and len(condition) == 3 and condition[0] == "content-length-range":
        low, high = int(condition[1]), int(condition[2])
        if form.size > high:
            raise Refused(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
        if form.size < low:
            raise Refused(
                400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"
            )
        return set()
    if isinstance(condition, list) and len(condition) == 3 and condition[0] in ("eq", "starts-with"):
        name = str(condition[1]).removeprefix("$").lower()
        _require(form, condition, str(condition[0]), name, str(condition[2]))
        return {name}
    raise Refused(400, "InvalidPolicyDocument", f"Invalid Policy: Invalid Condition: {json.dumps(condition)}")


def _require(form: Form, condition: Any, operator: str, name: str, value: str) -> None:
    actual = form.bucket if name == "bucket" else form.fields.get(name)
    holds = actual is not None and (actual == value if operator == "eq" else actual.startswith(value))
    if not holds:
        raise Refused(
            403,
            "AccessDenied",
            f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition)}",
        )


def error_body(code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    )


# --- the wrapper around moto ---------------------------------------------------------------------

_state: dict[str, Any] = {}


def install(signers: Callable[[], Mapping[str, Signer]], record: Callable[[Call], None]) -> None:
    """Check every POST form moto receives (once per process; :func:`configure` swaps whom it asks)."""
    configure(signers, record)
    original = S3Response._bucket_response_post
    if getattr(original, _MARK, False):
        return

    def bucket_response_post(self: S3Response, request: Any, bucket_name: str) -> Any:
        form_data = self.form_data
        if "key" not in form_data:  # a multi-object delete or another POST: not a form upload
            return original(self, request, bucket_name)
        cors = self._get_cors_headers_other()
        fields = {str(k).lower(): str(v) for k, v in form_data.items() if str(k).lower() != "file"}
        body = self.raw_body if isinstance(self.raw_body, bytes) else str(self.raw_body or "").encode()
        form = Form(bucket_name, fields, len(body))
        try:
            signer = check(form, _state["signers"](), datetime.now(UTC))
        except Refused as refused:
            headers = {**cors, "Content-Type": "application/xml"}
            return refused.status, headers, error_body(refused.code, refused.message)
        if signer.function is not None:  # S3 authorises the write as the signer's s3:PutObject
            _state["record"](
                Call(signer.function, "s3", "PutObject", {"Bucket": bucket_name, "Key": fields["key"]}, True)
            )
        with s3_events.form_upload(signer.principal):
            status, headers, answer = original(self, request, bucket_name)
        return status, {**cors, **headers}, answer

    setattr(bucket_response_post, _MARK, True)
    S3Response._bucket_response_post = bucket_response_post  # type: ignore[method-assign]


def configure(signers: Callable[[], Mapping[str, Signer]], record: Callable[[Call], None]) -> None:
    _state["signers"], _state["record"] = signers, record
