"""Named photo specs: "a passport photo" instead of a vendor number.

An upload may say ``spec=us-passport`` instead of ``spec-id=4`` (see :mod:`idphoto.options`). The
catalogue is data: ``specs.json`` beside this module, one entry per document with keyed fields (the
fields of :class:`PhotoSpec`; ``framing_mm`` or ``framing_px`` for :class:`Framing`), each block of figures
followed by its source. The documentation's "Named specs" page is made from the same file. Each entry
holds what a person needs to know about the photo (printed size in mm, pixels, dpi, the file-size limit
where an authority sets one, the usual background) and **the vendor's spec id** that makes it.

Where the figures come from
---------------------------
Sizes, backgrounds and file-size limits are the issuing authorities' published requirements where
there are any (each entry's ``source`` names them), and the common print-shop convention where there
are none (the Chinese "one-inch" family). Pixel sizes are the printed size at the entry's dpi.

**The vendor's spec ids are ours, not the vendor's.** The vendor does not publish its ``spec_id``
catalogue: its sales contact hands it out with the AppCode. The ids in the file are those of the local
stand-in (``local/standin/specs.py`` derives its catalogue from this module, so the two cannot drift).
A deployment whose vendor uses other ids maps names to its ids with the environment variable
``SPEC_VENDOR_IDS`` (``name=id`` pairs, ``,`` or ``|`` separated, e.g. ``us-passport=40|cn-id-card=7``);
names it does not mention keep the ids in the file. A bad mapping fails the cold start, like a bad default.
Check a real id against the vendor's list before relying on it: a wrong id makes a wrong photo, not an
error.

The catalogue is versioned (``VERSION``, the file's ``version``): change the version whenever an
entry's figures or id change, so that a client can say which catalogue it lists.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Final

from idphoto.environment import VENDOR_IDS_ENV as VENDOR_IDS_ENV
from idphoto.environment import spec_vendor_ids
from idphoto.errors import ConfigurationError

VENDOR_IDS_SOURCE: Final = (
    "spec ids are the local stand-in's catalogue; the vendor's own ids come from its sales contact "
    f"(map them with {VENDOR_IDS_ENV})"
)
MM_PER_INCH: Final = 25.4

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
_PAIR_SEPARATOR = re.compile(r"[,|]")


# What an authority did not say is written as this, never guessed.
NOT_STATED: Final = "not stated"
# Sources marked so were taken from general knowledge of the authority's rule and could not be checked
# against a copy of its page while the catalogue was written; check them before relying on them.
UNCHECKED: Final = "from general knowledge, not checked against the authority's page"

Range = tuple[float | None, float | None]
"""A (min, max) in millimetres on the printed photo; None for an end the authority leaves open."""


@dataclass(frozen=True, slots=True)
class Framing:
    """Where the head goes, in millimetres on the printed photo, as the authority states it.

    - ``head``: chin to crown (top of the hair), the "head height" of ICAO Doc 9303 and every passport
      office below;
    - ``eye``: the eye line's distance from the photo's **bottom** edge (the US rule's own wording);
    - ``top``: the crown's distance from the photo's top edge;
    - ``face_width``: the face's width, where the authority gives one; what is measured is the spec's
      :attr:`PhotoSpec.face_width_measure` (cheek to cheek, or the head ear to ear).

    ``None`` means the authority states nothing for that measure.
    """

    head: Range | None = None
    eye: Range | None = None
    top: Range | None = None
    face_width: Range | None = None

    @property
    def stated(self) -> bool:
        return any(r is not None for r in (self.head, self.eye, self.top, self.face_width))


NO_FRAMING: Final = Framing()


def _ratio(span: Range | None, side_mm: float) -> tuple[float, float]:
    if span is None:
        return (-1.0, -1.0)
    low, high = span
    return (
        -1.0 if low is None else round(low / side_mm, 4),
        -1.0 if high is None else round(high / side_mm, 4),
    )


@dataclass(frozen=True, slots=True)
class PhotoSpec:
    """One named photo spec. ``background`` is written like the ``background`` metadata option.

    ``source`` names where the size, pixels and backgrounds come from, ``framing_source`` where the
    framing figures come from, ``digital_source`` where the file-size and pixel limits of a digital
    submission come from; each says "not stated" where the authority states nothing.
    """

    name: str
    title: str
    spec_id: int
    width_mm: float
    height_mm: float
    dpi: int
    width_px: int
    height_px: int
    background: str
    source: str
    file_size_min_kb: int | None = None
    file_size_max_kb: int | None = None
    aliases: tuple[str, ...] = ()
    country: str = "INT"
    kind: str = "general"
    backgrounds: tuple[str, ...] = ()
    framing: Framing = NO_FRAMING
    framing_source: str = NOT_STATED
    digital: str = NOT_STATED
    digital_source: str = NOT_STATED
    # What the authority's "face width" spans (``WIDTH_MEASURES``): "face", cheek to cheek (GA 461's
    # 脸部宽度, between the cheeks), or "head", the head's full width at the ears (the exit-entry
    # standard's 头部宽度, head width). The check (``idphoto.compliance``) and the stand-in's framing
    # measure the one the spec names.
    face_width_measure: str = "face"

    @property
    def size_mm(self) -> str:
        return f"{self.width_mm:g} x {self.height_mm:g} mm"

    @property
    def size_px(self) -> str:
        return f"{self.width_px} x {self.height_px} px"

    @property
    def file_size(self) -> str:
        """The file-size range in KB, '' when no authority sets one."""
        low, high = self.file_size_min_kb, self.file_size_max_kb
        if low is None and high is None:
            return ""
        if low is None:
            return f"<= {high} KB"
        if high is None:
            return f">= {low} KB"
        return f"{low}-{high} KB"

    @property
    def ratios(self) -> tuple[float, ...] | None:
        """The framing as the vendor's 8 ``ratios`` (API.md note 2), None when nothing is stated.

        Mapping, rule -> vendor: head height / photo height, eye line / photo height (measured from
        the photo's **bottom** edge: the contract does not say from where, but its example, eyes
        0.5-0.72 with a top margin of 0.05-0.15, only works that way, and the stand-in reads it so),
        top margin / photo height, face width / photo width. An open end is -1.
        """
        if not self.framing.stated:
            return None
        f, h, w = self.framing, self.height_mm, self.width_mm
        return (*_ratio(f.head, h), *_ratio(f.eye, h), *_ratio(f.top, h), *_ratio(f.face_width, w))

    def geometry(self) -> str:
        """The framing for people: 'head 32-36 mm, eyes >= 28 mm' ('' when nothing is stated)."""
        labels = (("head", self.framing.head), ("eyes", self.framing.eye), ("top", self.framing.top))
        parts = [f"{label} {_span(span)}" for label, span in labels if span is not None]
        if self.framing.face_width is not None:
            parts.append(f"face width {_span(self.framing.face_width)}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly form (``idphoto specs --json``)."""
        f = self.framing
        return {
            "name": self.name,
            "title": self.title,
            "country": self.country,
            "kind": self.kind,
            "spec_id": self.spec_id,
            "width_mm": self.width_mm,
            "height_mm": self.height_mm,
            "dpi": self.dpi,
            "width_px": self.width_px,
            "height_px": self.height_px,
            "file_size_min_kb": self.file_size_min_kb,
            "file_size_max_kb": self.file_size_max_kb,
            "digital": self.digital,
            "background": self.background,
            "backgrounds": list(self.backgrounds or (self.background,)),
            "framing_mm": {
                "head": f.head,
                "eye_from_bottom": f.eye,
                "top_margin": f.top,
                "face_width": f.face_width,
            },
            "ratios": list(self.ratios) if self.ratios else None,
            "aliases": list(self.aliases),
            "source": self.source,
            "framing_source": self.framing_source,
            "face_width_measure": self.face_width_measure,
            "digital_source": self.digital_source,
        }


def _span(span: Range) -> str:
    low, high = span
    if low is None:
        return f"<= {high:g} mm"
    if high is None:
        return f">= {low:g} mm"
    return f"{low:g}-{high:g} mm"


def _px(pixels: float, dpi: int) -> float:
    """A figure stated in pixels, as millimetres on the print."""
    return round(pixels / dpi * MM_PER_INCH, 2)


# os.path, not pathlib: pathlib costs its own imports (glob, fnmatch, ...) at every cold start.
DATA_FILE: Final = os.path.join(os.path.dirname(__file__), "specs.json")
_MEASURES: Final = ("head", "eye", "top", "face_width")
# "face": cheek to cheek (the face oval's widest landmarks); "head": the head's width at the ears,
# found on the plain background (``idphoto.compliance.head_width``).
WIDTH_MEASURES: Final = ("face", "head")


def _range(value: object, entry: str, to_mm: Callable[[float], float]) -> Range:
    if not (isinstance(value, list) and len(value) == 2):
        raise ValueError(f"{entry}: a range is [min, max] (null for an open end), not {value!r}")
    low, high = value
    return (None if low is None else to_mm(low), None if high is None else to_mm(high))


def _framing(entry: dict[str, Any]) -> Framing:
    """``framing_mm`` as stated, or ``framing_px`` (pixels at the entry's dpi) turned into millimetres."""
    name, dpi = entry["name"], entry["dpi"]
    if "framing_mm" in entry and "framing_px" in entry:
        raise ValueError(f"{name}: framing_mm or framing_px, not both")
    stated, to_mm = entry.pop("framing_mm", None), (lambda mm: mm)
    if stated is None and "framing_px" in entry:
        stated, to_mm = entry.pop("framing_px"), (lambda px: _px(px, dpi))
    if stated is None:
        return NO_FRAMING
    unknown = set(stated) - set(_MEASURES)
    if unknown:
        raise ValueError(
            f"{name}: unknown framing measures {sorted(unknown)} (known: {', '.join(_MEASURES)})"
        )
    return Framing(**{m: _range(r, name, to_mm) for m, r in stated.items()})


def spec_from_entry(entry: Mapping[str, Any]) -> PhotoSpec:
    """One catalogue entry (keyed fields, as in ``specs.json``) as a :class:`PhotoSpec`."""
    fields = dict(entry)
    name = fields.get("name", "?")
    try:
        fields["framing"] = _framing(fields)
        for listed in ("aliases", "backgrounds"):
            if listed in fields:
                fields[listed] = tuple(fields[listed])
        if fields.get("face_width_measure", "face") not in WIDTH_MEASURES:
            raise ValueError(
                f"{name}: face_width_measure is one of {', '.join(WIDTH_MEASURES)}, "
                f"not {fields['face_width_measure']!r}"
            )
        return PhotoSpec(**fields)
    except (KeyError, TypeError) as exc:  # a missing or unknown field
        raise ValueError(f"spec {name!r}: {exc}") from exc


def load(path: str = DATA_FILE) -> tuple[str, tuple[PhotoSpec, ...]]:
    """The catalogue's version and its specs, read from the data file.

    JSON rather than TOML: the stdlib parses this file in ~0.3 ms with json and ~6.5 ms with tomllib
    (plus tomllib's import), and every function reads the catalogue at cold start."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return data["version"], tuple(spec_from_entry(e) for e in data["specs"])


_LOADED: Final = load()
VERSION: Final = _LOADED[0]
SPECS: Final[tuple[PhotoSpec, ...]] = _LOADED[1]


class Catalogue:
    """The specs by name (aliases too; ``_`` may stand for ``-``, case does not matter)."""

    def __init__(self, specs: tuple[PhotoSpec, ...], version: str = VERSION) -> None:
        self.version = version
        self._specs = specs
        self._by_name: dict[str, PhotoSpec] = {}
        for spec in specs:
            for name in (spec.name, *spec.aliases):
                if not _NAME.fullmatch(name) or name in self._by_name:
                    raise ValueError(f"spec name {name!r} is malformed or used twice")
                self._by_name[name] = spec

    def __iter__(self) -> Iterator[PhotoSpec]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        return [spec.name for spec in self._specs]

    def get(self, name: str) -> PhotoSpec | None:
        return self._by_name.get(normalise(name))

    def with_vendor_ids(self, vendor_ids: Mapping[str, int]) -> Catalogue:
        """The same catalogue with some names mapped to other vendor spec ids (aliases work too)."""
        unknown = sorted(n for n in vendor_ids if self.get(n) is None)
        if unknown:
            raise ValueError(f"unknown spec names: {', '.join(unknown)}")
        ids = {self._by_name[normalise(n)].name: i for n, i in vendor_ids.items()}
        specs = tuple(replace(s, spec_id=ids[s.name]) if s.name in ids else s for s in self._specs)
        return Catalogue(specs, self.version + ("+custom-ids" if ids else ""))


def normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def parse_vendor_ids(text: str) -> dict[str, int]:
    """``us-passport=40|cn-id-card=7`` -> ``{"us-passport": 40, "cn-id-card": 7}`` (empty: none)."""
    pairs: dict[str, int] = {}
    for item in _PAIR_SEPARATOR.split(text):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"\s*\d{1,8}\s*", value) or int(value) < 1:
            raise ValueError(f"{item.strip()!r} is not name=id with a whole number id >= 1")
        pairs[normalise(name)] = int(value)
    return pairs


CATALOGUE: Final = Catalogue(SPECS)


def width_measure(spec_id: int, catalogue: Iterable[PhotoSpec] = CATALOGUE) -> str:
    """What "face width" spans for a vendor spec id: the ``face_width_measure`` of the named specs
    with that id that state a face width (they agree: ``tests/unit/test_specs.py``), else "face".

    The vendor's ``ratios`` name only a "face width" (API.md note 2); the stand-in frames and the
    check measures it as the authorities behind the spec id define it."""
    for spec in catalogue:
        if spec.spec_id == spec_id and spec.framing.face_width is not None:
            return spec.face_width_measure
    return "face"


@cache
def active() -> Catalogue:
    """The deployment's catalogue: the built-in one with ``SPEC_VENDOR_IDS`` applied, read once.

    Option parsing needs it and is called from places that have no settings at hand; the variable
    is read by :mod:`idphoto.environment` (config imports this module, so it may not import config).
    A bad value raises ConfigurationError.
    """
    text = spec_vendor_ids()
    try:
        return CATALOGUE.with_vendor_ids(parse_vendor_ids(text)) if text.strip() else CATALOGUE
    except ValueError as exc:
        raise ConfigurationError(f"{VENDOR_IDS_ENV}: {exc}") from exc
