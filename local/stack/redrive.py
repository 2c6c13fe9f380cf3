"""SQS's dead-letter queue redrive (``StartMessageMoveTask``, ``ListMessageMoveTasks``,
``CancelMessageMoveTask``) in the local stack, where moto 5.2 does not implement it.

What AWS documents ("Learn how to configure a dead-letter queue redrive in Amazon SQS", SQS developer
guide; the API reference of the three actions), and what is done here:

* the source must be a dead-letter queue, i.e. named by another queue's ``RedrivePolicy``; otherwise
  ``InvalidParameterValue``;
* without ``DestinationArn`` the messages go back to the queue they came from; moto does not record a
  message's source (AWS's ``DeadLetterQueueSourceArn``), so locally the source is the one queue whose
  redrive policy names the DLQ (with several, ``DestinationArn`` is required);
* each message moved is sent to the destination as a new message with the same body and message
  attributes (so its receive count starts again) and deleted from the dead-letter queue;
* ``ListMessageMoveTasks`` reports the task with ``ApproximateNumberOfMessagesMoved``.

Not supported, and said: the move runs to its end inside the call (the task is ``COMPLETED`` when
``StartMessageMoveTask`` returns: ``MaxNumberOfMessagesPerSecond`` is accepted and ignored, a task
cannot be cancelled while it runs), messages in flight in the dead-letter queue (not visible) are not
moved, and FIFO queues are not handled.

The actions are added to moto's ``SQSResponse`` in this process (moto's server runs here), as
:mod:`local.stack.s3_events` completes moto's S3 notifications.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

from moto.core.responses import ActionResult
from moto.sqs.exceptions import SQSException
from moto.sqs.responses import SQSResponse

_MARK: Final = "_idphoto_local_redrive"


class InvalidParameterValue(SQSException):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterValue", message)


@dataclass
class MoveTask:
    handle: str
    source_arn: str
    destination_arn: str | None
    moved: int
    to_move: int
    started_ms: int
    status: str = "COMPLETED"

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "Status": self.status,
            "SourceArn": self.source_arn,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started_ms,
        }
        if self.destination_arn:
            result["DestinationArn"] = self.destination_arn
        return result


_TASKS: Final[list[MoveTask]] = []
_LOCK: Final = threading.Lock()


def _queue_name(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise InvalidParameterValue(f"{arn!r} is not an SQS queue ARN")
    return parts[5]


def _move(backend: Any, source_arn: str, destination_arn: str | None) -> MoveTask:
    source = backend.get_queue(_queue_name(source_arn))
    sources = backend.list_dead_letter_source_queues(source.name)
    if not sources:
        raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
    if destination_arn is None and len(sources) != 1:
        raise InvalidParameterValue(
            "locally, a dead-letter queue of several queues needs DestinationArn (moto does not record"
            " each message's source queue)"
        )
    destination = backend.get_queue(_queue_name(destination_arn)) if destination_arn else sources[0]
    waiting = [m for m in list(source._messages) if m.visible]
    moved = 0
    for message in waiting:
        backend.send_message(
            destination.name,
            message.body,
            message_attributes=dict(message.message_attributes or {}),
        )
        source._messages.remove(message)
        moved += 1
    return MoveTask(
        handle=uuid.uuid4().hex,
        source_arn=source_arn,
        destination_arn=destination_arn,
        moved=moved,
        to_move=len(waiting),
        started_ms=int(time.time() * 1000),
    )


def start_message_move_task(self: SQSResponse) -> ActionResult:
    task = _move(self.sqs_backend, str(self._get_param("SourceArn")), self._get_param("DestinationArn"))
    with _LOCK:
        _TASKS.append(task)
    return ActionResult({"TaskHandle": task.handle})


def list_message_move_tasks(self: SQSResponse) -> ActionResult:
    source_arn = str(self._get_param("SourceArn"))
    _queue_name(source_arn)
    limit = int(self._get_param("MaxResults") or 1)
    with _LOCK:
        tasks = [t for t in reversed(_TASKS) if t.source_arn == source_arn][:limit]
    return ActionResult({"Results": [t.result() for t in tasks]})


def cancel_message_move_task(self: SQSResponse) -> ActionResult:
    handle = str(self._get_param("TaskHandle"))
    raise InvalidParameterValue(
        f"task {handle} is not running: local move tasks complete inside StartMessageMoveTask"
    )


def install() -> None:
    """Add the three actions to moto's SQS, once per process. Idempotent."""
    if getattr(SQSResponse, _MARK, False):
        return
    SQSResponse.start_message_move_task = start_message_move_task  # type: ignore[attr-defined]
    SQSResponse.list_message_move_tasks = list_message_move_tasks  # type: ignore[attr-defined]
    SQSResponse.cancel_message_move_task = cancel_message_move_task  # type: ignore[attr-defined]
    setattr(SQSResponse, _MARK, True)


def forget_tasks() -> None:
    """moto's reset empties the queues; the task list goes with them."""
    with _LOCK:
        _TASKS.clear()
