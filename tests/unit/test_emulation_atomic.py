"""The emulation must give DynamoDB's guarantees that pay-once rests on: one conditional write wins,
and a read sees a write all or none."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.stack.aws import make_dynamodb_requests_whole


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
    make_dynamodb_requests_whole()

    outcomes = [race(table, f"key-{trial}", 6) for trial in range(40)]

    assert [len(winners) for winners, _ in outcomes] == [1] * 40
    assert {code for _, refusals in outcomes for code in refusals} == {"ConditionalCheckFailedException"}


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
