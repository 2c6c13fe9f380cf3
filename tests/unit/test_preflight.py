"""The deploy preflight: credentials and a stack name CloudFormation accepts, checked in a second.

Since issue 20 item 6 no resource name depends on the stack name in a way a valid stack name can break
(tests/unit/test_template_names.py), so the old bucket- and function-name checks are gone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ops import preflight
from ops.preflight import from_samconfig, main, stack_name_problem

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stack", ["idphoto", "a", "IdPhoto", "photos-2026", "A" + "x-" * 63 + "x"])
def test_every_name_cloudformation_takes_passes_upper_case_and_128_characters_included(stack: str) -> None:
    assert stack_name_problem(stack) is None
    assert main([f"--stack={stack}", "--config", "/nonexistent.toml"]) == 0


@pytest.mark.parametrize("stack", ["", "1photos", "id_photo", "id.photo", "-photos", "x" * 129])
def test_what_cloudformation_refuses_as_a_stack_name_is_refused(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stack_name_problem(stack) is not None
    assert main([f"--stack={stack}", "--config", "/nonexistent.toml"]) == 1
    assert "CloudFormation stack names" in capsys.readouterr().err


def test_the_stack_name_comes_from_samconfig(tmp_path: Path) -> None:
    config = tmp_path / "samconfig.toml"
    config.write_text(
        'version = 0.1\n[default.global.parameters]\nstack_name = "global-name"\n'
        '[default.deploy.parameters]\nstack_name = "deploy-name"\nregion = "eu-west-1"\n',
        encoding="utf-8",
    )
    assert from_samconfig(config) == "deploy-name"
    assert from_samconfig(tmp_path / "missing.toml") is None


def test_the_projects_samconfig_names_a_stack_that_passes() -> None:
    stack = from_samconfig(ROOT / "samconfig.toml")
    assert stack is not None
    assert main(["--config", str(ROOT / "samconfig.toml")]) == 0


def test_without_any_stack_name_the_guided_deploy_asks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(tmp_path / "none.toml")]) == 0
    assert "will ask" in capsys.readouterr().out


NO_CREDENTIALS = {
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def test_deploy_without_credentials_stops_before_sam_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in NO_CREDENTIALS.items():
        monkeypatch.setenv(name, value)

    code = preflight.main(["--stack", "idphoto", "--credentials"])

    assert code == 1
    assert "no AWS credentials found" in capsys.readouterr().err
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")  # pragma: allowlist secret
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-not-a-secret")  # pragma: allowlist secret
    assert preflight.main(["--stack", "idphoto", "--credentials"]) == 0


def test_make_deploy_checks_credentials_before_sam_build() -> None:
    recipe = (ROOT / "Makefile").read_text().split("\ndeploy:", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in recipe.splitlines()[1:]]

    check = next(i for i, line in enumerate(lines) if "ops.preflight" in line)
    build = next(i for i, line in enumerate(lines) if "build" in line.split())
    assert "--credentials" in lines[check] and check < build
