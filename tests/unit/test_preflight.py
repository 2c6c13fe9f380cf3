"""The stack-name preflight (issue 10, breaker 8a): names the deploy would fail on are refused up front."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops import preflight
from ops.preflight import (
    BUCKET_NAME,
    FUNCTION_NAMES,
    check,
    from_samconfig,
    longest_region,
    longest_stack_name,
    main,
)
from tests.template import resource, template

ROOT = Path(__file__).resolve().parents[2]


def _sub(logical_id: str, prop: str) -> str:
    value = resource(logical_id)["Properties"][prop]
    sub: str = value["Fn::Sub"] if "Fn::Sub" in value else value["Sub"]
    return sub


def test_the_names_checked_are_the_templates_names() -> None:
    # Given the template's named resources, when their names are written as preflight's patterns,
    # then they are the same, so preflight checks what CloudFormation will create.
    as_pattern = {
        "${AWS::StackName}": "{stack}",
        "${AWS::AccountId}": "{account}",
        "${AWS::Region}": "{region}",
    }

    def pattern(sub: str) -> str:
        for placeholder, field in as_pattern.items():
            sub = sub.replace(placeholder, field)
        return sub

    assert pattern(_sub("PhotoBucket", "BucketName")) == BUCKET_NAME
    named = {
        pattern(_sub(logical_id, "FunctionName"))
        for logical_id, spec in template()["Resources"].items()
        if spec["Type"] in ("AWS::Serverless::Function", "AWS::Lambda::Function")
        and "FunctionName" in spec.get("Properties", {})
    }
    assert named == set(FUNCTION_NAMES)


def test_the_longest_region_comes_from_botocore_and_is_at_least_the_commercial_ones() -> None:
    region = longest_region()
    assert len(region) >= len("ap-southeast-1")
    assert region.count("-") >= 2


@pytest.mark.parametrize("stack", ["idphoto", "a", "photos-2026", "x" * 27])
def test_a_short_lowercase_name_passes_in_the_longest_region(stack: str) -> None:
    assert check(stack, longest_region()) == []


def test_the_bucket_limit_is_63_characters() -> None:
    # "x" * 33 + "-photos-123456789012-us-east-1" is exactly 63.
    assert check("x" * 33, "us-east-1") == []
    problems = check("x" * 34, "us-east-1")
    assert [p.name for p in problems] == ["x" * 34 + "-photos-123456789012-us-east-1"]
    assert "64 characters; S3 allows 3 to 63" in problems[0].reason


def test_the_default_region_is_the_longest() -> None:
    region = longest_region()
    fits_everywhere = "x" * longest_stack_name(region)
    assert check(fits_everywhere, region) == []
    assert check(fits_everywhere + "x", region) != []
    assert main(["--stack", fits_everywhere + "x", "--config", "/nonexistent.toml"]) == 1


def test_an_uppercase_stack_name_makes_an_invalid_bucket_name() -> None:
    problems = check("IdPhoto", "us-east-1")
    assert len(problems) == 1
    assert problems[0].name == "IdPhoto-photos-123456789012-us-east-1"
    assert "lowercase" in problems[0].reason


@pytest.mark.parametrize("stack", ["xn--idphoto", "sthree-photos", "amzn-s3-demo-x"])
def test_a_reserved_bucket_prefix_is_refused(stack: str) -> None:
    assert [p.reason for p in check(stack, "us-east-1")] == [
        next(
            f"S3 reserves the prefix {p!r}"
            for p in ("xn--", "sthree-", "amzn-s3-demo-")
            if stack.startswith(p)
        )
    ]


@pytest.mark.parametrize("stack", ["", "1photos", "id_photo", "id.photo", "x" * 129])
def test_what_cloudformation_refuses_as_a_stack_name_is_refused_alone(stack: str) -> None:
    problems = check(stack, "us-east-1")
    assert len(problems) == 1
    assert "CloudFormation stack names" in problems[0].reason


def test_a_long_name_reports_the_functions_too() -> None:
    # 53 characters: "-auto-finals" makes 65 (Lambda: 64), "-make-photo" and "-get-photo" still fit.
    stack = "x" * 53
    names = {p.name for p in check(stack, "us-east-1")}
    assert names == {f"{stack}-photos-123456789012-us-east-1", f"{stack}-auto-finals"}


def test_the_stack_name_and_region_come_from_samconfig(tmp_path: Path) -> None:
    config = tmp_path / "samconfig.toml"
    config.write_text(
        'version = 0.1\n[default.global.parameters]\nstack_name = "global-name"\n'
        '[default.deploy.parameters]\nstack_name = "deploy-name"\nregion = "eu-west-1"\n',
        encoding="utf-8",
    )
    assert from_samconfig(config) == ("deploy-name", "eu-west-1")
    assert from_samconfig(tmp_path / "missing.toml") == (None, None)


def test_the_projects_samconfig_names_a_stack_that_passes() -> None:
    root = Path(__file__).resolve().parents[2]
    stack, _ = from_samconfig(root / "samconfig.toml")
    assert stack is not None
    assert main(["--config", str(root / "samconfig.toml")]) == 0


def test_main_explains_a_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "My-Stack", "--region", "us-east-1", "--config", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert "My-Stack-photos-123456789012-us-east-1" in err
    assert "at most 33 characters in us-east-1" in err


def test_main_without_any_stack_name_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["--config", str(tmp_path / "none.toml")]) == 2


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

    code = preflight.main(["--stack", "idphoto", "--region", "us-east-1", "--credentials"])

    assert code == 1
    assert "no AWS credentials found" in capsys.readouterr().err
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-not-a-secret")  # pragma: allowlist secret
    assert preflight.main(["--stack", "idphoto", "--region", "us-east-1", "--credentials"]) == 0


def test_make_deploy_checks_credentials_before_sam_build() -> None:
    recipe = (ROOT / "Makefile").read_text().split("\ndeploy:", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in recipe.splitlines()[1:]]

    check = next(i for i, line in enumerate(lines) if "ops.preflight" in line)
    build = next(i for i, line in enumerate(lines) if "build" in line.split())
    assert "--credentials" in lines[check] and check < build
