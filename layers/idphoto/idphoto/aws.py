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

# Short timeouts: AWS answers in milliseconds; a hung call must not eat the vendor's time budget.
CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"mode": "standard", "max_attempts": 4},
    signature_version="s3v4",  # presigned GET URLs must be SigV4
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
