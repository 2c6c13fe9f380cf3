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


def test_writes_wait_for_each_other(table: Any) -> None:
    """Deterministic: while one write holds the emulation's write lock, another cannot land."""
    from local.stack import aws

    make_dynamodb_writes_atomic()
    done = threading.Event()

    def write() -> None:
        table.put_item(TableName="race", Item={"k": {"S": "blocked"}})
        done.set()

    with aws._ATOMIC_WRITES:
        writer = threading.Thread(target=write)
        writer.start()
        landed_while_held = done.wait(0.5)
    writer.join(30)

    assert landed_while_held is False
    assert done.is_set()
