"""The emulation must give DynamoDB's guarantees that pay-once rests on: one conditional write wins,
and a read sees a write all or none; and SQS's: no message lost or handed out twice, none kept past
its retention period."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.stack.aws import (
    make_dynamodb_requests_whole,
    make_dynamodb_writes_atomic,
    make_sqs_counts_consistent,
    make_sqs_queues_whole,
    make_sqs_receives_linear,
)


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="race",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def race(table: Any, key: str, contenders: int) -> tuple[list[int], list[str]]:
    """Conditional puts of one new key from threads released together: who won, and what the others got."""
    winners: list[int] = []
    refusals: list[str] = []
    start = threading.Barrier(contenders)

    def claim(i: int) -> None:
        start.wait()
        try:
            table.put_item(
                TableName="race",
                Item={"k": {"S": key}, "by": {"N": str(i)}},
                ConditionExpression="attribute_not_exists(k)",
            )
            winners.append(i)
        except ClientError as exc:
            refusals.append(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return winners, refusals


def test_racing_conditional_puts_have_exactly_one_winner(table: Any) -> None:
    make_dynamodb_writes_atomic()

    outcomes = [race(table, f"key-{trial}", 6) for trial in range(40)]

    assert [len(winners) for winners, _ in outcomes] == [1] * 40
    assert {code for _, refusals in outcomes for code in refusals} == {"ConditionalCheckFailedException"}


class WatchedLock:
    """The emulation's write lock, telling when a thread starts waiting for it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.waiting = threading.Event()

    def __enter__(self) -> None:
        self.waiting.set()
        self.inner.acquire()

    def __exit__(self, *exc: object) -> None:
        self.inner.release()


def test_writes_wait_for_each_other(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic: while the emulation's write lock is held, a write waits for it and has not
    landed. Seen by a positive event (the writer waits for the lock), not by a pause in which a slow
    machine would not have written anyway."""
    from local.stack import aws

    make_dynamodb_writes_atomic()
    watched = WatchedLock(aws._ATOMIC_WRITES)
    monkeypatch.setattr(aws, "_ATOMIC_WRITES", watched)
    # The request lock would make the read below wait for the blocked write: this test is the write
    # lock's alone (the request lock has its own test below).
    monkeypatch.setattr(aws, "_WHOLE_REQUESTS", contextlib.nullcontext())
    key = {"k": {"S": "blocked"}}

    with watched.inner:  # held here, as a rival write would hold it
        writer = threading.Thread(target=lambda: table.put_item(TableName="race", Item=key))
        writer.start()
        reached_the_lock = watched.waiting.wait(60)  # generous: fails only when the write takes no lock
        while_held = table.get_item(TableName="race", Key=key, ConsistentRead=True)
    writer.join(60)

    assert reached_the_lock
    assert "Item" not in while_held
    assert "Item" in table.get_item(TableName="race", Key=key, ConsistentRead=True)


class ObservedLock:
    """The emulation's request lock, telling when a request had to wait for another."""

    def __init__(self, contended: threading.Event) -> None:
        self._lock = threading.Lock()
        self._contended = contended

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self._contended.set()
            self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def test_a_read_during_an_update_sees_all_of_it_or_none(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto applies an update's SET actions one by one; it is paused between them while a strongly
    consistent read comes in. The read is let go on whichever comes first: it waited for the update
    (the emulation's lock was contended), or it answered (what moto alone does, seeing half)."""
    from moto.dynamodb.parsing.executors import SetExecutor

    from local.stack import aws

    make_dynamodb_requests_whole()
    table.put_item(TableName="race", Item={"k": {"S": "torn"}, "a": {"S": "old"}, "b": {"S": "old"}})
    progress = threading.Event()  # the read waits for the update, or the read answered
    monkeypatch.setattr(aws, "_WHOLE_REQUESTS", ObservedLock(progress))
    halfway, resume = threading.Event(), threading.Event()
    set_action = SetExecutor.execute

    def paused_after_the_first_set(self: Any, item: Any) -> None:
        set_action(self, item)
        if not halfway.is_set():
            halfway.set()
            assert resume.wait(30)

    monkeypatch.setattr(SetExecutor, "execute", paused_after_the_first_set)
    seen: list[tuple[str, str]] = []

    def update() -> None:
        table.update_item(
            TableName="race",
            Key={"k": {"S": "torn"}},
            UpdateExpression="SET a = :new, b = :new",
            ExpressionAttributeValues={":new": {"S": "new"}},
        )

    def read() -> None:
        item = table.get_item(TableName="race", Key={"k": {"S": "torn"}}, ConsistentRead=True)["Item"]
        seen.append((item["a"]["S"], item["b"]["S"]))
        progress.set()

    updater = threading.Thread(target=update)
    updater.start()
    assert halfway.wait(30)
    reader = threading.Thread(target=read)
    reader.start()
    assert progress.wait(30)
    resume.set()
    updater.join(30)
    reader.join(30)

    assert seen in ([("old", "old")], [("new", "new")])


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    make_sqs_queues_whole()
    make_sqs_receives_linear()
    make_sqs_counts_consistent()
    with mock_aws():
        client = boto3.client("sqs")
        yield client, client.create_queue(QueueName="uploads")["QueueUrl"]


def test_a_message_sent_while_another_is_deleted_is_kept(
    queue: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto rebuilds the queue's list to delete a message; here a send arrives in the middle of that
    rebuild (paused on the message after the deleted one). It must not be dropped: in CI an S3
    notification sent then was never delivered. The send is let go after at most 2 s, or as soon as it
    answered (what moto alone does, losing it)."""
    from moto.sqs.models import Message

    sqs, url = queue
    sqs.send_message(QueueUrl=url, MessageBody="deleted")
    sqs.send_message(QueueUrl=url, MessageBody="kept")
    handle = next(
        m["ReceiptHandle"]
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
        if m["Body"] == "deleted"
    )
    checked = Message.had_receipt_handle
    sent: list[threading.Thread] = []

    def send_during_the_rebuild(self: Any, receipt_handle: str) -> bool:
        # Only the rebuild looks past the deleted message (the check before it stops at the match).
        if self.body == "kept" and not sent:
            sender = threading.Thread(target=sqs.send_message, kwargs={"QueueUrl": url, "MessageBody": "new"})
            sent.append(sender)
            sender.start()
            sender.join(2)
        return bool(checked(self, receipt_handle))

    monkeypatch.setattr(Message, "had_receipt_handle", send_during_the_rebuild)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    assert sent, "the deletion never looked at the message after the deleted one"
    sent[0].join(30)
    monkeypatch.undo()

    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    assert sorted(bodies) == ["kept", "new"]


def test_two_receives_never_take_the_same_visible_message(
    queue: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One receive is paused after taking the only message; a second receive comes in. It must not get
    the message too (moto alone hands it out twice). Let go after at most 2 s or when it answered."""
    from moto.sqs.models import Message

    sqs, url = queue
    sqs.send_message(QueueUrl=url, MessageBody="one")
    mark = Message.mark_received
    taken, resume = threading.Event(), threading.Event()

    def paused_after_taking(self: Any, *args: Any, **kwargs: Any) -> Any:
        answer = mark(self, *args, **kwargs)
        if not taken.is_set():
            taken.set()
            resume.wait(30)
        return answer

    monkeypatch.setattr(Message, "mark_received", paused_after_taking)
    got: list[list[str]] = []

    def receive() -> None:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        got.append([m["Body"] for m in answer.get("Messages", [])])

    first = threading.Thread(target=receive)
    first.start()
    assert taken.wait(30)
    second = threading.Thread(target=receive)
    second.start()
    second.join(2)
    resume.set()
    first.join(30)
    second.join(30)

    assert sorted(got) == [[], ["one"]]


def test_a_message_is_received_until_its_retention_period_ends(queue: tuple[Any, str]) -> None:
    """The retention check reads the queue's period itself (moto asked for every attribute of the queue,
    scanning it three times, for each message it handed out); a message older than the period is not
    handed out, a younger one is."""
    from moto.sqs.models import sqs_backends

    sqs, url = queue
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": "60"})
    sqs.send_message(QueueUrl=url, MessageBody="old")
    stored: Any
    (stored,) = sqs_backends["123456789012"]["us-east-1"].get_queue("uploads")._messages
    stored.sent_timestamp -= 61_000  # sent 61 s ago: past the 60 s period
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0, VisibilityTimeout=0).get("Messages", []) == []

    stored.sent_timestamp += 2_000  # 59 s ago
    (received,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)["Messages"]
    assert received["Body"] == "old"


def test_a_receive_does_not_compute_the_queue_s_attributes(
    queue: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each computation of a queue's attributes scans all its messages; a receive needs none of them."""
    from moto.sqs.models import Queue

    sqs, url = queue
    for i in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    computed: list[str] = []
    attributes = Queue.attributes

    def counted(self: Any) -> Any:
        computed.append(self.name)
        return attributes.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(Queue, "attributes", property(counted))
    answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)

    assert len(answer["Messages"]) == 5
    assert computed == []


COUNTS = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible",
]


def test_a_message_coming_back_is_counted_while_it_comes_back(
    queue: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one message of a queue comes back (its visibility timeout ends) between two readings of the
    clock, each reading here one second after the last; whichever two, the queue's counts must hold
    it. moto's counted it in none for some of them (0, 0, 0), and the stack's ``wait_idle`` took the
    queue for empty while the upload had a receive to come."""
    import itertools

    from moto.sqs import models
    from moto.sqs.models import sqs_backends

    sqs, url = queue
    sqs.send_message(QueueUrl=url, MessageBody="coming back")
    stored: Any
    (stored,) = sqs_backends["123456789012"]["us-east-1"].get_queue("uploads")._messages
    start = 1_000_000_000  # milliseconds
    totals: dict[int, int] = {}
    for reading in range(60):
        clock = itertools.count(start=start, step=1000)
        monkeypatch.setattr(models, "unix_time_millis", lambda dt=None, clock=clock: float(next(clock)))
        stored.delayed_until, stored.visible_at = 0, start + reading * 1000 + 500
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=COUNTS)["Attributes"]
        totals[reading] = sum(int(value) for value in counts.values())

    assert {reading: total for reading, total in totals.items() if total != 1} == {}
