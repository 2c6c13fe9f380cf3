"""S3's answer to a function's GET or HEAD of a missing key: 404 only to a caller allowed s3:ListBucket.

Amazon S3 API Reference, GetObject and HeadObject, "Permissions": if the object requested does not
exist, the error S3 returns depends on whether the caller also has ``s3:ListBucket`` on the bucket:
with it, 404 Not Found (``NoSuchKey``); without it, 403 Access Denied. The ListBucket that S3 checks
there belongs to a GET or HEAD request, which carries no ``s3:prefix``: a grant conditioned on a prefix
does not apply (Amazon S3 User Guide, "Condition key examples", ``s3:prefix`` is a ListBucket request
parameter).

moto answers 404 to everyone, so this rule is applied client-side, where :mod:`local.stack.access`
already knows which function a call belongs to: a botocore ``after-call`` handler turns the 404 into
S3's 403 unless the real IAM evaluator (:mod:`local.stack.iam`) allows the function's role
``s3:ListBucket`` on the bucket, with the bucket policy. The check S3 makes is also recorded as the
function's call (:data:`MISSING_KEY_CHECK`), so the least-privilege check sees ListBucket used (or
denied). Calls of the local user (tests, the demo) are not the functions' and keep moto's answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

from local.stack.access import Call, CallLog, current_function
from local.stack.iam import ALLOWED, Evaluator, simulation
from local.stack.least_privilege import MISSING_KEY_CHECK, function_request
from local.stack.template import StackTemplate

_READS: Final = ("GetObject", "HeadObject")
_TARGET: Final = "idphoto_s3_target"  # where the request's bucket and key wait for the answer

__all__ = ["MISSING_KEY_CHECK", "MissingKeys"]


class MissingKeys:
    """The botocore handlers of the rule; one per stack (decisions cached per function and bucket)."""

    def __init__(self, template: StackTemplate, evaluator: Evaluator, calls: CallLog) -> None:
        self._template = template
        self._evaluator = evaluator
        self._calls = calls
        self._buckets = {bucket.name: bucket for bucket in template.buckets}
        self._decisions: dict[tuple[str, str], bool] = {}
        self._lock = threading.Lock()

    def handlers(self) -> list[tuple[str, Callable[..., None]]]:
        """(event name, handler) pairs for every SDK session the functions use."""
        handlers: list[tuple[str, Callable[..., None]]] = []
        for operation in _READS:
            handlers.append((f"before-parameter-build.s3.{operation}", self._remember))
            handlers.append((f"after-call.s3.{operation}", self._answer))
        return handlers

    def may_list(self, function_id: str, bucket: str) -> bool:
        """Whether the function's role (and the bucket policy) allow s3:ListBucket with no prefix."""
        with self._lock:
            if (function_id, bucket) in self._decisions:
                return self._decisions[(function_id, bucket)]
        request, policies = function_request(
            self._template, function_id, "s3:ListBucket", f"arn:aws:s3:::{bucket}", {}
        )
        spec = self._buckets.get(bucket)
        (answer,) = self._evaluator.evaluate(
            [simulation(request, policies, spec.policy if spec is not None else None)]
        )
        allowed = answer.get("result") == ALLOWED
        with self._lock:
            self._decisions[(function_id, bucket)] = allowed
        return allowed

    def _remember(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_TARGET] = (str(params.get("Bucket", "")), str(params.get("Key", "")))

    def _answer(
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        owner = current_function()
        target = context.get(_TARGET)
        metadata = parsed.get("ResponseMetadata", {})
        if owner is None or target is None or metadata.get("HTTPStatusCode") != 404:
            return
        if parsed.get("Error", {}).get("Code") == "NoSuchBucket":
            return  # a missing bucket is not a missing key
        bucket, key = target
        self._calls.add(Call(owner, "s3", MISSING_KEY_CHECK, {"Bucket": bucket, "Key": key}))
        if self.may_list(owner, bucket):
            return
        # S3's 403: GetObject has a body (AccessDenied); a HEAD has none, so botocore names it "403".
        head = model.name == "HeadObject"
        parsed["Error"] = {
            "Code": "403" if head else "AccessDenied",
            "Message": "Forbidden" if head else "Access Denied",
        }
        metadata["HTTPStatusCode"] = 403
        http_response.status_code = 403
