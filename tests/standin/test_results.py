"""``get_pic_3`` (billed) and the signed, expiring result URLs."""

import math
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import numpy as np

from local.standin import StandinHandle

from .support import Client, Clock, decode

Body = Callable[..., dict[str, Any]]
FINAL_URL = re.compile(
    r"^http://127\.0\.0\.1:\d+/result%2F(?P<name>[^?]+?)(?P<print>_print)?\.jpg"
    r"\?Signature=[A-Za-z0-9%]+&Expires=(?P<expires>\d+)&OSSAccessKeyId=LOCALSTANDIN$"
)


def test_get_pic_answers_the_documented_shape(client: Client, made: dict[str, Any]) -> None:
    name = made["final_pic_name"][0]
    response = client.get_pic(name)
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"code", "file_name", "file_name_list"}
    assert answer["code"] == 200
    photo, sheet = FINAL_URL.match(answer["file_name"]), FINAL_URL.match(answer["file_name_list"])
    assert photo and sheet
    assert photo["name"] == sheet["name"] == name
    assert not photo["print"] and sheet["print"]
    assert abs(int(photo["expires"]) - (time.time() + 7 * 86_400)) < 120


def test_each_successful_get_pic_is_billed(client: Client, made: dict[str, Any]) -> None:
    for name in made["final_pic_name"] + made["final_pic_name"][:1]:
        assert client.get_pic(name).json()["code"] == 200
    client.get_pic("unknown")  # a 422 is not billed
    stats = client.admin("stats")
    assert stats["billed_calls"] == 3
    assert stats["get_calls"] == 4
    assert stats["get_codes"] == {"200": 3, "422": 1}


def test_make_and_previews_are_not_billed(client: Client, body: Body) -> None:
    answer = client.make(body()).json()
    client.fetch(answer["wm_pic_url"][0])
    stats = client.admin("stats")
    assert stats["make_calls"] == 1
    assert stats["billed_calls"] == 0


def test_final_downloads_differ_from_previews(client: Client, made: dict[str, Any]) -> None:
    answer = client.get_pic(made["final_pic_name"][0]).json()
    final_sheet = decode(client.fetch(answer["file_name_list"]).content).astype(int)
    preview_sheet = decode(client.fetch(made["print_wm_pic_url"][0]).content).astype(int)
    assert final_sheet.shape == preview_sheet.shape == (1200, 1800, 3)
    assert np.abs(final_sheet - preview_sheet).mean() > 3
    assert client.admin("stats")["downloads"] == {"preview": 1, "final": 1, "denied": 0, "missing": 0}


def xml_code(text: str) -> str:
    match = re.search(r"<Code>([^<]+)</Code>", text)
    assert match, text
    return match.group(1)


def test_tampered_or_unsigned_urls_are_403(client: Client, made: dict[str, Any]) -> None:
    url = made["wm_pic_url"][0]
    expires = re.search(r"Expires=(\d+)", url)
    assert expires
    later = url.replace(f"Expires={expires.group(1)}", f"Expires={int(expires.group(1)) + 1000}")
    forged = client.fetch(later)
    assert forged.status_code == 403
    assert xml_code(forged.text) == "SignatureDoesNotMatch"
    unsigned = client.fetch(url.split("?")[0])
    assert unsigned.status_code == 403
    assert xml_code(unsigned.text) == "AccessDenied"
    # The watermark-free object is not reachable by editing a preview URL's prefix.
    assert client.fetch(url.replace("/result_wm%2F", "/result%2F")).status_code == 403
    assert client.admin("stats")["downloads"]["denied"] == 3


def expires_of(url: str) -> int:
    match = re.search(r"Expires=(\d+)", url)
    assert match, url
    return int(match.group(1))


def test_preview_urls_expire(client: Client, body: Body, clock: Clock) -> None:
    client.admin("config", {"preview_ttl_s": 10})
    answer = client.make(body()).json()
    url = answer["wm_pic_url"][0]
    assert expires_of(url) == math.ceil(clock.now + 10)
    assert client.fetch(url).status_code == 200

    clock.now = expires_of(url) + 0.001
    response = client.fetch(url)

    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/xml"
    assert xml_code(response.text) == "AccessDenied"
    assert "Request has expired" in response.text
    # The final is kept longer than the preview: it can still be bought.
    assert client.get_pic(answer["final_pic_name"][0]).json()["code"] == 200


def test_final_urls_are_valid_for_their_whole_ttl_then_expire(
    client: Client, body: Body, clock: Clock
) -> None:
    client.admin("config", {"final_ttl_s": 60})
    name = client.make(body()).json()["final_pic_name"][0]
    answer = client.get_pic(name).json()
    expires = expires_of(answer["file_name"])
    assert expires == expires_of(answer["file_name_list"]) == math.ceil(clock.now + 60)

    clock.now = expires  # the last instant it is valid: at least the 60 s asked for
    assert client.fetch(answer["file_name"]).status_code == 200
    assert client.fetch(answer["file_name_list"]).status_code == 200

    clock.advance(0.001)
    assert client.fetch(answer["file_name"]).status_code == 403
    assert client.fetch(answer["file_name_list"]).status_code == 403


def test_get_pic_after_retention_is_422(client: Client, body: Body, clock: Clock) -> None:
    client.admin("config", {"final_ttl_s": 60})
    name = client.make(body()).json()["final_pic_name"][0]

    clock.advance(60.001)

    assert client.get_pic(name).json() == {"code": 422, "error": f"file_name expired: {name}"}
    assert client.admin("stats")["billed_calls"] == 0


def test_signed_url_for_a_missing_object_is_404(client: Client, standin: StandinHandle) -> None:
    vendor = standin.app.vendor
    url = vendor.signer.url(vendor.base_url, "result_wm", "f" * 32 + "clothesgone", sheet=False, ttl_s=60)
    response = client.fetch(url)
    assert response.status_code == 404
    assert xml_code(response.text) == "NoSuchKey"


def test_result_names_with_reserved_characters_round_trip(client: Client, body: Body) -> None:
    colours = [{"start_color": 0, "enc_color": 0, "color_name": "a/b?c&d=e%f g"}]
    answer = client.make(body(background_color=colours, clothes="x/y")).json()
    name = answer["final_pic_name"][0]
    assert name.endswith("clothesx/ya/b?c&d=e%f g")
    assert quote(name, safe="") in answer["wm_pic_url"][0]
    assert client.fetch(answer["wm_pic_url"][0]).status_code == 200
    final = client.get_pic(name).json()
    assert client.fetch(final["file_name"]).status_code == 200
