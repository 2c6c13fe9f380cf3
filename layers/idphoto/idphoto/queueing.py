"""One message of the upload queue, handled: the logic behind make-photo's batch record handler.

What happens to the message follows from what this raises (Powertools' batch utility reports a raised
record in ``batchItemFailures``; Lambda deletes the others):

* S3's ``s3:TestEvent`` and a photo made, failed for good, skipped or a duplicate: returns, deleted;
* a transient vendor or AWS error: raises, the message comes back after the queue's visibility timeout
  (the record says ``last_error``); past ``maxReceiveCount`` SQS moves it to the dead-letter queue;
* the vendor refuses our account (quota, AppCode): the message's visibility is set to the back-off
  of :func:`idphoto.uploads.refusal_delay` and it raises; the record says ``waiting``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from idphoto.errors import DataAccessError
from idphoto.making import Delivery, PhotoMaker, UploadWaits
from idphoto.observability import count, logger
from idphoto.source import SourceObject
from idphoto.uploads import UploadMessage, UploadQueue

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


class DeadlineReached(Exception):
    """No time left in this invocation for another upload of its batch: it comes back later."""


class UploadHandler:
    def __init__(
        self, maker: PhotoMaker, queue: UploadQueue, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._maker = maker
        self._queue = queue
        self._clock = clock

    def handle(self, record: SQSRecord, *, deadline: float) -> None:
        message = UploadMessage.from_record(record)
        if message.test_event:
            logger.info("S3's test event: nothing to make")
            return
        delivery = Delivery(receive_count=message.receive_count, queued_at=message.sent_at or None)
        for s3_record in message.records:
            if self._clock() >= deadline:
                raise DeadlineReached(f"message {message.message_id}: no time left in this invocation")
            source = SourceObject.from_event_record(s3_record)
            logger.append_keys(
                photo_key=source.key, sequencer=source.sequencer, message_id=message.message_id
            )
            try:
                result = self._maker.make(
                    source, request_id=message.message_id, deadline=deadline, delivery=delivery
                )
            except UploadWaits as waits:
                self._wait(message, waits)
                raise
            logger.info("upload handled", extra={"outcome": result.outcome.value, "detail": result.detail})

    def _wait(self, message: UploadMessage, waits: UploadWaits) -> None:
        """The message comes back after the back-off, not the visibility timeout; if SQS refuses the
        change, it comes back after the visibility timeout, which is only sooner."""
        count("UploadsWaiting")
        logger.warning(
            "the upload waits in its queue",
            extra={"retry_in": waits.retry_in, "receive_count": message.receive_count},
        )
        try:
            self._queue.wait(message, waits.retry_in)
        except DataAccessError as exc:
            logger.warning("could not set the waiting upload's visibility", extra={"error": exc.message})
