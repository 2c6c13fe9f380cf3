"""``idphoto check``'s advice: each failure a deployment can show maps to what to fix."""

from __future__ import annotations

import io
from typing import Any, cast

import pytest

from idphoto_cli import check, commands
from idphoto_cli.api import ApiError, PhotoApi


@pytest.mark.parametrize(
    ("status", "advice"),
    [
        (403, check.ADVICE_FORBIDDEN),  # API Gateway: no execute-api:Invoke for the caller
        (500, check.ADVICE_INVOKE),  # API Gateway cannot invoke the function (its credentials)
        (502, check.ADVICE_INVOKE),
    ],
)
def test_gateway_answers_map_to_the_permission_to_fix(status: int, advice: str) -> None:
    assert check.advice_for_api_error(ApiError(status, "", "Internal server error")) == advice


def test_the_functions_own_500_is_a_bug_not_a_permission() -> None:
    advice = check.advice_for_api_error(ApiError(500, "INTERNAL", "internal error"))

    assert advice not in (check.ADVICE_INVOKE, check.ADVICE_FORBIDDEN)
    assert "bug" in advice


@pytest.mark.parametrize(
    ("record", "advice"),
    [
        (
            {"status": "FAILED", "error": {"code": "VENDOR_GATEWAY", "message": "Invalid AppCode"}},
            check.ADVICE_APPCODE,
        ),
        (
            {"status": "FAILED", "error": {"code": "VENDOR_ACCOUNT", "message": "refused our account"}},
            check.ADVICE_APPCODE,
        ),
        ({"status": "PROCESSING", "last_error": "VENDOR_GATEWAY: quota exhausted"}, check.ADVICE_APPCODE),
        (
            {"status": "FAILED", "error": {"code": "VENDOR_REJECTED", "message": "x", "vendor_code": 507}},
            check.ADVICE_FETCH,
        ),
        (
            {
                "status": "PROCESSING",
                "last_error": "ResourceNotFoundException: no such entry idphoto/appcode",
            },
            check.ADVICE_NO_APPCODE,
        ),
    ],
)
def test_records_map_to_what_to_fix(record: dict[str, Any], advice: str) -> None:
    assert check.advice_for_record(record) == advice


class GatewayRefuses:
    """API Gateway that may not invoke get-photo: 500 without a ``code`` on every status."""

    def __init__(self) -> None:
        self.calls = 0

    def status(self, key: str) -> dict[str, Any]:
        self.calls += 1
        raise ApiError(500, "", "Internal server error")


def test_a_gateway_500_ends_the_wait_at_once_with_the_invoke_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    """A configuration error does not heal by waiting: ``idphoto check`` must not poll it until the timeout."""
    api = GatewayRefuses()
    now = iter(range(10_000))
    monkeypatch.setattr("idphoto_cli.commands.time.sleep", lambda seconds: None)

    with pytest.raises(ApiError) as raised:
        commands.wait_for(
            cast(PhotoApi, api), ["a.jpg", "b.jpg"], 90.0, io.StringIO(), clock=lambda: next(now)
        )

    assert api.calls == 1
    assert check.advice_for_api_error(raised.value) == check.ADVICE_INVOKE
