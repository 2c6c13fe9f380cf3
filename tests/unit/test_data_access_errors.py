"""The data-access modules turn AWS's errors into ours; nothing above them imports botocore."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from idphoto.errors import DataAccessError, IdPhotoError, ObjectMissing
from idphoto.records import PhotoRecords
from idphoto.storage import PhotoStorage
from tests.unit.conftest import upload

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "idphoto" / "idphoto"
# The client factory and the data-access modules: S3, DynamoDB, EventBridge (idphoto.events publishes).
DATA_ACCESS = {"aws.py", "storage.py", "records.py", "events.py", "uploadqueue.py"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_nothing_above_the_data_access_modules_imports_botocore_or_boto3() -> None:
    offenders = {
        path.name: sorted(m for m in imported_modules(path) if m.split(".")[0] in ("botocore", "boto3"))
        for path in PACKAGE.glob("*.py")
        if path.name not in DATA_ACCESS
    }

    assert {name: found for name, found in offenders.items() if found} == {}


def throttled(operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, operation
    )


class Failing:
    """A client whose every call fails as given."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            raise self.error

        return call


@pytest.mark.parametrize(
    "error", [throttled("GetItem"), EndpointConnectionError(endpoint_url="https://dynamodb")]
)
def test_dynamodb_errors_are_ours(error: Exception) -> None:
    records = PhotoRecords(Failing(error), "table")  # type: ignore[arg-type]

    with pytest.raises(DataAccessError) as raised:
        records.get("uploads/me.jpg")

    assert not isinstance(raised.value, IdPhotoError)  # never mapped to a client's error
    assert "DynamoDB GetItem failed" in raised.value.message


def test_s3_errors_are_ours_and_a_missing_object_says_so(aws: dict[str, Any], storage: PhotoStorage) -> None:
    source = upload(aws["s3"], "uploads/me.jpg")
    aws["s3"].delete_object(Bucket=storage.bucket, Key=source.key, VersionId=source.version_id)
    slow = ClientError({"Error": {"Code": "SlowDown", "Message": "reduce"}}, "GetObject")
    failing = PhotoStorage(Failing(slow), "b", "uploads/", "finals/")  # type: ignore[arg-type]

    with pytest.raises(ObjectMissing):
        storage.peek(source.key, source.version_id)
    with pytest.raises(DataAccessError) as raised:
        failing.peek(source.key)

    assert raised.value.aws_code == "SlowDown" and not isinstance(raised.value, ObjectMissing)
