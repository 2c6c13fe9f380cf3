"""Compliance: the check of one preview (idphoto.compliance), at the sizes previews come in.

Each size runs in a fresh interpreter with only the layer's package on the path, as make-photo's
Lambda has it: the first measure pays numpy's and LiteRT's import and the models' load (the cold part,
paid once per execution environment and never by a function that does not check); then the median of
warm measures, and the process's peak RSS (``ru_maxrss``). The previews are the astronaut cut to the
ICAO framing and watermarked like the stand-in's (tests/framing.py). The layer's share is what the
check adds to the built layer: numpy, ai-edge-litert (+ ml_dtypes, protobuf, flatbuffers) and the models.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bench.report import Row, Section, mb, ms
from bench.sizes import BUILD, LAYER, zipped

if TYPE_CHECKING:
    from bench.context import Context

ROOT: Final = Path(__file__).resolve().parents[1]
SIZES: Final = ((413, 531), (600, 600), (1050, 1500))
ADDED: Final = ("numpy", "numpy.libs", "ai_edge_litert", "ml_dtypes", "google", "flatbuffers", "protobuf")
CHILD: Final = """
import json, resource, sys, time
started = time.perf_counter()
from idphoto import compliance, specs
from idphoto.options import BackgroundColor, PhotoOptions
spec = specs.CATALOGUE.get("passport-35x45")
options = PhotoOptions(spec_id=3, ratios=spec.ratios, background=(BackgroundColor("white", 0xFFFFFF, 0xFFFFFF),))
body = open(sys.argv[1], "rb").read()
report = compliance.measure(body, options, "white")
cold = time.perf_counter() - started
warm = []
for _ in range(int(sys.argv[2])):
    at = time.perf_counter()
    compliance.measure(body, options, "white")
    warm.append(time.perf_counter() - at)
warm.sort()
print(json.dumps({"cold": cold, "warm": warm[len(warm) // 2], "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "passed": report.passed}))
"""


def _preview(width: int, height: int, folder: Path) -> Path:
    from tests.framing import Framing, preview  # the stand-in's segmenter: loaded here only

    path = folder / f"preview-{width}x{height}.jpg"
    path.write_bytes(preview(Framing(width=width, height=height), marked=True))
    return path


def run(ctx: Context) -> Section:
    section = Section()
    repeats = 3 if ctx.quick else 15
    with tempfile.TemporaryDirectory(prefix="bench-compliance-") as tmp:
        for width, height in SIZES:
            ctx.progress(f"compliance: {width} x {height}")
            path = _preview(width, height, Path(tmp))
            done = subprocess.run(  # noqa: S603 - our own interpreter and script
                [sys.executable, "-c", CHILD, str(path), str(repeats)],
                capture_output=True,
                text=True,
                check=True,
                env={"PYTHONPATH": str(ROOT / "layers" / "idphoto"), "PATH": "/usr/bin:/bin"},
            )
            got = json.loads(done.stdout.strip().splitlines()[-1])
            section.rows.append(
                Row(
                    f"compliance check of a {width} x {height} preview: warm (first, cold)",
                    f"{ms(got['warm'])} ({ms(got['cold'])}); peak RSS {mb(got['rss'])}",
                )
            )
    if (BUILD / LAYER).is_dir():
        size, raw = zipped(BUILD / LAYER, (*ADDED, "idphoto"))
        _, models_raw = zipped(BUILD / LAYER / "python" / "idphoto" / "models")
        section.rows.append(
            Row(
                "compliance check's share of the layer zip (unzipped)",
                f"{mb(size)} ({mb(raw)}), models {mb(models_raw)}",
            )
        )
    section.notes.append(
        "Compliance: each size in a fresh interpreter (layer package only); cold = numpy + LiteRT import, "
        "model load and the first measure; make-photo's MemorySize is 768 MB."
    )
    return section
