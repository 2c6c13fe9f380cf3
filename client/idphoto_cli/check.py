"""``idphoto check``: the smoke test a person runs against their own deployment (and CI against the
local stack, so it cannot rot).

It uploads a portrait under keys with a space, a ``+``, a ``%`` and non-ASCII characters, waits for
the photos, reads their status through the signed API with the person's own credentials, and reports
each step with what to fix when it fails. It reports how API Gateway delivered ``pathParameters``
(the API's ``X-IdPhoto-Path-Decoding`` header). Finals are billed: only with ``--finals``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from idphoto_cli.api import ApiError, PhotoApi
from idphoto_cli.commands import Output, upload, wait_for
from idphoto_cli.errors import CliError, Exit
from idphoto_cli.target import Target

DECODING_HEADER: Final = "X-IdPhoto-Path-Decoding"
# The key names the check uploads under check/<tag>/: each a character API Gateway may treat specially.
NAMES: Final = ("portrait.jpg", "with space.jpg", "a+b.jpg", "100% sure.jpg", "证件照 张三.jpg")

ADVICE_INVOKE: Final = (
    "API Gateway cannot invoke get-photo: the function's resource policy must allow "
    "apigateway.amazonaws.com to invoke it (lambda:InvokeFunction, SourceArn the API), and the "
    "integration must not run with the caller's credentials; redeploy the template"
)
ADVICE_FORBIDDEN: Final = (
    "your credentials may not call the API: grant execute-api:Invoke on the API's ARN "
    "(arn:aws:execute-api:REGION:ACCOUNT:API_ID/*) to the user or role you run this with, "
    "and check --region and the stack name"
)
ADVICE_APPCODE: Final = (
    "the vendor's market gateway refuses the AppCode (or its quota is used up): put the right AppCode "
    "in the secret named by the AppCodeSecretName parameter (aws secretsmanager put-secret-value), "
    "check the quota at the market; the waiting uploads are made once the vendor accepts again (any in "
    "the upload dead-letter queue: start its DLQ redrive)"
)
ADVICE_FETCH: Final = (
    "the vendor could not download the upload from its presigned URL (vendor code 507): the URL must "
    "name the bucket's regional endpoint and the bucket policy must let the function's role sign "
    "GETs; check the make-photo logs for the URL's host"
)
ADVICE_NO_APPCODE: Final = (
    "make-photo cannot read the AppCode: create the secret named by the AppCodeSecretName parameter "
    "in the stack's region (aws secretsmanager create-secret --name NAME --secret-string APPCODE)"
)
ADVICE_NOT_MADE: Final = (
    "no photo record appeared: make-photo did not run or failed before recording; check the bucket's "
    "event notification, the upload prefix, and make-photo's logs and its failed-events queue"
)


@dataclass
class Step:
    name: str
    ok: bool
    detail: str
    advice: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"step": self.name, "ok": self.ok, "detail": self.detail, "advice": self.advice}


def advice_for_api_error(error: ApiError) -> str:
    """What to fix for an API answer: API Gateway's own errors carry no ``code``."""
    if not error.code_name:
        if error.status == 403:
            return ADVICE_FORBIDDEN
        if error.status in (500, 502):  # API Gateway could not invoke the function
            return ADVICE_INVOKE
        if error.status == 504:
            return "get-photo did not answer within 29 s: check its logs and timeout"
        return error.hint
    if error.code_name == "INTERNAL":
        return "a bug in get-photo (or its configuration): the request id is in its logs"
    return error.hint


def advice_for_record(record: Mapping[str, Any]) -> str:
    """What to fix for a photo that failed, or is stuck retrying, from its status answer."""
    error = record.get("error") or {}
    code = str(error.get("code") or "")
    text = f"{error.get('message') or ''} {record.get('last_error') or ''}".lower()
    if "secret" in text or "resourcenotfound" in text:
        return ADVICE_NO_APPCODE
    if code in ("VENDOR_ACCOUNT", "VENDOR_GATEWAY") or "gateway" in text or "appcode" in text:
        return ADVICE_APPCODE
    if error.get("vendor_code") == 507 or "507" in text or "download" in text:
        return ADVICE_FETCH
    if code in ("INVALID_OPTIONS", "UNSUPPORTED_OBJECT", "VENDOR_REJECTED"):
        return "the vendor refused this portrait: try another, well-lit, frontal portrait"
    if record.get("status") == "PROCESSING":
        return "the photo is still being made or retried: " + (record.get("last_error") or "check the logs")
    return ""


def run_check(
    target: Target, api: PhotoApi, portrait: Path, *, finals: bool, timeout: float, out: Output
) -> Exit:
    steps: list[Step] = []
    tag = secrets.token_hex(3)
    keys = [f"{target.upload_prefix}check/{tag}/{name}" for name in NAMES]

    def report(step: Step) -> None:
        steps.append(step)
        mark = "ok  " if step.ok else "FAIL"
        out.note(f"[{mark}] {step.name}: {step.detail}")
        if step.advice:
            out.note(f"       fix: {step.advice}")

    out.note(f"checking {target.describe()}")
    try:
        for key in keys:
            upload(target, portrait, key, {})
        report(
            Step("upload", True, f"{len(keys)} uploads to s3://{target.bucket}/{keys[0].rsplit('/', 1)[0]}/")
        )
    except CliError as exc:
        report(
            Step("upload", False, exc.message, exc.hint or "your credentials need s3:PutObject on the prefix")
        )
        return _finish(steps, out, exc.code)

    try:
        records = wait_for(api, keys, timeout, out.err)
    except ApiError as exc:
        report(Step("status", False, exc.message, advice_for_api_error(exc)))
        return _finish(steps, out, exc.code)
    code = Exit.OK
    for key in keys:
        record = records.get(key)
        if record is None:
            report(Step("photo", False, f"{key}: no photo within {timeout:g} s", ADVICE_NOT_MADE))
            code = max(code, Exit.TIMEOUT)
        elif record["status"] != "READY":
            advice = advice_for_record(record)
            detail = record.get("error") or record.get("last_error") or record["status"]
            report(Step("photo", False, f"{key}: {record['status']}: {detail}", advice))
            code = max(code, Exit.PHOTO_FAILED if record["status"] == "FAILED" else Exit.TIMEOUT)
        elif record.get("key") != key:
            report(
                Step(
                    "photo",
                    False,
                    f"{key}: the API answered for {record.get('key')!r}",
                    "a key-decoding bug: report it",
                )
            )
            code = max(code, Exit.USAGE)
        else:
            report(Step("photo", True, f"{key}: READY"))
    if code != Exit.OK:
        return _finish(steps, out, code)

    decodings: set[str] = set()
    for key in keys:
        try:
            _, headers = api.status_with_headers(key)
        except ApiError as exc:
            report(Step("path decoding", False, exc.message, advice_for_api_error(exc)))
            return _finish(steps, out, exc.code)
        decodings.add(headers.get(DECODING_HEADER, "unknown"))
    shown = sorted(decodings - {"plain"}) or ["plain"]
    report(Step("path decoding", True, f"API Gateway delivered pathParameters {', '.join(shown)}"))

    if finals:
        try:
            answer = api.finals(keys[1])
            report(
                Step("finals", True, f"{len(answer['finals'])} colour(s) kept for {keys[1]} (billed once)")
            )
        except ApiError as exc:
            report(Step("finals", False, exc.message, advice_for_api_error(exc)))
            return _finish(steps, out, exc.code)
    else:
        report(Step("finals", True, "skipped (billed): run with --finals to check them too"))
    return _finish(steps, out, Exit.OK, decoding=shown)


def _finish(steps: list[Step], out: Output, code: Exit, decoding: list[str] | None = None) -> Exit:
    out.document({"ok": code == Exit.OK, "path_decoding": decoding, "steps": [s.as_json() for s in steps]})
    out.line("check passed" if code == Exit.OK else "check FAILED")
    return code
