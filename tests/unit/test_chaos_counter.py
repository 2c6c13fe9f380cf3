"""chaos counts the photos the stand-in made by wrapping its vendor's ``make``: the wrapper must take
every argument the stand-in's server passes (a narrower one turned every make call into a 500)."""

from __future__ import annotations

import inspect
import json
from types import SimpleNamespace
from typing import Any

from local.stack.chaos import MakeCounter
from local.standin.service import Vendor as StandinVendor


class Vendor:
    """The stand-in vendor's ``make`` signature, answering 200 and remembering what it was given."""

    def __init__(self) -> None:
        self.given: list[dict[str, Any]] = []

    def make(self, raw_body: bytes, head_share: float | None = None) -> dict[str, Any]:
        self.given.append({"head_share": head_share})
        return {"code": 200}


def request(key: str) -> bytes:
    return json.dumps({"pic_url": f"http://127.0.0.1:4566/photos/{key}?X-Amz-Signature=0"}).encode()


def test_the_counter_passes_the_stand_ins_arguments_through_and_counts_per_key() -> None:
    vendor = Vendor()
    stack: Any = SimpleNamespace(standin=SimpleNamespace(app=SimpleNamespace(vendor=vendor)), bucket="photos")

    with MakeCounter(stack) as counter:
        stack.standin.app.vendor.make(request("uploads/a.jpg"), head_share=0.4)
        stack.standin.app.vendor.make(request("uploads/a.jpg"))
        stack.standin.app.vendor.make(request("uploads/b%20c.jpg"))

    assert vendor.given == [{"head_share": 0.4}, {"head_share": None}, {"head_share": None}]
    assert counter.per_key() == {"uploads/a.jpg": 2, "uploads/b c.jpg": 1}
    assert counter.twice() == {"uploads/a.jpg": 2}
    assert "make" not in vars(vendor)  # the class's method again


def test_the_fake_has_the_stand_ins_signature() -> None:
    def shape(method: Any) -> list[tuple[str, Any]]:
        return [(p.name, p.default) for p in inspect.signature(method).parameters.values()]

    assert shape(Vendor.make) == shape(StandinVendor.make)
