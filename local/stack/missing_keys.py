"""S3's answer to a function's GET or HEAD of a missing key: 404 only to a caller allowed s3:ListBucket.

Amazon S3 API Reference, GetObject and HeadObject, "Permissions": if the object requested does not
exist, the error S3 returns depends on whether the caller also has ``s3:ListBucket`` on the bucket:
with it, 404 Not Found (``NoSuchKey``); without it, 403 Access Denied. The ListBucket that S3 checks
there belongs to a GET or HEAD request, which carries no ``s3:prefix``: a grant conditioned on a prefix
does not apply (Amazon S3 User Guide, "Condition key examples", ``s3:prefix`` is a ListBucket request
parameter).

moto answers 404 to everyone, so this rule is applied at the front of moto
(:mod:`local.stack.faultproxy`), which knows which function signed a request (its role's access key,
:mod:`local.stack.access`): moto's 404 to a function's GET or HEAD becomes S3's 403 unless the real
IAM evaluator (:mod:`local.stack.iam`) allows the function's role ``s3:ListBucket`` on the bucket,
with the bucket policy. The check S3 makes is also recorded as the function's call
(:data:`MISSING_KEY_CHECK`), so the least-privilege check sees ListBucket used (or denied). Calls of
the local user (tests, the demo) and presigned URLs are not the functions' and keep moto's answer.
"""

from __future__ import annotations

import threading
from typing import Final

from local.stack.access import Call, CallLog
from local.stack.iam import ALLOWED, Evaluator, simulation
from local.stack.least_privilege import MISSING_KEY_CHECK, function_request
from local.stack.template import StackTemplate

_READS: Final = ("GetObject", "HeadObject")

__all__ = ["MISSING_KEY_CHECK", "MissingKeys"]


class MissingKeys:
    """The rule, applied by the front of moto; one per stack (decisions cached per function and bucket)."""

    def __init__(self, template: StackTemplate, evaluator: Evaluator, calls: CallLog) -> None:
        self._template = template
        self._evaluator = evaluator
        self._calls = calls
        self._buckets = {bucket.name: bucket for bucket in template.buckets}
        self._decisions: dict[tuple[str, str], bool] = {}
        self._lock = threading.Lock()

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

    def answer(
        self, call: Call, method: str, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """S3's answer to a function's call, given moto's."""
        if status != 404 or call.presigned or call.service != "s3" or call.operation not in _READS:
            return status, headers, body
        if b"<Code>NoSuchBucket</Code>" in body:
            return status, headers, body  # a missing bucket is not a missing key
        bucket, key = str(call.params.get("Bucket", "")), str(call.params.get("Key", ""))
        self._calls.add(Call(call.function, "s3", MISSING_KEY_CHECK, {"Bucket": bucket, "Key": key}))
        if self.may_list(call.function, bucket):
            return status, headers, body
        request_id = next((v for k, v in headers if k.lower() == "x-amz-request-id"), "0")
        answer = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
        if method == "HEAD":  # a HEAD's answer has no body: the SDK names the error by its status
            return 403, [*answer, ("Content-Length", "0")], b""
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            f"<Message>Access Denied</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        return 403, answer, xml
