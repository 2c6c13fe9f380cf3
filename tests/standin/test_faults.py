"""Fault injection through ``/_admin/faults`` and the code-as-HTTP-status switch."""

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from local.standin import start_server
from local.standin.gateway import TokenBucket
from local.standin.models import ensure_model

from .support import APPCODE, Client, Clock

Body = Callable[..., dict[str, Any]]
UNKNOWN = "0" * 32 + "clothesnone"  # get_pic_3 on it is a fast vendor 422


def test_latency_is_added_to_vendor_calls(client: Client) -> None:
    client.admin("faults", {"latency_ms": 300})
    started = time.monotonic()
    assert client.get_pic(UNKNOWN).json()["code"] == 422
    assert time.monotonic() - started >= 0.3


def test_fail_next_answers_the_code_count_times_for_its_call(client: Client, made: dict[str, Any]) -> None:
    client.admin("faults", {"fail_next": {"count": 2, "code": 507, "call": "get"}})
    name = made["final_pic_name"][0]
    for _ in range(2):
        answer = client.get_pic(name).json()
        assert answer["code"] == 507
        assert answer["error"]
    assert client.get_pic(name).json()["code"] == 200
    stats = client.admin("stats")
    assert stats["get_codes"] == {"507": 2, "200": 1}
    assert stats["billed_calls"] == 1


def test_fail_next_for_make_leaves_get_alone(client: Client, made: dict[str, Any]) -> None:
    client.admin("faults", {"fail_next": {"count": 1, "code": 506, "call": "make"}})
    assert client.get_pic(made["final_pic_name"][0]).json()["code"] == 200
    assert client.make({"spec_id": 1}).json()["code"] == 506
    assert client.admin("faults")["fail_next"] is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_http_status_next_is_a_bare_5xx_without_gateway_headers(client: Client, status: int) -> None:
    client.admin("faults", {"http_status_next": {"count": 1, "status": status}})
    response = client.get_pic(UNKNOWN)
    assert response.status_code == status
    assert not response.headers.get("X-Ca-Error-Code")
    with pytest.raises(ValueError, match="Expecting value"):
        response.json()
    assert client.get_pic(UNKNOWN).status_code == 200


def test_throttle_next_is_the_gateways_flow_control_answer(client: Client) -> None:
    client.admin("faults", {"throttle_next": {"count": 1}})
    response = client.get_pic(UNKNOWN)
    assert response.status_code == 429
    assert response.headers["X-Ca-Error-Code"] == "T429PR"
    assert response.headers["X-Ca-Error-Message"] == "Throttled by APP Flow Control"
    assert response.content == b""
    assert client.get_pic(UNKNOWN).status_code == 200
    assert client.admin("stats")["gateway_errors"] == {"T429PR": 1}


def test_rate_limit_throttles_beyond_the_bucket(client: Client) -> None:
    # One call in 1000 s: the calls beyond the first are refused however slowly this machine makes them.
    client.admin("faults", {"rate_limit_per_s": 0.001})
    statuses = [client.get_pic(UNKNOWN).status_code for _ in range(3)]
    assert statuses == [200, 429, 429]
    assert client.admin("stats")["gateway_errors"] == {"T429PR": 2}


def test_the_rate_limits_bucket_bursts_to_its_rate_and_refills_with_time() -> None:
    clock = Clock(100.0)
    bucket = TokenBucket(2, clock=clock)
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    clock.advance(0.49)
    assert bucket.take() is False
    clock.advance(0.01)  # one token back at 2 per second
    assert [bucket.take(), bucket.take()] == [True, False]
    clock.advance(60)  # never more than the burst
    assert [bucket.take() for _ in range(3)] == [True, True, False]


def test_throttle_every_refuses_by_count_whatever_the_pace(client: Client) -> None:
    client.admin("faults", {"throttle_every": {"every": 3, "call": "get"}})
    statuses = [client.get_pic(UNKNOWN).status_code for _ in range(7)]
    assert statuses == [200, 200, 429, 200, 200, 429, 200]
    assert client.admin("stats")["gateway_errors"] == {"T429PR": 2}
    assert client.admin("faults", {})["throttle_every"] == {"every": 3, "call": "get"}


def test_throttle_every_counts_only_its_call(client: Client) -> None:
    client.admin("faults", {"throttle_every": {"every": 2, "call": "make"}})
    assert [client.get_pic(UNKNOWN).status_code for _ in range(3)] == [200, 200, 200]


@pytest.mark.parametrize(
    "spec", [{"every": 1}, {"every": "3"}, {"count": 3}, {"every": 3, "call": "both"}, 3]
)
def test_throttle_every_refuses_a_bad_spec(client: Client, spec: object) -> None:
    response = client.http.post(client.base + "/_admin/faults", json={"throttle_every": spec})
    assert response.status_code == 400


def test_hang_next_outlasts_the_client_timeout_and_still_completes(
    client: Client, made: dict[str, Any]
) -> None:
    client.admin("faults", {"hang_next": {"count": 1, "seconds": 1.0, "call": "get"}})
    with pytest.raises(requests.Timeout):
        client.get_pic(made["final_pic_name"][0], timeout=0.3)
    # Like a real late answer, the timed-out call was still carried out, and billed: waited for (a
    # fixed sleep loses the race on a loaded machine), up to a generous bound.
    deadline = time.monotonic() + 60
    while (stats := client.admin("stats"))["billed_calls"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stats["injected"]["hang"] == 1
    assert stats["billed_calls"] == 1
    assert client.get_pic(UNKNOWN, timeout=5).json()["code"] == 422


def test_malformed_next_is_http_200_with_a_truncated_body(client: Client, body: Body) -> None:
    stored = client.admin("stats")["stored_results"]
    client.admin("faults", {"malformed_next": {"count": 1}})
    response = client.make(body())
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    stats = client.admin("stats")
    assert stats["injected"]["malformed"] == 1
    assert stats["stored_results"] == stored  # nothing was made
    assert stats["make_codes"] == {}


def test_code_as_http_status_toggle(client: Client) -> None:
    client.admin("faults", {"code_as_http_status": True})
    response = client.get_pic(UNKNOWN)
    assert response.status_code == 422
    assert response.json()["code"] == 422
    client.admin("config", {"code_as_http_status": False})
    assert client.get_pic(UNKNOWN).status_code == 200


def test_code_as_http_status_startup_flag() -> None:
    handle = start_server(port=0, appcode=APPCODE, model_path=ensure_model(), code_as_http_status=True)
    try:
        api = Client(handle.url)
        assert api.get_pic(UNKNOWN).status_code == 422
        assert api.admin("config")["code_as_http_status"] is True
        api.admin("reset", {})  # reset returns to the startup value, not to the default
        assert api.get_pic(UNKNOWN).status_code == 422
    finally:
        handle.stop()


def test_transient_rate_is_random_but_seeded(client: Client) -> None:
    def run() -> list[int]:
        client.admin("faults", {"transient_rate": {"rate": 0.5, "seed": 11}})
        return [client.get_pic(UNKNOWN).status_code for _ in range(12)]

    first, second = run(), run()
    assert first == second
    assert set(first) == {200, 503}
    client.admin("faults", {"transient_rate": {"rate": 1.0}})
    assert client.get_pic(UNKNOWN).status_code == 503
    client.admin("faults", {"transient_rate": None})
    assert client.get_pic(UNKNOWN).status_code == 200


def test_quota_runs_out_after_billed_calls(client: Client, made: dict[str, Any]) -> None:
    client.admin("faults", {"quota_remaining": 1})
    assert client.get_pic(made["final_pic_name"][0]).json()["code"] == 200
    refused = client.get_pic(made["final_pic_name"][0])
    assert refused.status_code == 403
    assert refused.headers["X-Ca-Error-Code"] == "B403MQ"
    assert client.make({"spec_id": 1}).status_code == 403
    assert client.admin("stats")["billed_calls"] == 1


def test_faults_are_listed_and_reset_clears_them(client: Client) -> None:
    shown = client.admin(
        "faults",
        {"latency_ms": 5, "fail_next": {"count": 3, "code": 422}, "rate_limit_per_s": 50, "hang_next": None},
    )
    assert shown["latency_ms"] == 5
    assert shown["fail_next"] == {"count": 3, "call": "any", "code": 422}
    assert shown["rate_limit_per_s"] == 50
    assert client.admin("faults")["fail_next"]["count"] == 3
    client.get_pic(UNKNOWN)
    assert client.admin("stats")["get_calls"] == 1
    client.admin("reset", {})
    cleared = client.admin("faults")
    assert cleared["latency_ms"] == 0
    assert cleared["fail_next"] is None
    assert cleared["rate_limit_per_s"] is None
    assert client.admin("stats")["get_calls"] == 0


@pytest.mark.parametrize(
    "spec",
    [
        {"fail_next": {"count": 1, "code": 200}},
        {"fail_next": {"count": 0, "code": 507}},
        {"http_status_next": {"count": 1, "status": 404}},
        {"hang_next": {"count": 1}},
        {"throttle_next": {"count": 1, "call": "both"}},
        {"latency_ms": -1},
        {"transient_rate": {"rate": 2}},
        {"code_as_http_status": 1},
        {"explode": True},
        {"explode": None},
    ],
)
def test_bad_fault_specs_are_rejected_whole(client: Client, spec: dict[str, Any]) -> None:
    response = client.http.post(client.base + "/_admin/faults", json={"latency_ms": 100, **spec})
    assert response.status_code == 400
    assert response.json()["error"]
    assert client.admin("faults")["latency_ms"] == 0  # nothing of a rejected update applies


@pytest.mark.parametrize("head", ["small", "large"])
def test_misframe_next_answers_a_photo_the_compliance_check_refuses_then_frames_well_again(
    client: Client, body: Body, head: str
) -> None:
    from idphoto import compliance, specs
    from idphoto.options import BackgroundColor, PhotoOptions

    spec = specs.CATALOGUE.get("passport-35x45")
    assert spec is not None and spec.ratios is not None
    request = body(spec_id=3, ratios=list(spec.ratios))
    options = PhotoOptions(
        spec_id=3, ratios=spec.ratios, background=(BackgroundColor("white", 0xFFFFFF, 0xFFFFFF),)
    )

    def report() -> compliance.Report:
        made = client.make(request).json()
        assert made["code"] == 200, made
        return compliance.measure(client.fetch(made["wm_pic_url"][0]).content, options, "white")

    client.admin("faults", {"misframe_next": {"count": 1, "head": head}})
    assert client.admin("faults")["misframe_next"] == {"count": 1, "call": "make", "head": head}
    misframed = report()
    assert "head_height" in [m.measure for m in misframed.failed]
    assert client.admin("faults")["misframe_next"] is None
    assert report().passed is True  # the fault is spent: the next photo is framed to the spec


def test_misframe_next_refuses_an_unknown_head(client: Client) -> None:
    with pytest.raises(AssertionError, match=r"misframe_next\.head must be one of small, large"):
        client.admin("faults", {"misframe_next": {"count": 1, "head": "medium"}})
