"""Neither the AppCode nor a presigned URL's signature leaks into a log line, an error or an answer.

One full flow per test (upload -> READY -> finals, and failure paths), with everything our handlers
write to stdout captured at the file-descriptor level (their JSON log lines and metrics).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local.stack.stack import Stack

pytestmark = pytest.mark.integration

SIGNATURE = re.compile(r"(X-Amz-Signature|Signature)=", re.IGNORECASE)


def our_log_lines(captured: str) -> list[str]:
    """The handlers' JSON log and metric lines (the stand-in's and the stack's own output aside)."""
    return [line for line in captured.splitlines() if '"service":"idphoto"' in line.replace(" ", "")]


def handed_out_signed_urls(answer: dict[str, Any]) -> list[str]:
    """Signed URLs an answer may carry by design: our finals' and the vendor's watermarked previews'."""
    urls = [f[k] for f in answer.get("finals", []) for k in ("photo_url", "sheet_url")]
    urls += [p[k] for p in answer.get("previews", []) for k in ("photo_url", "sheet_url")]
    return urls


def assert_clean(text: str, appcode: str, *, allowed: list[str]) -> None:
    assert appcode not in text
    for url in allowed:
        text = text.replace(url, "")
    assert not SIGNATURE.search(text), f"a signature outside the URLs handed out on purpose: {text[:500]}"


def test_a_full_flow_logs_and_answers_no_secret(
    stack: Stack, capfd: pytest.CaptureFixture[str], key: str, portrait: bytes
) -> None:
    full_key = stack.upload(key, portrait, {"background": "white|blue"})
    status = stack.wait_for_photo(full_key)
    finals = stack.finals(full_key)
    again = stack.finals(full_key, "blue")
    missing = stack.photo(full_key + ".missing")
    bad_colour = stack.finals(full_key, "purple")

    logs = our_log_lines(capfd.readouterr().out)
    assert status["status"] == "READY" and finals.status_code == 200 and again.status_code == 200
    assert logs, "the handlers' log lines were not captured"
    for line in logs:
        assert_clean(line, stack.appcode, allowed=[])
    for answer in (status, finals.json(), again.json()):
        urls = handed_out_signed_urls(answer)
        assert all(
            "/finals/" in u or "result_wm" in u for u in urls
        )  # never the upload, never the vendor's final
        assert_clean(json.dumps(answer), stack.appcode, allowed=urls)
    for error in (missing, bad_colour):
        assert error.status_code in (400, 404)
        assert_clean(error.text, stack.appcode, allowed=[])


@pytest.mark.parametrize(
    "fault",
    [
        {"fail_next": {"count": 1, "code": 507, "call": "make"}},
        {"http_status_next": {"count": 3, "status": 503}},
    ],
    ids=["vendor-507", "vendor-503-then-ok"],
)
def test_vendor_failures_log_and_record_no_secret(
    stack: Stack, capfd: pytest.CaptureFixture[str], key: str, portrait: bytes, fault: dict[str, Any]
) -> None:
    stack.vendor_faults(fault)

    full_key = stack.upload(key, portrait)
    status = stack.wait_for_photo(full_key)

    logs = our_log_lines(capfd.readouterr().out)
    assert any("vendor" in line.lower() for line in logs)
    for line in logs:
        assert_clean(line, stack.appcode, allowed=[])
    assert_clean(json.dumps(status), stack.appcode, allowed=handed_out_signed_urls(status))


@pytest.fixture
def rejected_appcode(stack: Stack) -> Iterator[str]:
    """An AppCode the gateway refuses, in the secret (a cold start stands in for the cache expiry)."""
    secrets = stack.client("secretsmanager")
    name = stack.template.parameters["AppCodeSecretName"]
    wrong = "rejected-appcode-4c1f9e"
    secrets.put_secret_value(SecretId=name, SecretString=wrong)
    stack.cold_start()
    yield wrong
    secrets.put_secret_value(SecretId=name, SecretString=stack.appcode)
    stack.cold_start()


def test_a_refused_appcode_is_never_repeated_back(
    stack: Stack, rejected_appcode: str, capfd: pytest.CaptureFixture[str], key: str, portrait: bytes
) -> None:
    full_key = stack.upload(key, portrait)
    deadline = time.monotonic() + 60
    while True:  # 404 until make-photo has claimed the upload
        answer = stack.photo(full_key)
        assert answer.status_code in (200, 404), answer.text
        if answer.status_code == 200 and "waiting" in (status := answer.json()):
            break
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.2)

    logs = our_log_lines(capfd.readouterr().out)
    # A refused AppCode keeps the upload waiting in its queue, saying why (issue 21).
    assert (status["status"], status["waiting"]["code"]) == ("PROCESSING", "VENDOR_ACCOUNT")
    assert "A403AC" in status["waiting"]["reason"]
    for text in [*logs, json.dumps(status)]:
        assert_clean(text, rejected_appcode, allowed=[])
