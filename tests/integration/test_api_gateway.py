"""The local API Gateway: the template's routes under the stage, and API Gateway's own answers."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests

from local.stack import Stack
from local.stack.apigateway import PATH_PARAMETERS_ENV

pytestmark = pytest.mark.integration


def test_the_api_url_carries_the_template_stage(stack: Stack) -> None:
    assert stack.api_url.endswith("/" + stack.template.apis[0].stage)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nothing-here"),
        ("GET", "/photos"),  # {key+} needs at least one character
        ("GET", "/"),
        ("DELETE", "/photos/uploads/a.jpg"),  # a declared path, an undeclared method
        ("GET", "/finals/uploads/a.jpg"),
        ("POST", "/photos/uploads/a.jpg"),
    ],
)
def test_undeclared_routes_get_api_gateways_missing_token_answer(
    stack: Stack, method: str, path: str
) -> None:
    answer = requests.request(method, stack.api_url + path, timeout=10)

    assert answer.status_code == 403
    assert answer.json() == {"message": "Missing Authentication Token"}
    assert answer.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_an_unknown_stage_is_forbidden(stack: Stack) -> None:
    base = stack.api_url.rsplit("/", 1)[0]

    answer = requests.get(f"{base}/prod/photos/uploads/a.jpg", timeout=10)

    assert answer.status_code == 403
    assert answer.json() == {"message": "Forbidden"}


def test_path_parameters_are_decoded_once_and_plus_stays_plus(stack: Stack, portrait: bytes) -> None:
    full_key = stack.upload("it/api/a b+c é.jpg", portrait)
    stack.wait_for_photo(full_key)

    answer = requests.get(f"{stack.api_url}/photos/uploads/it/api/a%20b+c%20%C3%A9.jpg", timeout=10)

    assert answer.status_code == 200
    assert answer.json()["key"] == full_key
    assert answer.headers["x-amzn-RequestId"]


def test_the_key_may_leave_out_the_upload_prefix(stack: Stack, portrait: bytes) -> None:
    full_key = stack.upload("it/api/short.jpg", portrait)
    stack.wait_for_photo(full_key)

    answer = requests.get(f"{stack.api_url}/photos/it/api/short.jpg", timeout=10)

    assert answer.status_code == 200
    assert answer.json()["key"] == full_key


def test_a_bad_color_query_is_a_400_from_the_function(stack: Stack) -> None:
    answer = requests.post(f"{stack.api_url}/finals/uploads/a.jpg", params={"color": "NOT OK"}, timeout=10)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    "name",
    ["a b+c.jpg", "100% sure.jpg", "100%25 text.jpg", "a%20b.jpg", "证件照 张三.jpg", "deep/er/x y.jpg"],
)
def test_keys_work_through_every_route_whether_path_parameters_come_decoded_or_encoded(
    stack: Stack, portrait: bytes, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    full_key = stack.upload(f"it/keys/{name}", portrait)
    stack.wait_for_photo(full_key)
    encoded = quote(full_key, safe="/")

    for mode in ("decoded", "encoded"):
        monkeypatch.setenv(PATH_PARAMETERS_ENV, mode)
        status = requests.get(f"{stack.api_url}/photos/{encoded}", timeout=10)
        finals = requests.post(f"{stack.api_url}/finals/{encoded}", timeout=30)

        assert (status.status_code, status.json()["key"]) == (200, full_key), mode
        assert (finals.status_code, finals.json()["key"]) == (200, full_key), mode
        assert status.headers["X-IdPhoto-Path-Decoding"] == mode
