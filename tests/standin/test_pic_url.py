"""Fetching ``pic_url`` and judging its bytes: 506 not an image, 507 cannot fetch or no face."""

import socket
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import SourceServer
from .support import Client

Body = Callable[..., dict[str, Any]]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_presigned_url_is_fetched_verbatim(client: Client, body: Body, source: SourceServer) -> None:
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=test%2F20240101%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=0a1b%2B2c~3d"
    )
    answer = client.make(body(pic_url=source.url("/astronaut.jpg?" + query))).json()
    assert answer["code"] == 200
    assert "/astronaut.jpg?" + query in source.seen


@pytest.mark.parametrize("path", ["/text.txt", "/truncated.jpg"])
def test_content_that_is_not_an_image_is_506(
    client: Client, body: Body, source: SourceServer, path: str
) -> None:
    answer = client.make(body(pic_url=source.url(path))).json()
    assert answer == {"code": 506, "error": "the data at pic_url is not an image"}


def test_expired_presigned_url_is_507(client: Client, body: Body, source: SourceServer) -> None:
    answer = client.make(body(pic_url=source.url("/expired.jpg?X-Amz-Expires=1"))).json()
    assert answer == {"code": 507, "error": "cannot download pic_url: HTTP 403"}


@pytest.mark.parametrize(("path", "status"), [("/missing.jpg", 404), ("/error.jpg", 500)])
def test_http_errors_are_507(
    client: Client, body: Body, source: SourceServer, path: str, status: int
) -> None:
    answer = client.make(body(pic_url=source.url(path))).json()
    assert answer == {"code": 507, "error": f"cannot download pic_url: HTTP {status}"}


def test_unreachable_host_is_507(client: Client, body: Body) -> None:
    answer = client.make(body(pic_url=f"http://127.0.0.1:{closed_port()}/photo.jpg")).json()
    assert answer["code"] == 507
    assert answer["error"].startswith("cannot download pic_url:")


def test_non_http_url_is_507_and_never_read(client: Client, body: Body) -> None:
    answer = client.make(body(pic_url="file:///etc/passwd")).json()
    assert answer == {"code": 507, "error": "cannot download pic_url: only http and https URLs are fetched"}


def test_image_without_a_face_is_507(client: Client, body: Body, source: SourceServer) -> None:
    answer = client.make(body(pic_url=source.url("/noface.jpg"))).json()
    assert answer == {"code": 507, "error": "making the ID photo failed: no face found in the photo"}
    assert client.admin("stats")["make_codes"] == {"507": 1}


def test_exif_orientation_is_ignored_so_a_sideways_photo_finds_no_face(
    client: Client, body: Body, source: SourceServer
) -> None:
    """Raw pixels, as a vendor that ignores EXIF sees them: ours must send photos upright."""
    answer = client.make(body(pic_url=source.url("/sideways.jpg"))).json()
    assert answer == {"code": 507, "error": "making the ID photo failed: no face found in the photo"}


def test_a_group_photo_is_507_not_cropped_to_one_face(
    client: Client, body: Body, source: SourceServer
) -> None:
    answer = client.make(body(pic_url=source.url("/group.jpg"))).json()
    assert answer == {"code": 507, "error": "making the ID photo failed: 2 faces in the photo, one is needed"}


def test_heic_is_not_read(client: Client, body: Body, source: SourceServer) -> None:
    answer = client.make(body(pic_url=source.url("/photo.heic"))).json()
    assert answer["code"] == 506


def test_the_modelled_time_grows_with_bytes_and_pixels() -> None:
    from local.standin.imaging import input_delay_s

    phone = input_delay_s(4_000_000, 12_000_000)
    scaled = input_delay_s(500_000, 2_000 * 1_333)
    assert phone > 4 * scaled > 0
    assert input_delay_s(1, 2_000_000) < input_delay_s(1, 4_000_000)
    assert input_delay_s(1_000_000, 1) < input_delay_s(2_000_000, 1)
