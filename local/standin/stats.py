"""Counters behind ``GET /_admin/stats`` (test-only, outside the contract).

Shape::

    {"make_calls": 3, "get_calls": 2, "billed_calls": 1,
     "make_codes": {"200": 2, "422": 1}, "get_codes": {"200": 1, "422": 1},
     "gateway_errors": {"A401AC": 1}, "injected": {"http_status": 0, "malformed": 0, "hang": 0},
     "downloads": {"preview": 2, "final": 1, "denied": 0, "missing": 0}}

``*_calls`` count every request on the route, gateway rejections included; ``*_codes`` count the vendor
codes answered (injected ``fail_next`` codes included); ``billed_calls`` counts ``get_pic_3`` answers
with code 200 (the market bills exactly those).
"""

import threading
from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls: Counter[str] = Counter()
            self._codes: dict[str, Counter[str]] = {"make": Counter(), "get": Counter()}
            self._gateway: Counter[str] = Counter()
            self._injected: Counter[str] = Counter({"http_status": 0, "malformed": 0, "hang": 0})
            self._downloads: Counter[str] = Counter({"preview": 0, "final": 0, "denied": 0, "missing": 0})
            self._billed = 0

    def call(self, call: str) -> None:
        with self._lock:
            self._calls[call] += 1

    def code(self, call: str, code: int) -> None:
        with self._lock:
            self._codes[call][str(code)] += 1
            if call == "get" and code == 200:
                self._billed += 1

    def gateway(self, code: str) -> None:
        with self._lock:
            self._gateway[code] += 1

    def injected(self, kind: str) -> None:
        with self._lock:
            self._injected[kind] += 1

    def download(self, kind: str) -> None:
        with self._lock:
            self._downloads[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "make_calls": self._calls["make"],
                "get_calls": self._calls["get"],
                "billed_calls": self._billed,
                "make_codes": dict(self._codes["make"]),
                "get_codes": dict(self._codes["get"]),
                "gateway_errors": dict(self._gateway),
                "injected": dict(self._injected),
                "downloads": dict(self._downloads),
            }
