"""``idphoto check`` against the local stack: green when it works, the right advice when it is broken."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from idphoto_cli import check
from idphoto_cli.errors import Exit
from idphoto_cli.main import main
from local.stack import Stack
from local.stack.api import LocalApi
from local.stack.apigateway import PATH_PARAMETERS_ENV
from local.stack.invoke_access import InvokeAccess
from local.stack.template import CALLER_CREDENTIALS, FunctionSpec

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def local_ports(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDPHOTO_AWS_PORT", str(urlsplit(stack.aws_url).port))
    monkeypatch.setenv("IDPHOTO_API_PORT", str(urlsplit(stack.api_url).port))


@pytest.fixture
def portrait_file(tmp_path: Path, portrait: bytes) -> Path:
    path = tmp_path / "me.jpg"
    path.write_bytes(portrait)
    return path


def run_check(*argv: str) -> tuple[int, dict[str, Any], str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["check", *argv, "--json", "--timeout", "90"], stdout=stdout, stderr=stderr)
    return code, json.loads(stdout.getvalue()), stderr.getvalue()


@pytest.mark.parametrize("mode", ["decoded", "encoded"])
def test_check_passes_against_the_local_stack_and_reports_the_decoding(
    stack: Stack, portrait_file: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv(PATH_PARAMETERS_ENV, mode)
    before = stack.vendor_stats()

    code, report, err = run_check(str(portrait_file))

    assert code == 0, err
    assert report["ok"] is True and report["path_decoding"] == [mode]
    assert [s["step"] for s in report["steps"] if s["ok"]].count("photo") == len(check.NAMES)
    assert stack.vendor_stats()["billed_calls"] == before["billed_calls"]  # no finals without --finals


def test_check_with_finals_fetches_them(stack: Stack, portrait_file: Path) -> None:
    before = stack.vendor_stats()

    code, report, err = run_check(str(portrait_file), "--finals")

    assert code == 0, err
    assert any(s["step"] == "finals" and "kept" in s["detail"] for s in report["steps"])
    assert stack.vendor_stats()["billed_calls"] > before["billed_calls"]


@pytest.fixture
def wrong_appcode(stack: Stack) -> Iterator[None]:
    """Rotate the secret to a wrong AppCode; the cold start stands in for the cache expiry (as in
    test_vendor_errors)."""
    secrets = stack.client("secretsmanager")
    name = stack.template.parameters["AppCodeSecretName"]
    secrets.put_secret_value(SecretId=name, SecretString="wrong-appcode")
    stack.cold_start()
    yield
    secrets.put_secret_value(SecretId=name, SecretString=stack.appcode)
    stack.cold_start()


def test_check_fails_with_appcode_advice_when_the_vendor_refuses_it(
    stack: Stack, wrong_appcode: None, portrait_file: Path
) -> None:
    code, report, err = run_check(str(portrait_file))

    assert code != 0
    failed = [s for s in report["steps"] if not s["ok"]]
    assert failed and all(s["advice"] == check.ADVICE_APPCODE for s in failed), err


def test_check_fails_with_fetch_advice_when_the_presigned_url_is_unreachable(
    stack: Stack, portrait_file: Path
) -> None:
    # The stand-in answers 507 ("cannot download pic_url") on every make call, as when it cannot fetch.
    stack.vendor_faults({"fail_next": {"count": 100, "code": 507, "call": "make"}})

    code, report, err = run_check(str(portrait_file))

    assert code == 2
    failed = [s for s in report["steps"] if not s["ok"]]
    assert failed and all(s["advice"] == check.ADVICE_FETCH for s in failed), err


GET_PHOTO = "GetPhotoFunction"


class CountedGetPhoto:
    """The running stack's own get-photo, its invocations counted."""

    def __init__(self, stack: Stack, spec: FunctionSpec) -> None:
        self._stack = stack
        self._lock = threading.Lock()
        self.spec = spec
        self.calls = 0

    def invoke(self, event: dict[str, Any], request_id: str | None = None) -> Any:
        with self._lock:
            self.calls += 1
        return self._stack.functions[GET_PHOTO].invoke(event, request_id)


@dataclasses.dataclass
class BrokenApi:
    api: LocalApi
    get_photo: CountedGetPhoto


@pytest.fixture
def broken_api(
    stack: Stack, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BrokenApi]:
    """A second API Gateway over the running stack, its get-photo the stack's real one, broken on purpose
    for the invoke permission (``request.param``; ``"intact"`` breaks nothing). The CLI is pointed at it;
    uploads still go to the stack's bucket, whose make-photo runs as usual. The running stack's objects
    are not changed (the specs are frozen copies, the access decisions a new cache)."""
    breakage: str = request.param
    # Only get-photo's routes: the check never uses POST /uploads (another function, not broken here).
    whole = stack.template.apis[0]
    api_spec = dataclasses.replace(
        whole, routes=tuple(r for r in whole.routes if r.function_logical_id == GET_PHOTO)
    )
    spec = stack.functions[GET_PHOTO].spec
    if breakage == "no permissions":  # the function's AWS::Lambda::Permission resources removed
        assert spec.permissions
        spec = dataclasses.replace(spec, permissions=())
    elif breakage == "caller credentials":  # the template before `InvokeRole: NONE`
        api_spec = dataclasses.replace(
            api_spec,
            routes=tuple(dataclasses.replace(r, credentials=CALLER_CREDENTIALS) for r in api_spec.routes),
        )
    else:
        assert breakage == "intact", breakage
    assert {route.function_logical_id for route in api_spec.routes} == {GET_PHOTO}
    pseudo = stack.template.pseudo
    access = InvokeAccess(
        stack.evaluator,
        region=pseudo.region,
        account_id=pseudo.account_id,
        roles={role.logical_id: role for role in stack.template.roles},
    )
    get_photo = CountedGetPhoto(stack, spec)
    api = LocalApi(
        api_spec,
        {GET_PHOTO: get_photo},
        account_id=pseudo.account_id,
        access=access,
        port=0,
    )
    try:
        monkeypatch.setenv("IDPHOTO_API_PORT", str(api.port))  # after local_ports: this API, not the stack's
        yield BrokenApi(api, get_photo)
    finally:
        api.stop()


@pytest.mark.parametrize("broken_api", ["no permissions", "caller credentials"], indirect=True)
def test_check_fails_with_invoke_advice_when_api_gateway_may_not_invoke_get_photo(
    stack: Stack, broken_api: BrokenApi, portrait_file: Path
) -> None:
    code, report, err = run_check(str(portrait_file))

    assert code == Exit.UNAVAILABLE, err
    assert report["ok"] is False
    steps = {s["step"]: s for s in report["steps"]}
    assert steps["upload"]["ok"] is True, err
    failed = [s for s in report["steps"] if not s["ok"]]
    assert [s["step"] for s in failed] == ["status"], err
    assert failed[0]["advice"] == check.ADVICE_INVOKE
    assert "HTTP 500" in failed[0]["detail"]
    assert broken_api.get_photo.calls == 0  # API Gateway refused before the function ran


@pytest.mark.parametrize("broken_api", ["intact"], indirect=True)
def test_the_second_api_unbroken_passes_the_check_through_the_real_get_photo(
    stack: Stack, broken_api: BrokenApi, portrait_file: Path
) -> None:
    """The control: the same harness with nothing broken passes, so the failures above are the breakage's."""
    code, report, err = run_check(str(portrait_file))

    assert code == Exit.OK, err
    assert report["ok"] is True
    assert broken_api.get_photo.calls >= len(check.NAMES)
