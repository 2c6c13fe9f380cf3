"""``idphoto batch`` against the local stack: a folder in, finals and a report out; resumed, nothing twice."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from idphoto_cli.batch import JOURNAL, REPORT
from idphoto_cli.errors import Exit
from idphoto_cli.main import main
from local.stack import Stack
from tests.integration.conftest import vendor_delta

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def local_ports(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDPHOTO_AWS_PORT", str(urlsplit(stack.aws_url).port))
    monkeypatch.setenv("IDPHOTO_API_PORT", str(urlsplit(stack.api_url).port))


@pytest.fixture
def folder(tmp_path: Path, portrait: bytes, request: pytest.FixtureRequest) -> Path:
    """Three different portraits (distinct contents, so distinct photos) and one file that is no image."""
    folder = tmp_path / "portraits"
    folder.mkdir()
    for i, quality in enumerate((70, 80, 90)):
        buffer = io.BytesIO()
        Image.open(io.BytesIO(portrait)).convert("RGB").save(buffer, "JPEG", quality=quality)
        (folder / f"{request.node.name[:20]}-{i}.jpg").write_bytes(buffer.getvalue())
    (folder / "notes.jpg").write_bytes(b"this is a text file")
    return folder


def run(folder: Path, out: Path) -> tuple[int, list[dict[str, str]]]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(
        [
            "batch",
            str(folder),
            "--spec",
            "us-passport",
            "--background",
            "white",
            "--finals",
            "--yes",  # no terminal here: without it the billed step is refused before any upload
            "--out",
            str(out),
        ],
        stdout=stdout,
        stderr=stderr,
    )
    with (out / REPORT).open() as file:
        return code, list(csv.DictReader(file))


def uploads_of(stack: Stack, rows: list[dict[str, str]]) -> list[int]:
    s3 = stack.client("s3")
    return [
        len(s3.list_object_versions(Bucket=stack.bucket, Prefix=row["key"]).get("Versions", []))
        for row in rows
    ]


def test_a_folder_becomes_finals_and_a_report_and_a_rerun_neither_uploads_nor_pays_again(
    stack: Stack, folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    before = stack.vendor_stats()

    code, rows = run(folder, out)

    assert code == Exit.PHOTO_FAILED, "one file is no portrait"
    by_file = {Path(r["file"]).name: r for r in rows}
    assert by_file["notes.jpg"]["status"] == "FAILED"
    assert "UNSUPPORTED_OBJECT" in by_file["notes.jpg"]["reason"]
    made = [r for r in rows if r["status"] == "READY"]
    assert len(made) == 3
    for row in made:
        assert row["billed"] == "white"
        files = row["output_files"].split(";")
        assert len(files) == 2 and all(Path(f).stat().st_size > 0 for f in files)
    assert vendor_delta(before, stack.vendor_stats(), "billed_calls") == 3

    (out / JOURNAL).unlink()  # as if interrupted before the journal was written
    for row in made:
        for file in row["output_files"].split(";"):
            Path(file).unlink()
    code, again = run(folder, out)

    assert code == Exit.PHOTO_FAILED
    assert uploads_of(stack, again) == [1, 1, 1, 1], "each file uploaded once over both runs"
    assert vendor_delta(before, stack.vendor_stats(), "billed_calls") == 3, "nothing paid twice"
    assert [r["billed"] for r in again if r["status"] == "READY"] == ["no", "no", "no"]
    assert all(
        Path(f).is_file() for r in again if r["status"] == "READY" for f in r["output_files"].split(";")
    )
