"""The get-photo API over HTTP: SigV4-signed for a deployed stack, every error turned into a clear one.

The API answers errors as ``{"error": {"code", "message"}}``; API Gateway itself answers
``{"message": ...}`` (403 bad signature or unknown route, 429 throttled, 504 timeout). Each becomes an
:class:`ApiError` with the exit code a script can act on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode

import requests

from idphoto_cli.errors import CliError, Exit
from idphoto_cli.target import Target

TIMEOUT: Final = (5.0, 35.0)  # API Gateway gives up after 29 s
USER_AGENT: Final = "idphoto-cli"

# API error code -> exit code. Unknown codes fall back to the HTTP status (see ``exit_for``).
CODES: Final[dict[str, Exit]] = {
    "BAD_REQUEST": Exit.USAGE,
    "UNKNOWN_COLOR": Exit.USAGE,
    "PHOTO_NOT_FOUND": Exit.NOT_FOUND,
    "NOT_FOUND": Exit.NOT_FOUND,
    "PHOTO_FAILED": Exit.PHOTO_FAILED,
    "PHOTO_NOT_READY": Exit.TIMEOUT,
    "FINALS_IN_PROGRESS": Exit.TIMEOUT,
    "VENDOR_REJECTED": Exit.UNAVAILABLE,
    "VENDOR_GATEWAY": Exit.UNAVAILABLE,
    "VENDOR_UNAVAILABLE": Exit.UNAVAILABLE,
    "INTERNAL": Exit.UNAVAILABLE,
}
HINTS: Final[dict[str, str]] = {
    "PHOTO_NOT_FOUND": "check the key (as uploaded, with or without the upload prefix); a photo made "
    "from someone else's upload does not exist for you",
    "PHOTO_FAILED": "see `idphoto status KEY` for the reason",
    "UNKNOWN_COLOR": "see `idphoto status KEY` for the photo's colours",
    "VENDOR_UNAVAILABLE": "the vendor is unreachable; nothing was billed or kept: retry later",
    "VENDOR_GATEWAY": "the vendor's market gateway refused the call (AppCode or quota): tell the operator",
    "INTERNAL": "a bug in the API: the request id is in its logs",
}


class ApiError(CliError):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        retry_after: float | None = None,
        request_id: str = "",
    ) -> None:
        text = f"{code}: {message} (HTTP {status})" if code else f"{message} (HTTP {status})"
        hint = HINTS.get(code, "")
        if request_id and code == "INTERNAL":
            hint += f" (request id {request_id})"
        super().__init__(text, exit_for(status, code), hint)
        self.status = status
        self.code_name = code
        self.api_message = message
        self.retry_after = retry_after


def exit_for(status: int, code: str) -> Exit:
    if code in CODES:
        return CODES[code]
    if status == 404:
        return Exit.NOT_FOUND
    if status in (429,) or status >= 500:
        return Exit.UNAVAILABLE
    return Exit.USAGE


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


class PhotoApi:
    def __init__(self, target: Target, session: requests.Session | None = None) -> None:
        self.target = target
        self._http = session or requests.Session()
        self._http.headers["User-Agent"] = USER_AGENT
        self._credentials: Any = None
        if target.sign:
            self._credentials = target.session().get_credentials()
            if self._credentials is None:
                raise CliError(
                    "no AWS credentials to sign API requests with",
                    Exit.USAGE,
                    "configure them (aws configure, AWS_PROFILE, or environment variables)",
                )

    def url(self, route: str, key: str, query: dict[str, str] | None = None) -> str:
        url = f"{self.target.api_url}/{route}/{quote(key, safe='/')}"
        return f"{url}?{urlencode(query)}" if query else url

    def status(self, key: str) -> dict[str, Any]:
        return self._call("GET", self.url("photos", key)).body

    def status_with_headers(self, key: str) -> tuple[dict[str, Any], Mapping[str, str]]:
        """The status and the answer's headers (``idphoto check`` reads X-IdPhoto-Path-Decoding)."""
        response = self._send("GET", self.url("photos", key))
        return _answer(response).body, response.headers

    def finals(self, key: str, color: str | None = None) -> dict[str, Any]:
        return self._call("POST", self.url("finals", key, {"color": color} if color else None)).body

    def upload_form(self, content_type: str, filename: str, options: Mapping[str, str]) -> dict[str, Any]:
        """POST /uploads: a presigned POST form for one portrait (its options checked by the API)."""
        body = {"content_type": content_type, "filename": filename, "options": dict(options)}
        return self._call("POST", f"{self.target.api_url}/uploads", body=json.dumps(body).encode()).body

    def _call(self, method: str, url: str, attempts: int = 3, body: bytes = b"") -> Answer:
        """One request; throttling (429) is retried a few times, every other error raised."""
        for attempt in range(attempts):
            response = self._send(method, url, body)
            if response.status_code == 429 and attempt + 1 < attempts:
                time.sleep(_retry_after(response) or 1.0 * (attempt + 1))
                continue
            return _answer(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, url: str, body: bytes = b"") -> requests.Response:
        headers = {"Content-Type": "application/json"} if body else {}
        if self._credentials is not None:
            headers = self._signed_headers(method, url, body, headers)
        try:
            return self._http.request(method, url, headers=headers, data=body or None, timeout=TIMEOUT)
        except requests.ConnectionError as exc:
            hint = (
                "is the local stack up? run `make up`" if self.target.local else "check --api-url / the stack"
            )
            raise CliError(f"cannot reach the API at {self.target.api_url}", Exit.UNAVAILABLE, hint) from exc
        except requests.Timeout as exc:
            raise CliError(
                f"the API at {self.target.api_url} did not answer in time", Exit.UNAVAILABLE
            ) from exc

    def _signed_headers(
        self, method: str, url: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """SigV4 for API Gateway's IAM authorizer (service ``execute-api``), the body's hash included."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(
            method=method, url=url, data=body, headers={"User-Agent": USER_AGENT, **(headers or {})}
        )
        SigV4Auth(self._credentials.get_frozen_credentials(), "execute-api", self.target.region).add_auth(
            request
        )
        return dict(request.headers.items())


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _answer(response: requests.Response) -> Answer:
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = None
    if response.ok and isinstance(body, dict):
        return Answer(response.status_code, body)
    if not isinstance(body, dict):
        text = response.text.strip()[:200] or response.reason
        raise ApiError(response.status_code, "", f"unexpected answer: {text}")
    error = body.get("error")
    if isinstance(error, dict):  # the function's own error
        code, message = str(error.get("code", "")), str(error.get("message", ""))
    else:  # API Gateway's
        code, message = "", str(body.get("message", response.reason))
        if response.status_code == 403:
            message += ": check the API URL, and that your credentials may call it"
    raise ApiError(
        response.status_code,
        code,
        message,
        retry_after=_retry_after(response),
        request_id=response.headers.get("x-amzn-RequestId", ""),
    )
