"""Vendor calls reach X-Ray as subsegments of the function's segment, over the daemon's UDP protocol."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from idphoto.errors import VendorRejected
from idphoto.options import PhotoOptions
from idphoto.tracing import HEADER, TraceContext, subsegment
from idphoto.vendor import VendorClient
from tests.unit.vendor_server import Reply, VendorServer, running_server

TRACE = "Root=1-581cf771-a006649127e371903a2de979;Parent=70de5b6f19ff9a0b;Sampled=1"


@pytest.fixture
def daemon() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    yield sock
    sock.close()


def env_for(daemon: socket.socket, trace: str = TRACE) -> dict[str, str]:
    host, port = daemon.getsockname()
    return {"_X_AMZN_TRACE_ID": trace, "AWS_XRAY_DAEMON_ADDRESS": f"{host}:{port}"}


def received(daemon: socket.socket) -> dict[str, Any]:
    datagram = daemon.recv(65536)
    assert datagram.startswith(HEADER)
    document: dict[str, Any] = json.loads(datagram[len(HEADER) :])
    return document


def test_a_sampled_call_is_sent_as_a_remote_subsegment_of_the_function_segment(daemon: socket.socket) -> None:
    with subsegment(
        "vendor /get_pic_3", "GET", "https://vendor.example/get_pic_3?file_name=x", env_for(daemon)
    ) as call:
        call.status = 200

    document = received(daemon)
    assert document["trace_id"] == "1-581cf771-a006649127e371903a2de979"
    assert document["parent_id"] == "70de5b6f19ff9a0b"
    assert (document["type"], document["namespace"]) == ("subsegment", "remote")
    assert document["http"] == {
        "request": {"method": "GET", "url": "https://vendor.example/get_pic_3"},
        "response": {"status": 200},
    }
    assert document["end_time"] >= document["start_time"]
    assert len(document["id"]) == 16


def test_an_exception_marks_a_fault_and_still_propagates(daemon: socket.socket) -> None:
    with pytest.raises(TimeoutError), subsegment("vendor /x", "POST", "https://v/x", env_for(daemon)):
        raise TimeoutError

    assert received(daemon)["fault"] is True


@pytest.mark.parametrize(
    "trace", ["", "Root=1-5-a;Parent=70de5b6f19ff9a0b;Sampled=0", "Root=1-5-a;Sampled=1"]
)
def test_nothing_is_sent_when_not_traced_or_not_sampled(daemon: socket.socket, trace: str) -> None:
    with subsegment("vendor /x", "POST", "https://v/x", env_for(daemon, trace)):
        pass

    daemon.settimeout(0.3)
    with pytest.raises(TimeoutError):
        daemon.recv(65536)
    assert TraceContext.current({"_X_AMZN_TRACE_ID": trace}) is None


def test_the_vendor_client_traces_each_call_with_its_outcome(
    daemon: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env_for(daemon).items():
        monkeypatch.setenv(name, value)
    server: VendorServer
    with running_server() as server:
        server.script(Reply(200, json.dumps({"code": 422, "error": "spec_id unknown"})))
        client = VendorClient(server.url, lambda: "appcode-for-tracing-test")

        with pytest.raises(VendorRejected):
            client.make_photo(
                lambda _: "https://s3/x.jpg", PhotoOptions(spec_id=9), read_timeout=5, deadline=1e12
            )

    document = received(daemon)
    assert document["name"] == "vendor /aliyun_api/pic_handle_3"
    assert document.get("error") is True and "fault" not in document
    assert document["annotations"] == {"vendor_code": "422"}
    assert "appcode-for-tracing-test" not in json.dumps(document)
