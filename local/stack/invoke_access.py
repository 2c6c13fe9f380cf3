"""May API Gateway invoke the function behind a route? As API Gateway decides it, by the integration's
``credentials`` (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-integration.html):

* none: API Gateway calls ``lambda:InvokeFunction`` as the service principal
  ``apigateway.amazonaws.com``, so the function's resource policy (its AWS::Lambda::Permission
  resources) must allow it for this API's ``AWS:SourceArn``;
* ``arn:aws:iam::*:user/*``: API Gateway calls it with the CALLER's credentials, so the caller's own
  policies must allow ``lambda:InvokeFunction`` (the local user has only ``execute-api:Invoke``);
* a role ARN: API Gateway assumes that role, whose policies must allow it.

When the call is refused API Gateway answers 500 ``{"message": "Internal server error"}`` (its
execution log says "Invalid permissions on Lambda function"). The decisions come from the real
evaluator (:mod:`local.stack.iam`) and are cached: policies do not change while the stack runs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from local.stack import identity
from local.stack.iam import ALLOWED, Evaluator, IamRequest, lambda_resource_policy, simulation
from local.stack.template import CALLER_CREDENTIALS, ApiSpec, FunctionSpec, QueueSpec, RoleSpec, RouteSpec

APIGATEWAY_PRINCIPAL = "apigateway.amazonaws.com"
S3_PRINCIPAL = "s3.amazonaws.com"


class DestinationRefused(RuntimeError):
    """S3 may not invoke a function its bucket notifies: the deployment itself would fail."""


def check_s3_may_invoke(
    evaluator: Evaluator, function: FunctionSpec, bucket_arn: str, account_id: str
) -> None:
    """S3 checks, when the notification configuration is saved, that the function's resource policy
    lets s3.amazonaws.com invoke it ("Unable to validate the following destination configurations",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/how-to-enable-disable-notification-intro.html),
    so CloudFormation fails to create the bucket. The local stack refuses to start the same way."""
    context = {"aws:SourceArn": bucket_arn, "aws:SourceAccount": account_id}
    request = IamRequest(S3_PRINCIPAL, "lambda:InvokeFunction", function.arn, account_id, context)
    (answer,) = evaluator.evaluate([simulation(request, (), lambda_resource_policy(function))])
    if answer.get("result") != ALLOWED:
        raise DestinationRefused(
            f"S3 may not invoke {function.logical_id} for {bucket_arn}: its AWS::Lambda::Permission is missing"
        )


def check_s3_may_send(evaluator: Evaluator, queue: QueueSpec, bucket_arn: str, account_id: str) -> None:
    """S3 checks, when the notification configuration is saved, that the queue's policy lets
    s3.amazonaws.com send to it for this bucket (the same "Unable to validate the following destination
    configurations"; "Granting permissions to publish event notification messages to a destination",
    Amazon S3 User Guide). The local stack refuses to start the same way."""
    context = {"aws:SourceArn": bucket_arn, "aws:SourceAccount": account_id}
    request = IamRequest(S3_PRINCIPAL, "sqs:SendMessage", queue.arn, account_id, context)
    (answer,) = evaluator.evaluate([simulation(request, (), queue.policy)])
    if answer.get("result") != ALLOWED:
        raise DestinationRefused(
            f"S3 may not send {bucket_arn}'s events to {queue.logical_id}: its AWS::SQS::QueuePolicy does not allow it"
        )


class InvokeAccess:
    def __init__(
        self, evaluator: Evaluator, *, region: str, account_id: str, roles: Mapping[str, RoleSpec]
    ) -> None:
        self._evaluator = evaluator
        self._region = region
        self._account_id = account_id
        self._roles_by_arn = {role.arn: role for role in roles.values()}
        self._decisions: dict[tuple[str, str, str, str], bool] = {}
        self._lock = threading.Lock()

    def allows(self, api: ApiSpec, route: RouteSpec, function: FunctionSpec) -> bool:
        key = (api.logical_id, api.stage, route.name, function.arn)
        with self._lock:
            if key in self._decisions:
                return self._decisions[key]
        decision = self._decide(api, route, function)
        with self._lock:
            self._decisions[key] = decision
        return decision

    def _decide(self, api: ApiSpec, route: RouteSpec, function: FunctionSpec) -> bool:
        source_arn = api.source_arn(self._region, self._account_id, route.method, route.path)
        resource_policy = lambda_resource_policy(function)
        context = {"aws:SourceArn": source_arn, "aws:SourceAccount": self._account_id}
        identity_policies: list[tuple[str, dict[str, object]]] = []
        if route.credentials is None:
            principal = APIGATEWAY_PRINCIPAL
        elif route.credentials == CALLER_CREDENTIALS:
            principal = identity.user_arn(self._account_id)
            caller = identity.caller_policy(self._region, self._account_id, api.rest_api_id, api.stage)
            identity_policies = [("caller", caller)]
            context = {}
        else:
            role = self._roles_by_arn.get(route.credentials)
            if role is None:
                return False  # a role of another stack: nothing here can say it allows the call
            principal = f"arn:aws:sts::{self._account_id}:assumed-role/{role.name}/apigateway"
            identity_policies = list(role.policies)
            context = {}
        request = IamRequest(principal, "lambda:InvokeFunction", function.arn, self._account_id, context)
        (answer,) = self._evaluator.evaluate([simulation(request, identity_policies, resource_policy)])
        return answer.get("result") == ALLOWED
