"""S3 -> function delivery: the template's S3 events, carried by moto's own bucket notifications.

Choice: for each S3 event of a function (bucket, event types, prefix/suffix rules from the template) the
bucket gets a notification configuration whose destination is an internal SQS queue in moto; a pump
thread long-polls that queue and hands each record to the function's asynchronous invoker, one record per
event as S3 sends them to Lambda. So *every* write by *any* client (AWS CLI, boto3, the demo, a
presigned POST) is delivered, with moto's filtering, and nothing has to watch the clients. moto's records
are completed into AWS's shape when they are made (:mod:`local.stack.s3_events`): key encoded like S3
(``quote_plus`` with ``/`` kept), ``versionId``, an increasing ``sequencer``.

The ``s3:TestEvent`` that S3 (and moto) sends when a configuration is saved goes to SQS destinations
only, never to Lambda, so the pump drops it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from local.stack.naming import generated_name
from local.stack.template import FunctionSpec, S3EventSpec

log = logging.getLogger(__name__)

Deliver = Callable[[dict[str, Any]], object]


@dataclass(frozen=True)
class Subscription:
    function: FunctionSpec
    event: S3EventSpec
    queue_url: str


def subscribe(s3: Any, sqs: Any, functions: tuple[FunctionSpec, ...], stack_name: str) -> list[Subscription]:
    """One internal queue per (function, S3 event); one notification configuration per bucket."""
    subscriptions: list[Subscription] = []
    per_bucket: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for function in functions:
        for event in function.s3_events:
            # Shortened like a generated name: SQS takes 80 characters, a stack name has up to 128.
            queue_name = generated_name(
                stack_name, f"{function.logical_id}-{event.name}-s3-events", "AWS::SQS::Queue"
            )
            url: str = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            per_bucket[event.bucket].append(_queue_configuration(function, event, arn))
            subscriptions.append(Subscription(function, event, url))
    for bucket, configurations in per_bucket.items():
        # Kept beside the template's own queue notifications (one configuration per bucket holds both).
        existing = s3.get_bucket_notification_configuration(Bucket=bucket).get("QueueConfigurations", [])
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": existing + configurations}
        )
    return subscriptions


def _queue_configuration(function: FunctionSpec, event: S3EventSpec, queue_arn: str) -> dict[str, Any]:
    configuration: dict[str, Any] = {
        "Id": f"{function.logical_id}{event.name}",  # shows up as s3.configurationId in each record
        "QueueArn": queue_arn,
        "Events": list(event.events),
    }
    if event.filter_rules:
        rules = [{"Name": name, "Value": value} for name, value in event.filter_rules]
        configuration["Filter"] = {"Key": {"FilterRules": rules}}
    return configuration


class EventPump:
    """Moves S3 records from one internal queue to a function's invoker until stopped."""

    def __init__(self, sqs: Any, subscription: Subscription, deliver: Deliver, wait_s: int = 1) -> None:
        self._sqs = sqs
        self._subscription = subscription
        self._deliver = deliver
        self._wait_s = wait_s  # long-poll length: also how long stop() may take
        self._stopped = threading.Event()
        name = f"s3-events-{subscription.function.logical_id}-{subscription.event.name}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=self._wait_s + 5)

    def _run(self) -> None:
        url = self._subscription.queue_url
        while not self._stopped.is_set():
            try:
                answer = self._sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=self._wait_s
                )
            except Exception:
                if not self._stopped.is_set():
                    log.exception("cannot read S3 events from %s; retrying", url)
                    self._stopped.wait(1.0)
                continue
            for message in answer.get("Messages", []):
                self._forward(json.loads(message["Body"]))
                # Deleted once handed over: from here the invoker owns retries, as Lambda's async queue does.
                self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def _forward(self, body: dict[str, Any]) -> None:
        if body.get("Event") == "s3:TestEvent":
            return
        for record in body.get("Records", []):
            self._deliver({"Records": [record]})


@dataclass(frozen=True)
class Delivery:
    """One S3 event document handed to a function, as it was handed over."""

    function: str  # logical id
    key: str  # the object key, decoded
    event: dict[str, Any]  # ``{"Records": [record]}``
    request_id: str
    redelivered: bool = False


class DeliveryLog:
    """Every event document the pumps deliver (and every redelivery), so that tests and the chaos run
    can find an event by its object key, deliver it again, and prove what was (not) delivered."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._deliveries: list[Delivery] = []

    def tap(self, function: str, deliver: Callable[[dict[str, Any]], str]) -> Callable[[dict[str, Any]], str]:
        """``deliver`` (an invoker's ``invoke``), recording each event it is given."""

        def recorded(event: dict[str, Any]) -> str:
            return self.deliver(function, deliver, event)

        return recorded

    def deliver(
        self,
        function: str,
        deliver: Callable[[dict[str, Any]], str],
        event: dict[str, Any],
        *,
        redelivered: bool = False,
    ) -> str:
        request_id = deliver(event)
        key = unquote_plus(event["Records"][0]["s3"]["object"]["key"], encoding="utf-8")
        with self._lock:
            self._deliveries.append(Delivery(function, key, event, request_id, redelivered))
            self._lock.notify_all()
        return request_id

    def add(self, delivery: Delivery) -> None:
        """A delivery made elsewhere (an event source mapping handing a queue's message over)."""
        with self._lock:
            self._deliveries.append(delivery)
            self._lock.notify_all()

    def of(self, key: str | None = None, function: str | None = None) -> list[Delivery]:
        """The deliveries of one key and/or function (all when both are None), oldest first."""
        with self._lock:
            return self._matching(key, function)

    def wait_for(self, key: str, count: int = 1, timeout: float = 30.0) -> list[Delivery]:
        """The deliveries of ``key`` once there are at least ``count``; TimeoutError otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._matching(key, None)) >= count, timeout):
                found = len(self._matching(key, None))
                raise TimeoutError(
                    f"{key!r} was delivered {found} times, not {count}, within {timeout:.0f} s"
                )
            return self._matching(key, None)

    def _matching(self, key: str | None, function: str | None) -> list[Delivery]:
        return [
            d
            for d in self._deliveries
            if (key is None or d.key == key) and (function is None or d.function == function)
        ]
