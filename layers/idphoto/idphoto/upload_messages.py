"""The upload queue: S3's event as make-photo receives it (an SQS message around the S3 event), and
how long an upload waits there while the vendor refuses our account.

S3 -> SQS -> Lambda: each message's body is one S3 event document (``{"Records": [...]}``), or S3's
``s3:TestEvent`` when the notification is configured ("Amazon S3 Event Notifications", event message
structure). The message's system attributes say how often SQS has handed it out
(``ApproximateReceiveCount``; past the redrive policy's ``maxReceiveCount`` SQS moves it to the
dead-letter queue) and when it entered the queue (``SentTimestamp``, milliseconds).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from idphoto.config import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

# ChangeMessageVisibility's upper bound: 12 hours (Amazon SQS API Reference, ChangeMessageVisibility).
MAX_VISIBILITY_SECONDS: Final = 43_200
TEST_EVENT: Final = "s3:TestEvent"


class NotAnUploadEvent(ValueError):
    """A message body that is neither an S3 event document nor S3's test event."""


@dataclass(frozen=True)
class UploadMessage:
    message_id: str
    receipt_handle: str
    receive_count: int
    sent_at: int  # Unix seconds: when S3 put the event into the queue
    records: list[dict[str, Any]] = field(default_factory=list)  # S3 event records
    test_event: bool = False

    @classmethod
    def from_record(cls, record: SQSRecord) -> UploadMessage:
        try:
            body = json.loads(record.body)
        except ValueError as exc:
            raise NotAnUploadEvent(f"message {record.message_id} is not JSON") from exc
        if not isinstance(body, dict) or not (body.get("Event") == TEST_EVENT or "Records" in body):
            raise NotAnUploadEvent(f"message {record.message_id} holds no S3 event")
        attributes = record.attributes
        return cls(
            message_id=record.message_id,
            receipt_handle=record.receipt_handle,
            receive_count=int(attributes.approximate_receive_count or 1),
            sent_at=int(attributes.sent_timestamp or 0) // 1000,
            records=[r for r in body.get("Records", []) if isinstance(r, dict)],
            test_event=body.get("Event") == TEST_EVENT,
        )


def retry_delay(receive_count: int, settings: Settings) -> int:
    """How long a failed upload waits before its next receive: ``backoff_seconds`` doubling with
    each receive up to ``backoff_cap_seconds`` (a vendor out for a minute costs a minute, not the
    visibility timeout's 18)."""
    doubled: int = settings.backoff_seconds * 2 ** min(receive_count - 1, 30)
    return max(1, min(settings.backoff_cap_seconds, doubled))


def refusal_delay(receive_count: int, waited_seconds: int, settings: Settings) -> int | None:
    """How long an upload the vendor refused (quota, AppCode) waits before its next try, or None
    once it has waited ``refusal_wait_seconds`` (it goes on to the dead-letter queue).

    The back-off is :func:`retry_delay`'s (so an upload is tried again soon after the vendor
    accepts), but never shorter than the wait left
    spread over the receives left before ``maxReceiveCount``: the upload must not reach the
    dead-letter queue within minutes, whatever the redrive policy's count."""
    left = settings.refusal_wait_seconds - waited_seconds
    if left <= 0:
        return None
    backoff = retry_delay(receive_count, settings)
    spread = math.ceil(left / max(1, settings.make_attempts - receive_count))
    return min(MAX_VISIBILITY_SECONDS, max(1, backoff, spread))
