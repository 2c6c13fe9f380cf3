"""Upload -> READY -> finals through the whole local stack, checking the images themselves."""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from local.stack import Stack
from tests.integration.conftest import image, near, top_corners, vendor_delta

pytestmark = pytest.mark.integration

WHITE, BLUE, RED, SKY = 0xFFFFFF, 0x438EDB, 0xD9001B, 0x87CEEB


def finals_of(stack: Stack, key: str) -> dict[str, Any]:
    answer = stack.finals(key)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def download(url: str) -> bytes:
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200, url
    return answer.content


def test_default_upload_becomes_two_colours_with_finals_of_the_spec_size(
    stack: Stack, key: str, portrait: bytes
) -> None:
    before = stack.vendor_stats()

    full_key = stack.upload(key, portrait, {"background": "white,blue"})
    record = stack.wait_for_photo(full_key)

    assert record["status"] == "READY"
    assert record["colors"] == ["white", "blue"]
    assert record["sheet_count"] == 8  # print type 1: eight one-inch photos a sheet
    assert record["options"]["spec_id"] == 1
    assert [p["color"] for p in record["previews"]] == ["white", "blue"]
    finals = {f["color"]: f for f in finals_of(stack, full_key)["finals"]}
    for color, rgb in (("white", WHITE), ("blue", BLUE)):
        photo = image(download(finals[color]["photo_url"]))
        assert photo.size == (295, 413)  # spec 1, one-inch at 300 dpi
        assert all(near(pixel, rgb) for pixel in top_corners(photo)), (color, top_corners(photo))
        sheet = image(download(finals[color]["sheet_url"]))
        assert sheet.size == (1800, 1200)
    after = stack.vendor_stats()
    assert vendor_delta(before, after, "make_calls") == 1
    assert vendor_delta(before, after, "billed_calls") == 2


def test_per_upload_options_gradient_and_compact_sheet(
    stack: Stack, key: str, second_portrait: bytes
) -> None:
    full_key = stack.upload(key, second_portrait, {"background": "sky=#87ceeb:#ffffff", "print-type": "2"})
    record = stack.wait_for_photo(full_key)

    assert record["status"] == "READY"
    assert record["colors"] == ["sky"]
    assert record["sheet_count"] == 10  # compact: ten a sheet
    photo = image(download(finals_of(stack, full_key)["finals"][0]["photo_url"]))
    assert all(near(pixel, SKY, tolerance=20) for pixel in top_corners(photo)), top_corners(photo)


def test_per_upload_custom_pixel_size(stack: Stack, key: str, portrait: bytes) -> None:
    full_key = stack.upload(key, portrait, {"width-px": "358", "height-px": "441", "background": "red"})
    record = stack.wait_for_photo(full_key)

    assert record["status"] == "READY"
    photo = image(download(finals_of(stack, full_key)["finals"][0]["photo_url"]))
    assert photo.size == (358, 441)
    assert all(near(pixel, RED) for pixel in top_corners(photo)), top_corners(photo)


def test_per_upload_spec_id(stack: Stack, key: str, second_portrait: bytes) -> None:
    full_key = stack.upload(key, second_portrait, {"spec-id": "4"})
    record = stack.wait_for_photo(full_key)

    assert record["status"] == "READY"
    assert record["colors"] == ["white"]  # the deployment's DefaultBackground
    photo = image(download(finals_of(stack, full_key)["finals"][0]["photo_url"]))
    assert photo.size == (600, 600)  # the stand-in's spec 4: US passport, 2 x 2 in


@pytest.mark.parametrize(
    "name",
    ["with space.jpg", "plus+sign.jpg", "pct%41 literal.jpg", "unicodé 照片.jpg"],
)
def test_keys_with_spaces_plus_percent_and_unicode_round_trip(
    stack: Stack, portrait: bytes, name: str
) -> None:
    full_key = stack.upload(f"it/keys/{name}", portrait)
    record = stack.wait_for_photo(full_key)

    assert record["key"] == full_key
    assert record["status"] == "READY"
    assert finals_of(stack, full_key)["key"] == full_key


def test_finals_asked_twice_are_billed_once(stack: Stack, key: str, portrait: bytes) -> None:
    full_key = stack.upload(key, portrait)
    stack.wait_for_photo(full_key)
    before = stack.vendor_stats()

    first = finals_of(stack, full_key)
    second = finals_of(stack, full_key)

    assert vendor_delta(before, stack.vendor_stats(), "billed_calls") == 1
    assert [f["color"] for f in first["finals"]] == [f["color"] for f in second["finals"]] == ["white"]
    assert download(first["finals"][0]["photo_url"]) == download(second["finals"][0]["photo_url"])
    status = stack.photo_body(full_key)
    assert status["finals_kept"] == ["white"]


def test_concurrent_finals_requests_are_billed_once(stack: Stack, key: str, portrait: bytes) -> None:
    full_key = stack.upload(key, portrait)
    stack.wait_for_photo(full_key)
    stack.vendor_faults({"latency_ms": 800})  # keep the billed call open while the others arrive
    before = stack.vendor_stats()

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: stack.finals(full_key), range(4)))

    assert vendor_delta(before, stack.vendor_stats(), "billed_calls") == 1
    assert {a.status_code for a in answers} <= {200, 409}
    assert any(a.status_code == 200 for a in answers)


def test_bad_metadata_fails_without_calling_the_vendor(stack: Stack, key: str, portrait: bytes) -> None:
    before = stack.vendor_stats()

    full_key = stack.upload(key, portrait, {"background": "purple", "width-px": "5000"})
    record = stack.wait_for_photo(full_key)

    assert record["status"] == "FAILED"
    assert record["error"]["code"] == "INVALID_OPTIONS"
    assert "purple" in record["error"]["message"] and "width-px" in record["error"]["message"]
    assert vendor_delta(before, stack.vendor_stats(), "make_calls") == 0
    assert stack.finals(full_key).status_code == 409


def test_not_an_image_fails_without_calling_the_vendor(stack: Stack, key: str) -> None:
    before = stack.vendor_stats()

    full_key = stack.upload(key, b"just text, named .jpg\n")
    record = stack.wait_for_photo(full_key)

    assert record["status"] == "FAILED"
    assert record["error"]["code"] == "UNSUPPORTED_OBJECT"
    assert vendor_delta(before, stack.vendor_stats(), "make_calls") == 0


def test_unknown_photo_is_404(stack: Stack) -> None:
    answer = stack.photo("it/never-uploaded.jpg")

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "PHOTO_NOT_FOUND"


ROOT = Path(__file__).resolve().parents[2]


def aws_cli() -> str:
    """The AWS CLI that `make setup` installs as a tool (or one on PATH)."""
    tool = ROOT / ".cache" / "tools" / "bin" / "aws"
    found = str(tool) if tool.exists() else shutil.which("aws")
    assert found, "the AWS CLI is missing: run `make setup`"
    return found


def test_an_upload_with_the_aws_cli_is_made_too(
    stack: Stack, key: str, portrait: bytes, tmp_path: Any
) -> None:
    source = tmp_path / "portrait.jpg"
    source.write_bytes(portrait)
    full_key = stack.upload_prefix + key
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": stack.region,
    }
    env.pop("AWS_PROFILE", None)
    command = [
        aws_cli(),
        "--endpoint-url",
        stack.aws_url,
        "s3",
        "cp",
        str(source),
        f"s3://{stack.bucket}/{full_key}",
    ]
    metadata = ["--metadata", "spec-id=2,background=blue|white"]
    subprocess.run([*command, *metadata], check=True, env=env, capture_output=True)  # noqa: S603

    record = stack.wait_for_photo(full_key)

    assert record["status"] == "READY"
    assert record["options"]["spec_id"] == 2
    assert record["colors"] == ["blue", "white"]
