"""Sizes: the layer's zip and each function's package, zipped here from ``make build``'s output.

``sam build`` leaves one folder per logical id in ``.aws-sam/build``; ``sam deploy`` zips each of them.
We zip them the same way (deflate, in memory) rather than trusting a stale deployment artefact. The
floor of the layer is what a bare implementation would ship: ``requests`` and its dependencies, taken
from the same build folder, so the difference is Powertools (and its dependencies) plus our package.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bench.report import Row, Section, mb, ratio

if TYPE_CHECKING:
    from bench.context import Context

BUILD: Final = Path(__file__).resolve().parents[1] / ".aws-sam" / "build"
LAYER: Final = "IdPhotoLayer"
FUNCTIONS: Final = ("MakePhotoFunction", "GetPhotoFunction")
# requests and what it installs with it (the layer's python/ folder holds them side by side).
FLOOR_PACKAGES: Final = ("requests", "urllib3", "idna", "certifi", "charset_normalizer")
UNZIPPED_LIMIT_MB: Final = 250  # Lambda: function + layers, unzipped


def zipped(root: Path, include: tuple[str, ...] | None = None) -> tuple[int, int]:
    """(zip size, unzipped size) of ``root``'s files; ``include`` keeps top-level names under python/."""
    buffer = io.BytesIO()
    unzipped = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(root)
            if include is not None and not _included(relative, include):
                continue
            archive.write(path, relative.as_posix())
            unzipped += path.stat().st_size
    return len(buffer.getvalue()), unzipped


def _included(relative: Path, include: tuple[str, ...]) -> bool:
    if len(relative.parts) < 2:
        return False
    top = relative.parts[1]  # python/<top>
    return top in include or top.split("-")[0] in include  # a package or its .dist-info


def run(ctx: Context) -> Section:
    ctx.progress("sizes: zipping .aws-sam/build")
    section = Section()
    if not (BUILD / LAYER).is_dir():
        section.rows.append(Row("sizes: layer and function zips", f"no {BUILD.name}/ — run `make build`"))
        return section
    layer_zip, layer_raw = zipped(BUILD / LAYER)
    floor_zip, floor_raw = zipped(BUILD / LAYER, FLOOR_PACKAGES)
    section.rows.append(
        Row(
            "layer zip (unzipped)",
            f"{mb(layer_zip)} ({mb(layer_raw)})",
            f"{mb(floor_zip)} ({mb(floor_raw)})",
            ratio(layer_zip, floor_zip),
        )
    )
    total_raw = layer_raw
    for function in FUNCTIONS:
        folder = BUILD / function
        if not folder.is_dir():
            section.rows.append(Row(f"{function} zip", "missing from the build — run `make build`"))
            continue
        size, raw = zipped(folder)
        total_raw += raw
        section.rows.append(Row(f"{function} zip (unzipped)", f"{mb(size)} ({mb(raw)})"))
    pyc = sum(1 for _ in (BUILD / LAYER).rglob("*.pyc"))
    section.notes.append(
        f"Sizes: deflate zips of `.aws-sam/build/<LogicalId>` as `sam deploy` uploads them; the layer's "
        f"floor is requests + urllib3, idna, certifi, charset_normalizer from the same build. Everything "
        f"unzipped: {mb(total_raw)} of Lambda's {UNZIPPED_LIMIT_MB} MB. The built layer holds {pyc} .pyc "
        "files"
        + (
            " (layers/idphoto/Makefile precompiles it: Lambda's /opt is read-only, so without them every"
            " cold start compiles what it imports)."
            if pyc
            else ": on Lambda's read-only /opt every cold start compiles what it imports from the layer."
        )
    )
    return section
