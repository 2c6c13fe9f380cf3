"""Issue 20 item 6: the template deploys under ANY stack name CloudFormation accepts (1-128 letters,
digits and '-', upper case included), with or without ``make deploy``'s preflight.

Read from the translated template (what CloudFormation receives, :func:`local.stack.template.load`):
no unique physical name depends on the stack name, except where the service's limits admit every
valid stack name; and every name the template gives, resolved with the longest mixed-case stack
name, is one its service takes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.stack.intrinsics import TemplateError
from local.stack.naming import NAME_PATTERN, Pseudo, name_problem
from local.stack.template import StackTemplate, load

# Names whose limits admit every stack name (128 characters of [A-Za-z0-9-]) with room for our text:
# CloudWatch Logs CreateLogGroup (512 characters of [.-_/#A-Za-z0-9]), CloudWatch PutDashboard (255
# of [A-Za-z0-9_-]).
ADMIT_EVERY_STACK_NAME = {
    ("AWS::Logs::LogGroup", "LogGroupName"),
    ("AWS::CloudWatch::Dashboard", "DashboardName"),
}

LONGEST = ("IdPhoto-Prod-" * 10)[:127] + "X"  # 128 characters, mixed case
STACK_NAMES = ["a", "IdPhoto", LONGEST]


def mentions_stack_name(value: Any) -> bool:
    return "AWS::StackName" in json.dumps(value)


def name_properties(loaded: StackTemplate) -> list[tuple[str, str, str]]:
    """(logical id, type, property) of every top-level property that gives a resource its own name
    (``...Name`` except the ones that name another resource: a permission's FunctionName, a rule's
    EventBusName, ...: those are Refs, checked where that resource is named)."""
    found = []
    for logical_id, resource in loaded.translated["Resources"].items():
        for prop, value in resource.get("Properties", {}).items():
            if prop.endswith("Name") and not (
                isinstance(value, dict) and set(value) <= {"Ref", "Fn::GetAtt"}
            ):
                found.append((logical_id, str(resource["Type"]), prop))
    return found


@pytest.fixture(scope="module")
def defaults() -> StackTemplate:
    return load()


def test_no_unique_name_depends_on_the_stack_name(defaults: StackTemplate) -> None:
    translated = defaults.translated["Resources"]
    depending = {
        (logical_id, kind, prop)
        for logical_id, kind, prop in name_properties(defaults)
        if mentions_stack_name(translated[logical_id]["Properties"][prop])
    }

    refused = sorted(item for item in depending if item[1:] not in ADMIT_EVERY_STACK_NAME)
    assert refused == []
    # The walk sees names at all: the log groups and the dashboard are still built from the stack name.
    assert {item[1:] for item in depending} == ADMIT_EVERY_STACK_NAME


def test_the_buckets_and_functions_have_no_name_from_the_stack_name(defaults: StackTemplate) -> None:
    resources = defaults.translated["Resources"]
    bucket = resources["PhotoBucket"]["Properties"]["BucketName"]
    assert not mentions_stack_name(bucket) and "AWS::StackId" in json.dumps(bucket)
    assert "BucketName" not in resources["AccessLogBucket"]["Properties"]
    functions = {k: r for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert functions and all("FunctionName" not in r["Properties"] for r in functions.values())


@pytest.mark.parametrize("stack_name", STACK_NAMES, ids=["1-char", "mixed-case", "128-char"])
@pytest.mark.parametrize(
    ("partition", "region"),
    [("aws", "ap-southeast-1"), ("aws-cn", "cn-northwest-1"), ("aws-us-gov", "us-gov-west-1")],
)
def test_every_name_is_one_its_service_takes(stack_name: str, partition: str, region: str) -> None:
    loaded = load(pseudo=Pseudo(stack_name=stack_name, partition=partition, region=region))

    names = {
        logical_id: loaded.resolver.text(loaded.translated["Resources"][logical_id]["Properties"][prop])  # type: ignore[union-attr]
        for logical_id, kind, prop in name_properties(loaded)
        if kind in NAME_PATTERN
    }
    problems = {
        logical_id: name_problem(str(loaded.translated["Resources"][logical_id]["Type"]), name)
        for logical_id, name in names.items()
    }

    assert {k: p for k, p in problems.items() if p} == {}
    bucket = next(b.name for b in loaded.buckets if b.logical_id == "PhotoBucket")
    assert bucket == names["PhotoBucket"] and len(bucket) == 57
    assert bucket == f"idphoto-{loaded.pseudo.account_id}-{loaded.pseudo.stack_uuid}"
    # Where the functions log: the groups the template makes, whose ARNs their roles may write to.
    assert {f.logical_id: f.log_group for f in loaded.functions}["MakePhotoFunction"] == names[
        "MakePhotoLogGroup"
    ]


def test_the_bucket_is_the_one_every_policy_and_the_environment_name(defaults: StackTemplate) -> None:
    bucket = next(b.name for b in defaults.buckets if b.logical_id == "PhotoBucket")
    for function in defaults.functions:
        assert function.environment["PHOTO_BUCKET"] == bucket
    arns = {
        resource
        for role in defaults.roles
        for _, document in role.policies
        for statement in document["Statement"]
        for resource in (
            [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        )
        if resource.startswith("arn:aws:s3:::")
    }
    assert arns and {arn.removeprefix("arn:aws:s3:::").split("/", 1)[0] for arn in arns} == {bucket}
    assert defaults.outputs["BucketName"] == bucket


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("AWS::S3::Bucket", "IdPhoto-photos-123456789012-us-east-1"),  # upper case
        ("AWS::S3::Bucket", "x" * 34 + "-photos-123456789012-us-east-1"),  # 64 characters
        ("AWS::S3::Bucket", "xn--photos"),
        ("AWS::S3::Bucket", "192.168.1.1"),
        ("AWS::Lambda::Function", "x" * 53 + "-auto-finals"),  # 65 characters
        ("AWS::SQS::Queue", "q" * 81),
    ],
)
def test_the_local_stack_refuses_a_name_its_service_refuses(kind: str, name: str) -> None:
    assert name_problem(kind, name) is not None


def test_the_template_of_before_is_refused_with_a_long_mixed_case_stack_name(tmp_path: Any) -> None:
    """The check above can fail: the bucket named from the stack name, as before item 6, is refused."""
    from tests.unit.test_template_new_account import variant

    def stack_named(document: dict[str, Any]) -> None:
        document["Resources"]["PhotoBucket"]["Properties"]["BucketName"] = {
            "Fn::Sub": "${AWS::StackName}-photos-${AWS::AccountId}-${AWS::Region}"
        }

    with pytest.raises(TemplateError, match="PhotoBucket: the name 'IdPhoto-photos-"):
        load(variant(tmp_path, stack_named), pseudo=Pseudo(stack_name="IdPhoto"))
