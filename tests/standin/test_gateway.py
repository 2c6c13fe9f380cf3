"""API.md "Authentication": the market gateway answers some requests itself, with X-Ca-Error-* headers."""

from collections.abc import Callable
from typing import Any

import pytest
import requests

from .support import GET, MAKE, Client


def assert_gateway(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["X-Ca-Error-Code"] == code
    assert len(response.headers["X-Ca-Error-Code"]) == 6
    assert response.headers["X-Ca-Error-Message"]
    assert response.content == b""  # never the vendor's JSON


def test_missing_appcode_is_401_from_gateway(client: Client, body: Callable[..., dict[str, Any]]) -> None:
    response = client.http.post(client.base + MAKE, json=body())
    assert_gateway(response, 401, "A401AC")


def test_wrong_appcode_is_403_from_gateway(client: Client, body: Callable[..., dict[str, Any]]) -> None:
    assert_gateway(client.make(body(), appcode="not-the-code"), 403, "A403AC")


@pytest.mark.parametrize("header", ["Bearer test-appcode-0000", "APPCODE", "appcode test-appcode-0000", ""])
def test_malformed_authorization_counts_as_missing(client: Client, header: str) -> None:
    response = client.http.get(
        client.base + GET, params={"file_name": "x"}, headers={"Authorization": header}
    )
    assert_gateway(response, 401, "A401AC")


def test_get_pic_requires_appcode_too(client: Client) -> None:
    response = client.http.get(client.base + GET, params={"file_name": "x"})
    assert_gateway(response, 401, "A401AC")
    stats = client.admin("stats")
    assert stats["gateway_errors"] == {"A401AC": 1}
    assert stats["billed_calls"] == 0
    assert stats["get_codes"] == {}


def test_vendor_answers_carry_no_gateway_error_code(client: Client) -> None:
    response = client.get_pic("no-such-name")
    assert response.status_code == 200
    assert not response.headers.get("X-Ca-Error-Code")
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["code"] == 422


def test_unknown_path_and_wrong_method_are_gateway_answers(client: Client) -> None:
    assert_gateway(client.http.get(client.base + "/aliyun_api/nope", headers=client.auth()), 404, "I404NF")
    assert_gateway(client.http.get(client.base + MAKE, headers=client.auth()), 405, "I405UM")
    assert_gateway(client.http.post(client.base + GET, headers=client.auth()), 405, "I405UM")


def test_oversized_body_is_refused_by_gateway(client: Client) -> None:
    response = client.http.post(
        client.base + MAKE, data=b"x" * ((1 << 20) + 1), headers=client.auth(), timeout=10
    )
    assert_gateway(response, 413, "I413RL")
