"""Wiring: the domain objects built once per execution environment from the settings.

Handlers call these; tests build the objects themselves with their own clients.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import requests
import requests.adapters
from aws_lambda_powertools.utilities import parameters

from idphoto.aws import dynamodb_client, events_client, s3_client, sqs_client
from idphoto.config import Settings, get_settings
from idphoto.events import NO_EVENTS, EventPublisher, PhotoEvents
from idphoto.records import PhotoRecords
from idphoto.storage import PhotoStorage
from idphoto.vendor import VendorClient

if TYPE_CHECKING:  # each function imports only its own logic: a cold start pays for no one else's
    from idphoto.autofinals import AutoFinals
    from idphoto.finals import PhotoFinals
    from idphoto.making import PhotoMaker, PreviewCheck
    from idphoto.options import PhotoOptions
    from idphoto.queueing import UploadHandler


def appcode_reader(settings: Settings) -> AppCode:
    return AppCode(settings.appcode_secret_name, settings.secret_max_age)


class AppCode:
    """Reads the AppCode from Secrets Manager when a call needs it, cached by Powertools.

    Read lazily (not at cold start) so a rotated AppCode is picked up within ``max_age`` seconds,
    and never stored anywhere that could be logged.
    """

    def __init__(self, secret_name: str, max_age: int) -> None:
        self._name = secret_name
        self._max_age = max_age

    def __call__(self) -> str:
        value = parameters.get_secret(self._name, max_age=self._max_age)
        return str(value).strip()

    def __repr__(self) -> str:
        return f"AppCode(secret={self._name!r})"


# Connections kept per host: get-photo downloads up to 12 finals images at once (6 colours x photo and
# sheet) from the vendor's storage; requests' default of 10 would open and drop the extra ones.
POOL_SIZE = 16


@cache
def http_session() -> requests.Session:
    """One session for the whole environment, shared by get-photo's per-colour threads: its urllib3
    connection pool is thread-safe, and nothing else of it (cookies, auth) is changed after this."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@cache
def storage() -> PhotoStorage:
    settings = get_settings()
    return PhotoStorage(
        s3_client(), settings.bucket, settings.upload_prefix, settings.finals_prefix, settings.work_prefix
    )


@cache
def records() -> PhotoRecords:
    settings = get_settings()
    return PhotoRecords(dynamodb_client(), settings.table, retention_days=settings.record_retention_days)


@cache
def vendor() -> VendorClient:
    settings = get_settings()
    return VendorClient(
        settings.vendor_base_url,
        appcode_reader(settings),
        connect_timeout=settings.vendor_connect_timeout,
        session=http_session(),
    )


@cache
def events() -> PhotoEvents:
    bus = get_settings().event_bus
    return PhotoEvents(EventPublisher(events_client(), bus), records()) if bus else NO_EVENTS


PREVIEW_TIMEOUT = 10.0  # seconds for one watermarked preview (tens of KB) from the vendor's storage


def preview_check(settings: Settings) -> PreviewCheck | None:
    """make-photo's compliance check of the previews, or None when the deployment switched it off.
    ``idphoto.compliance`` (numpy, LiteRT, the face models) is imported at the first photo made, so
    no other function's cold start pays for it."""
    if not settings.compliance_check:
        return None
    session = http_session()

    def download(url: str) -> bytes:
        answer = session.get(url, timeout=PREVIEW_TIMEOUT)
        answer.raise_for_status()
        return answer.content

    def check(previews: list[str], colors: list[str], options: PhotoOptions) -> dict[str, dict[str, Any]]:
        from idphoto.compliance import check_previews

        return check_previews(download, previews, colors, options, settings.face_model_dir)

    return check


@cache
def maker() -> PhotoMaker:
    from idphoto.making import PhotoMaker

    settings = get_settings()
    return PhotoMaker(
        settings, storage(), records(), vendor(), events=events(), check_previews=preview_check(settings)
    )


@cache
def upload_handler() -> UploadHandler:
    from idphoto.queueing import UploadHandler
    from idphoto.uploadqueue import UploadQueue

    settings = get_settings()
    return UploadHandler(maker(), UploadQueue(sqs_client(), settings.upload_queue_url), settings)


@cache
def finals() -> PhotoFinals:
    from idphoto.finals import PhotoFinals

    return PhotoFinals(get_settings(), storage(), records(), vendor(), http_session(), events=events())


@cache
def auto_finals() -> AutoFinals:
    from idphoto.autofinals import AutoFinals

    return AutoFinals(get_settings(), storage(), records(), finals())
