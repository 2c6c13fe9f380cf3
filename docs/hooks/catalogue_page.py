"""MkDocs hook: the "Named specs" page's catalogue, made at build time from the layer's own data.

The page's marker is replaced by tables made through ``idphoto.specs`` itself (the same loader, the
same derived figures: pixels to mm, framing, ratios), so the documentation cannot disagree with the
code. A page without the marker fails the build instead of silently losing the catalogue.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from idphoto.specs import PhotoSpec

PAGE = "specs.md"
MARKER = "<!-- catalogue -->"
LAYER = Path(__file__).resolve().parents[2] / "layers" / "idphoto"
# ISO 3166 codes of the catalogue, plus its two groups that are no country.
COUNTRIES = {
    "INT": "International (ICAO size)",
    "EU": "European Union",
    "AU": "Australia",
    "BR": "Brazil",
    "CA": "Canada",
    "CN": "China",
    "DE": "Germany",
    "ES": "Spain",
    "FR": "France",
    "GB": "United Kingdom",
    "IN": "India",
    "IT": "Italy",
    "JP": "Japan",
    "KR": "Korea (Republic)",
    "MX": "Mexico",
    "RU": "Russia",
    "US": "United States",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _specs_module() -> Any:
    if str(LAYER) not in sys.path:
        sys.path.insert(0, str(LAYER))
    from idphoto import specs

    return specs


def render_catalogue() -> str:
    """The catalogue as Markdown: an overview per country, then every spec with its sources."""
    specs = _specs_module()
    by_country: dict[str, list[PhotoSpec]] = defaultdict(list)
    for spec in specs.CATALOGUE:
        by_country[spec.country].append(spec)
    unknown = sorted(set(by_country) - set(COUNTRIES))
    if unknown:
        raise ValueError(f"name these countries in {__name__}.COUNTRIES: {', '.join(unknown)}")
    lines = [
        f"Catalogue version **{specs.CATALOGUE.version}**, {len(specs.CATALOGUE)} documents. "
        f"The spec ids: {specs.VENDOR_IDS_SOURCE}.",
        "",
    ]
    for country in sorted(by_country, key=lambda c: (c != "INT", COUNTRIES[c])):
        lines += [f"### {COUNTRIES[country]} ({country})", ""]
        lines += [
            "| name | document | size | pixels | dpi | file size | backgrounds | framing | spec id |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for s in by_country[country]:
            lines.append(
                f"| [`{s.name}`](#{s.name}) | {_cell(s.title)} | {s.size_mm} | {s.size_px} | {s.dpi} "
                f"| {s.file_size or '-'} | {', '.join(s.backgrounds or (s.background,))} "
                f"| {_cell(s.geometry() or specs.NOT_STATED)} | {s.spec_id} |"
            )
        lines.append("")
    lines += ["## Every spec with its sources", ""]
    for s in specs.CATALOGUE:
        lines += _details(s, specs.NOT_STATED)
    return "\n".join(lines)


def _details(s: PhotoSpec, not_stated: str) -> list[str]:
    aliases = f" (also: {', '.join(f'`{a}`' for a in s.aliases)})" if s.aliases else ""
    ratios = ", ".join(f"{r:g}" for r in s.ratios) if s.ratios else "none: the vendor's own framing"
    rows = [
        ("size", f"{s.size_mm}, {s.size_px} at {s.dpi} dpi; background {s.background}"),
        ("source", s.source),
        ("framing", s.geometry() or not_stated),
        ("framing source", s.framing_source),
        ("ratios sent", ratios),
        ("digital", s.digital + (f"; file size {s.file_size}" if s.file_size else "")),
        ("digital source", s.digital_source),
    ]
    out = [f"### {s.name} {{: #{s.name} }}", "", f"**{_cell(s.title)}**{aliases}, spec id {s.spec_id}.", ""]
    out += ["| | |", "|---|---|"]
    out += [f"| {label} | {_cell(value)} |" for label, value in rows]
    return [*out, ""]


def on_page_markdown(markdown: str, *, page: Any, **_context: Any) -> str:
    """MkDocs passes page, config and files by keyword; only the page matters here."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"{PAGE} lost its {MARKER} marker: the catalogue would not be shown")
    return markdown.replace(MARKER, render_catalogue())
