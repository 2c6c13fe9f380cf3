"""The emulation must give DynamoDB's guarantee that pay-once rests on: one conditional write wins."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.stack.aws import make_dynamodb_writes_atomic


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
