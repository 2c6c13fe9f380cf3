"""Issue 20: the translated template, with the defaults, deploys into a new AWS account and works there.

Read from what CloudFormation receives (the SAM transform's output, :func:`local.stack.template.load`),
never from template.yaml's own text, so SAM's implicit resources (stages, deployments) count too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.stack.account import NEW_ACCOUNT, NO_LOGGING_ROLE, Account, DeployRefused, check_deploy
from local.stack.intrinsics import TemplateError
from local.stack.template import TEMPLATE_PATH, StackTemplate, load
from tests.template import template

FUNCTION_ROLES = {
    "MakePhotoFunction": "MakePhotoRole",
    "GetPhotoFunction": "GetPhotoRole",
    "AutoFinalsFunction": "AutoFinalsRole",
}


@pytest.fixture(scope="module")
def defaults() -> StackTemplate:
    return load()


def of_type(loaded: StackTemplate, kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: loaded.resolved(logical_id)
        for logical_id, resource in loaded.translated["Resources"].items()
        if resource["Type"] == kind and _exists(loaded, resource)
    }


def _exists(loaded: StackTemplate, resource: dict[str, Any]) -> bool:
    condition = resource.get("Condition")
    return condition is None or (loaded.resolver is not None and loaded.resolver.condition(str(condition)))


def variant(tmp_path: Path, change: Any) -> Path:
    """template.yaml with ``change(document)`` applied, written beside a copy of nothing else (a
    template is only loaded here, never run)."""
    document = json.loads(json.dumps(template()))
    change(document)
    path = tmp_path / "template.json"
    path.write_text(json.dumps(document))
    return path


# --- item 4: one stage ------------------------------------------------------------------------------


def test_the_api_has_exactly_one_stage_the_templates(defaults: StackTemplate) -> None:
    stages = [
        props["Properties"]["StageName"] for props in of_type(defaults, "AWS::ApiGateway::Stage").values()
    ]
    deployment_stages = [
        props["Properties"]["StageName"]
        for props in of_type(defaults, "AWS::ApiGateway::Deployment").values()
        if props["Properties"].get("StageName")
    ]

    assert stages + deployment_stages == ["v1"]
    assert [stage.name for api in defaults.apis for stage in api.stages] == ["v1"]


def test_without_an_openapi_version_sam_adds_a_stage_named_stage(tmp_path: Path) -> None:
    # The check above can fail: SAM's "Stage" stage is seen when OpenApiVersion is gone.
    def drop(document: dict[str, Any]) -> None:
        del document["Resources"]["PhotoApi"]["Properties"]["OpenApiVersion"]

    loaded = load(variant(tmp_path, drop))

    assert sorted(stage.name for api in loaded.apis for stage in api.stages) == ["Stage", "v1"]


# --- item 3: no reservation a new account refuses ----------------------------------------------------


def test_no_function_reserves_concurrency_and_the_stack_deploys_into_a_new_account(
    defaults: StackTemplate,
) -> None:
    functions = {
        logical_id: resource
        for logical_id, resource in defaults.translated["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }

    assert set(FUNCTION_ROLES) <= set(functions)
    assert [
        f for f, props in functions.items() if "ReservedConcurrentExecutions" in props["Properties"]
    ] == []
    check_deploy(defaults, NEW_ACCOUNT)  # raises DeployRefused otherwise
    assert defaults.parameters["MakePhotoConcurrency"] == "10", "the parameter stays (issue 21 uses it)"


@pytest.mark.parametrize(("quota", "reserved", "refused"), [(10, 1, True), (50, 1, True), (101, 1, False)])
def test_a_new_account_refuses_a_reservation_below_its_minimum_unreserved(
    tmp_path: Path, quota: int, reserved: int, refused: bool
) -> None:
    def reserve(document: dict[str, Any]) -> None:
        document["Resources"]["MakePhotoFunction"]["Properties"]["ReservedConcurrentExecutions"] = reserved

    loaded = load(variant(tmp_path, reserve))
    account = Account(lambda_concurrency_quota=quota, apigateway_logging_role="arn:aws:iam::1:role/logs")

    if refused:
        with pytest.raises(DeployRefused, match=rf"minimum value of \[{min(quota, 100)}\]"):
            check_deploy(loaded, account)
    else:
        check_deploy(loaded, account)


# --- item 2: access logs only with a logging role ----------------------------------------------------


def test_by_default_no_stage_asks_for_logs_a_role_less_region_refuses(defaults: StackTemplate) -> None:
    for props in of_type(defaults, "AWS::ApiGateway::Stage").values():
        assert "AccessLogSetting" not in props["Properties"]
        for setting in props["Properties"].get("MethodSettings", []):
            assert setting.get("LoggingLevel", "OFF") == "OFF"


@pytest.mark.parametrize(
    "overrides", [{"ApiGatewayAccountHasLoggingRole": "true"}, {"ManageApiGatewayLoggingRole": "true"}]
)
def test_access_logs_are_on_wherever_api_gateway_has_a_role(overrides: dict[str, str]) -> None:
    loaded = load(overrides=overrides)
    (stage,) = of_type(loaded, "AWS::ApiGateway::Stage").values()

    assert stage["Properties"]["AccessLogSetting"]["DestinationArn"].startswith("arn:aws:logs:")
    manages = overrides.get("ManageApiGatewayLoggingRole") == "true"
    assert (loaded.apigateway_logging_role is not None) is manages
    account_role = None if manages else "arn:aws:iam::123456789012:role/apigw-logs"
    check_deploy(loaded, Account(apigateway_logging_role=account_role))


def test_a_stage_with_access_logs_fails_in_an_account_without_the_role() -> None:
    loaded = load(overrides={"ApiGatewayAccountHasLoggingRole": "true"})  # the operator was wrong

    with pytest.raises(DeployRefused, match=NO_LOGGING_ROLE):
        check_deploy(loaded, NEW_ACCOUNT)


# --- item 1: s3:ListBucket without a prefix condition, for the three functions -----------------------


@pytest.mark.parametrize(("function", "role"), sorted(FUNCTION_ROLES.items()))
def test_each_function_may_list_the_photo_bucket_for_a_get_or_head_without_prefix(
    defaults: StackTemplate, function: str, role: str
) -> None:
    bucket = next(b for b in defaults.buckets if b.logical_id == "PhotoBucket")
    statements = [
        statement
        for _name, document in defaults.role(role).policies
        for statement in document["Statement"]
        if statement["Effect"] == "Allow"
    ]
    listing = [
        s
        for s in statements
        if "s3:ListBucket" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        and bucket.arn in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    ]

    assert defaults.function(function).role_logical_id == role
    assert listing, f"{role} has no s3:ListBucket on {bucket.arn}: S3 answers its missing keys with 403"
    assert any("Condition" not in s for s in listing), "a GET or HEAD carries no s3:prefix"


# --- item 7: alarms ----------------------------------------------------------------------------------


def test_undelivered_webhook_events_and_failed_rule_invocations_raise_alarms() -> None:
    loaded = load(overrides={"WebhookUrl": "https://example.invalid/hook", "WebhookAuthHeaderValue": "k"})
    alarms = of_type(loaded, "AWS::CloudWatch::Alarm")
    queue = next(q for q in loaded.queues if q.logical_id == "WebhookDeadLetterQueue")

    dead_letters = alarms["WebhookDeadLetterAlarm"]["Properties"]
    assert (dead_letters["Namespace"], dead_letters["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert dead_letters["Dimensions"] == [{"Name": "QueueName", "Value": queue.name}]
    for alarm, rule in (
        ("AutoFinalsRuleFailedAlarm", "AutoFinalsRule"),
        ("WebhookRuleFailedAlarm", "WebhookRule"),
    ):
        props = alarms[alarm]["Properties"]
        assert (props["Namespace"], props["MetricName"]) == ("AWS/Events", "FailedInvocations")
        rule_name = loaded.resolver.text({"Fn::GetAtt": [rule, "Arn"]}).rsplit("/", 1)[1]  # type: ignore[union-attr]
        # The default bus: EventBridge publishes the rule's metrics under RuleName alone.
        assert props["Dimensions"] == [{"Name": "RuleName", "Value": rule_name}]
    failed = alarms["FailedEventsAlarm"]["Properties"]["AlarmDescription"]
    assert "auto-finals" in failed and "upload" in failed


def test_on_a_custom_bus_the_rule_alarms_name_the_bus_too() -> None:
    loaded = load(overrides={"EventBusName": "photos"})
    props = of_type(loaded, "AWS::CloudWatch::Alarm")["AutoFinalsRuleFailedAlarm"]["Properties"]
    arn = loaded.resolver.text({"Fn::GetAtt": ["AutoFinalsRule", "Arn"]})  # type: ignore[union-attr]

    assert props["Dimensions"] == [
        {"Name": "EventBusName", "Value": "photos"},
        {"Name": "RuleName", "Value": arn.rsplit("/", 1)[1]},
    ]


# --- item 6: what CloudFormation can assert itself is in Rules ---------------------------------------


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        (
            {"ManageApiGatewayLoggingRole": "true", "ApiGatewayAccountHasLoggingRole": "true"},
            "LoggingRoleOnce",
        ),
        ({"FinalsPrefix": "uploads/"}, "PrefixesApart"),
        ({"WorkPrefix": "uploads/"}, "PrefixesApart"),
        ({"WebhookUrl": "https://example.invalid/hook"}, "WebhookHasKey"),
    ],
)
def test_cloudformation_refuses_contradictory_parameters_by_the_templates_rules(
    overrides: dict[str, str], rule: str
) -> None:
    assert rule in template()["Rules"]
    with pytest.raises(TemplateError, match=f"rule {rule}:"):
        load(TEMPLATE_PATH, overrides=overrides)
