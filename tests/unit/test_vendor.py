"""The vendor client against a scripted local HTTP server: real requests, real sockets, no sleeping.

Time is injected: ``FakeTime`` is both the client's clock and its sleep, so backoff pauses are recorded
and the deadline moves only when a test says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from idphoto.errors import GatewayError, VendorError, VendorRejected, VendorUnavailable
from idphoto.options import BackgroundColor, PhotoOptions
from idphoto.vendor import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    FINAL_PATH,
    MAKE_PATH,
    MAX_ATTEMPTS,
    FinalUrls,
    MadePhoto,
    VendorClient,
)
from tests.unit.vendor_server import Reply, VendorServer, closed_port, running_server

APPCODE = "0123456789abcdef0123456789abcdef"
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 7.5
PIC_URL = "https://bucket.s3.amazonaws.com/uploads/a.jpg?X-Amz-Signature=abc"
NAMES = ["89a58bd0dea511e9ab4900163e0aee01clothesblue", "89a58bd0dea511e9ab4900163e0aee01clotheswhite"]
PREVIEWS = [f"https://leqi.example/result_wm%2F{n}.jpg?Expires=1569317426" for n in NAMES]
SHEETS = [f"https://leqi.example/result_wm%2F{n}_print.jpg?Expires=1569317426" for n in NAMES]
MADE: dict[str, Any] = {
    "code": 200,
    "final_pic_name": NAMES,
    "wm_pic_url": PREVIEWS,
    "print_wm_pic_url": SHEETS,
    "one_sheet_num": 8,
}
FINAL_PHOTO = "https://leqi.example/result%2Fblue.jpg?Signature=s&Expires=1718868273"
FINAL_SHEET = "https://leqi.example/result%2Fblue_print.jpg?Signature=s&Expires=1718868273"
FINAL: dict[str, Any] = {"code": 200, "file_name": FINAL_PHOTO, "file_name_list": FINAL_SHEET}
OPTIONS = PhotoOptions(
    spec_id=25,
    width_px=295,
    background=(BackgroundColor("blue", 0x438EDB, 0x438EDB), BackgroundColor("white", 0xFFFFFF, 0xFFFFFF)),
)
DOCUMENTED_REJECTIONS = [400, 422, 423, 506, 507]


class FakeTime:
    """The client's clock and sleep: sleeping records the pause and moves the clock by it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class RecordingSession(requests.Session):
    """A real session that notes the timeouts it was given and can move the fake clock per request."""

    def __init__(self, time: FakeTime) -> None:
        super().__init__()
        self.time = time
        self.timeouts: list[Any] = []
        self.seconds_per_request = 0.0

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.timeouts.append(kwargs.get("timeout"))
        try:
            return super().request(method, url, *args, **kwargs)
        finally:
            self.time.now += self.seconds_per_request


class AppCode:
    """The secret, as a callable (it is re-read on every attempt)."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self) -> str:
        self.reads += 1
        return APPCODE


class PicUrl:
    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> str:
        self.asked.append(seconds)
        return PIC_URL


@pytest.fixture
def server() -> Iterator[VendorServer]:
    with running_server() as vendor:
        yield vendor


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def session(fake_time: FakeTime) -> Iterator[RecordingSession]:
    with RecordingSession(fake_time) as recording:
        yield recording


@pytest.fixture
def appcode() -> AppCode:
    return AppCode()


@pytest.fixture
def pic_url() -> PicUrl:
    return PicUrl()


ClientFactory = Callable[..., VendorClient]


@pytest.fixture
def make_client(fake_time: FakeTime, session: RecordingSession, appcode: AppCode) -> ClientFactory:
    def build(base_url: str, **kwargs: Any) -> VendorClient:
        return VendorClient(
            base_url,
            appcode,
            connect_timeout=CONNECT_TIMEOUT,
            session=session,
            sleep=fake_time.sleep,
            clock=fake_time.clock,
            **kwargs,
        )

    return build


@pytest.fixture
def client(server: VendorServer, make_client: ClientFactory) -> VendorClient:
    return make_client(server.url + "/")


def make(
    client: VendorClient,
    fake_time: FakeTime,
    pic_url: Callable[[float], str] = lambda s: PIC_URL,
    *,
    read_timeout: float = READ_TIMEOUT,
    deadline_in: float = 100.0,
) -> MadePhoto:
    return client.make_photo(
        pic_url, OPTIONS, read_timeout=read_timeout, deadline=fake_time.now + deadline_in
    )


def get_final(
    client: VendorClient,
    fake_time: FakeTime,
    *,
    read_timeout: float = READ_TIMEOUT,
    deadline_in: float = 100.0,
) -> FinalUrls:
    return client.get_final(NAMES[0], read_timeout=read_timeout, deadline=fake_time.now + deadline_in)


def call(kind: str, client: VendorClient, fake_time: FakeTime, **kwargs: Any) -> object:
    return make(client, fake_time, **kwargs) if kind == "make" else get_final(client, fake_time, **kwargs)


def assert_no_appcode(error: BaseException) -> None:
    for text in (str(error), repr(error), getattr(error, "message", "")):
        assert APPCODE not in text
        assert APPCODE[:12] not in text


def throttle(status: int = 403) -> Reply:
    return Reply(
        status,
        "",
        {"X-Ca-Error-Code": "A403FC", "X-Ca-Error-Message": "Throttled by APP Flow Control"},
    )


# --- success ----------------------------------------------------------------------------------------


def test_given_vendor_success_when_make_photo_then_body_headers_and_result_match_the_contract(
    server: VendorServer,
    client: VendorClient,
    fake_time: FakeTime,
    session: RecordingSession,
    pic_url: PicUrl,
) -> None:
    server.script(Reply(200, MADE))

    made = make(client, fake_time, pic_url)

    assert made == MadePhoto(NAMES, PREVIEWS, SHEETS, 8)
    [request] = server.received
    assert request.method == "POST"
    assert request.path == MAKE_PATH
    assert request.headers["authorization"] == f"APPCODE {APPCODE}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "pic_url": PIC_URL,
        "spec_id": 25,
        "width_px": 295,
        "background_color": [
            {"start_color": 4427483, "color_name": "blue", "enc_color": 4427483},
            {"start_color": 16777215, "color_name": "white", "enc_color": 16777215},
        ],
    }
    # The presigned URL lives as long as one attempt may take, and the read timeout is the caller's.
    assert pic_url.asked == [READ_TIMEOUT + CONNECT_TIMEOUT + 5]
    assert session.timeouts == [(CONNECT_TIMEOUT, READ_TIMEOUT)]
    assert client.stats.make_calls == 1
    assert client.stats.billed_calls == 0
    assert client.stats.retries == 0


def test_given_deadline_closer_than_read_timeout_when_make_photo_then_attempt_timeout_shrinks_to_fit(
    server: VendorServer,
    client: VendorClient,
    fake_time: FakeTime,
    session: RecordingSession,
    pic_url: PicUrl,
) -> None:
    server.script(Reply(200, MADE))

    make(client, fake_time, pic_url, read_timeout=30.0, deadline_in=6.0)

    assert session.timeouts == [(CONNECT_TIMEOUT, 5.0)]
    assert pic_url.asked == [5.0 + CONNECT_TIMEOUT + 5]


def test_given_vendor_success_when_get_final_then_file_name_is_sent_as_query_and_urls_returned(
    server: VendorServer, client: VendorClient, fake_time: FakeTime, session: RecordingSession
) -> None:
    server.script(Reply(200, FINAL))

    final = get_final(client, fake_time)

    assert final == FinalUrls(FINAL_PHOTO, FINAL_SHEET)
    [request] = server.received
    assert request.method == "GET"
    assert request.path == FINAL_PATH
    assert request.query == {"file_name": [NAMES[0]]}
    assert request.headers["authorization"] == f"APPCODE {APPCODE}"
    assert session.timeouts == [(CONNECT_TIMEOUT, READ_TIMEOUT)]
    assert client.stats.billed_calls == 1
    assert client.stats.make_calls == 0


def test_given_one_sheet_num_missing_when_make_photo_then_photo_is_still_made_with_count_zero(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    server.script(Reply(200, {k: v for k, v in MADE.items() if k != "one_sheet_num"}))

    assert make(client, fake_time).sheet_count == 0


# --- documented vendor codes -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["make", "final"])
@pytest.mark.parametrize("code", DOCUMENTED_REJECTIONS)
def test_given_documented_code_inside_http_200_when_called_then_vendor_rejected_without_retry(
    server: VendorServer, client: VendorClient, fake_time: FakeTime, kind: str, code: int
) -> None:
    server.script(then=Reply(200, {"code": code, "error": f"reason number {code}"}))

    with pytest.raises(VendorRejected) as caught:
        call(kind, client, fake_time)

    assert caught.value.vendor_code == code
    assert f"reason number {code}" in caught.value.message
    assert not caught.value.transient
    assert len(server.received) == 1
    assert fake_time.sleeps == []
    assert client.stats.retries == 0
    assert_no_appcode(caught.value)


@pytest.mark.parametrize("kind", ["make", "final"])
@pytest.mark.parametrize("code", DOCUMENTED_REJECTIONS)
def test_given_documented_code_as_http_status_with_json_body_when_called_then_vendor_rejected_without_retry(
    server: VendorServer, client: VendorClient, fake_time: FakeTime, kind: str, code: int
) -> None:
    server.script(then=Reply(code, {"code": code, "error": f"reason number {code}"}))

    with pytest.raises(VendorRejected) as caught:
        call(kind, client, fake_time)

    assert caught.value.vendor_code == code
    assert f"reason number {code}" in caught.value.message
    assert len(server.received) == 1
    assert client.stats.retries == 0
    assert_no_appcode(caught.value)


def test_given_rejection_without_error_field_when_make_photo_then_message_says_so(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    server.script(Reply(200, {"code": 422}))

    with pytest.raises(VendorRejected, match="no error message") as caught:
        make(client, fake_time)

    assert caught.value.vendor_code == 422


# --- the market gateway's own answers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (403, "A403IK", "Invalid AppCode"),
        (400, "A400AC", "Invalid AppCode `not exists`"),
        (403, "A403QE", "Quota Exhausted"),
        (403, "A403UA", "User Arrears"),
    ],
)
@pytest.mark.parametrize("kind", ["make", "final"])
def test_given_gateway_refuses_credentials_or_quota_when_called_then_permanent_gateway_error_without_retry(
    server: VendorServer,
    client: VendorClient,
    fake_time: FakeTime,
    kind: str,
    status: int,
    code: str,
    reason: str,
) -> None:
    server.script(then=Reply(status, "", {"X-Ca-Error-Code": code, "X-Ca-Error-Message": reason}))

    with pytest.raises(GatewayError) as caught:
        call(kind, client, fake_time)

    error = caught.value
    assert not error.transient
    assert error.gateway_code == code
    assert error.http_status == status
    assert reason in error.message
    assert len(server.received) == 1
    assert fake_time.sleeps == []
    assert_no_appcode(error)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(429, "", {"X-Ca-Error-Code": "X429TH", "X-Ca-Error-Message": "Too Many Requests"}),
        throttle(403),
        Reply(
            403, "", {"X-Ca-Error-Code": "A403GF", "X-Ca-Error-Message": "TThrottled by GROUP Flow Control"}
        ),
        Reply(503, "", {"X-Ca-Error-Code": "X503BZ", "X-Ca-Error-Message": "Service Busy"}),
        Reply(500, "", {"X-Ca-Error-Code": "X500ER", "X-Ca-Error-Message": "Internal Error"}),
    ],
    ids=["429", "app-flow-control", "group-flow-control", "503", "500"],
)
def test_given_gateway_throttles_or_fails_once_when_make_photo_then_retried_and_succeeds(
    server: VendorServer, client: VendorClient, fake_time: FakeTime, reply: Reply
) -> None:
    server.script(reply, Reply(200, MADE))

    made = make(client, fake_time)

    assert made.names == NAMES
    assert len(server.received) == 2
    assert len(fake_time.sleeps) == 1
    assert client.stats.retries == 1
    assert client.stats.make_calls == 2


def test_given_gateway_always_throttles_when_make_photo_then_transient_gateway_error_after_max_attempts(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    server.script(then=throttle())

    with pytest.raises(GatewayError) as caught:
        make(client, fake_time)

    assert caught.value.transient
    assert caught.value.reached_vendor is False
    assert len(server.received) == MAX_ATTEMPTS
    assert_no_appcode(caught.value)


# --- no usable answer: transient -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_given_http_5xx_without_gateway_header_when_make_photo_then_retried_then_success(
    server: VendorServer, client: VendorClient, fake_time: FakeTime, status: int
) -> None:
    server.script(Reply(status, "<html>Bad Gateway</html>", {"Content-Type": "text/html"}), Reply(200, MADE))

    assert make(client, fake_time).names == NAMES
    assert len(server.received) == 2
    assert client.stats.retries == 1


def test_given_malformed_json_with_http_200_when_make_photo_then_retried_then_success(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    server.script(Reply(200, '{"code": 200, "final_pic_name": ['), Reply(200, MADE))

    assert make(client, fake_time).names == NAMES
    assert len(server.received) == 2


@pytest.mark.parametrize(
    "body",
    [
        '{"code": "200"}',
        "[1, 2]",
        '{"code": true}',
        "",
    ],
    ids=["code-as-text", "not-an-object", "code-as-bool", "empty"],
)
def test_given_http_200_without_usable_code_when_make_photo_then_vendor_unavailable_after_retries(
    server: VendorServer, client: VendorClient, fake_time: FakeTime, body: str
) -> None:
    server.script(then=Reply(200, body))

    with pytest.raises(VendorUnavailable):
        make(client, fake_time)

    assert len(server.received) == MAX_ATTEMPTS


@pytest.mark.parametrize(
    "missing",
    [
        {"final_pic_name": None},
        {"final_pic_name": []},
        {"wm_pic_url": None},
        {"print_wm_pic_url": None},
        {"final_pic_name": "not-a-list"},
        {"wm_pic_url": [1, 2]},
    ],
    ids=["no-names", "empty-names", "no-previews", "no-sheets", "names-not-list", "previews-not-strings"],
)
def test_given_code_200_without_image_lists_when_make_photo_then_vendor_unavailable(
    server: VendorServer, client: VendorClient, fake_time: FakeTime, missing: dict[str, Any]
) -> None:
    body = {**MADE, **missing}
    server.script(then=Reply(200, {k: v for k, v in body.items() if v is not None}))

    with pytest.raises(VendorUnavailable, match="lacks the image lists"):
        make(client, fake_time)


def test_given_image_lists_of_unequal_length_when_make_photo_then_vendor_unavailable(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    server.script(then=Reply(200, {**MADE, "print_wm_pic_url": SHEETS[:1]}))

    with pytest.raises(VendorUnavailable, match="differ in length"):
        make(client, fake_time)


@pytest.mark.parametrize(
    "body",
    [
        {"code": 200},
        {"code": 200, "file_name": "ftp://x", "file_name_list": "https://x"},
        {"code": 200, "file_name": FINAL_PHOTO},
    ],
    ids=["no-urls", "not-http", "no-sheet"],
)
def test_given_code_200_without_final_urls_when_get_final_then_vendor_unavailable(
    server: VendorServer, client: VendorClient, fake_time: FakeTime, body: dict[str, Any]
) -> None:
    server.script(Reply(200, body))

    with pytest.raises(VendorUnavailable, match="watermark-free URLs"):
        get_final(client, fake_time)


def test_given_vendor_slower_than_read_timeout_when_make_photo_then_vendor_unavailable_after_each_attempt(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    server.script(then=Reply(200, MADE, delay=1.0))

    with pytest.raises(VendorUnavailable) as caught:
        make(client, fake_time, read_timeout=0.1)

    assert caught.value.reached_vendor is True
    assert len(server.received) == MAX_ATTEMPTS
    assert_no_appcode(caught.value)


def test_given_one_slow_answer_when_make_photo_then_timeout_is_retried_and_succeeds(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    server.script(Reply(200, MADE, delay=1.0), Reply(200, MADE))

    assert make(client, fake_time, read_timeout=0.1).names == NAMES
    assert len(server.received) == 2


def test_given_closed_port_when_make_photo_then_unavailable_and_known_not_to_have_reached_the_vendor(
    make_client: ClientFactory, fake_time: FakeTime
) -> None:
    client = make_client(f"http://127.0.0.1:{closed_port()}")

    with pytest.raises(VendorUnavailable) as caught:
        make(client, fake_time)

    assert caught.value.reached_vendor is False
    assert client.stats.make_calls == MAX_ATTEMPTS
    assert client.stats.retries == MAX_ATTEMPTS - 1
    assert_no_appcode(caught.value)


def test_given_connection_dropped_after_request_when_make_photo_then_retried(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    server.script(Reply(drop=True), Reply(200, MADE))

    assert make(client, fake_time).names == NAMES
    assert len(server.received) == 2


# --- retry limits -----------------------------------------------------------------------------------


def test_given_vendor_always_503_when_make_photo_then_stops_after_max_attempts_with_bounded_backoff(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    server.script(then=Reply(503, {"code": 503, "error": "busy"}))

    with pytest.raises(VendorUnavailable) as caught:
        make(client, fake_time, deadline_in=1000.0)

    assert caught.value.vendor_code == 503
    assert len(server.received) == MAX_ATTEMPTS
    assert client.stats.make_calls == MAX_ATTEMPTS
    assert client.stats.retries == MAX_ATTEMPTS - 1
    assert len(fake_time.sleeps) == MAX_ATTEMPTS - 1
    for number, pause in enumerate(fake_time.sleeps, start=1):
        assert 0 <= pause <= min(BACKOFF_CAP, BACKOFF_BASE * 2**number)


def test_given_deadline_nearly_spent_when_make_photo_then_no_request_is_sent(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    server.script(then=Reply(200, MADE))

    with pytest.raises(VendorUnavailable, match="no time left"):
        make(client, fake_time, deadline_in=2.5)

    assert server.received == []
    assert client.stats.make_calls == 0


def test_given_each_attempt_takes_4s_and_deadline_in_10s_when_vendor_keeps_failing_then_stops_after_two(
    server: VendorServer, client: VendorClient, fake_time: FakeTime, session: RecordingSession
) -> None:
    # t=0 first attempt, t=4 fails; pause <= 1 s; second attempt at t<=5 ends at t<=9: no room for a third
    # (one needs 2 s + connect timeout before the deadline), whatever the random pause was.
    session.seconds_per_request = 4.0
    server.script(then=Reply(503, {"code": 503, "error": "busy"}))

    with pytest.raises(VendorUnavailable, match="vendor code 503"):
        make(client, fake_time, deadline_in=10.0)

    assert len(server.received) == 2
    assert client.stats.retries == 1
    # The second attempt's read timeout was cut to the time left.
    assert session.timeouts[1][1] <= 10.0 - 4.0 - CONNECT_TIMEOUT


def test_given_appcode_rotates_when_retrying_then_each_attempt_reads_it_again(
    server: VendorServer, client: VendorClient, fake_time: FakeTime, appcode: AppCode
) -> None:
    server.script(Reply(503, ""), Reply(200, MADE))

    make(client, fake_time)

    assert appcode.reads == 2


# --- the billed call ------------------------------------------------------------------------------------


def test_given_billed_call_when_vendor_answers_503_then_not_retried(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    server.script(Reply(503, "Service Unavailable", {"Content-Type": "text/plain"}), Reply(200, FINAL))

    with pytest.raises(VendorUnavailable) as caught:
        get_final(client, fake_time)

    assert caught.value.reached_vendor is True
    assert len(server.received) == 1
    assert client.stats.billed_calls == 1
    assert client.stats.retries == 0


def test_given_billed_call_when_vendor_answers_too_slowly_then_not_retried(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    server.script(Reply(200, FINAL, delay=1.0), Reply(200, FINAL))

    with pytest.raises(VendorUnavailable) as caught:
        get_final(client, fake_time, read_timeout=0.1)

    assert caught.value.reached_vendor is True
    assert len(server.received) == 1
    assert client.stats.billed_calls == 1


def test_given_billed_call_when_connection_dropped_after_request_then_not_retried(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    server.script(Reply(drop=True), Reply(200, FINAL))

    with pytest.raises(VendorUnavailable) as caught:
        get_final(client, fake_time)

    assert caught.value.reached_vendor is True
    assert len(server.received) == 1


def test_given_billed_call_when_malformed_json_then_not_retried(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    server.script(Reply(200, "{not json"), Reply(200, FINAL))

    with pytest.raises(VendorUnavailable):
        get_final(client, fake_time)

    assert len(server.received) == 1


def test_given_billed_call_when_gateway_throttles_then_retried_and_succeeds(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    server.script(throttle(), Reply(200, FINAL))

    final = get_final(client, fake_time)

    assert final.photo_url == FINAL_PHOTO
    assert len(server.received) == 2
    assert client.stats.billed_calls == 2
    assert client.stats.retries == 1


def test_given_billed_call_when_port_closed_then_retried_up_to_max_attempts(
    make_client: ClientFactory, fake_time: FakeTime
) -> None:
    client = make_client(f"http://127.0.0.1:{closed_port()}")

    with pytest.raises(VendorUnavailable) as caught:
        get_final(client, fake_time)

    assert caught.value.reached_vendor is False
    assert client.stats.retries == MAX_ATTEMPTS - 1


def test_given_billed_call_when_gateway_reports_backend_timeout_then_not_retried(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    # D504TO: the gateway forwarded the request and gave up waiting for the vendor, so the vendor may
    # have made (and billed) the watermark-free photo: repeating it could pay twice.
    server.script(
        Reply(504, "", {"X-Ca-Error-Code": "D504TO", "X-Ca-Error-Message": "Backend service timeout"}),
        Reply(200, FINAL),
    )

    with pytest.raises(VendorError) as caught:
        get_final(client, fake_time)

    assert caught.value.transient
    assert caught.value.reached_vendor is True
    assert len(server.received) == 1


# --- the secret stays secret --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        Reply(
            400,
            "",
            {
                "X-Ca-Error-Code": "I400HD",
                "X-Ca-Error-Message": f"Invalid Header `Authorization` APPCODE {APPCODE}",
            },
        ),
        Reply(200, {"code": 400, "error": f"illegal request: Authorization=APPCODE {APPCODE}"}),
        Reply(422, {"code": 422, "error": f"unknown parameter appcode={APPCODE}"}),
    ],
    ids=["gateway-echo", "vendor-echo-200", "vendor-echo-422"],
)
def test_given_an_answer_that_echoes_the_appcode_when_make_photo_fails_then_error_message_omits_it(
    server: VendorServer, client: VendorClient, fake_time: FakeTime, reply: Reply
) -> None:
    server.script(then=reply)

    with pytest.raises(VendorError) as caught:
        make(client, fake_time)

    assert_no_appcode(caught.value)


def test_given_a_mix_of_calls_when_counting_then_stats_count_every_attempt_and_retry(
    server: VendorServer, client: VendorClient, fake_time: FakeTime
) -> None:
    server.script(Reply(502, ""), Reply(200, MADE), throttle(), Reply(200, FINAL), Reply(200, FINAL))

    make(client, fake_time)
    get_final(client, fake_time)
    get_final(client, fake_time)

    assert (client.stats.make_calls, client.stats.billed_calls, client.stats.retries) == (2, 3, 2)
