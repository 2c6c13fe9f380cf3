"""What a newcomer ran into with ``idphoto``, without a stack: file types, the version ``make`` waits
for, a key that was never uploaded, keys as the tool prints them, mistyped options and specs, and
what ``batch`` says about skipped files and the money it spends."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from idphoto_cli import commands, history
from idphoto_cli.api import ApiError
from idphoto_cli.batch import REPORT, Batch, portraits_in, run_batch
from idphoto_cli.commands import Output, Uploaded
from idphoto_cli.errors import CliError, Exit
from idphoto_cli.main import main

TARGET: Any = SimpleNamespace(bucket="photos", upload_prefix="uploads/", local=True)


@pytest.fixture(autouse=True)
def own_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "history.jsonl"
    monkeypatch.setenv("IDPHOTO_HISTORY", str(path))
    return path


def output() -> Output:
    return Output(io.StringIO(), io.StringIO())


# --- 5: every type the pipeline takes; batch reports what it skips -------------------------------


@pytest.mark.parametrize("name", ["iphone.heic", "x.HEIF", "y.avif", "scan.tif", "scan.tiff"])
def test_make_takes_every_type_the_pipeline_takes(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"not checked here")

    assert commands.check_portraits([str(path)], None) == [path]


def test_batch_skips_with_a_reason_and_takes_heic(tmp_path: Path) -> None:
    (tmp_path / "a.heic").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "idphoto-out").mkdir()

    taken, skipped = portraits_in(tmp_path, tmp_path / "idphoto-out")

    assert [p.name for p in taken] == ["a.heic"]
    reasons = {Path(s.file).name: s.reason for s in skipped}
    assert set(reasons) == {"notes.txt", ".DS_Store", "empty.jpg"}
    assert reasons["notes.txt"].startswith("not an image type the pipeline takes (.txt")


# --- 6 and 5: batch --finals asks, says the cost, and sums up --------------------------------------


class FakeApi:
    def __init__(self, colors: tuple[str, ...] = ("white", "blue"), kept: tuple[str, ...] = ()) -> None:
        self.uploaded: list[str] = []
        self.finals_asked: list[str] = []
        self.colors, self.kept = list(colors), list(kept)

    def upload(self, _target: Any, path: Path, key: str, _metadata: dict[str, str]) -> None:
        self.uploaded.append(key)

    def status(self, key: str) -> dict[str, Any]:
        if key not in self.uploaded:
            raise ApiError(404, "PHOTO_NOT_FOUND", "no photo")
        if "bad" in key:
            return {
                "key": key,
                "status": "FAILED",
                "error": {"code": "UNSUPPORTED_OBJECT", "message": "no face"},
            }
        return {"key": key, "status": "READY", "colors": self.colors, "finals_kept": self.kept}

    def finals(self, key: str, color: str | None = None) -> dict[str, Any]:
        self.finals_asked.append(key)
        return {"key": key, "finals": [], "pending": []}


def folder_with(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("p1.jpg", "p2.jpg", "bad.jpg"):
        (folder / name).write_bytes(name.encode())
    (folder / "notes.txt").write_text("x")
    return folder


def test_batch_finals_asks_with_the_most_it_can_cost_and_a_no_pays_nothing(tmp_path: Path) -> None:
    api, asked = FakeApi(kept=("white",)), list[str]()

    def decline(text: str) -> bool:
        asked.append(text)
        return False

    folder = folder_with(tmp_path)
    taken, skipped = portraits_in(folder)
    out = output()
    batch = Batch(
        TARGET,
        cast(Any, api),
        tmp_path / "out",
        metadata={},
        finals=True,
        concurrency=2,
        timeout=5,
        out=out,
        upload_file=api.upload,
        approve=decline,
    )

    code = batch.run(taken, skipped)

    assert asked == [
        "This is the billed step: the finals of 2 photo(s) cost at most 2 billed call(s), one per colour "
        "not fetched before; the vendor bills each once. Kept already, free: 2."
    ]
    assert api.finals_asked == [] and code == Exit.USAGE
    summary = out.stream.getvalue()  # type: ignore[attr-defined]
    assert "made 2, failed 1 (UNSUPPORTED_OBJECT 1), skipped 1" in summary
    assert "finals: not fetched (not confirmed)" in summary
    with (tmp_path / "out" / REPORT).open() as file:
        rows = {Path(r["file"]).name: r for r in csv.DictReader(file)}
    assert rows["notes.txt"]["status"] == "SKIPPED" and "not an image type" in rows["notes.txt"]["reason"]


def test_batch_finals_without_a_terminal_or_yes_refuses_before_uploading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO())
    api = FakeApi()

    with pytest.raises(CliError, match="nothing was uploaded") as refused:
        run_batch(
            TARGET,
            cast(Any, api),
            folder_with(tmp_path),
            spec=None,
            background="white,blue",
            finals=True,
            out_dir=None,
            concurrency=1,
            timeout=5,
            out=(out := output()),
        )

    assert refused.value.code == Exit.USAGE and api.uploaded == []
    assert "at most 6 (3 photo(s) x 2 colour(s)) billed call(s)" in out.err.getvalue()  # type: ignore[attr-defined]


# --- 2: make waits for the version it uploaded ------------------------------------------------------


class VersionedApi:
    """The photo of the previous upload first, then the photo of the new one."""

    def __init__(self) -> None:
        self.answers = [
            {
                "key": "uploads/me.jpg",
                "status": "READY",
                "colors": ["red"],
                "version": {"version_id": "v1", "etag": "e1"},
            },
            {"key": "uploads/me.jpg", "status": "PROCESSING", "version": {"version_id": "v2", "etag": "e2"}},
            {
                "key": "uploads/me.jpg",
                "status": "READY",
                "colors": ["blue"],
                "version": {"version_id": "v2", "etag": "e2"},
            },
        ]

    def status(self, key: str) -> dict[str, Any]:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_make_waits_for_the_photo_of_the_version_it_uploaded() -> None:
    records = commands.wait_for(
        cast(Any, VersionedApi()),
        ["uploads/me.jpg"],
        30,
        io.StringIO(),
        versions={"uploads/me.jpg": Uploaded("e2", "v2")},
    )

    assert records["uploads/me.jpg"]["colors"] == ["blue"]


def test_without_a_version_id_the_etag_tells_the_versions_apart() -> None:
    assert Uploaded("e2", None).made({"version": {"etag": "e2", "version_id": None}})
    assert not Uploaded("e2", None).made({"version": {"etag": "e1", "version_id": None}})


# --- 3: a key with no object and no record is not found at once -------------------------------------


class NotFoundApi:
    calls = 0

    def status(self, key: str) -> dict[str, Any]:
        self.calls += 1
        # A second look is the start of the wait this must not do: fail at once, not after --timeout.
        assert self.calls == 1, "polled a key that was never uploaded"
        raise ApiError(404, "PHOTO_NOT_FOUND", f"no photo for {key}")


def test_status_wait_on_a_key_never_uploaded_is_not_found_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands, "upload_exists", lambda _target, _key: False)
    api = NotFoundApi()

    with pytest.raises(CliError, match="nothing was uploaded under that key") as refused:
        commands.run_status(api, "nothere.jpg", wait=True, timeout=600, out=output(), target=TARGET)  # type: ignore[arg-type]

    assert refused.value.code == Exit.NOT_FOUND and api.calls == 1


# --- 7: keys as the tool prints them, and the uploads one made --------------------------------------


def test_the_s3_address_make_prints_is_a_key() -> None:
    assert (
        commands.photo_key_of(TARGET, "s3://photos/uploads/me-1a2b3c.jpg", output())
        == "uploads/me-1a2b3c.jpg"
    )
    with pytest.raises(CliError, match="not in photos"):
        commands.photo_key_of(TARGET, "s3://elsewhere/uploads/me.jpg", output())


def test_the_local_file_make_uploaded_finds_its_tagged_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("portrait.jpg").write_bytes(b"x")
    history.remember("uploads/portrait-1a2b3c.jpg", Path("portrait.jpg"), "photos")
    history.remember("uploads/other-000000.jpg", Path("other.jpg"), "another-bucket")

    assert commands.photo_key_of(TARGET, "portrait.jpg", output()) == "uploads/portrait-1a2b3c.jpg"
    assert "uploads/portrait-1a2b3c.jpg" in commands.not_found_hint(TARGET, "portrait.jpg")
    assert [u.key for u in history.uploads("photos")] == ["uploads/portrait-1a2b3c.jpg"]


def test_a_404_hint_mentions_the_tag_make_adds() -> None:
    assert "adds a tag" in commands.not_found_hint(TARGET, "never.jpg")


# --- 8: a mistyped option or spec gets the subcommand's usage and the closest matches ---------------


@pytest.mark.parametrize(
    ("argv", "usage", "suggestion"),
    [
        (
            ["make", "me.jpg", "--colour", "blue"],
            "usage: idphoto make",
            "--colour (did you mean --background?)",
        ),
        (["make", "me.jpg", "--spce", "us-passport"], "usage: idphoto make", "did you mean --spec"),
        (["finals", "k", "--out", "d", "--colour", "white"], "usage: idphoto finals", "did you mean --color"),
        (["status", "k", "--wiat"], "usage: idphoto status", "did you mean --wait?"),
    ],
)
def test_a_mistyped_option_gets_the_subcommands_usage_and_the_closest(
    argv: list[str], usage: str, suggestion: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)

    err = capsys.readouterr().err
    assert exited.value.code == Exit.USAGE
    assert usage in err and suggestion in err


def test_a_mistyped_spec_name_gets_the_closest_names_not_all_of_them() -> None:
    with pytest.raises(CliError) as refused:
        commands.build_metadata("us-pasport", None, [])

    assert "us-passport" in refused.value.hint and "cn-id-card" not in refused.value.hint
    assert "cn-id-card" not in refused.value.message


def test_specs_with_a_mistyped_name_suggests_the_closest() -> None:
    with pytest.raises(CliError) as refused:
        commands.run_specs("schengen", output())

    assert "schengen-visa" in refused.value.hint and len(refused.value.hint) < 200
