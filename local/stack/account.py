"""The AWS account the local stack deploys into, and what such an account refuses at resource creation.

By default the local stack is a NEW account, the least a deployment can count on:

* **Lambda concurrency quota 10.** New accounts start with a "Concurrent executions" quota as low as
  10. Lambda keeps part of that quota unreserved for the functions without a reservation and refuses
  a reservation that would cut into it (Lambda developer guide, "Configuring reserved concurrency for a
  function": "You can reserve up to the Unreserved account concurrency value minus 100", the 100 units
  being for functions that aren't using reserved concurrency). An account whose whole quota is below
  100 keeps ALL of it unreserved: PutFunctionConcurrency answers "Specified ReservedConcurrentExecutions
  for function decreases account's UnreservedConcurrentExecution below its minimum value of [10]" for a
  quota of 10. So the rule is: the unreserved concurrency may not fall below min(100, quota).
* **No API Gateway CloudWatch role.** The role API Gateway writes logs with is one setting per account
  and region (``AWS::ApiGateway::Account``, ``CloudWatchRoleArn``); a new account has none, and API
  Gateway refuses a stage that asks for access logs or execution logs without it: "CloudWatch Logs role
  ARN must be set in account settings to enable logging" (API Gateway developer guide, "Set up
  CloudWatch logging for REST APIs in API Gateway": the role must be set in the account's settings).

:func:`check_deploy` makes these checks on the translated template, before any resource exists, and
raises :class:`DeployRefused` with AWS's message, as CloudFormation would report the failed resource
(and roll back). Tests start a stack in another account with ``start_stack(account=Account(...))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from local.stack.template import StackTemplate

NEW_ACCOUNT_CONCURRENCY: Final = 10
# Lambda developer guide, "Configuring reserved concurrency for a function": 100 units stay unreserved.
UNRESERVED_FLOOR: Final = 100
NO_LOGGING_ROLE: Final = "CloudWatch Logs role ARN must be set in account settings to enable logging"


class DeployRefused(RuntimeError):
    """A resource AWS would refuse to create in this account (the stack would roll back)."""

    def __init__(self, logical_id: str, message: str) -> None:
        super().__init__(f"{logical_id}: CREATE_FAILED: {message}")
        self.logical_id = logical_id
        self.message = message


@dataclass(frozen=True)
class Account:
    """What the account gives a stack: its Lambda concurrency quota and API Gateway's logging role."""

    lambda_concurrency_quota: int = NEW_ACCOUNT_CONCURRENCY
    apigateway_logging_role: str | None = None  # the account's CloudWatch role for API Gateway, if set

    @property
    def min_unreserved(self) -> int:
        """The unreserved concurrency Lambda keeps: 100, or the whole quota of a smaller account."""
        return min(UNRESERVED_FLOOR, self.lambda_concurrency_quota)


NEW_ACCOUNT: Final = Account()


def check_deploy(template: StackTemplate, account: Account = NEW_ACCOUNT) -> None:
    """Raise :class:`DeployRefused` for the first resource this account would refuse."""
    _check_reservations(template, account)
    _check_logging_role(template, account)


def _check_reservations(template: StackTemplate, account: Account) -> None:
    unreserved = account.lambda_concurrency_quota
    for function in template.functions:
        reserved = function.reserved_concurrency
        if reserved is None:
            continue
        if unreserved - reserved < account.min_unreserved:
            raise DeployRefused(
                function.logical_id,
                "Specified ReservedConcurrentExecutions for function decreases account's"
                f" UnreservedConcurrentExecution below its minimum value of [{account.min_unreserved}].",
            )
        unreserved -= reserved


def _check_logging_role(template: StackTemplate, account: Account) -> None:
    # A role the template itself sets (AWS::ApiGateway::Account) counts: the stage is created after it.
    if account.apigateway_logging_role or template.apigateway_logging_role:
        return
    for api in template.apis:
        for stage in api.stages:
            if stage.access_log is not None or stage.method_logging:
                raise DeployRefused(stage.logical_id, NO_LOGGING_ROLE)
