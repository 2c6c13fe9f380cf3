"""The API under hostile and careless requests: every answer is a JSON error with an accurate status,
never a stack trace, never a 5xx, and nothing is billed.

Two layers answer: API Gateway itself (undeclared routes and methods -> 403 ``Missing Authentication
Token``; payloads over 10 MB -> 413; malformed HTTP -> 400) and the get-photo function (``{"error":
{"code", "message"}}``). Paths are sent byte for byte (``http.client``, or a raw socket where even
``http.client`` refuses), so that no client normalises ``..`` or ``//`` away.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from local.stack import Stack, samples
from local.stack.api import MAX_BODY_BYTES

pytestmark = pytest.mark.integration

HOSTILE_DIR = "it/hostile"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


def send(stack: Stack, method: str, path: str, body: bytes | None = None, **headers: str) -> Answer:
    """One request with ``path`` (under the stage) exactly as given."""
    url = urlsplit(stack.api_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=40)
    try:
        connection.request(method, url.path + path, body=body, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def send_raw(stack: Stack, request: bytes) -> Answer:
    """Bytes on a socket, for what http.client will not send (control characters, bad framing)."""
    url = urlsplit(stack.api_url)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=40) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())


def assert_function_error(answer: Answer, status: int, code: str) -> dict[str, Any]:
    """The get-photo function's JSON error."""
    assert (answer.status, answer.headers.get("content-type")) == (status, "application/json"), answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert "Traceback" not in answer.text and 'File "' not in answer.text
    return error


def assert_gateway_error(answer: Answer, status: int, message: str) -> None:
    """API Gateway's own JSON error (``{"message": ...}``)."""
    assert answer.status == status, answer.text
    assert answer.headers.get("content-type") == "application/json"
    assert answer.json() == {"message": message}


@pytest.fixture(scope="module")
def ready_key(stack: Stack) -> str:
    key = stack.upload(f"{HOSTILE_DIR}/ready.jpg", samples.astronaut(), {"background": "white,blue"})
    assert stack.wait_for_photo(key)["status"] == "READY"
    return key


@pytest.fixture(scope="module")
def failed_key(stack: Stack) -> str:
    key = stack.upload(f"{HOSTILE_DIR}/failed.jpg", samples.not_an_image())
    assert stack.wait_for_photo(key)["status"] == "FAILED"
    return key


@pytest.fixture(autouse=True)
def nothing_billed(stack: Stack) -> Iterator[None]:
    before = stack.vendor_stats()["billed_calls"]
    yield
    assert stack.vendor_stats()["billed_calls"] == before


def path_of(key: str, route: str = "photos") -> str:
    return f"/{route}/{quote(key, safe='/')}"


# --- the photo and the colour ----------------------------------------------------------------------


@pytest.mark.parametrize(("method", "route"), [("GET", "photos"), ("POST", "finals")])
def test_unknown_photo_is_404(stack: Stack, method: str, route: str) -> None:
    answer = send(stack, method, path_of(f"{HOSTILE_DIR}/never-uploaded.jpg", route))

    error = assert_function_error(answer, 404, "PHOTO_NOT_FOUND")
    assert "never-uploaded.jpg" in error["message"]


@pytest.mark.parametrize(
    "color",
    [
        "NOT OK",
        "",
        "%00",
        "white%0Ablue",
        "' OR '1'='1",
        "white;DROP",
        "a" * 40,
        "../white",
        "\uff37hite",
        "#ffffff",
    ],
)
def test_malformed_colour_is_400_bad_request(stack: Stack, ready_key: str, color: str) -> None:
    answer = send(stack, "POST", f"{path_of(ready_key, 'finals')}?color={quote(color, safe='%')}")

    assert_function_error(answer, 400, "BAD_REQUEST")


def test_a_colour_the_photo_lacks_is_400_unknown_color(stack: Stack, ready_key: str) -> None:
    answer = send(stack, "POST", f"{path_of(ready_key, 'finals')}?color=red")

    error = assert_function_error(answer, 400, "UNKNOWN_COLOR")
    assert "white" in error["message"] and "blue" in error["message"]  # the colours it has


def test_finals_of_a_failed_photo_are_409_photo_failed(stack: Stack, failed_key: str) -> None:
    answer = send(stack, "POST", path_of(failed_key, "finals"))

    error = assert_function_error(answer, 409, "PHOTO_FAILED")
    assert "not a JPEG" in error["message"]
    status = send(stack, "GET", path_of(failed_key)).json()
    assert (status["status"], status["error"]["code"]) == ("FAILED", "UNSUPPORTED_OBJECT")


@contextmanager
def vendor_make_held(stack: Stack) -> Iterator[tuple[threading.Event, threading.Event]]:
    """The stand-in (in this process) holds each make call until released: (called, release). A photo
    then stays PROCESSING for as long as the test needs, on any machine (3 s of latency did not, on a
    loaded one). Held at most 60 s, and released on the way out whatever happened."""
    vendor = stack.standin.app.vendor
    called, release = threading.Event(), threading.Event()
    make = vendor.make

    def held(raw_body: bytes, **options: Any) -> dict[str, Any]:
        called.set()
        release.wait(60)
        answer: dict[str, Any] = make(raw_body, **options)
        return answer

    vendor.make = held
    try:
        yield called, release
    finally:
        release.set()
        del vendor.make  # the class's method again


def test_finals_of_a_photo_still_being_made_are_409_not_ready(stack: Stack) -> None:
    with vendor_make_held(stack) as (called, release):
        key = stack.upload(f"{HOSTILE_DIR}/slow.jpg", samples.astronaut())
        assert called.wait(60)  # make-photo claimed the record and is at the vendor
        status = send(stack, "GET", path_of(key))
        assert status.json()["status"] == "PROCESSING"

        answer = send(stack, "POST", path_of(key, "finals"))

        assert_function_error(answer, 409, "PHOTO_NOT_READY")
        assert answer.headers.get("retry-after") == "5"
        release.set()
    assert stack.wait_for_photo(key)["status"] == "READY"


# --- methods -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "route"),
    [
        ("PUT", "photos"),
        ("DELETE", "photos"),
        ("PATCH", "finals"),
        ("OPTIONS", "finals"),
        ("GET", "finals"),
        ("POST", "photos"),
        ("TRACE", "photos"),
        ("FOO", "finals"),
    ],
)
def test_a_method_no_route_declares_gets_api_gateways_403(
    stack: Stack, ready_key: str, method: str, route: str
) -> None:
    answer = send(stack, method, path_of(ready_key, route))

    assert_gateway_error(answer, 403, "Missing Authentication Token")


# --- hostile paths -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        # Dot segments are part of an S3 key, never resolved: they must not reach the real photo.
        (f"/photos/uploads/{HOSTILE_DIR}/x/../ready.jpg", 404, "PHOTO_NOT_FOUND"),
        (f"/photos/uploads/{HOSTILE_DIR}/x/%2e%2e/ready.jpg", 404, "PHOTO_NOT_FOUND"),
        (f"/finals/uploads/{HOSTILE_DIR}/x/%2E%2E/ready.jpg", 404, "PHOTO_NOT_FOUND"),
        ("/photos/%2e%2e/%2e%2e/etc/passwd", 404, "PHOTO_NOT_FOUND"),
        (f"/photos/uploads//{HOSTILE_DIR}/ready.jpg", 404, "PHOTO_NOT_FOUND"),
        (f"/photos//uploads/{HOSTILE_DIR}/ready.jpg", 404, "PHOTO_NOT_FOUND"),
        (f"/photos/uploads/{HOSTILE_DIR}//ready.jpg", 404, "PHOTO_NOT_FOUND"),
        ("/photos/uploads/", 404, "PHOTO_NOT_FOUND"),
        ("/photos/%ff%fe.jpg", 400, "BAD_REQUEST"),  # not UTF-8 once decoded: no S3 key can be that
        # S3 keys are at most 1024 bytes; the function says so before looking anything up.
        ("/photos/uploads/" + "k" * 1100 + ".jpg", 400, "BAD_REQUEST"),
        ("/finals/" + "%41" * 2000, 400, "BAD_REQUEST"),
        ("/photos/uploads/a%00b.jpg", 400, "BAD_REQUEST"),
        ("/photos/uploads/a%0D%0AX-Injected:%201.jpg", 400, "BAD_REQUEST"),
        ("/finals/uploads/a%1Fb.jpg", 400, "BAD_REQUEST"),
    ],
)
def test_hostile_key_paths(stack: Stack, ready_key: str, path: str, status: int, code: str) -> None:
    method = "POST" if path.startswith("/finals/") else "GET"

    answer = send(stack, method, path)

    assert_function_error(answer, status, code)
    assert "x-injected" not in answer.headers


def test_the_real_photo_is_found_by_its_exact_key(stack: Stack, ready_key: str) -> None:
    """The control of the rows above: the same photo, asked for plainly, is there."""
    assert send(stack, "GET", path_of(ready_key)).status == 200


def test_a_raw_control_character_in_the_path_is_400(stack: Stack) -> None:
    answer = send_raw(stack, b"GET /v1/photos/uploads/a\x01b.jpg HTTP/1.1\r\nHost: x\r\n\r\n")

    assert_function_error(answer, 400, "BAD_REQUEST")


@pytest.mark.parametrize(
    ("request_bytes", "status", "message"),
    [
        (b"GET /v1/photos/uploads/a b.jpg HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Bad Request"),
        (b"GARBAGE\r\n\r\n", 400, "Bad Request"),
        (b"GET /v1/photos/" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "URI Too Long"),
    ],
    ids=["space-in-request-line", "no-request-line", "url-of-70-kb"],
)
def test_malformed_http_gets_a_json_answer_from_the_gateway(
    stack: Stack, request_bytes: bytes, status: int, message: str
) -> None:
    answer = send_raw(stack, request_bytes)

    assert_gateway_error(answer, status, message)
    assert answer.headers.get("connection") == "close"


# --- bodies --------------------------------------------------------------------------------------


def test_a_body_over_10_mb_is_413_like_api_gateway(stack: Stack, ready_key: str) -> None:
    answer = requests.post(
        stack.api_url + path_of(ready_key, "finals"), data=b"x" * (MAX_BODY_BYTES + 1), timeout=60
    )

    assert answer.status_code == 413
    assert answer.json() == {"message": "Request Too Long"}
    assert answer.headers["Connection"] == "close"  # the rest of the body is never read as a request


def test_a_body_of_exactly_10_mb_reaches_the_function(stack: Stack) -> None:
    answer = send(
        stack, "POST", path_of(f"{HOSTILE_DIR}/never-uploaded.jpg", "finals"), b"x" * MAX_BODY_BYTES
    )

    assert_function_error(answer, 404, "PHOTO_NOT_FOUND")


def test_a_chunked_body_over_10_mb_is_413(stack: Stack) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(11):
            yield b"y" * (1024 * 1024)

    answer = requests.post(stack.api_url + path_of("never.jpg", "finals"), data=chunks(), timeout=60)

    assert answer.status_code == 413
    assert answer.json() == {"message": "Request Too Long"}


def test_a_small_chunked_body_is_read_and_the_connection_stays_usable(stack: Stack) -> None:
    path = f"/v1{path_of(f'{HOSTILE_DIR}/never-uploaded.jpg', 'finals')}".encode()
    request = (
        b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    )
    url = urlsplit(stack.api_url)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=40) as sock:
        sock.sendall(
            request + b"GET " + path.replace(b"/finals/", b"/photos/") + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        answers = []
        for _ in range(2):  # two answers on one connection: the body did not leak into the next request
            response = http.client.HTTPResponse(sock)
            response.begin()
            answers.append((response.status, json.loads(response.read())["error"]["code"]))

    assert answers == [(404, "PHOTO_NOT_FOUND"), (404, "PHOTO_NOT_FOUND")]


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: abc\r\n",
        b"Content-Length: -5\r\n",
        b"Content-Length: 5\r\nContent-Length: 6\r\n",
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["not-a-number", "negative", "conflicting", "bad-chunk-size"],
)
def test_malformed_body_framing_is_400(stack: Stack, framing: bytes) -> None:
    request = b"POST /v1/finals/uploads/a.jpg HTTP/1.1\r\nHost: x\r\n" + framing
    if not framing.endswith(b"\r\n\r\nzz\r\n"):
        request += b"\r\nhello"

    answer = send_raw(stack, request)

    assert_gateway_error(
        answer, 400, "Invalid chunked body" if b"chunked" in framing else "Invalid Content-Length"
    )
    assert answer.headers.get("connection") == "close"


# --- query strings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "color=white&color=%27%20OR%201%3D1",  # API Gateway passes the last value on
        "color=%7B%22%24gt%22%3A%22%22%7D",
        "color=" + "w" * 5000,
        "color=white%00",
        "color=white%27%29%3B--",
    ],
)
def test_an_injected_colour_is_400(stack: Stack, ready_key: str, query: str) -> None:
    answer = send(stack, "POST", f"{path_of(ready_key, 'finals')}?{query}")

    assert_function_error(answer, 400, "BAD_REQUEST")


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("color[$ne]=x", "'color[$ne]'"),
        ("key=..%2F..%2Fetc%2Fpasswd", "'key'"),
        ("%00=%00", "'\\x00'"),
        ("a=1&" * 500, "'a'"),
        ("colour=white", "'colour' (did you mean 'color'?)"),
    ],
)
def test_unknown_query_parameters_are_refused_by_name(
    stack: Stack, ready_key: str, query: str, named: str
) -> None:
    """Never ignored: ``?colour=white`` read as "no colour" would fetch, and bill, every colour."""
    answer = send(stack, "POST", f"{path_of(ready_key, 'finals')}?{query}")

    error = assert_function_error(answer, 400, "BAD_REQUEST")
    assert named in error["message"]


def test_get_status_ignores_the_body_and_refuses_a_query(stack: Stack, ready_key: str) -> None:
    assert send(stack, "GET", path_of(ready_key), b'{"status":"x"}').json()["key"] == ready_key

    answer = send(stack, "GET", f"{path_of(ready_key)}?color=%27%20OR%201%3D1&status=READY")

    error = assert_function_error(answer, 400, "BAD_REQUEST")
    assert "'color'" in error["message"] and "'status'" in error["message"]
