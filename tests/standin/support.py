"""Helpers shared by the stand-in tests (imported relatively; fixtures live in conftest)."""

import io
from typing import Any

import numpy as np
import requests
from PIL import Image

APPCODE = "test-appcode-0000"
MAKE = "/aliyun_api/pic_handle_3"
GET = "/get_pic_3"
BLUE = 4427483
WHITE = 0xFFFFFF


def jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    return buffer.getvalue()


def decode(content: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(content)) as image:
        return np.asarray(image.convert("RGB"))


def colour(value: int, name: str, end: int | None = None) -> dict[str, Any]:
    return {"start_color": value, "enc_color": value if end is None else end, "color_name": name}


def rgb_of(value: int) -> np.ndarray:
    return np.array([(value >> 16) & 255, (value >> 8) & 255, value & 255], dtype=float)


class Client:
    """Calls the stand-in like the real API's clients do, plus its test-only admin."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    @staticmethod
    def auth(appcode: str = APPCODE) -> dict[str, str]:
        return {"Authorization": f"APPCODE {appcode}"}

    def make(self, body: Any, *, appcode: str = APPCODE, timeout: float = 30) -> requests.Response:
        return self.http.post(self.base + MAKE, json=body, headers=self.auth(appcode), timeout=timeout)

    def get_pic(self, file_name: str, *, timeout: float = 30) -> requests.Response:
        return self.http.get(
            self.base + GET, params={"file_name": file_name}, headers=self.auth(), timeout=timeout
        )

    def admin(self, route: str, payload: dict[str, Any] | None = None) -> Any:
        url = f"{self.base}/_admin/{route}"
        response = self.http.get(url) if payload is None else self.http.post(url, json=payload)
        assert response.status_code == 200, response.text
        return response.json()

    @staticmethod
    def fetch(url: str) -> requests.Response:
        # A fresh GET of the URL exactly as given: signed URLs must not be re-encoded.
        return requests.get(url, timeout=10)


class Clock:
    """A wall clock moved by hand (the stand-in's ``Vendor.clock``, a ``TokenBucket``'s): expiry and
    refills are tested without sleeping (a sleep, or a 1 s URL fetched "while still valid", loses
    races on a loaded machine)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
