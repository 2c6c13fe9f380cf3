"""Fixtures that build the world a unit test needs: moto-backed AWS, settings, a scripted vendor."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from idphoto.aws import CLIENT_CONFIG
from idphoto.config import Settings
from idphoto.errors import VendorError
from idphoto.events import NO_EVENTS, PhotoEvents
from idphoto.finals import PhotoFinals
from idphoto.options import PhotoOptions
from idphoto.records import PhotoRecords
from idphoto.source import SourceObject
from idphoto.storage import PhotoStorage
from idphoto.vendor import CallStats, FinalUrls, MadePhoto
from local.stack.aws import make_dynamodb_requests_whole, make_dynamodb_writes_atomic, make_sqs_queues_whole
from tests import images
from tests.template import table_definition

BUCKET = "idphoto-test-photos"
TABLE = "idphoto-test-photos-table"
SECRET = "idphoto/appcode"
APPCODE = "unit-test-appcode-0000"


UPLOAD_QUEUE = "idphoto-test-uploads"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    make_dynamodb_writes_atomic()  # as DynamoDB itself: one conditional write wins a race
    make_dynamodb_requests_whole()  # and a read sees a write all or none
    make_sqs_queues_whole()  # and a queue loses no message it accepted
    with mock_aws():
        s3 = boto3.client("s3", config=CLIENT_CONFIG)  # as configured in production: SigV4 presigning
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(**table_definition(TABLE))
        secrets = boto3.client("secretsmanager")
        secrets.create_secret(Name=SECRET, SecretString=APPCODE)
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName=UPLOAD_QUEUE)["QueueUrl"]
        yield {"s3": s3, "dynamodb": dynamodb, "secrets": secrets, "sqs": sqs, "queue_url": queue_url}


@pytest.fixture
def settings() -> Settings:
    return Settings(
        bucket=BUCKET,
        table=TABLE,
        appcode_secret_name=SECRET,
        defaults={"spec_id": 1},
    )


@pytest.fixture
def storage(aws: dict[str, Any], settings: Settings) -> PhotoStorage:
    return PhotoStorage(aws["s3"], settings.bucket, settings.upload_prefix, settings.finals_prefix)


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def records(aws: dict[str, Any], clock: Clock) -> PhotoRecords:
    return PhotoRecords(aws["dynamodb"], TABLE, clock=clock)


_sequencers = itertools.count(0x1000)


def upload(
    s3: Any,
    key: str,
    body: bytes | None = None,
    metadata: dict[str, str] | None = None,
    content_type: str = "image/jpeg",
) -> SourceObject:
    """Puts an object (by default a real 480 x 640 JPEG) and returns what S3's event would announce for it."""
    body = images.jpeg(images.portrait()) if body is None else body
    answer = s3.put_object(
        Bucket=BUCKET, Key=key, Body=body, Metadata=metadata or {}, ContentType=content_type
    )
    return SourceObject(
        bucket=BUCKET,
        key=key,
        size=len(body),
        etag=answer["ETag"].strip('"'),
        sequencer=f"{next(_sequencers):032X}",
        version_id=answer.get("VersionId"),
    )


@dataclass
class FakeVendor:
    """Stands in for VendorClient inside one process: scripted answers, counted calls."""

    make_answers: list[MadePhoto | VendorError] = field(default_factory=list)
    final_answers: list[FinalUrls | VendorError] = field(default_factory=list)
    stats: CallStats = field(default_factory=CallStats)
    pic_urls: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    finals_asked: list[str] = field(default_factory=list)
    on_final: Any = None

    def make_photo(
        self, pic_url: Any, options: PhotoOptions, *, read_timeout: float, deadline: float
    ) -> MadePhoto:
        self.stats.make_calls += 1
        self.pic_urls.append(pic_url(read_timeout + 10))
        self.bodies.append(options.to_vendor())
        answer = (
            self.make_answers.pop(0) if self.make_answers else made_photo(options.color_names() or ["white"])
        )
        if isinstance(answer, VendorError):
            raise answer
        return answer

    def get_final(self, name: str, *, read_timeout: float, deadline: float) -> FinalUrls:
        self.stats.billed_calls += 1
        self.finals_asked.append(name)
        if self.on_final is not None:
            self.on_final()
        answer = self.final_answers.pop(0) if self.final_answers else final_urls(name)
        if isinstance(answer, VendorError):
            raise answer
        return answer


def made_photo(colors: list[str], expires: int = 1_900_000_000) -> MadePhoto:
    names = [f"89a58bd0dea511e9ab4900163e0aee01{c}" for c in colors]
    return MadePhoto(
        names=names,
        previews=[f"https://vendor.example/result_wm%2F{n}.jpg?Signature=x&Expires={expires}" for n in names],
        sheet_previews=[
            f"https://vendor.example/result_wm%2F{n}_print.jpg?Signature=x&Expires={expires}" for n in names
        ],
        sheet_count=8,
    )


def final_urls(name: str, expires: int = 1_900_000_000) -> FinalUrls:
    return FinalUrls(
        photo_url=f"https://vendor.example/result%2F{name}.jpg?Signature=y&Expires={expires}",
        sheet_url=f"https://vendor.example/result%2F{name}_print.jpg?Signature=y&Expires={expires}",
    )


@dataclass
class FakeResponse:
    status_code: int
    content: bytes
    headers: dict[str, str]


@dataclass
class FakeSession:
    """Serves the vendor's result URLs for storage.keep (the real one is a requests.Session)."""

    status_code: int = 200
    downloads: list[str] = field(default_factory=list)

    def get(self, url: str, timeout: Any = None) -> FakeResponse:
        self.downloads.append(url)
        return FakeResponse(
            self.status_code, b"\xff\xd8jpeg-of:" + url.encode(), {"Content-Type": "image/jpeg"}
        )


@pytest.fixture(autouse=True)
def cli_history(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The uploads `idphoto` remembers (for `idphoto list`) go to a test folder, never the home's."""
    monkeypatch.setenv("IDPHOTO_HISTORY", str(tmp_path_factory.mktemp("history") / "uploads.jsonl"))


def quiet_finals(
    settings: Settings,
    storage: PhotoStorage,
    records: PhotoRecords,
    vendor: FakeVendor,
    *,
    events: PhotoEvents = NO_EVENTS,
) -> PhotoFinals:
    """The API's finals against the fake vendor and session: they never sleep and their clock stands
    at 0, so a test's outcome follows from its calls alone."""
    fake_vendor: Any = vendor
    fake_session: Any = FakeSession()
    return PhotoFinals(
        settings,
        storage,
        records,
        fake_vendor,
        fake_session,
        sleep=lambda _: None,
        clock=lambda: 0.0,
        events=events,
    )
