"""Replay the upload events that make-photo parked in the failed-events queue.

When the vendor was down for every attempt, Lambda sends the event to the stack's on-failure
destination (``FailedEventsQueueUrl``) and the photo's record says ``RETRIES_EXHAUSTED`` (or
``VENDOR_ACCOUNT`` when the gateway refused our AppCode or quota). Once the vendor or the account is back, this invokes make-photo again with each parked event (asynchronously, as S3 does)
and deletes the message only after Lambda accepted it. The record stays claimable, so the replay
makes the photo; a version made or failed for another reason meanwhile is left alone.

    python -m ops.replay --stack idphoto [--dry-run] [--max 100]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3


@dataclass(frozen=True)
class Parked:
    receipt: str
    function: str
    payload: dict[str, Any]
    keys: list[str]


def parked_events(sqs: Any, queue_url: str, limit: int) -> Iterator[Parked]:
    """The queue's on-failure records, oldest first as SQS gives them, until empty or ``limit``."""
    seen = 0
    while seen < limit:
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, limit - seen),
            WaitTimeSeconds=1,
            VisibilityTimeout=60,
        )
        messages = answer.get("Messages", [])
        if not messages:
            return
        for message in messages:
            seen += 1
            record = json.loads(message["Body"])
            payload = record.get("requestPayload") or {}
            function = str(record.get("requestContext", {}).get("functionArn", "")).removesuffix(":$LATEST")
            keys = [r["s3"]["object"]["key"] for r in payload.get("Records", []) if "s3" in r]
            yield Parked(message["ReceiptHandle"], function, payload, keys)


def replay(sqs: Any, lambda_client: Any, queue_url: str, *, limit: int, dry_run: bool) -> int:
    replayed = 0
    for event in parked_events(sqs, queue_url, limit):
        if not event.function or not event.payload:
            print(f"skipped a message that is not an on-failure record of make-photo: {event.keys}")
            continue
        print(f"{'would replay' if dry_run else 'replaying'} {', '.join(event.keys) or '(no keys)'}")
        if dry_run:
            continue
        lambda_client.invoke(
            FunctionName=event.function, InvocationType="Event", Payload=json.dumps(event.payload)
        )
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=event.receipt)
        replayed += 1
    return replayed


def queue_of(stack: str, cloudformation: Any) -> str:
    outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == "FailedEventsQueueUrl":
            return str(output["OutputValue"])
    raise SystemExit(f"stack {stack} has no FailedEventsQueueUrl output")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", default="idphoto", help="the deployed stack's name")
    parser.add_argument("--queue-url", help="the failed-events queue (default: the stack's output)")
    parser.add_argument("--max", type=int, default=1000, help="replay at most this many events")
    parser.add_argument("--dry-run", action="store_true", help="list the parked events, change nothing")
    args = parser.parse_args(argv)
    queue_url = args.queue_url or queue_of(args.stack, boto3.client("cloudformation"))
    count = replay(
        boto3.client("sqs"), boto3.client("lambda"), queue_url, limit=args.max, dry_run=args.dry_run
    )
    print(f"{count} event(s) replayed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
