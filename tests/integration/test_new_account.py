"""Issue 20 on the running local stack: a new account, and S3's 403 for a missing key without ListBucket.

The session's stack (conftest) is deployed into a NEW account (:mod:`local.stack.account`: Lambda
concurrency quota 10, no API Gateway CloudWatch role): that it started at all is the deploy working.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.stack import Ports, Stack, start_stack
from local.stack.access import Call
from local.stack.account import NEW_ACCOUNT, DeployRefused
from local.stack.least_privilege import MISSING_KEY_CHECK
from local.stack.missing_keys import MissingKeys
from tests.template import template

pytestmark = pytest.mark.integration


def test_the_session_stack_runs_in_a_new_account(stack: Stack) -> None:
    assert NEW_ACCOUNT.lambda_concurrency_quota == 10
    assert NEW_ACCOUNT.apigateway_logging_role is None
    assert stack.template.apigateway_logging_role is None
    # make-photo runs as many at once as MakePhotoConcurrency says, without a reservation.
    make = stack.invokers["MakePhotoFunction"]
    assert make.function.spec.reserved_concurrency is None
    assert make.concurrency == int(stack.template.parameters["MakePhotoConcurrency"])


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        (
            lambda r: r["MakePhotoFunction"]["Properties"].update(ReservedConcurrentExecutions=10),
            "MakePhotoFunction",
        ),
        (
            lambda r: r["PhotoApi"]["Properties"].update(
                AccessLogSetting={
                    "DestinationArn": "arn:aws:logs:us-east-1:123456789012:log-group:x",
                    "Format": "$context.requestId",
                }
            ),
            "PhotoApiv1Stage",
        ),
    ],
    ids=["reserved-concurrency", "access-logs-without-role"],
)
def test_a_template_a_new_account_refuses_does_not_deploy(change: Any, refused: str) -> None:
    document = json.loads(json.dumps(template()))
    change(document["Resources"])
    root = Path(__file__).resolve().parents[2]
    path = root / f".new-account-{refused}.json"  # beside template.yaml: CodeUri folders are relative
    path.write_text(json.dumps(document))
    try:
        with pytest.raises(DeployRefused) as raised:
            start_stack(ports=Ports.ephemeral(), template_path=path, stack_name="idphoto-refused")
    finally:
        path.unlink()
    assert raised.value.logical_id == refused


def _head_as(stack: Stack, function: str | None, key: str, made: list[Call] | None = None) -> str:
    """HEAD of ``key`` signed as ``function``'s role (None: the local user): the error code S3 answers.

    The client is made as the function's process makes its own: its role's temporary credentials,
    through the front of moto its calls go through (which names it by the access key)."""
    if function is None:
        s3 = stack.client("s3")
    else:
        issued = stack.credentials[function]
        s3 = boto3.session.Session(
            aws_access_key_id=issued.access_key,
            aws_secret_access_key=issued.secret_key,
            aws_session_token=issued.token,
            region_name=stack.region,
        ).client("s3", endpoint_url=stack.functions_aws_url)
    before = len(stack.calls.snapshot())
    try:
        s3.head_object(Bucket=stack.bucket, Key=key)
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    finally:
        calls = stack.calls.snapshot()[before:]
        # The HEAD is the test's, not the function's own call (make-photo never reads finals/): the
        # session's least-privilege check must not judge it. S3's ListBucket check stays: it is what
        # AWS evaluates against the role for any missing key the function looks up.
        stack.calls.forget([c for c in calls if c.operation != MISSING_KEY_CHECK])
        if made is not None:
            made.extend(calls)
    return "found"


@pytest.mark.parametrize("function", ["MakePhotoFunction", "GetPhotoFunction", "AutoFinalsFunction"])
def test_a_missing_key_is_404_to_every_function_allowed_to_list_the_bucket(
    stack: Stack, function: str
) -> None:
    made: list[Call] = []

    code = _head_as(stack, function, "finals/never-kept/1/white.jpg", made)

    assert code == "404"
    checks = [c for c in made if c.operation == MISSING_KEY_CHECK]
    assert [c.function for c in checks] == [function], "S3's ListBucket check is the function's call"


def test_without_list_bucket_a_missing_key_is_403_not_404(stack: Stack) -> None:
    # The role as it was before issue 20: get-photo without s3:ListBucket.
    role = stack.template.role("GetPhotoRole")
    narrowed = dataclasses.replace(
        role,
        policies=tuple(
            (name, {**doc, "Statement": [s for s in doc["Statement"] if s.get("Action") != "s3:ListBucket"]})
            for name, doc in role.policies
        ),
    )
    template_without = dataclasses.replace(
        stack.template, roles=tuple(narrowed if r is role else r for r in stack.template.roles)
    )
    rule = MissingKeys(template_without, stack.evaluator, stack.calls)

    assert rule.may_list("GetPhotoFunction", stack.bucket) is False
    assert MissingKeys(stack.template, stack.evaluator, stack.calls).may_list(
        "GetPhotoFunction", stack.bucket
    )
    # make-photo's old grant, conditioned on s3:prefix, does not apply to a HEAD (no s3:prefix).
    make = stack.template.role("MakePhotoRole")
    conditioned = dataclasses.replace(
        make,
        policies=tuple(
            (
                name,
                {
                    **doc,
                    "Statement": [
                        {**s, "Condition": {"StringLike": {"s3:prefix": "uploads/*"}}}
                        if s.get("Action") == "s3:ListBucket"
                        else s
                        for s in doc["Statement"]
                    ],
                },
            )
            for name, doc in make.policies
        ),
    )
    old_make = dataclasses.replace(
        stack.template, roles=tuple(conditioned if r is make else r for r in stack.template.roles)
    )
    assert (
        MissingKeys(old_make, stack.evaluator, stack.calls).may_list("MakePhotoFunction", stack.bucket)
        is False
    )


def test_the_403_is_what_a_function_sees(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # The stack's own rule, told that get-photo may not list: its HEAD of a missing key is S3's 403.
    assert stack.missing_keys is not None, "the missing-key rule is not installed"
    monkeypatch.setattr(stack.missing_keys, "may_list", lambda function, bucket: False)

    assert _head_as(stack, "GetPhotoFunction", "finals/never-kept/2/white.jpg") == "403"
    assert _head_as(stack, "MakePhotoFunction", "uploads/never-uploaded.jpg") == "403"
    assert _head_as(stack, None, "uploads/never-uploaded.jpg") == "404", "the local user's own call"
