"""The local stack runs each function as Lambda does: in processes of its own, logging as itself."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from local.stack import Stack

pytestmark = pytest.mark.integration

MAKE_PHOTO, GET_PHOTO = "MakePhotoFunction", "GetPhotoFunction"


def structured(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if line.startswith("{") and "function_name" in line]


def test_each_function_runs_in_processes_of_its_own_and_logs_as_itself(
    stack: Stack, key: str, portrait: bytes
) -> None:
    """Item 13 of issue 25: make-photo's lines were labelled get-photo when both shared one process."""
    make, get = stack.functions[MAKE_PHOTO], stack.functions[GET_PHOTO]
    make.logs.clear()
    get.logs.clear()

    stack.upload(key, portrait)
    assert stack.wait_for_photo(key)["status"] == "READY"  # get-photo answers while make-photo works
    assert stack.finals(key).status_code == 200  # get-photo logs each final it keeps

    assert make.pids and get.pids
    assert not make.pids & get.pids
    assert os.getpid() not in make.pids | get.pids
    made, got = structured(list(make.logs)), structured(list(get.logs))
    assert made and got
    assert {line["function_name"] for line in made} == {make.spec.name}
    assert {line["function_name"] for line in got} == {get.spec.name}
