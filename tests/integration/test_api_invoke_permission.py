"""Breaker 1: a caller with only execute-api:Invoke must reach get-photo.

SAM's translation of ``DefaultAuthorizer: AWS_IAM`` without ``InvokeRole`` sets every integration's
``credentials`` to ``arn:aws:iam::*:user/*``: API Gateway then invokes the function AS THE CALLER,
and a caller who (as docs/security.md says) has only ``execute-api:Invoke`` gets 500 on every request. The
template says ``InvokeRole: NONE``, so API Gateway invokes through the function's resource policy
(the AWS::Lambda::Permission resources SAM writes for each route).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.stack import Stack
from local.stack.api import LocalApi
from local.stack.iam import Evaluator
from local.stack.invoke_access import (
    APIGATEWAY_PRINCIPAL,
    DestinationRefused,
    InvokeAccess,
    check_s3_may_send,
)
from local.stack.template import CALLER_CREDENTIALS, TEMPLATE_PATH, FunctionSpec, StackTemplate, load

pytestmark = pytest.mark.integration


def without_invoke_role(tmp_path: Path) -> StackTemplate:
    """The template as it was before the fix: no ``InvokeRole: NONE``."""
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    assert "InvokeRole: NONE" in text
    copy = tmp_path / "template.yaml"
    copy.write_text(text.replace("InvokeRole: NONE", "# no InvokeRole"), encoding="utf-8")
    return load(copy)


class Called:
    """A stand-in for get-photo (what the local API invokes: a spec and ``invoke``)."""

    spec: FunctionSpec

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any], request_id: str | None = None) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"ok":true}'}


@pytest.fixture(scope="module")
def evaluator() -> Iterator[Evaluator]:
    running = Evaluator()
    yield running
    running.close()


def serve(template: StackTemplate, evaluator: Evaluator, handler: Called) -> LocalApi:
    api = template.apis[0]
    get_photo = template.function("GetPhotoFunction")
    access = InvokeAccess(
        evaluator,
        region=template.pseudo.region,
        account_id=template.pseudo.account_id,
        roles={r.logical_id: r for r in template.roles},
    )
    handler.spec = get_photo
    functions = {get_photo.logical_id: handler}
    return LocalApi(api, functions, account_id=template.pseudo.account_id, access=access, port=0)


def test_sam_makes_api_gateway_invoke_as_the_caller_without_invoke_role(tmp_path: Path) -> None:
    before = without_invoke_role(tmp_path)

    assert {route.credentials for route in before.apis[0].routes} == {CALLER_CREDENTIALS}


def test_the_template_invokes_get_photo_through_its_resource_policy() -> None:
    template = load()
    api = template.apis[0]
    get_photo = template.function("GetPhotoFunction")

    assert {route.credentials for route in api.routes} == {None}
    assert {(p.principal, p.action) for p in get_photo.permissions} == {
        (APIGATEWAY_PRINCIPAL, "lambda:InvokeFunction")
    }


def test_an_invoke_only_caller_reaches_get_photo(evaluator: Evaluator) -> None:
    handler = Called()
    api = serve(load(), evaluator, handler)
    try:
        answer = requests.get(f"{api.url}/photos/uploads/a.jpg", timeout=30)
    finally:
        api.stop()

    assert answer.status_code == 200, answer.text
    assert len(handler.events) == 1


def test_with_caller_credentials_the_gateway_answers_500_and_never_calls_the_function(
    tmp_path: Path, evaluator: Evaluator
) -> None:
    handler = Called()
    api = serve(without_invoke_role(tmp_path), evaluator, handler)
    try:
        answer = requests.get(f"{api.url}/photos/uploads/a.jpg", timeout=30)
    finally:
        api.stop()

    assert answer.status_code == 500
    assert answer.json() == {"message": "Internal server error"}
    assert handler.events == []


def test_without_a_permission_for_the_route_the_gateway_answers_500(evaluator: Evaluator) -> None:
    template = load()
    get_photo = template.function("GetPhotoFunction")
    only_status = tuple(p for p in get_photo.permissions if "/GET/photos/" in str(p.source_arn))
    assert only_status and len(only_status) < len(get_photo.permissions)
    narrowed = dataclasses.replace(
        template,
        functions=tuple(
            dataclasses.replace(f, permissions=only_status) if f.logical_id == get_photo.logical_id else f
            for f in template.functions
        ),
    )
    handler = Called()
    api = serve(narrowed, evaluator, handler)
    try:
        status = requests.get(f"{api.url}/photos/uploads/a.jpg", timeout=30)
        finals = requests.post(f"{api.url}/finals/uploads/a.jpg", timeout=30)
    finally:
        api.stop()

    assert status.status_code == 200
    assert finals.status_code == 500
    assert finals.json() == {"message": "Internal server error"}
    assert len(handler.events) == 1


def test_the_running_stack_serves_an_invoke_only_caller(stack: Stack) -> None:
    answer = stack.photo("uploads/never-uploaded.jpg")

    assert answer.status_code == 404, answer.text  # get-photo's own answer, not the gateway's 500


def test_s3_may_send_uploads_to_the_queue_only_through_its_queue_policy(evaluator: Evaluator) -> None:
    """S3 validates the queue destination when the notification is saved: the queue policy must let
    s3.amazonaws.com send for this bucket and account (the local stack refuses to start otherwise)."""
    template = load()
    bucket = next(b for b in template.buckets if b.queue_notifications)
    (notification,) = bucket.queue_notifications
    queue = next(q for q in template.queues if q.arn == notification.queue_arn)
    account = template.pseudo.account_id

    check_s3_may_send(evaluator, queue, bucket.arn, account)
    with pytest.raises(DestinationRefused):
        check_s3_may_send(evaluator, dataclasses.replace(queue, policy=None), bucket.arn, account)
    with pytest.raises(DestinationRefused):  # another bucket of the account
        check_s3_may_send(evaluator, queue, "arn:aws:s3:::someone-elses-bucket", account)
    with pytest.raises(DestinationRefused):  # the same bucket name, another account
        check_s3_may_send(evaluator, queue, bucket.arn, "210987654321")
