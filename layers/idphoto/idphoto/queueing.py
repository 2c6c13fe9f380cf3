"""One message of the upload queue, handled: the logic behind make-photo's batch record handler.

What happens to the message follows from what this raises (Powertools' batch utility reports a raised
record in ``batchItemFailures``; Lambda deletes the others):

* S3's ``s3:TestEvent`` and a photo made, failed for good, skipped or a duplicate: returns, deleted;
* a transient vendor or AWS error: raises, the message comes back after the back-off of
  :func:`idphoto.upload_messages.retry_delay` (its visibility is changed; the record says ``last_error``);
  past ``maxReceiveCount`` SQS moves it to the dead-letter queue. A crash or a timeout cannot change
  it: the message comes back after the queue's visibility timeout;
* another live delivery holds the photo (``IN_FLIGHT``: a duplicate S3 event, or the same message
  received again): raises and comes back after the back-off, never deleted before the photo is
  finished, in case that holder dies;
* the vendor refuses our account (quota, AppCode): the message's visibility is set to the back-off
  of :func:`idphoto.upload_messages.refusal_delay` and it raises; the record says ``waiting``.

Each receive claims the photo under its own id (message id and receive count): two receives of one
message may run at once (a visibility timeout shorter than an invocation, or SQS's at-least-once
delivery), and must not take each other's claim over as a retry of a dead attempt would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from idphoto.config import Settings
from idphoto.errors import DataAccessError
from idphoto.making import Delivery, Outcome, PhotoMaker, UploadWaits
from idphoto.observability import count, logger
from idphoto.source import SourceObject
from idphoto.upload_messages import UploadMessage, retry_delay
from idphoto.uploadqueue import UploadQueue

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


class DeadlineReached(Exception):
    """No time left in this invocation for another upload of its batch: it comes back later."""


class InFlightElsewhere(Exception):
    """Another live delivery is making this photo: this message comes back to see it finished."""


class UploadHandler:
    def __init__(
        self,
        maker: PhotoMaker,
        queue: UploadQueue,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._maker = maker
        self._queue = queue
        self._settings = settings
        self._clock = clock

    def handle(self, record: SQSRecord, *, deadline: float) -> None:
        message = UploadMessage.from_record(record)
        if message.test_event:
            logger.info("S3's test event: nothing to make")
            return
        try:
            self._handle(message, deadline)
        except UploadWaits as waits:
            count("UploadsWaiting")
            self._come_back(message, waits.retry_in, "the upload waits for the vendor to accept our account")
            raise
        except Exception:
            self._come_back(
                message, retry_delay(message.receive_count, self._settings), "the upload comes back"
            )
            raise

    def _handle(self, message: UploadMessage, deadline: float) -> None:
        delivery = Delivery(receive_count=message.receive_count, queued_at=message.sent_at or None)
        claim_id = f"{message.message_id}:{message.receive_count}"
        for s3_record in message.records:
            if self._clock() >= deadline:
                raise DeadlineReached(f"message {message.message_id}: no time left in this invocation")
            source = SourceObject.from_event_record(s3_record)
            logger.append_keys(
                photo_key=source.key, sequencer=source.sequencer, message_id=message.message_id
            )
            result = self._maker.make(source, request_id=claim_id, deadline=deadline, delivery=delivery)
            logger.info("upload handled", extra={"outcome": result.outcome.value, "detail": result.detail})
            if result.outcome is Outcome.IN_FLIGHT:
                raise InFlightElsewhere(f"{source.key} is being made by another delivery")

    def _come_back(self, message: UploadMessage, seconds: int, why: str) -> None:
        """The message comes back after ``seconds``, not the queue's visibility timeout. On its last
        receive that changes nothing (SQS moves it to the dead-letter queue); if SQS refuses the
        change, it comes back after the visibility timeout."""
        logger.warning(why, extra={"retry_in": seconds, "receive_count": message.receive_count})
        try:
            self._queue.wait(message, seconds)
        except DataAccessError as exc:
            logger.warning("could not set the upload's visibility", extra={"error": exc.message})
