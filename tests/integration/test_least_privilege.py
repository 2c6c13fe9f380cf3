"""Least privilege, checked on what the functions really did during the integration suite.

Every AWS call the functions made in this session (recorded client-side, signed with the function's own
role) is evaluated against the translated template's role policies and the bucket policy by the real
IAM evaluator (iam-simulate). These tests run after every other integration test (conftest orders
them last); the unused-grant test needs the whole suite and is deselected on a partial run.
"""

from __future__ import annotations

import dataclasses

import pytest

from local.stack import Stack
from local.stack.least_privilege import ON_BEHALF, check

pytestmark = pytest.mark.integration


def test_every_call_a_function_made_is_allowed_by_its_own_role(stack: Stack) -> None:
    report = stack.least_privilege()

    assert report.requests > 0, "no function made an AWS call: the recording is broken"
    assert report.unmapped == [], "calls with no IAM mapping (add them to local/stack/least_privilege.py)"
    assert [str(d) for d in report.denied] == [], "calls the function's role does not allow"


@pytest.mark.whole_suite
def test_every_action_a_role_grants_was_used_or_is_used_by_aws_for_the_function(stack: Stack) -> None:
    report = stack.least_privilege()

    assert [str(g) for g in report.unused] == [], (
        "grants no call of the suite used: remove them, or add to ON_BEHALF with the reason AWS needs them"
    )


def test_the_check_fails_when_a_role_lacks_a_permission_a_function_used(stack: Stack) -> None:
    make_photo = stack.template.role("MakePhotoRole")
    narrowed = dataclasses.replace(
        make_photo,
        policies=tuple(
            (name, {**doc, "Statement": [s for s in doc["Statement"] if s.get("Sid") != "ReadAppCode"]})
            for name, doc in make_photo.policies
        ),
    )
    template = dataclasses.replace(
        stack.template, roles=tuple(narrowed if r is make_photo else r for r in stack.template.roles)
    )

    report = check(template, stack.calls.snapshot(), stack.evaluator, stack.secret_arns)

    denied = {(d.function, d.request.action) for d in report.denied}
    assert denied == {("MakePhotoFunction", "secretsmanager:GetSecretValue")}


def test_the_check_fails_when_a_role_grants_an_action_nobody_used(stack: Stack) -> None:
    get_photo = stack.template.role("GetPhotoRole")
    table = stack.template.tables[0].arn
    extra = {"Sid": "NeverUsed", "Effect": "Allow", "Action": "dynamodb:DeleteItem", "Resource": table}
    widened = dataclasses.replace(
        get_photo,
        policies=tuple(
            (name, {**doc, "Statement": [*doc["Statement"], extra]}) for name, doc in get_photo.policies
        ),
    )
    template = dataclasses.replace(
        stack.template, roles=tuple(widened if r is get_photo else r for r in stack.template.roles)
    )

    report = check(template, stack.calls.snapshot(), stack.evaluator, stack.secret_arns)

    assert "GetPhotoRole NeverUsed: dynamodb:DeleteItem" in [str(g) for g in report.unused]


def test_every_on_behalf_entry_says_why() -> None:
    assert all(len(reason) > 20 for reason in ON_BEHALF.values())


def test_lambda_polls_the_upload_queue_with_make_photos_role(stack: Stack) -> None:
    """The event source mapping receives, deletes and reads the queue's attributes as the function's
    execution role (Lambda developer guide, "Using Lambda with Amazon SQS"): the role must allow it."""
    polled = {(c.function, c.operation) for c in stack.calls.snapshot() if c.service == "sqs"}
    make_photo = stack.template.role("MakePhotoRole")
    narrowed = dataclasses.replace(
        make_photo,
        policies=tuple(
            (name, {**doc, "Statement": [s for s in doc["Statement"] if s.get("Sid") != "ReadUploadQueue"]})
            for name, doc in make_photo.policies
        ),
    )
    template = dataclasses.replace(
        stack.template, roles=tuple(narrowed if r is make_photo else r for r in stack.template.roles)
    )

    report = check(template, stack.calls.snapshot(), stack.evaluator, stack.secret_arns)

    assert {
        ("MakePhotoFunction", op) for op in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")
    } <= polled
    denied = {d.request.action for d in report.denied if d.function == "MakePhotoFunction"}
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} <= denied
