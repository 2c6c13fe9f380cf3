"""The bench's tallies of work done in the functions' own processes, seen at the front and the stand-in.

A call is the invocation's when it is the only one of its function in flight (AWS calls, named by the
front) or the only one in flight at all (vendor exchanges); otherwise it is counted as unattributed,
never given to the wrong invocation.
"""

from __future__ import annotations

from bench.probe import Tally
from bench.stackrun import Attribution
from local.stack.access import Call


def test_a_call_goes_to_the_one_invocation_of_its_function_in_flight() -> None:
    attribution = Attribution()
    make, get = Tally(), Tally()

    with attribution.running("MakePhotoFunction", make), attribution.running("GetPhotoFunction", get):
        attribution.aws_call(Call("MakePhotoFunction", "s3", "PutObject", {}), b"12345", 0.01)
        attribution.aws_call(Call("MakePhotoFunction", "s3", "GetObject", {}, presigned=True), b"", 0.01)
        attribution.vendor_exchange("/get_pic_3", 0.5, 100)  # two in flight: whose is it?

    assert make.aws == {"s3:PutObject": 1}
    assert make.bytes_to_s3 == 5
    assert get.aws == {}
    assert (make.vendor_calls, get.vendor_calls) == ({}, {})
    assert attribution.unattributed == 1


def test_a_vendor_exchange_is_the_only_invocation_in_flight() -> None:
    attribution = Attribution()
    first, second = Tally(), Tally()  # equal (both empty), yet two invocations

    with attribution.running("GetPhotoFunction", first):
        with attribution.running("GetPhotoFunction", second):
            pass
        attribution.vendor_exchange("/get_pic_3", 0.5, 100)
        attribution.vendor_exchange("/results/a.jpg", 0.1, 2048)

    assert first.vendor_calls == {"/get_pic_3": 1, "result download": 1}
    assert first.bytes_from_vendor == 2148
    assert second.vendor_calls == {}
