"""The upload queue as the template deploys it (through AWS's own SAM transform), the back-offs of a
waiting upload, and the event source mapping's reading of a partial batch response."""

from __future__ import annotations

from typing import Any

import pytest

from bench.queue_sim import Scenario, simulate
from idphoto.config import Settings
from idphoto.upload_messages import MAX_VISIBILITY_SECONDS, refusal_delay, retry_delay
from local.stack.sqs_source import item_failures
from local.stack.template import load


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    resources: dict[str, Any] = load().translated["Resources"]
    return resources


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def test_make_photo_reads_the_upload_queue_through_an_event_source_mapping_with_maximum_concurrency(
    translated: dict[str, Any],
) -> None:
    (mapping,) = of_type(translated, "AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]

    assert props["FunctionName"] == {"Ref": "MakePhotoFunction"}
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["UploadQueue", "Arn"]}
    assert props["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MakePhotoConcurrency"}}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_no_function_reserves_concurrency_and_none_is_invoked_by_s3(translated: dict[str, Any]) -> None:
    functions = of_type(translated, "AWS::Lambda::Function")
    permissions = of_type(translated, "AWS::Lambda::Permission").values()

    assert all("ReservedConcurrentExecutions" not in f["Properties"] for f in functions.values())
    assert not [p for p in permissions if p["Properties"]["Principal"] == "s3.amazonaws.com"]
    assert not of_type(translated, "AWS::Lambda::EventInvokeConfig").get("MakePhotoFunctionEventInvokeConfig")


def test_the_bucket_notifies_the_queue_whose_policy_admits_only_this_bucket_and_account(
    translated: dict[str, Any],
) -> None:
    bucket = translated["PhotoBucket"]
    (configuration,) = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    (statement,) = translated["UploadQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]

    assert configuration["Queue"] == {"Fn::GetAtt": ["UploadQueue", "Arn"]}
    assert configuration["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": {"Ref": "UploadPrefix"}}]
    assert "UploadQueuePolicy" in bucket["DependsOn"]  # S3 validates the destination when it is saved
    assert (statement["Principal"], statement["Action"]) == (
        {"Service": "s3.amazonaws.com"},
        "sqs:SendMessage",
    )
    condition = statement["Condition"]
    # The bucket's own name (computed from the stack id, issue 20 item 6) in an S3 ARN.
    name, variables = bucket["Properties"]["BucketName"]["Fn::Sub"]
    assert condition["ArnEquals"]["aws:SourceArn"] == {
        "Fn::Sub": ["arn:${AWS::Partition}:s3:::" + name, variables]
    }
    assert condition["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_queues_use_encryption_s3_can_publish_to(translated: dict[str, Any]) -> None:
    """S3 event notifications cannot publish to a queue under the AWS-managed SQS key (alias/aws/sqs)."""
    for name in ("UploadQueue", "UploadDeadLetterQueue"):
        props = translated[name]["Properties"]
        assert props.get("SqsManagedSseEnabled") is True
        assert "alias/aws/sqs" not in str(props.get("KmsMasterKeyId", ""))


def test_visibility_timeout_follows_aws_advice_and_the_queue_redrives_to_its_dlq(
    translated: dict[str, Any],
) -> None:
    queue = translated["UploadQueue"]["Properties"]
    function = translated["MakePhotoFunction"]["Properties"]
    (mapping,) = of_type(translated, "AWS::Lambda::EventSourceMapping").values()
    window = mapping["Properties"].get("MaximumBatchingWindowInSeconds", 0)

    # "at least six times the function's timeout plus MaximumBatchingWindowInSeconds"
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"] + window
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["UploadDeadLetterQueue", "Arn"]}
    assert queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "UploadMaxReceiveCount"}
    # The DLQ keeps a message past its source's retention (counted from the original enqueue).
    assert (
        translated["UploadDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
        > queue["MessageRetentionPeriod"]
    )


def test_alarms_watch_the_oldest_upload_and_the_dead_letter_queue(translated: dict[str, Any]) -> None:
    alarms = of_type(translated, "AWS::CloudWatch::Alarm")
    watched = {
        (a["Properties"].get("MetricName"), a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0])
        for a in alarms.values()
        if a["Properties"].get("Namespace") == "AWS/SQS"
    }

    assert ("ApproximateAgeOfOldestMessage", "UploadQueue") in watched
    assert ("ApproximateNumberOfMessagesVisible", "UploadDeadLetterQueue") in watched


def test_make_photo_may_poll_and_change_visibility_on_the_upload_queue_only(
    translated: dict[str, Any],
) -> None:
    statements = [
        s
        for policy in translated["MakePhotoRole"]["Properties"]["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
        if any(str(a).startswith("sqs:") for a in s["Action"])
    ]

    (statement,) = statements
    assert sorted(statement["Action"]) == [
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
    ]
    assert statement["Resource"] == {"Fn::GetAtt": ["UploadQueue", "Arn"]}


# --- back-offs ---------------------------------------------------------------------------------------


SETTINGS = Settings(bucket="b", table="t", appcode_secret_name="s")  # the deployed defaults


def test_a_failed_upload_comes_back_after_a_doubling_back_off_up_to_the_cap() -> None:
    delays = [retry_delay(n, SETTINGS) for n in range(1, 8)]

    assert delays == [30, 60, 120, 240, 480, 900, 900]


def test_a_refused_upload_waits_a_day_before_the_dead_letter_queue_and_never_within_minutes() -> None:
    """Receive after receive, as SQS would hand the message out after each delay: with the defaults
    (100 receives, a day) it is tried at least every 15 minutes and reaches the DLQ after the day."""
    waited, receive, delays = 0, 1, []
    while (
        delay := refusal_delay(receive, waited, SETTINGS)
    ) is not None and receive < SETTINGS.make_attempts:
        delays.append(delay)
        waited += delay
        receive += 1

    assert max(delays) <= 900
    assert waited >= SETTINGS.refusal_wait_seconds - 900
    assert sum(delays[:5]) > 5 * 60  # not in the DLQ within minutes


def test_with_few_receives_the_wait_is_spread_over_them() -> None:
    few = Settings(bucket="b", table="t", appcode_secret_name="s", make_attempts=5)

    first = refusal_delay(1, 0, few)

    assert first == few.refusal_wait_seconds // 4  # a day over the four receives left
    assert refusal_delay(2, few.refusal_wait_seconds, few) is None  # waited the limit: it goes on
    assert refusal_delay(1, 0, Settings(bucket="b", table="t", appcode_secret_name="s", make_attempts=2)) == (
        MAX_VISIBILITY_SECONDS
    )  # never past SQS's 12 hours


# --- partial batch responses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "failed"),
    [
        ({"batchItemFailures": []}, set()),
        (None, set()),
        ({"batchItemFailures": [{"itemIdentifier": "a"}]}, {"a"}),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, None),  # not in the batch: all fail
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, None),
    ],
)
def test_a_partial_batch_response_is_read_as_lambda_reads_it(response: Any, failed: set[str] | None) -> None:
    assert item_failures(response, {"a", "b"}) == failed


# --- the 10,000-upload simulation --------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "concurrency", "expected_rate"), [(10.0, 10, 10 / 3), (5.0, 50, 5.0)])
def test_the_queue_drains_at_the_lesser_of_concurrency_over_latency_and_the_vendors_rate(
    rate: float, concurrency: int, expected_rate: float
) -> None:
    result = simulate(Scenario(uploads=600, rate=rate, concurrency=concurrency, latency=3.0))

    # Never faster than that; refused calls' back-off idles an environment a little (at most 10 %).
    assert 600 / expected_rate - 3.0 <= result.drained_s <= 1.1 * 600 / expected_rate
    assert (result.refused > 0) == (concurrency / 3.0 > rate)  # more in flight than the vendor admits
