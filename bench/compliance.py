"""Compliance: the check of one preview (idphoto.compliance), its time, its memory, its share of the layer.

Every figure comes from fresh interpreters with only the layer's package on the path, as make-photo's
Lambda has it. The previews are the astronaut cut to several framings and watermarked like the
stand-in's (tests/framing.py):

- **Per preview**: each process measures ``PREVIEWS`` (distinct framings at the ICAO size) once each,
  then again; the first measure pays numpy's and LiteRT's import and the models' load (the cold part,
  paid once per execution environment and never by a function that does not check), the rest are
  warm. A process's figure is the median of its warm measures; the row is the median over ``RUNS``
  processes.
- **Peak RSS of one check**: ``VmHWM`` of a process right after its first check. Not ``ru_maxrss``:
  Linux keeps that across ``exec``, so a child started by this (model-laden) process would report
  its parent's peak (every row read 241.32 MB).
- **Thread pools**: numpy's OpenBLAS (and any OpenMP runtime) start a pool of threads sized to the
  CPUs the process sees, each with its own buffers; on Lambda a function sees its vCPUs. So each
  measure runs with ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` unset and set to 1, the processes
  interleaved so that other work on the machine weighs on both alike; the ratio is 1 thread / unset.
- **At each size** previews come in: warm (cold) and peak RSS, threads as the template sets them.
- **The layer's share**: numpy, ai-edge-litert (+ ml_dtypes, protobuf, flatbuffers) and the models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from bench.report import Row, Section, mb, median, ms
from bench.sizes import BUILD, LAYER, zipped

if TYPE_CHECKING:
    from bench.context import Context

ROOT: Final = Path(__file__).resolve().parents[1]
SIZES: Final = ((413, 531), (600, 600), (1050, 1500))
# (head, top, shift): the head's share of the height, the crown's, the face's shift right (of the width).
PREVIEWS: Final = (  # each passes passport-35x45 (head 0.7111-0.8, centred within 0.05)
    (0.75, 0.10, 0.0),
    (0.72, 0.08, 0.0),
    (0.78, 0.12, 0.02),
    (0.74, 0.06, -0.02),
    (0.76, 0.14, 0.01),
    (0.73, 0.10, 0.03),
    (0.77, 0.09, -0.03),
)
RUNS: Final = 5
THREADS: Final = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
ADDED: Final = ("numpy", "numpy.libs", "ai_edge_litert", "ml_dtypes", "google", "flatbuffers", "protobuf")
CHILD: Final = """
import json, sys, time
def status(field):  # /proc/self/status: VmHWM is this process's peak RSS since exec, in kB
    return int(next(l for l in open("/proc/self/status") if l.startswith(field + ":")).split()[1])
started = time.perf_counter()
from idphoto import compliance, specs
from idphoto.options import BackgroundColor, PhotoOptions
spec = specs.CATALOGUE.get("passport-35x45")
options = PhotoOptions(spec_id=3, ratios=spec.ratios, background=(BackgroundColor("white", 0xFFFFFF, 0xFFFFFF),))
bodies = [open(path, "rb").read() for path in sys.argv[2:]]
passed = [compliance.measure(bodies[0], options, "white").passed]
cold = time.perf_counter() - started
one = status("VmHWM") * 1024
warm = []
for round in range(int(sys.argv[1])):
    for body in bodies[1:] if round == 0 else bodies:
        at = time.perf_counter()
        passed.append(compliance.measure(body, options, "white").passed)
        warm.append(time.perf_counter() - at)
warm.sort()
print(json.dumps({"cold": cold, "warm": warm[len(warm) // 2] if warm else cold, "one": one,
                  "rss": status("VmHWM") * 1024,
                  "threads": status("Threads"), "passed": passed}))
"""


def _preview(width: int, height: int, framing: tuple[float, float, float], folder: Path) -> Path:
    from tests.framing import Framing, preview  # the stand-in's segmenter: loaded here only

    head, top, shift = framing
    path = folder / f"preview-{width}x{height}-{head}-{top}-{shift}.jpg"
    path.write_bytes(preview(Framing(head, top, shift, width, height), marked=True))
    return path


def _child(paths: list[Path], rounds: int, threads: str | None) -> dict[str, Any]:
    env = {"PYTHONPATH": str(ROOT / "layers" / "idphoto"), "PATH": "/usr/bin:/bin"}
    if threads is not None:
        env.update(dict.fromkeys(THREADS, threads))
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", CHILD, str(rounds), *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    got: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return got


def template_threads() -> str | None:
    """What the template's Globals give every function for ``OPENBLAS_NUM_THREADS`` (None: unset)."""
    from local.stack.cfn_yaml import load_template

    variables = (
        load_template(ROOT / "template.yaml")["Globals"]["Function"]
        .get("Environment", {})
        .get("Variables", {})
    )
    value = variables.get(THREADS[0])
    return None if value is None else str(value)


def _threads(ctx: Context, folder: Path, section: Section) -> None:
    """Per-preview time and one check's peak RSS, thread pools unset vs 1, processes interleaved."""
    paths = [_preview(413, 531, framing, folder) for framing in PREVIEWS]
    runs = 2 if ctx.quick else RUNS
    got: dict[str | None, list[dict[str, Any]]] = {None: [], "1": []}
    for run in range(runs):
        ctx.progress(f"compliance: thread pools, run {run + 1} of {runs}")
        for threads in (None, "1") if run % 2 == 0 else ("1", None):
            result = _child(paths, 2, threads)
            if not all(result["passed"]):
                raise AssertionError(f"a bench preview fails its check: {result['passed']}")
            got[threads].append(result)

    def mid(threads: str | None, key: str) -> float:
        return median([r[key] for r in got[threads]])

    for label, key, show in (
        ("warm, per preview", "warm", ms),
        ("peak RSS after one check", "one", lambda v: mb(int(v))),
        ("cold (imports, models, first check)", "cold", ms),
    ):
        unset, one = mid(None, key), mid("1", key)
        section.rows.append(
            Row(
                f"compliance check, {label}: {' / '.join(THREADS)} unset (1)",
                f"{show(unset)} ({show(one)})",
                ratio=f"{one / unset:.2f}",
            )
        )
    section.notes.append(
        f"Compliance thread pools: medians over {runs} fresh processes each, {len(PREVIEWS)} watermarked "
        f"413 x 531 previews of different framings measured twice per process (warm = that process's "
        f"median); ratio = 1 thread / unset; {os.cpu_count()} CPUs seen; threads per process after the "
        f"checks: {int(mid(None, 'threads'))} unset, {int(mid('1', 'threads'))} with 1."
    )


def run(ctx: Context) -> Section:
    section = Section()
    repeats = 3 if ctx.quick else 15
    threads = template_threads()
    with tempfile.TemporaryDirectory(prefix="bench-compliance-") as tmp:
        _threads(ctx, Path(tmp), section)
        for width, height in SIZES:
            ctx.progress(f"compliance: {width} x {height}")
            path = _preview(width, height, PREVIEWS[0], Path(tmp))
            got = _child([path], repeats, threads)
            section.rows.append(
                Row(
                    f"compliance check of a {width} x {height} preview: warm (first, cold)",
                    f"{ms(got['warm'])} ({ms(got['cold'])}); peak RSS {mb(got['rss'])}",
                )
            )
    if (BUILD / LAYER).is_dir():
        size, raw = zipped(BUILD / LAYER, (*ADDED, "idphoto"))
        _, models_raw = zipped(BUILD / LAYER / "python" / "idphoto" / "models")
        whole, whole_raw = zipped(BUILD / LAYER)
        section.rows.append(
            Row(
                "compliance check's share of the layer zip (unzipped)",
                f"{mb(size)} ({mb(raw)}), models {mb(models_raw)}; whole layer {mb(whole)} ({mb(whole_raw)})",
            )
        )
    section.notes.append(
        "Compliance by size: each in a fresh interpreter (layer package only), thread pools as the "
        f"template sets them ({THREADS[0]}={threads or 'unset'}); cold = numpy + LiteRT import, model load "
        "and the first measure; make-photo's MemorySize is 768 MB."
    )
    return section
