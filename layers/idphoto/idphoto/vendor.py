"""The vendor's ID-photo API (Leqi, sold through the Alibaba Cloud API market): both calls.

Contract: ``../shared/vendor/API.md``. Three kinds of answer must be told apart:

* the market gateway's own (header ``X-Ca-Error-Code`` set): credentials/quota are permanent until
  someone acts, throttling and 5xx are transient;
* the vendor's JSON ``code``, which may come as the HTTP status or inside an HTTP 200: 200 is success,
  400/422/423/506/507 are permanent for this input;
* no usable answer (timeout, connection error, 5xx, malformed body): transient.

Only ``get_pic_3`` is billed. It is retried only when the request certainly did not reach the vendor
(connection refused, or the gateway answered for it): a read timeout may already have been paid for.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import requests
from aws_lambda_powertools.metrics import MetricUnit

from idphoto.errors import GatewayError, VendorError, VendorRejected, VendorUnavailable
from idphoto.observability import count, count_by, logger, metrics
from idphoto.options import PhotoOptions
from idphoto.tracing import subsegment

MAKE_PATH: Final = "/aliyun_api/pic_handle_3"
FINAL_PATH: Final = "/get_pic_3"
PERMANENT_CODES: Final = frozenset({400, 422, 423, 506, 507})
MAX_ATTEMPTS: Final = 5
BACKOFF_BASE: Final = 0.5
BACKOFF_CAP: Final = 8.0
# Below this much time left, another attempt could not finish: give the time back to the platform.
MIN_ATTEMPT_SECONDS: Final = 2.0


@dataclass(frozen=True)
class MadePhoto:
    """pic_handle_3's answer: one entry per background colour, in the request's order."""

    names: list[str]
    previews: list[str]
    sheet_previews: list[str]
    sheet_count: int


@dataclass(frozen=True)
class FinalUrls:
    """get_pic_3's answer: expiring URLs of the watermark-free photo and print sheet."""

    photo_url: str
    sheet_url: str


@dataclass
class CallStats:
    """What this client sent, for metrics and benchmarks."""

    make_calls: int = 0
    billed_calls: int = 0
    retries: int = 0


class VendorClient:
    """One ``requests.Session`` (keep-alive to the gateway), explicit timeouts, bounded retries."""

    def __init__(
        self,
        base_url: str,
        appcode: Callable[[], str],
        *,
        connect_timeout: float = 3.05,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._appcode = appcode
        self._connect_timeout = connect_timeout
        self._session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock
        self.stats = CallStats()

    def make_photo(
        self,
        pic_url: Callable[[float], str],
        options: PhotoOptions,
        *,
        read_timeout: float,
        deadline: float,
    ) -> MadePhoto:
        """Free call. ``pic_url(seconds)`` presigns the source for as long as one attempt may take."""

        def attempt(timeout: float) -> dict[str, Any]:
            body = {"pic_url": pic_url(timeout + self._connect_timeout + 5), **options.to_vendor()}
            self.stats.make_calls += 1
            return self._send("POST", MAKE_PATH, timeout, json=body)

        answer = self._with_retries(attempt, read_timeout, deadline, billed=False)
        return _made_photo(answer)

    def get_final(self, name: str, *, read_timeout: float, deadline: float) -> FinalUrls:
        """BILLED call: one per final image; callers keep the result so it is never asked twice."""

        def attempt(timeout: float) -> dict[str, Any]:
            self.stats.billed_calls += 1
            count("BilledCalls")
            return self._send("GET", FINAL_PATH, timeout, params={"file_name": name})

        answer = self._with_retries(attempt, read_timeout, deadline, billed=True)
        return _final_urls(answer)

    # --- transport ------------------------------------------------------------------------------

    def _send(self, method: str, path: str, read_timeout: float, **kwargs: Any) -> dict[str, Any]:
        appcode = self._appcode()
        started = self._clock()
        count("VendorCalls")
        with subsegment(f"vendor {path}", method, self._base_url + path) as traced:
            try:
                return self._exchange(method, path, read_timeout, appcode, **kwargs)
            except VendorError as exc:
                exc.redact(appcode)
                label = getattr(exc, "gateway_code", None) or str(exc.vendor_code or type(exc).__name__)
                traced.error, traced.fault = not exc.transient, exc.transient
                traced.throttle = "throttled" in exc.message
                traced.annotations["vendor_code"] = label
                count("VendorFailuresTotal")  # the alarm's numerator, beside the per-code breakdown
                count_by("VendorFailures", "code", label)
                raise
            finally:
                latency_ms = (self._clock() - started) * 1000
                metrics.add_metric(name="VendorLatency", unit=MetricUnit.Milliseconds, value=latency_ms)

    def _exchange(
        self, method: str, path: str, read_timeout: float, appcode: str, **kwargs: Any
    ) -> dict[str, Any]:
        headers = {"Authorization": f"APPCODE {appcode}", "Accept": "application/json"}
        try:
            response = self._session.request(
                method,
                self._base_url + path,
                headers=headers,
                timeout=(self._connect_timeout, read_timeout),
                **kwargs,
            )
        except requests.ConnectionError as exc:
            # ConnectTimeout is a ConnectionError: the request never left. A ReadTimeout is not.
            reached = not isinstance(exc, requests.ConnectTimeout) and _may_have_reached(exc)
            raise VendorUnavailable(
                f"cannot reach the vendor ({type(exc).__name__})", reached_vendor=reached
            ) from None
        except requests.Timeout:
            raise VendorUnavailable(f"the vendor did not answer within {read_timeout:.0f} s") from None
        except requests.RequestException as exc:
            raise VendorUnavailable(f"request to the vendor failed ({type(exc).__name__})") from None
        return parse_answer(response)

    def _with_retries(
        self,
        attempt: Callable[[float], dict[str, Any]],
        read_timeout: float,
        deadline: float,
        *,
        billed: bool,
    ) -> dict[str, Any]:
        for number in range(1, MAX_ATTEMPTS + 1):
            left = deadline - self._clock()
            if left < MIN_ATTEMPT_SECONDS + self._connect_timeout:
                # Nothing was sent: even the billed call is certainly not charged.
                raise VendorUnavailable("no time left for another call to the vendor", reached_vendor=False)
            try:
                return attempt(min(read_timeout, left - self._connect_timeout))
            except VendorError as exc:
                if not exc.transient or number == MAX_ATTEMPTS:
                    raise
                if billed and exc.reached_vendor:
                    raise  # the vendor may have billed it: never pay twice automatically
                pause = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**number))  # noqa: S311
                if self._clock() + pause + MIN_ATTEMPT_SECONDS + self._connect_timeout > deadline:
                    raise
                self.stats.retries += 1
                count("VendorRetries")
                logger.warning("vendor call failed, retrying", extra={"error": exc.message, "pause": pause})
                self._sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover


def _may_have_reached(exc: requests.ConnectionError) -> bool:
    """Connection refused / DNS failures never reached the vendor; a reset mid-answer may have."""
    text = str(exc).lower()
    return not any(
        marker in text for marker in ("refused", "name or service not known", "failed to establish")
    )


# --- answers --------------------------------------------------------------------------------------


def parse_answer(response: requests.Response) -> dict[str, Any]:
    """The vendor's JSON for a 200 code, or the right error for everything else."""
    gateway_code = response.headers.get("X-Ca-Error-Code", "").strip()
    if gateway_code:
        raise _gateway_error(response, gateway_code)
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("code"), int) or isinstance(body["code"], bool):
        if status >= 500 or status in (200, 429):
            raise VendorUnavailable(
                f"the vendor answered HTTP {status} without a usable JSON body", http_status=status
            )
        raise VendorRejected(
            f"the vendor answered HTTP {status} without a usable JSON body", vendor_code=status
        )
    code: int = body["code"]
    if code == 200 and status == 200:
        return body
    message = str(body.get("error") or "no error message")[:500]
    effective = code if code != 200 else status
    if effective in PERMANENT_CODES or (400 <= effective < 500 and effective != 429):
        raise VendorRejected(f"vendor code {effective}: {message}", vendor_code=effective)
    raise VendorUnavailable(f"vendor code {effective}: {message}", vendor_code=effective)


def _gateway_error(response: requests.Response, code: str) -> GatewayError:
    reason = response.headers.get("X-Ca-Error-Message", "").strip()[:200] or "no message"
    status = response.status_code
    throttled = status == 429 or "throttl" in reason.lower() or code[1:4] == "429"
    transient = throttled or status >= 500
    kind = "throttled" if throttled else ("unavailable" if transient else "refused the request")
    return GatewayError(
        f"the API market's gateway {kind}: {code} {reason} (HTTP {status})",
        gateway_code=code,
        http_status=status,
        transient=transient,
        # 4xx answers (credentials, quota, throttling, bad request) stop at the gateway; a 5xx or a
        # backend code (D5xx: the backend timed out or failed) may come after the vendor got the call.
        reached_vendor=status >= 500 or code.startswith("D"),
    )


def _made_photo(body: dict[str, Any]) -> MadePhoto:
    names = _strings(body.get("final_pic_name"))
    previews = _strings(body.get("wm_pic_url"))
    sheets = _strings(body.get("print_wm_pic_url"))
    sheet_count = body.get("one_sheet_num")
    if not names or previews is None or sheets is None:
        raise VendorUnavailable("the vendor's answer lacks the image lists")
    if not len(names) == len(previews) == len(sheets):
        raise VendorUnavailable("the vendor's image lists differ in length")
    if not isinstance(sheet_count, int) or isinstance(sheet_count, bool):
        sheet_count = 0  # informational only; never worth failing a made photo for
    return MadePhoto(names, previews, sheets, sheet_count)


def _final_urls(body: dict[str, Any]) -> FinalUrls:
    photo, sheet = body.get("file_name"), body.get("file_name_list")
    if not isinstance(photo, str) or not isinstance(sheet, str) or not photo.startswith("http"):
        raise VendorUnavailable("the vendor's answer lacks the watermark-free URLs")
    return FinalUrls(photo, sheet)


def _strings(value: object) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    return None
