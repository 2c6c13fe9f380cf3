"""Every AWS call a function makes, recorded outside the function: at the front of the local AWS.

Each function's processes hold its execution role's temporary credentials (AssumeRole with the
function's name as the session name, as Lambda does), and reach AWS only through the front in
:mod:`local.stack.faultproxy`. The front hands each request to :meth:`Recorder.record`, which names
the calling function by the access key of the request's SigV4 signature (the ``Authorization``
header's ``Credential``, or a presigned URL's ``X-Amz-Credential``) and turns the request back into
the API call it is (service, operation, the parameters IAM needs), so that
:mod:`local.stack.least_privilege` can check the session's calls against the roles afterwards.

What the SDK sends, per protocol (botocore's serialisers):

* JSON protocols (DynamoDB, Secrets Manager, EventBridge, SQS): ``X-Amz-Target: <prefix>.<Operation>``
  and the parameters as the JSON body, named as in the API;
* SQS's older query protocol: ``Action=<Operation>`` and the parameters form-encoded;
* S3's REST protocol: the operation is the method, the path (``/bucket`` or ``/bucket/key``, path
  style against a local endpoint) and sub-resources of the query; the parameters IAM needs are in the
  path, the query (``versionId``, ``prefix``) and ``x-amz-*`` headers.

A presigned URL is recorded when it is used (the vendor fetching ``pic_url``), as AWS authorises it:
at the request, with the signer's identity. Requests signed by anyone else (tests, the demo, the
stack itself) are not recorded.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

# A SigV4 credential (the Authorization header's, or a presigned URL's): access key id and service.
CREDENTIAL: Final = re.compile(r"Credential=([^/,\s]+)/\d{8}/[^/]+/([^/]+)/aws4_request")
_DROPPED: Final = ("Body", "Item", "ExpressionAttributeValues", "SecretString", "SecretBinary")


@dataclass(frozen=True)
class Call:
    function: str  # logical id
    service: str  # the signing name: s3, dynamodb, secretsmanager, sqs, events, ...
    operation: str  # the API's name: GetObject, PutItem, ...
    params: dict[str, Any]
    presigned: bool = False


@dataclass
class CallLog:
    """The calls of the session, thread-safe; the stack's own on-behalf calls are added by the invoker."""

    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def forget(self, forgotten: list[Call]) -> None:
        """Drop calls a test made itself while impersonating a function: they are not the function's,
        and the least-privilege check judges only what the functions did."""
        ids = {id(call) for call in forgotten}
        with self._lock:
            self.calls[:] = [call for call in self.calls if id(call) not in ids]


class Recorder:
    """Names the function behind a request by its access key, and records the call in ``log``."""

    def __init__(self, log: CallLog) -> None:
        self.log = log
        self._functions: dict[str, str] = {}  # access key id -> function logical id

    def register(self, access_key: str, function: str) -> None:
        self._functions[access_key] = function

    def record(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Call | None:
        """``headers`` with lower-case names; ``target`` is the path and query as sent."""
        call = request_call(method, target, headers, body, self._functions)
        if call is not None:
            self.log.add(call)
        return call


def request_call(
    method: str, target: str, headers: Mapping[str, str], body: bytes, functions: Mapping[str, str]
) -> Call | None:
    """The API call a request is, if one of ``functions`` (access key -> logical id) signed it."""
    parts = urlsplit(target)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    signed = CREDENTIAL.search(headers.get("authorization", ""))
    presigned = signed is None and "X-Amz-Credential" in query
    if presigned:
        signed = CREDENTIAL.search("Credential=" + query["X-Amz-Credential"])
    if signed is None or signed.group(1) not in functions:
        return None
    function, service = functions[signed.group(1)], signed.group(2)
    target_header = headers.get("x-amz-target", "")
    if target_header:
        params = _json(body)
        operation = target_header.rpartition(".")[2]
    elif service == "s3":
        operation, params = _s3(method, parts.path, query, headers)
    else:  # the query protocol
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        operation, params = form.pop("Action", method), dict(form)
    return Call(function, service, operation, _plain(params), presigned)


def _json(body: bytes) -> dict[str, Any]:
    try:
        decoded = json.loads(body or b"{}")
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _s3(
    method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str]
) -> tuple[str, dict[str, Any]]:
    """S3's operation and the parameters IAM needs, from a path-style REST request (S3 API reference,
    each operation's "Request Syntax")."""
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    params: dict[str, Any] = {"Bucket": bucket}
    if key:
        params["Key"] = key
    for name, header in (
        ("ServerSideEncryption", "x-amz-server-side-encryption"),
        ("SSEKMSKeyId", "x-amz-server-side-encryption-aws-kms-key-id"),
        ("Tagging", "x-amz-tagging"),
        ("CopySource", "x-amz-copy-source"),
    ):
        if headers.get(header):
            params[name] = headers[header]
    if query.get("versionId"):
        params["VersionId"] = query["versionId"]
    if "prefix" in query:
        params["Prefix"] = query["prefix"]
    return _s3_operation(method, bool(key), query, "CopySource" in params), params


def s3_operation(method: str, target: str, headers: Mapping[str, str]) -> str:
    """The S3 operation a path-style REST request is (``target``: path and query as sent; ``headers``
    with lower-case names)."""
    parts = urlsplit(target)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    key = unquote(parts.path).lstrip("/").partition("/")[2]
    return _s3_operation(method, bool(key), query, bool(headers.get("x-amz-copy-source")))


def _s3_operation(method: str, has_key: bool, query: Mapping[str, str], copy: bool) -> str:
    if "tagging" in query:
        return {"GET": "GetObjectTagging", "PUT": "PutObjectTagging"}.get(method, "DeleteObjectTagging")
    if has_key:
        if method == "POST" and "uploads" in query:
            return "CreateMultipartUpload"
        if method == "POST" and "uploadId" in query:
            return "CompleteMultipartUpload"
        if method == "PUT" and "uploadId" in query:
            return "UploadPart"
        if method == "PUT" and copy:
            return "CopyObject"
        return {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject", "DELETE": "DeleteObject"}.get(
            method, method
        )
    if method == "GET":
        if "versions" in query:
            return "ListObjectVersions"
        return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
    return {"HEAD": "HeadBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, method)


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """What the mapping to IAM needs; bodies are dropped (they can be large, and say nothing to IAM)."""
    return {k: v for k, v in params.items() if k not in _DROPPED}
