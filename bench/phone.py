"""Photos as phones take them: upload-to-READY normalised against the same upload sent as it came.

Ours: the upload goes through the stack as deployed (``MaxSidePx`` 2000): make-photo reads it,
normalises it (orientation, format, scale) and the vendor downloads the copy. As it came: the same
upload, the same stack, with scaling off (``max_side_px`` 0 on the running maker), so the vendor
downloads the original; for the HEIC, whose bytes the stand-in cannot read, the same photo as the
full-size JPEG the phone would otherwise have stored. The stand-in's time grows with what it downloads
and decodes (``local.standin.imaging.input_delay_s``). The phone photos carry sensor-like noise so that
their files are as large as real ones (a 12 MP JPEG of 4-6 MB).

Memory: the peak RSS of a fresh interpreter that imports make-photo and normalises one upload.
Cold start: the import and wiring of make-photo (as :mod:`bench.cold_start` measures it) against the
base commit's, and the first conversion's extra (Pillow and libheif loaded on first use).
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bench.report import Row, Section, mb, median, ms, ratio

if TYPE_CHECKING:
    from bench.context import Context

ROOT: Final = Path(__file__).resolve().parents[1]
TARGET_SPEEDUP: Final = 1.5
TARGET_COLD: Final = 1.05
# The commit this feature starts from: its make-photo is "today's" cold start.
BASE_COMMIT: Final = "d439f50"


def _noisy(width: int, height: int) -> object:
    from PIL import Image, ImageChops

    from local.stack import samples

    picture = samples.phone_portrait(width, height)
    noise = Image.effect_noise((width, height), 10).convert("RGB")
    return ImageChops.add(picture, noise, offset=-128)


@cache
def phone_jpeg() -> bytes:
    """12 MP (3000 x 4000) upright, quality 92, as a phone stores it."""
    buffer = io.BytesIO()
    _noisy(3000, 4000).save(buffer, "JPEG", quality=92)  # type: ignore[attr-defined]
    return buffer.getvalue()


@cache
def camera_jpeg() -> bytes:
    """6000 px on the long side (24 MP), as a camera stores it."""
    buffer = io.BytesIO()
    _noisy(4000, 6000).save(buffer, "JPEG", quality=92)  # type: ignore[attr-defined]
    return buffer.getvalue()


@cache
def phone_heic() -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    _noisy(3000, 4000).save(buffer, "HEIF", quality=80)  # type: ignore[attr-defined]
    return buffer.getvalue()


@contextmanager
def as_it_came() -> Iterator[None]:
    """Scaling off on the stack's (in-process, cached) maker: uploads go to the vendor as they came."""
    from idphoto import services

    maker = services.maker()
    settings = maker._settings
    maker._settings = replace(settings, max_side_px=0)
    try:
        yield
    finally:
        maker._settings = settings


def _ready(ctx: Context, key: str, body: bytes) -> tuple[float, float]:
    """Upload-to-READY seconds and the vendor's share of them."""
    started = time.monotonic()
    invocation = ctx.stack.upload_and_wait(key, body, timeout=180)
    if invocation.outcome != "MADE":
        raise RuntimeError(f"{key}: {invocation.outcome} {invocation.result}")
    return invocation.ended - started, invocation.tally.vendor_s


def run(ctx: Context) -> Section:
    rounds = 2 if ctx.quick else 7
    ctx.stack.vendor_latency(0)
    section = Section()
    cases: list[tuple[str, Callable[[], bytes], Callable[[], bytes], str]] = [
        ("12 MP phone JPEG (3000x4000)", phone_jpeg, phone_jpeg, ".jpg"),
        ("6000 px camera JPEG (4000x6000)", camera_jpeg, camera_jpeg, ".jpg"),
        ("12 MP HEIC (vs. the same photo as JPEG)", phone_heic, phone_jpeg, ".heic"),
    ]
    for name, ours_body, came_body, suffix in cases:
        ctx.progress(f"phone photos: {name}, {rounds} rounds each way")
        ours: list[float] = []
        came: list[float] = []
        ours_vendor: list[float] = []
        came_vendor: list[float] = []
        for index in range(rounds + 1):  # the first round of each warms caches and is dropped
            steps = [("ours", index), ("came", index)]
            for which, i in steps if index % 2 == 0 else steps[::-1]:
                key = f"bench/phone-{which}-{len(section.rows)}-{i}{suffix if which == 'ours' else '.jpg'}"
                if which == "ours":
                    seconds, vendor = _ready(ctx, key, ours_body())
                    if index:
                        ours.append(seconds)
                        ours_vendor.append(vendor)
                else:
                    with as_it_came():
                        seconds, vendor = _ready(ctx, key, came_body())
                    if index:
                        came.append(seconds)
                        came_vendor.append(vendor)
        speedup = median(came) / median(ours)
        target = TARGET_SPEEDUP if name.startswith("12 MP phone") else None
        section.rows.append(
            Row(
                f"upload-to-READY, {name} (median of {rounds}); floor = sent as it came",
                ms(median(ours)),
                ms(median(came)),
                f"{speedup:.2f}x sooner",
                f">= {TARGET_SPEEDUP}x sooner" if target else "—",
                speedup >= TARGET_SPEEDUP if target else None,
            )
        )
        section.rows.append(
            Row(
                f"vendor's share of upload-to-READY, {name}",
                f"{median(ours_vendor) / median(ours):.0%} ({ms(median(ours_vendor))})",
                f"{median(came_vendor) / median(came):.0%} ({ms(median(came_vendor))})",
            )
        )
        section.notes.append(
            f"{name}: {len(ours_body())} bytes uploaded; ours {', '.join(ms(s) for s in ours)}; "
            f"as it came {', '.join(ms(s) for s in came)}."
        )
    section.rows += memory_rows(ctx)
    section.rows += cold_rows(ctx)
    section.rows += layer_rows()
    return section


# --- memory ----------------------------------------------------------------------------------

# VmHWM (the process's peak RSS) starts afresh at exec; ru_maxrss would carry over the bench's own.
HWM = "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))"
PEAK = (
    """
import sys
sys.path.insert(0, {layer!r})
import boto3, requests
from idphoto import imagefile, making, normalise, services
data = open(sys.argv[1], "rb").read()
normalise.normalise(data, imagefile.image_format(data[:64]) or "", max_side=2000)
"""
    + HWM
)
BASE_RSS = (
    """
import sys
sys.path.insert(0, {layer!r})
import boto3, requests
from idphoto import making, services
"""
    + HWM
)


def _peak_kb(code: str, *args: str) -> int:
    answer = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, timeout=600
    )
    return int(answer.stdout.split()[-1])


def memory_rows(ctx: Context) -> list[Row]:
    ctx.progress("phone photos: memory peaks")
    from tests import images

    layer = str(ROOT / "layers" / "idphoto")
    big = images.portrait(6000, 8000)
    rows = []
    base = _peak_kb(BASE_RSS.format(layer=layer)) * 1024
    with tempfile.TemporaryDirectory() as folder:
        for name, body in (
            ("48 MP JPEG, EXIF rotated", images.jpeg(big, orientation=6, quality=85)),
            ("48 MP HEIC", images.encoded(big, "HEIC", quality=80)),
        ):
            path = Path(folder) / "photo"
            path.write_bytes(body)
            peak = _peak_kb(PEAK.format(layer=layer), str(path)) * 1024
            rows.append(
                Row(
                    f"memory peak of make-photo normalising a {name} (peak RSS of a fresh interpreter; its imports alone: {mb(base)})",
                    mb(max(peak, base)),
                    "768 MB (MemorySize)",
                    ratio(max(peak, base), 768 * 2**20),
                    "<= 0.7 of MemorySize",
                    max(peak, base) <= 0.7 * 768 * 2**20,
                )
            )
    return rows


# --- cold start ------------------------------------------------------------------------------

CONVERSION = """
from idphoto import normalise
normalise._register_heif()
from PIL import JpegImagePlugin
print(time.perf_counter() - t)
"""


def _base_tree(folder: Path) -> Path:
    """The base commit's layer and function, byte-compiled like ours (the venv's bytecode is warm)."""
    archive = subprocess.run(  # noqa: S603 - git, our repository
        ["git", "-C", str(ROOT), "archive", BASE_COMMIT, "layers/idphoto/idphoto", "functions/make_photo"],  # noqa: S607
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)  # noqa: S603, S607
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "compileall", "-q", str(folder)], check=True, capture_output=True
    )
    return folder


def cold_rows(ctx: Context) -> list[Row]:
    from bench import cold_start

    runs = 3 if ctx.quick else 15
    ctx.progress(f"phone photos: cold starts, {runs} fresh processes each")
    subprocess.run(  # noqa: S603 - ours byte-compiled as the base is (PYTHONDONTWRITEBYTECODE may be set)
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            str(ROOT / "layers/idphoto/idphoto"),
            str(ROOT / "functions"),
        ],
        check=True,
        capture_output=True,
    )
    with tempfile.TemporaryDirectory() as folder:
        base = _base_tree(Path(folder))
        handler = cold_start.HANDLER
        codes = {
            "today": handler.format(
                layer=str(base / "layers/idphoto"),
                path=str(base / "functions/make_photo/app.py"),
                wiring="maker",
            ),
            "ours": handler.format(
                layer=str(ROOT / "layers/idphoto"),
                path=str(ROOT / "functions/make_photo/app.py"),
                wiring="maker",
            ),
        }
        codes["ours + first conversion"] = codes["ours"].rsplit("print(", 1)[0] + CONVERSION
        samples: dict[str, list[float]] = {name: [] for name in codes}
        for code in codes.values():
            cold_start.seconds(code, built=False)  # page cache warm-up
        for _ in range(runs):
            for name, code in codes.items():
                samples[name].append(cold_start.seconds(code, built=False))
    today, ours, converting = (median(samples[n]) for n in ("today", "ours", "ours + first conversion"))
    return [
        Row(
            f"cold start of make-photo, an ordinary JPEG (median of {runs}); floor = the base commit's",
            ms(ours),
            ms(today),
            ratio(ours, today),
            f"<= {TARGET_COLD}",
            ours / today <= TARGET_COLD,
        ),
        Row(
            f"cold start of make-photo plus the first conversion's imports (Pillow, libheif; median of {runs})",
            ms(converting),
            ms(today),
            ratio(converting, today),
        ),
    ]


# --- layer size ------------------------------------------------------------------------------

IMAGING = ("PIL", "pillow", "pi_heif", "_pi_heif")


def layer_rows() -> list[Row]:
    from bench import sizes

    built = ROOT / ".aws-sam" / "build" / "IdPhotoLayer"
    if not built.is_dir():
        return [Row("layer size", "not built (run `make build`)")]
    zipped, unzipped = sizes.zipped(built)
    without = tuple(p.name for p in (built / "python").iterdir() if not p.name.startswith(IMAGING))
    base_zip, base_raw = sizes.zipped(built, include=without)
    return [
        Row(
            "layer size zipped (unzipped), with Pillow and pi-heif; floor = without them",
            f"{mb(zipped)} ({mb(unzipped)})",
            f"{mb(base_zip)} ({mb(base_raw)})",
            ratio(unzipped, base_raw),
            "unzipped <= 250 MB (Lambda)",
            unzipped <= 250 * 2**20,
        )
    ]
