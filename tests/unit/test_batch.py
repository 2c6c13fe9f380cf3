"""``idphoto batch`` without a stack: resumes without uploading twice; one photo's trouble stays its own."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from idphoto_cli.api import ApiError
from idphoto_cli.batch import JOURNAL, REPORT, Batch
from idphoto_cli.commands import Output
from idphoto_cli.errors import Exit


class FakeApi:
    """The photo API as the batch sees it: a photo exists (READY) once its key was uploaded."""

    def __init__(self) -> None:
        self.uploaded: list[str] = []
        self.finals_asked: list[str] = []

    def upload(self, _target: Any, _path: Path, key: str, _metadata: dict[str, str]) -> None:
        self.uploaded.append(key)

    def status(self, key: str) -> dict[str, Any]:
        if key not in self.uploaded:
            raise ApiError(404, "PHOTO_NOT_FOUND", "no photo")
        return {"key": key, "status": "READY", "colors": ["white"], "finals_kept": []}

    def finals(self, key: str, color: str | None = None) -> dict[str, Any]:
        self.finals_asked.append(key)
        raise ApiError(502, "VENDOR_REJECTED", "vendor code 422")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"p{i}.jpg").write_bytes(b"\xff\xd8\xff" + bytes([i]) * 10)
    (folder / "readme.txt").write_text("not a portrait")
    return folder


def run(api: FakeApi, folder: Path, out: Path, *, finals: bool) -> tuple[Exit, list[dict[str, str]]]:
    batch = Batch(
        SimpleNamespace(upload_prefix="uploads/"),  # type: ignore[arg-type]
        api,  # type: ignore[arg-type]
        out,
        metadata={},
        finals=finals,
        concurrency=2,
        timeout=5,
        out=Output(io.StringIO(), io.StringIO()),
        upload_file=api.upload,
    )
    code = batch.run(sorted(folder.glob("*.jpg")))
    with (out / REPORT).open() as file:
        return code, list(csv.DictReader(file))


def test_a_rerun_uploads_nothing_again_with_or_without_its_journal(folder: Path, tmp_path: Path) -> None:
    api, out = FakeApi(), tmp_path / "out"

    code, rows = run(api, folder, out, finals=False)
    run(api, folder, out, finals=False)
    (out / JOURNAL).unlink()
    run(api, folder, out, finals=False)

    assert code == Exit.OK
    assert len(api.uploaded) == 3 == len(set(api.uploaded))
    assert [r["status"] for r in rows] == ["READY"] * 3
    assert all(r["key"].startswith("uploads/batch/p") for r in rows)


def test_finals_refused_for_a_photo_are_reported_and_the_batch_goes_on(folder: Path, tmp_path: Path) -> None:
    api = FakeApi()

    code, rows = run(api, folder, tmp_path / "out", finals=True)

    assert code == Exit.OK
    assert len(api.finals_asked) == 3, "every photo was tried"
    assert all("finals not fetched: VENDOR_REJECTED" in r["reason"] for r in rows)
    assert [r["billed"] for r in rows] == ["no"] * 3
