"""``idphoto check`` against the local stack: green when it works, the right advice when it is broken."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from idphoto_cli import check
from idphoto_cli.main import main
from local.stack import Stack
from local.stack.apigateway import PATH_PARAMETERS_ENV

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
