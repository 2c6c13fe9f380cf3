"""Lambda's event source mapping for an Amazon SQS queue: pollers that receive, invoke, delete.

What the template's ``AWS::Lambda::EventSourceMapping`` (an SQS source) does in AWS, after the Lambda
developer guide, "Using Lambda with Amazon SQS" and its pages "Configuring an Amazon SQS event source
mapping", "Configuring maximum concurrency for Amazon SQS event sources" and "Handling errors for an
SQS event source in Lambda" (partial batch responses):

* **long polling**: pollers call ``ReceiveMessage`` with ``WaitTimeSeconds`` (here ``wait_s``, short
  so that ``stop()`` is quick) and the queue's own visibility timeout, as SQS applies it;
* **batch size and window**: a batch holds up to ``BatchSize`` messages; with a
  ``MaximumBatchingWindowInSeconds`` the poller keeps receiving until the batch is full or the
  window has passed, without one it invokes with what one receive returned;
* **maximum concurrency**: at most ``ScalingConfig.MaximumConcurrency`` invocations run at once
  (one poller thread per allowed invocation); it reserves nothing from the account;
* **synchronous invocation** through :meth:`LocalFunction.invoke` with AWS's event shape
  (``Records`` of ``messageId``, ``receiptHandle``, ``body``, ``attributes`` with
  ``ApproximateReceiveCount``, ``SentTimestamp``, ``ApproximateFirstReceiveTimestamp``,
  ``eventSource``, ``eventSourceARN``, ``awsRegion``);
* **success deletes the batch**; an error or a timeout fails the whole batch, whose messages come back
  after their visibility timeout (the function may have changed it: ``ChangeMessageVisibility``);
* **partial batch responses** (``FunctionResponseTypes: [ReportBatchItemFailures]``): the messages
  named in ``batchItemFailures`` stay, the others are deleted; a response naming an id that is not
  in the batch, or an empty/null ``itemIdentifier``, fails the whole batch;
* **receive count and redrive**: SQS (moto) counts receives and moves a message past the redrive
  policy's ``maxReceiveCount`` to the dead-letter queue on the next receive, as AWS does.

Lambda polls and deletes with the function's execution role: the first ``ReceiveMessage``,
``DeleteMessage`` and ``GetQueueAttributes`` of each mapping are recorded as the function's calls
(:mod:`local.stack.least_privilege` checks the role grants them), as the on-failure destination's
``SendMessage`` is.

Not supported, said here rather than guessed: FIFO queues (message groups), event filtering
(``FilterCriteria``), the 6 MB payload limit of a batch, ``Enabled: false`` mappings (they do not
poll), Lambda's gradual scaling of pollers (AWS starts with five and adds up to 300 concurrent
invocations a minute; here every allowed poller starts at once), and the back-off Lambda applies to
its own polling after throttles or function errors.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote_plus

from local.stack.access import Call, CallLog
from local.stack.lambdas import LocalFunction
from local.stack.template import EventSourceMappingSpec

log = logging.getLogger(__name__)

# An SQS mapping without ScalingConfig may scale to the account's limit; locally that many pollers.
DEFAULT_POLLERS: Final = 10
SQS_MAX_MESSAGES: Final = 10  # ReceiveMessage's MaxNumberOfMessages upper bound
SYSTEM_ATTRIBUTES: Final = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
)


@dataclass(frozen=True)
class Received:
    """One S3 event document the mapping handed to the function (what chaos and tests look up)."""

    message_id: str
    key: str  # the object key, decoded ("" for S3's s3:TestEvent)
    body: str
    receive_count: int


@dataclass
class SourceStats:
    invocations: int = 0
    batches_failed: int = 0  # the invocation raised or timed out: every message comes back
    items_failed: int = 0  # messages named in batchItemFailures
    deleted: int = 0


@dataclass
class _Batch:
    messages: list[dict[str, Any]] = field(default_factory=list)


class QueuePoller:
    """One event source mapping: ``pollers`` threads that each receive a batch, invoke, delete."""

    def __init__(
        self,
        sqs: Any,
        mapping: EventSourceMappingSpec,
        queue_url: str,
        function: LocalFunction,
        *,
        region: str,
        calls: CallLog,
        on_received: Callable[[Received], None] | None = None,
        wait_s: int = 1,
    ) -> None:
        self._sqs = sqs
        self.mapping = mapping
        self.queue_url = queue_url
        self.function = function
        self._region = region
        self._calls = calls
        self._recorded: set[str] = set()
        self._on_received = on_received
        self._wait_s = wait_s
        self._stopped = threading.Event()
        self._lock = threading.Condition()
        self._running = 0
        self.stats = SourceStats()
        self.pollers = mapping.maximum_concurrency or DEFAULT_POLLERS
        # Lambda reads the queue's attributes when the mapping is created (it checks the queue).
        self._record("GetQueueAttributes")
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        self._threads = [
            threading.Thread(target=self._poll, name=f"esm-{mapping.logical_id}-{n}", daemon=True)
            for n in range(self.pollers if mapping.enabled else 0)
        ]
        for thread in self._threads:
            thread.start()

    # --- state ------------------------------------------------------------------------------------

    @property
    def running(self) -> int:
        with self._lock:
            return self._running

    def backlog(self) -> int:
        """Messages in the queue: visible, in flight or waiting out a visibility timeout, delayed."""
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)[
            "Attributes"
        ]
        return sum(int(attributes.get(name, 0)) for name in names)

    def wait_idle(self, timeout: float, poll_s: float = 0.2) -> bool:
        """True once the queue is empty and no invocation runs (a message waiting out a visibility
        timeout still counts: it will come back)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.running == 0 and self.backlog() == 0 and self.running == 0:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(poll_s)

    def stop(self) -> None:
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=self._wait_s + self.function.timeout_s + 5)

    # --- one poller -------------------------------------------------------------------------------

    def _poll(self) -> None:
        while not self._stopped.is_set():
            try:
                batch = self._receive_batch()
            except Exception:
                if not self._stopped.is_set():
                    log.exception(
                        "%s cannot receive from %s; retrying", self.mapping.logical_id, self.queue_url
                    )
                    self._stopped.wait(1.0)
                continue
            if not batch.messages:
                continue
            try:
                self._invoke(batch)
            except Exception:  # Lambda's pollers outlive any batch; its messages come back
                log.exception(
                    "%s could not hand over a batch of %d", self.mapping.logical_id, len(batch.messages)
                )

    def _receive_batch(self) -> _Batch:
        """Up to BatchSize messages: one receive, or as many as the batching window allows."""
        batch = _Batch()
        window_ends = time.monotonic() + self.mapping.batching_window_s
        while not self._stopped.is_set():
            wanted = min(SQS_MAX_MESSAGES, self.mapping.batch_size - len(batch.messages))
            self._record("ReceiveMessage")
            answer = self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=self._wait_s,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            batch.messages += answer.get("Messages", [])
            full = len(batch.messages) >= self.mapping.batch_size
            if full or (batch.messages and time.monotonic() >= window_ends):
                break
            if not batch.messages and self.mapping.batching_window_s == 0:
                break
            if time.monotonic() >= window_ends and not batch.messages:
                window_ends = (
                    time.monotonic() + self.mapping.batching_window_s
                )  # the window opens with a message
        return batch

    def _invoke(self, batch: _Batch) -> None:
        records = [self._record_of(message) for message in batch.messages]
        for record in records:
            self._tell(record)
        with self._lock:
            self._running += 1
            self.stats.invocations += 1
        try:
            failed = self._failed_ids(records)
        finally:
            with self._lock:
                self._running -= 1
                self._lock.notify_all()
        done = [r for r in records if r["messageId"] not in failed]
        for record in done:
            self._record("DeleteMessage")
            try:
                self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"])
            except Exception:  # it comes back after its visibility timeout: at least once, as in AWS
                log.exception("%s could not delete message %s", self.mapping.logical_id, record["messageId"])
                continue
            with self._lock:
                self.stats.deleted += 1

    def _failed_ids(self, records: list[dict[str, Any]]) -> set[str]:
        """The messages to leave in the queue: all of them when the invocation failed."""
        everything = {r["messageId"] for r in records}
        try:
            response = self.function.invoke({"Records": records}, str(uuid.uuid4()))
        except Exception as exc:
            log.warning(
                "%s: invocation failed, its %d message(s) come back: %s: %s",
                self.mapping.logical_id,
                len(records),
                type(exc).__name__,
                exc,
            )
            self._count("batches_failed")
            return everything
        if not self.mapping.report_batch_item_failures:
            return set()
        failed = item_failures(response, everything)
        if failed is None:
            log.warning(
                "%s: invalid batchItemFailures %r: the whole batch comes back",
                self.mapping.logical_id,
                response,
            )
            self._count("batches_failed")
            return everything
        with self._lock:
            self.stats.items_failed += len(failed)
        return failed

    def _record_of(self, message: dict[str, Any]) -> dict[str, Any]:
        """The event record Lambda builds from an SQS message."""
        attributes = {k: str(v) for k, v in message.get("Attributes", {}).items() if k in SYSTEM_ATTRIBUTES}
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": attributes,
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": value.get("BinaryValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value.get("DataType", "String"),
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.mapping.queue_arn,
            "awsRegion": self._region,
        }

    def _tell(self, record: dict[str, Any]) -> None:
        if self._on_received is None:
            return
        count = int(record["attributes"].get("ApproximateReceiveCount", "1"))
        for key in s3_keys(record["body"]) or [""]:
            self._on_received(Received(record["messageId"], key, record["body"], count))

    def _record(self, action: str) -> None:
        """Lambda's own call with the execution role; once per action is all least privilege needs."""
        if action in self._recorded:
            return
        self._recorded.add(action)
        self._calls.add(Call(self.mapping.function_logical_id, "sqs", action, {"QueueUrl": self.queue_url}))

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)


def item_failures(response: Any, batch: set[str]) -> set[str] | None:
    """The ids a partial batch response names; None when Lambda would treat it as a failed batch.

    "Handling errors for an SQS event source in Lambda": an empty or null ``batchItemFailures`` (or a
    response without it) is success; an ``itemIdentifier`` that is empty, null or not in the batch
    fails the whole batch."""
    if not isinstance(response, dict) or not response.get("batchItemFailures"):
        return set()
    failed: set[str] = set()
    for item in response["batchItemFailures"]:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in batch:
            return None
        failed.add(str(identifier))
    return failed


def s3_keys(body: str) -> list[str]:
    """The decoded object keys of an S3 event document (none for ``s3:TestEvent`` or another body)."""
    try:
        document = json.loads(body)
    except ValueError:
        return []
    if not isinstance(document, dict):
        return []
    return [
        unquote_plus(record["s3"]["object"]["key"], encoding="utf-8")
        for record in document.get("Records", [])
        if isinstance(record, dict) and "s3" in record
    ]
