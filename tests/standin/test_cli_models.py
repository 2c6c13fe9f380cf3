"""The command lines and the model fetch: start, refuse to start without the model, extract it."""

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests

from local.standin import build_server, models
from local.standin.models import ModelMissingError, ensure_model, require_model

REPO = Path(__file__).resolve().parents[2]


def run_module(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - this interpreter running our own module
        [sys.executable, "-m", *args],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_prints_its_address_and_takes_the_appcode_from_the_environment() -> None:
    env = {"STANDIN_APPCODE": "from-env", "STANDIN_MODEL_PATH": str(ensure_model())}
    process = run_module(["local.standin", "--host", "127.0.0.1", "--port", "0"], env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"standin listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        base = match.group(1)
        ok = requests.get(
            f"{base}/get_pic_3",
            params={"file_name": "x"},
            headers={"Authorization": "APPCODE from-env"},
            timeout=10,
        )
        assert ok.json()["code"] == 422
        refused = requests.get(
            f"{base}/get_pic_3",
            params={"file_name": "x"},
            headers={"Authorization": "APPCODE local-appcode"},
            timeout=10,
        )
        assert refused.headers["X-Ca-Error-Code"] == "A403AC"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_cli_refuses_to_start_without_the_model(tmp_path: Path) -> None:
    process = run_module(
        ["local.standin", "--port", "0"], {"STANDIN_MODEL_PATH": str(tmp_path / "none.tflite")}
    )
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "python -m local.standin.models" in stderr


def test_server_refuses_to_build_without_the_model(tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError, match=re.escape("python -m local.standin.models")):
        build_server(port=0, model_path=tmp_path / "missing.tflite")
    with pytest.raises(ModelMissingError):
        require_model(tmp_path / "missing.tflite")


def fake_wheel(folder: Path, member_bytes: bytes) -> Path:
    wheel = folder / "mediapipe-0.10.21-cp312-cp312-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("mediapipe/__init__.py", "")
        archive.writestr(models.MEMBER, member_bytes)
    return wheel


def test_fetch_extracts_only_the_pinned_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ensure_model().read_bytes()
    monkeypatch.setattr(models, "_download_wheel", lambda dest: fake_wheel(dest, real))
    target = tmp_path / "cache" / "selfie_segmentation.tflite"
    assert models.main(["--path", str(target)]) == 0
    assert target.read_bytes() == real
    assert sorted(p.name for p in target.parent.iterdir()) == ["selfie_segmentation.tflite"]


def test_fetch_rejects_a_model_with_the_wrong_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "_download_wheel", lambda dest: fake_wheel(dest, b"not the model"))
    target = tmp_path / "selfie_segmentation.tflite"
    with pytest.raises(ModelMissingError, match="SHA-256"):
        models.fetch_model(target)
    assert not target.exists()
