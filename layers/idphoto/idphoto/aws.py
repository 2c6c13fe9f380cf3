"""The AWS clients, made once per execution environment and shared by every invocation.

boto3 comes from the Lambda runtime (it is not in the layer). Endpoints, region and credentials come
from the SDK's standard settings, so the same code runs against AWS and against local emulation
(``AWS_ENDPOINT_URL``) without a branch.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

# Short timeouts: AWS answers in milliseconds; a hung call must not eat the vendor's time budget.
CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"mode": "standard", "max_attempts": 4},
    signature_version="s3v4",  # presigned GET URLs must be SigV4
    # Presigned URLs must name the bucket's regional endpoint (<bucket>.s3.<region>.amazonaws.com).
    # botocore's "auto" style signs for the legacy global <bucket>.s3.amazonaws.com, which buckets in
    # regions launched after March 2019 refuse (400) and older regions redirect (307, breaking SigV4)
    # for up to a day after the bucket is made: https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html
    # "virtual" also keeps the regional name in us-east-1 with us_east_1_regional_endpoint; against a
    # custom endpoint (AWS_ENDPOINT_URL, local emulation on an IP address) botocore falls back to path style.
    s3={"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"},
)


@cache
def s3_client() -> S3Client:
    return boto3.client("s3", config=CLIENT_CONFIG)


@cache
def dynamodb_client() -> DynamoDBClient:
    return boto3.client("dynamodb", config=CLIENT_CONFIG)


@cache
def events_client() -> EventBridgeClient:
    return boto3.client("events", config=CLIENT_CONFIG)


@cache
def sqs_client() -> SQSClient:
    return boto3.client("sqs", config=CLIENT_CONFIG)
