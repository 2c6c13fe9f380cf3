"""The local stack's resources are the template's, resolved like a deployment would resolve them."""

from __future__ import annotations

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


def test_functions_take_their_settings_from_the_template(stack: Stack) -> None:
    make = stack.functions["MakePhotoFunction"].spec
    get = stack.functions["GetPhotoFunction"].spec

    # No reservation (a new account refuses one); MakePhotoConcurrency sizes make-photo's pool.
    assert (make.timeout_s, make.reserved_concurrency, make.max_retry_attempts) == (180, None, 2)
    assert stack.invokers["MakePhotoFunction"].concurrency == 10
    assert get.timeout_s == 25  # below API Gateway's 29 s, with room to answer
    assert make.environment["PHOTOS_TABLE"] == stack.table
    assert make.environment["VENDOR_BASE_URL"] == stack.vendor_url  # through the VendorBaseUrl parameter
    assert make.environment["UPLOAD_PREFIX"] == stack.upload_prefix == "uploads/"
    assert make.on_failure is not None and make.on_failure.arn.endswith(
        stack.failed_queue_url.rsplit("/", 1)[1]
    )
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
    assert make.reserved_concurrency is None and template.parameters["MakePhotoConcurrency"] == "2"
    assert make.s3_events[0].filter_rules == (("prefix", "incoming/"),)


@pytest.mark.parametrize(
    "overrides",
    [{"DefaultSpecId": "one"}, {"MaxUploadMB": "99"}, {"DefaultPrintType": "3"}, {"NoSuchParameter": "x"}],
)
def test_parameter_overrides_are_checked_like_cloudformation_does(overrides: dict[str, str]) -> None:
    with pytest.raises(TemplateError):
        load(overrides=overrides)
