"""The local stack's resources are the template's, resolved like a deployment would resolve them."""

from __future__ import annotations

import json

import pytest

from local.stack import Stack
from local.stack.cfn_yaml import load_template
from local.stack.intrinsics import TemplateError
from local.stack.template import TEMPLATE_PATH, load

pytestmark = pytest.mark.integration


def test_the_running_resources_match_the_template(stack: Stack) -> None:
    raw = load_template(TEMPLATE_PATH)["Resources"]
    table = stack.client("dynamodb").describe_table(TableName=stack.table)["Table"]
    versioning = stack.client("s3").get_bucket_versioning(Bucket=stack.bucket)
    secret = stack.client("secretsmanager").get_secret_value(
        SecretId=stack.template.parameters["AppCodeSecretName"]
    )

    assert table["KeySchema"] == raw["PhotosTable"]["Properties"]["KeySchema"]
    assert table["BillingModeSummary"]["BillingMode"] == raw["PhotosTable"]["Properties"]["BillingMode"]
    # The template's !Sub: named from the stack id's UUID, never from the stack name (issue 20 item 6).
    assert stack.bucket == f"idphoto-123456789012-{stack.template.pseudo.stack_uuid}"
    assert stack.bucket == stack.template.outputs["BucketName"]
    assert versioning["Status"] == "Enabled"
    assert secret["SecretString"] == stack.appcode
    assert stack.client("sqs").get_queue_url(QueueName=stack.failed_queue_url.rsplit("/", 1)[1])


def test_the_bucket_notifies_the_upload_queue_which_redrives_to_its_dlq(stack: Stack) -> None:
    sqs = stack.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.upload_queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=stack.dead_letter_queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    notification = stack.client("s3").get_bucket_notification_configuration(Bucket=stack.bucket)

    (queue,) = notification["QueueConfigurations"]
    assert queue["QueueArn"] == attributes["QueueArn"]
    (rule,) = queue["Filter"]["Key"]["FilterRules"]
    assert (rule["Name"].lower(), rule["Value"]) == ("prefix", stack.upload_prefix)
    assert "LambdaFunctionConfigurations" not in notification  # S3 no longer invokes make-photo
    redrive = json.loads(attributes["RedrivePolicy"])
    assert (redrive["deadLetterTargetArn"], int(redrive["maxReceiveCount"])) == (dlq_arn, 1000)  # the suite's
    assert dlq_arn == stack.dead_letter_queue_arn


def test_functions_take_their_settings_from_the_template(stack: Stack) -> None:
    make = stack.functions["MakePhotoFunction"].spec
    get = stack.functions["GetPhotoFunction"].spec

    (mapping,) = stack.template.event_source_mappings
    assert (make.timeout_s, make.reserved_concurrency, make.on_failure) == (180, None, None)
    assert (mapping.function_logical_id, mapping.maximum_concurrency, mapping.batch_size) == (
        "MakePhotoFunction",
        10,
        1,
    )
    assert mapping.report_batch_item_failures
    assert stack.queue_sources["MakePhotoFunction"].pollers == 10
    assert get.timeout_s == 25  # below API Gateway's 29 s, with room to answer
    assert make.environment["PHOTOS_TABLE"] == stack.table
    assert make.environment["VENDOR_BASE_URL"] == stack.vendor_url  # through the VendorBaseUrl parameter
    assert make.environment["UPLOAD_PREFIX"] == stack.upload_prefix == "uploads/"
    assert make.environment["UPLOAD_QUEUE_URL"] == stack.upload_queue_url
    assert sorted((r.method, r.path) for r in get.routes) == [
        ("GET", "/photos/{key+}"),
        ("POST", "/finals/{key+}"),
    ]
    assert get.role_arn.endswith(stack.template.role("GetPhotoRole").name)


def test_parameter_overrides_flow_into_the_environment() -> None:
    template = load(
        overrides={"DefaultSpecId": "3", "MakePhotoConcurrency": "2", "UploadPrefix": "incoming/"}
    )

    make = template.function("MakePhotoFunction")
    assert make.environment["DEFAULT_SPEC_ID"] == "3"
    assert template.event_source_mappings[0].maximum_concurrency == 2
    (notification,) = next(b for b in template.buckets if b.queue_notifications).queue_notifications
    assert notification.filter_rules == (("prefix", "incoming/"),)


@pytest.mark.parametrize(
    "overrides",
    [
        {"DefaultSpecId": "one"},
        {"MaxUploadMB": "99"},
        {"DefaultPrintType": "3"},
        {"NoSuchParameter": "x"},
        {"MakePhotoConcurrency": "1"},  # MaximumConcurrency takes 2 to 1000
    ],
)
def test_parameter_overrides_are_checked_like_cloudformation_does(overrides: dict[str, str]) -> None:
    with pytest.raises(TemplateError):
        load(overrides=overrides)
