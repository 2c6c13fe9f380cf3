"""Named photo specs: "a passport photo" instead of a vendor number.

An upload may say ``spec=us-passport`` instead of ``spec-id=4`` (see :mod:`idphoto.options`). Each entry
holds what a person needs to know about the photo (printed size in mm, pixels, dpi, the file-size limit
where an authority sets one, the usual background) and **the vendor's spec id** that makes it.

Where the figures come from
---------------------------
Sizes, backgrounds and file-size limits are the issuing authorities' published requirements where
there are any (each entry's ``source`` names them), and the common print-shop convention where there
are none (the Chinese "one-inch" family). Pixel sizes are the printed size at the entry's dpi.

**The vendor's spec ids are ours, not the vendor's.** The vendor does not publish its ``spec_id``
catalogue: its sales contact hands it out with the AppCode. The ids below are those of the local
stand-in (``local/standin/specs.py`` derives its catalogue from this module, so the two cannot drift).
A deployment whose vendor uses other ids maps names to its ids with the environment variable
``SPEC_VENDOR_IDS`` (``name=id`` pairs, ``,`` or ``|`` separated, e.g. ``us-passport=40|cn-id-card=7``);
names it does not mention keep the ids below. A bad mapping fails the cold start, like a bad default.
Check a real id against the vendor's list before relying on it: a wrong id makes a wrong photo, not an
error.

The catalogue is versioned (``VERSION``): change the version whenever an entry's figures or id change,
so that a client can say which catalogue it lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Final

from idphoto.errors import ConfigurationError

VERSION: Final = "2026.11.1"
VENDOR_IDS_ENV: Final = "SPEC_VENDOR_IDS"
VENDOR_IDS_SOURCE: Final = (
    "spec ids are the local stand-in's catalogue; the vendor's own ids come from its sales contact "
    f"(map them with {VENDOR_IDS_ENV})"
)
MM_PER_INCH: Final = 25.4

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
_PAIR_SEPARATOR = re.compile(r"[,|]")


@dataclass(frozen=True, slots=True)
class PhotoSpec:
    """One named photo spec. ``background`` is written like the ``background`` metadata option."""

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

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly form (``idphoto specs --json``)."""
        return {
            "name": self.name,
            "title": self.title,
            "spec_id": self.spec_id,
            "width_mm": self.width_mm,
            "height_mm": self.height_mm,
            "dpi": self.dpi,
            "width_px": self.width_px,
            "height_px": self.height_px,
            "file_size_min_kb": self.file_size_min_kb,
            "file_size_max_kb": self.file_size_max_kb,
            "background": self.background,
            "aliases": list(self.aliases),
            "source": self.source,
        }


_PRINT_SHOP = "no national standard: the common print-shop size, pixels at 300 dpi"

SPECS: Final[tuple[PhotoSpec, ...]] = (
    PhotoSpec(
        name="cn-one-inch",
        title="China one-inch (yi cun)",
        spec_id=1,
        width_mm=25,
        height_mm=35,
        dpi=300,
        width_px=295,
        height_px=413,
        background="white",
        source=f"{_PRINT_SHOP}; white, blue or red backgrounds are all common",
        aliases=("one-inch",),
    ),
    PhotoSpec(
        name="cn-two-inch",
        title="China two-inch (er cun)",
        spec_id=2,
        width_mm=35,
        height_mm=49,
        dpi=300,
        width_px=413,
        height_px=579,
        background="white",
        source=f"{_PRINT_SHOP}; white, blue or red backgrounds are all common",
        aliases=("two-inch",),
    ),
    PhotoSpec(
        name="passport-35x45",
        title="Passport 35 x 45 mm (ICAO size: EU, UK and most countries)",
        spec_id=3,
        width_mm=35,
        height_mm=45,
        dpi=300,
        width_px=413,
        height_px=531,
        background="white",
        source=(
            "ICAO Doc 9303 / ISO/IEC 19794-5 print size adopted by most passport authorities; "
            "plain light background (some countries want light grey: pass --background)"
        ),
        aliases=("passport", "icao"),
    ),
    PhotoSpec(
        name="schengen-visa",
        title="Schengen visa",
        spec_id=3,
        width_mm=35,
        height_mm=45,
        dpi=300,
        width_px=413,
        height_px=531,
        background="white",
        source="EU Visa Code (Regulation (EC) No 810/2009) requires ICAO-conform photos: 35 x 45 mm, light background",
    ),
    PhotoSpec(
        name="us-passport",
        title="US passport (2 x 2 in)",
        spec_id=4,
        width_mm=50.8,
        height_mm=50.8,
        dpi=300,
        width_px=600,
        height_px=600,
        background="white",
        source="U.S. Department of State (travel.state.gov): 2 x 2 in, white or off-white background",
    ),
    PhotoSpec(
        name="us-visa",
        title="US visa, digital (DS-160)",
        spec_id=4,
        width_mm=50.8,
        height_mm=50.8,
        dpi=300,
        width_px=600,
        height_px=600,
        background="white",
        source=(
            "U.S. Department of State digital image requirements (travel.state.gov): square, "
            "600 x 600 to 1200 x 1200 px, JPEG of at most 240 kB, white or off-white background"
        ),
        file_size_max_kb=240,
    ),
    PhotoSpec(
        name="cn-small-one-inch",
        title="China small one-inch (xiao yi cun, e.g. driving licence)",
        spec_id=5,
        width_mm=22,
        height_mm=32,
        dpi=300,
        width_px=260,
        height_px=378,
        background="white",
        source=_PRINT_SHOP,
        aliases=("small-one-inch",),
    ),
    PhotoSpec(
        name="cn-id-card",
        title="China resident identity card",
        spec_id=6,
        width_mm=26,
        height_mm=32,
        dpi=350,
        width_px=358,
        height_px=441,
        background="white",
        source="GA 461-2004 (photo standard of the resident identity card): 358 x 441 px at 350 dpi, white background",
    ),
    PhotoSpec(
        name="cn-passport",
        title="China passport and exit-entry permits (33 x 48 mm)",
        spec_id=7,
        width_mm=33,
        height_mm=48,
        dpi=300,
        width_px=390,
        height_px=567,
        background="white",
        source=(
            "National Immigration Administration of China, photo guidance for exit-entry documents: "
            "33 x 48 mm, white background; pixels at 300 dpi"
        ),
    ),
)


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


@cache
def active() -> Catalogue:
    """The deployment's catalogue: the built-in one with ``SPEC_VENDOR_IDS`` applied, read once.

    Option parsing needs it and is called from places that have no settings at hand; the variable
    is read by :mod:`idphoto.config` like every other. A bad value raises ConfigurationError.
    """
    from idphoto.config import spec_vendor_ids  # config imports options, which imports this module

    text = spec_vendor_ids()
    try:
        return CATALOGUE.with_vendor_ids(parse_vendor_ids(text)) if text.strip() else CATALOGUE
    except ValueError as exc:
        raise ConfigurationError(f"{VENDOR_IDS_ENV}: {exc}") from exc
