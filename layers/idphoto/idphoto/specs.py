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

VERSION: Final = "2026.12.1"
VENDOR_IDS_ENV: Final = "SPEC_VENDOR_IDS"
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
    - ``face_width``: the face's (or head's, ear to ear) width, where the authority gives one.

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


def _mm(pixels: int, dpi: int) -> float:
    return round(pixels / dpi * MM_PER_INCH, 1)


_PRINT_SHOP = "no national standard: the common print-shop size, pixels at 300 dpi"
_ICAO = "ICAO Doc 9303 Part 3 / ISO/IEC 19794-5: 35 x 45 mm, chin to crown 70-80 % of the photo height"
_ICAO_HEAD: Final = Framing(head=(32, 36))
_US_TEMPLATE = (
    "U.S. Department of State photo composition template (travel.state.gov): head 1-1 3/8 in "
    "(25-35 mm) chin to crown, eyes 1 1/8-1 3/8 in (28-35 mm) from the bottom "
    "(checked: bg.usembassy.gov/visas/nonimmigrant-visas/photo-requirements/)"
)
_US_FRAMING: Final = Framing(head=(25, 35), eye=(28, 35))
# The National Immigration Administration's photo standard for exit-entry documents, as published by
# local police (checked: shidian.gov.cn/info/2676/1956243.htm, 施甸县公安局 "出入境证件照片标准").
_NIA = (
    "National Immigration Administration, exit-entry document photo standard (出入境证件照片标准): "
    "48 x 33 mm, head width 21-24 mm, head length 28-33 mm, white background "
    "(checked: shidian.gov.cn/info/2676/1956243.htm); pixels at 300 dpi"
)
_NIA_FRAMING: Final = Framing(head=(28, 33), face_width=(21, 24))
# GA 461-2004, the resident identity card's digital photo standard (figures in pixels at 350 dpi).
_GA461 = (
    "GA 461-2004 (居民身份证制证用数字相片技术标准): 358 x 441 px at 350 dpi, white background; face "
    "width 207 +- 14 px, crown 7-21 px below the top edge, eyes >= 207 px above the bottom edge "
    "(checked: quoted in full by hybridbeedesign.com/news_mini.asp?id=2088 and szwlxq.com)"
)
_GA461_FRAMING: Final = Framing(
    eye=(_px(207, 350), None), top=(_px(7, 350), _px(21, 350)), face_width=(_px(193, 350), _px(221, 350))
)

SPECS: Final[tuple[PhotoSpec, ...]] = (
    # --- China: the print-shop family (no authority: sizes only) ---------------------------------
    PhotoSpec(
        "cn-one-inch",
        "China one-inch (yi cun)",
        1,
        25,
        35,
        300,
        295,
        413,
        "white",
        f"{_PRINT_SHOP}; white, blue or red backgrounds are all common",
        aliases=("one-inch",),
        country="CN",
        backgrounds=("white", "blue", "red"),
    ),
    PhotoSpec(
        "cn-two-inch",
        "China two-inch (er cun)",
        2,
        35,
        49,
        300,
        413,
        579,
        "white",
        f"{_PRINT_SHOP}; white, blue or red backgrounds are all common",
        aliases=("two-inch",),
        country="CN",
        backgrounds=("white", "blue", "red"),
    ),
    PhotoSpec(
        "cn-small-one-inch",
        "China small one-inch (xiao yi cun)",
        5,
        22,
        32,
        300,
        260,
        378,
        "white",
        _PRINT_SHOP,
        aliases=("small-one-inch",),
        country="CN",
        backgrounds=("white", "blue", "red"),
    ),
    PhotoSpec(
        "cn-large-one-inch",
        "China large one-inch (da yi cun, 33 x 48 mm)",
        7,
        33,
        48,
        300,
        390,
        567,
        "white",
        f"{_PRINT_SHOP}; the exit-entry size",
        aliases=("large-one-inch",),
        country="CN",
        backgrounds=("white", "blue", "red"),
    ),
    PhotoSpec(
        "cn-small-two-inch",
        "China small two-inch (xiao er cun, 35 x 45 mm)",
        3,
        35,
        45,
        300,
        413,
        531,
        "white",
        f"{_PRINT_SHOP}; the ICAO size",
        aliases=("small-two-inch",),
        country="CN",
        backgrounds=("white", "blue", "red"),
    ),
    PhotoSpec(
        "cn-large-two-inch",
        "China large two-inch (da er cun, 35 x 53 mm)",
        8,
        35,
        53,
        300,
        413,
        626,
        "white",
        _PRINT_SHOP,
        aliases=("large-two-inch",),
        country="CN",
        backgrounds=("white", "blue", "red"),
    ),
    # --- China: documents --------------------------------------------------------------------------
    PhotoSpec(
        "cn-id-card",
        "China resident identity card",
        6,
        26,
        32,
        350,
        358,
        441,
        "white",
        _GA461,
        country="CN",
        kind="id-card",
        backgrounds=("white",),
        framing=_GA461_FRAMING,
        framing_source=_GA461,
    ),
    PhotoSpec(
        "cn-passport",
        "China passport (33 x 48 mm)",
        7,
        33,
        48,
        300,
        390,
        567,
        "white",
        _NIA,
        country="CN",
        kind="passport",
        backgrounds=("white",),
        framing=_NIA_FRAMING,
        framing_source=_NIA,
    ),
    PhotoSpec(
        "cn-hk-macau-permit",
        "China exit-entry permit for Hong Kong and Macau (往来港澳通行证)",
        7,
        33,
        48,
        300,
        390,
        567,
        "white",
        _NIA,
        country="CN",
        kind="permit",
        backgrounds=("white",),
        framing=_NIA_FRAMING,
        framing_source=_NIA,
    ),
    PhotoSpec(
        "cn-taiwan-permit",
        "China exit-entry permit for Taiwan (往来台湾通行证)",
        7,
        33,
        48,
        300,
        390,
        567,
        "white",
        _NIA,
        country="CN",
        kind="permit",
        backgrounds=("white",),
        framing=_NIA_FRAMING,
        framing_source=_NIA,
    ),
    PhotoSpec(
        "cn-visa",
        "China visa (for foreigners)",
        7,
        33,
        48,
        300,
        390,
        567,
        "white",
        "Chinese visa application service (COVA): 33 x 48 mm, white background; pixels at 300 dpi",
        country="CN",
        kind="visa",
        backgrounds=("white",),
        framing=Framing(head=(28, 33), top=(3, 5), face_width=(15, 22)),
        framing_source=(
            "Chinese consular photo guidance for online applications: head width 15-22 mm, chin to crown "
            "28-33 mm, crown 3-5 mm below the top edge, chin >= 7 mm above the bottom (checked: quoted "
            "by bbs.sgcn.org/thread-16277781-3-1.html)"
        ),
        digital="JPEG, 354-420 x 472-560 px",
        file_size_min_kb=40,
        file_size_max_kb=120,
        digital_source=f"Chinese consular online application (COVA), {UNCHECKED}",
    ),
    PhotoSpec(
        "cn-driving-licence",
        "China motor-vehicle driving licence",
        5,
        22,
        32,
        300,
        260,
        378,
        "white",
        f"Ministry of Public Security driving licence application: small one-inch, white background; {UNCHECKED}",
        country="CN",
        kind="driving-licence",
        backgrounds=("white",),
    ),
    PhotoSpec(
        "cn-social-security-card",
        "China social security card",
        6,
        26,
        32,
        350,
        358,
        441,
        "white",
        f"social security card photos follow the ID card's GA 461 format (358 x 441 px, 350 dpi, white); {UNCHECKED}",
        country="CN",
        kind="social-security",
        backgrounds=("white",),
        digital="file limits are set by each city's social security bureau: not stated nationally",
    ),
    PhotoSpec(
        "cn-civil-service-exam",
        "China national civil service exam (国考) registration",
        1,
        25,
        35,
        300,
        295,
        413,
        "blue",
        "National Civil Service Administration registration notice: JPEG, >= 295 x 413 px, blue or white background",
        country="CN",
        kind="exam",
        backgrounds=("blue", "white"),
        digital="JPEG, >= 295 x 413 px",
        file_size_min_kb=20,
        file_size_max_kb=100,
        digital_source=(
            "third-party summary of the registration notice (checked: qxmh.cn/wenda/357505.html); "
            "provincial exams set other limits"
        ),
    ),
    PhotoSpec(
        "cn-teacher-exam",
        "China teacher qualification exam (NTCE) registration",
        9,
        _mm(150, 300),
        _mm(200, 300),
        300,
        150,
        200,
        "white",
        "NTCE registration: 150 x 200 px (3:4), white background (checked: zhaojiao.cn, hzzygc.com)",
        country="CN",
        kind="exam",
        backgrounds=("white",),
        digital="JPEG, 150 x 200 px",
        file_size_max_kb=200,
        digital_source="NTCE registration: JPEG of at most 200 KB (checked: zhaojiao.cn, hzzygc.com)",
    ),
    PhotoSpec(
        "cn-cet",
        "China CET-4/6 English test registration",
        10,
        _mm(144, 300),
        _mm(192, 300),
        300,
        144,
        192,
        "white",
        f"CET registration (cet-bm.neea.edu.cn): 144 x 192 px, light background; {UNCHECKED}",
        country="CN",
        kind="exam",
        backgrounds=("white", "blue"),
        digital="JPEG, 144 x 192 px",
    ),
    PhotoSpec(
        "cn-graduate-exam",
        "China graduate entrance exam (考研) registration",
        7,
        33,
        48,
        300,
        390,
        567,
        "white",
        "graduate exam photo: 390 x 567 px at 300 dpi, white background (checked: iverson3.cn)",
        country="CN",
        kind="exam",
        backgrounds=("white",),
        framing=Framing(head=(_px(331, 300), _px(390, 300)), face_width=(_px(248, 300), _px(283, 300))),
        framing_source="head width 248-283 px, head length 331-390 px of 390 x 567 px (checked: iverson3.cn/xuelitisheng/170786)",
        digital="JPEG, 390 x 567 px",
        file_size_max_kb=50,
        digital_source="graduate exam photo: at most 50 KB (checked: iverson3.cn/xuelitisheng/170786)",
    ),
    # --- ICAO size: Europe, UK and others --------------------------------------------------------
    PhotoSpec(
        "passport-35x45",
        "Passport 35 x 45 mm (ICAO size: EU, UK and most countries)",
        3,
        35,
        45,
        300,
        413,
        531,
        "white",
        f"{_ICAO}; plain light background (some countries want light grey)",
        aliases=("passport", "icao"),
        kind="passport",
        backgrounds=("white", "gray"),
        framing=_ICAO_HEAD,
        framing_source=f"{_ICAO}: 32-36 mm on 45 mm",
    ),
    PhotoSpec(
        "schengen-visa",
        "Schengen visa",
        3,
        35,
        45,
        300,
        413,
        531,
        "white",
        "EU Visa Code (Regulation (EC) No 810/2009) requires ICAO-conform photos: 35 x 45 mm, light background",
        country="EU",
        kind="visa",
        backgrounds=("white", "gray"),
        framing=_ICAO_HEAD,
        framing_source=f"{_ICAO}: 32-36 mm on 45 mm",
    ),
    PhotoSpec(
        "uk-passport",
        "UK passport",
        3,
        35,
        45,
        300,
        413,
        531,
        "gray",
        "HM Passport Office (gov.uk/photos-for-passports): 45 x 35 mm, plain light grey or cream background",
        country="GB",
        kind="passport",
        backgrounds=("gray", "white"),
        framing=Framing(head=(29, 34)),
        framing_source="gov.uk/photos-for-passports: crown to chin 29-34 mm (checked: portrait4u.co.uk, atpei.ca quoting it)",
        digital="digital: >= 600 x 750 px",
        file_size_min_kb=50,
        file_size_max_kb=10_240,
        digital_source="gov.uk/photos-for-passports: >= 600 x 750 px, 50 KB-10 MB (checked: smartphone-id.com quoting it)",
    ),
    PhotoSpec(
        "de-passport",
        "Germany passport (Reisepass)",
        3,
        35,
        45,
        300,
        413,
        531,
        "gray",
        f"Bundesdruckerei / BMI Fotomustertafel: 35 x 45 mm, neutral light background, light grey ideal; {UNCHECKED}",
        country="DE",
        kind="passport",
        backgrounds=("gray", "white"),
        framing=_ICAO_HEAD,
        framing_source=f"BMI Fotomustertafel: face (chin to crown) 32-36 mm; {UNCHECKED}",
    ),
    PhotoSpec(
        "de-id-card",
        "Germany identity card (Personalausweis)",
        3,
        35,
        45,
        300,
        413,
        531,
        "gray",
        f"the same biometric photo rules as the German passport (BMI Fotomustertafel); {UNCHECKED}",
        country="DE",
        kind="id-card",
        backgrounds=("gray", "white"),
        framing=_ICAO_HEAD,
        framing_source=f"BMI Fotomustertafel: face (chin to crown) 32-36 mm; {UNCHECKED}",
    ),
    PhotoSpec(
        "fr-passport",
        "France passport",
        3,
        35,
        45,
        300,
        413,
        531,
        "lightblue",
        f"ANTS / service-public.fr: 35 x 45 mm, plain light background (light blue or light grey, not white); {UNCHECKED}",
        country="FR",
        kind="passport",
        backgrounds=("lightblue", "gray"),
        framing=_ICAO_HEAD,
        framing_source=f"service-public.fr: chin to crown 32-36 mm; {UNCHECKED}",
    ),
    PhotoSpec(
        "fr-id-card",
        "France identity card (CNI)",
        3,
        35,
        45,
        300,
        413,
        531,
        "lightblue",
        f"ANTS: the passport's photo rules; {UNCHECKED}",
        country="FR",
        kind="id-card",
        backgrounds=("lightblue", "gray"),
        framing=_ICAO_HEAD,
        framing_source=f"service-public.fr: chin to crown 32-36 mm; {UNCHECKED}",
    ),
    PhotoSpec(
        "it-passport",
        "Italy passport",
        3,
        35,
        45,
        300,
        413,
        531,
        "white",
        f"Polizia di Stato: ICAO photo, 35 x 45 mm, light background; {UNCHECKED}",
        country="IT",
        kind="passport",
        backgrounds=("white", "gray"),
        framing=_ICAO_HEAD,
        framing_source=f"{_ICAO} (Polizia di Stato refers to it); {UNCHECKED}",
    ),
    PhotoSpec(
        "es-passport",
        "Spain passport",
        3,
        35,
        45,
        300,
        413,
        531,
        "white",
        f"Policía Nacional: ICAO photo, 35 x 45 mm, plain white background; {UNCHECKED}",
        country="ES",
        kind="passport",
        backgrounds=("white",),
        framing=_ICAO_HEAD,
        framing_source=f"{_ICAO}; {UNCHECKED}",
    ),
    PhotoSpec(
        "es-dni",
        "Spain identity card (DNI)",
        11,
        26,
        32,
        300,
        307,
        378,
        "white",
        f"Policía Nacional (dnielectronico.es): 32 x 26 mm, plain white background; {UNCHECKED}",
        country="ES",
        kind="id-card",
        backgrounds=("white",),
    ),
    # --- North America ----------------------------------------------------------------------------
    PhotoSpec(
        "us-passport",
        "US passport (2 x 2 in)",
        4,
        50.8,
        50.8,
        300,
        600,
        600,
        "white",
        "U.S. Department of State (travel.state.gov): 2 x 2 in, white or off-white background",
        country="US",
        kind="passport",
        backgrounds=("white",),
        framing=_US_FRAMING,
        framing_source=_US_TEMPLATE,
    ),
    PhotoSpec(
        "us-visa",
        "US visa, digital (DS-160)",
        4,
        50.8,
        50.8,
        300,
        600,
        600,
        "white",
        "U.S. Department of State digital image requirements (travel.state.gov): square, white or off-white",
        country="US",
        kind="visa",
        backgrounds=("white",),
        framing=_US_FRAMING,
        framing_source=_US_TEMPLATE,
        digital="JPEG, square, 600 x 600 to 1200 x 1200 px",
        file_size_max_kb=240,
        digital_source="travel.state.gov digital image requirements: JPEG of at most 240 kB",
    ),
    PhotoSpec(
        "us-green-card",
        "US Diversity Visa (green card lottery) entry",
        4,
        50.8,
        50.8,
        300,
        600,
        600,
        "white",
        "U.S. Department of State DV instructions: the visa photo rules, square, white or off-white",
        country="US",
        kind="visa",
        backgrounds=("white",),
        framing=_US_FRAMING,
        framing_source=_US_TEMPLATE,
        digital="JPEG, square, 600 x 600 px",
        file_size_max_kb=240,
        digital_source=f"DV entry instructions: JPEG of at most 240 kB; {UNCHECKED}",
    ),
    PhotoSpec(
        "ca-passport",
        "Canada passport (50 x 70 mm)",
        12,
        50,
        70,
        300,
        591,
        827,
        "white",
        "Government of Canada passport photo requirements: 50 x 70 mm, plain white or light background",
        country="CA",
        kind="passport",
        backgrounds=("white",),
        framing=Framing(head=(31, 36)),
        framing_source=(
            "Government of Canada: chin to crown 31-36 mm (checked: theupsstore.ca, 123passportphoto.com "
            "quoting canada.ca)"
        ),
    ),
    PhotoSpec(
        "ca-visa",
        "Canada visa and permits (IRCC)",
        3,
        35,
        45,
        300,
        413,
        531,
        "white",
        f"IRCC photo specification: 35 x 45 mm, plain white or light background; {UNCHECKED}",
        country="CA",
        kind="visa",
        backgrounds=("white",),
        framing=Framing(head=(31, 36)),
        framing_source=f"IRCC photo specification: chin to crown 31-36 mm; {UNCHECKED}",
    ),
    PhotoSpec(
        "mx-visa",
        "Mexico visa",
        13,
        31,
        39,
        300,
        366,
        461,
        "white",
        f"Mexican consulates (SRE): 3.9 x 3.1 cm, white background; {UNCHECKED}",
        country="MX",
        kind="visa",
        backgrounds=("white",),
    ),
    # --- Asia-Pacific, Russia, Brazil ---------------------------------------------------------------
    PhotoSpec(
        "au-passport",
        "Australia passport",
        3,
        35,
        45,
        300,
        413,
        531,
        "white",
        f"Australian Passport Office: 35-40 x 45-50 mm, plain white or light grey background; {UNCHECKED}",
        country="AU",
        kind="passport",
        backgrounds=("white", "gray"),
        framing=_ICAO_HEAD,
        framing_source=f"Australian Passport Office: chin to crown 32-36 mm; {UNCHECKED}",
    ),
    PhotoSpec(
        "au-visa",
        "Australia visa",
        3,
        35,
        45,
        300,
        413,
        531,
        "white",
        f"Department of Home Affairs: 35 x 45 mm, plain light background; {UNCHECKED}",
        country="AU",
        kind="visa",
        backgrounds=("white", "gray"),
        framing=_ICAO_HEAD,
        framing_source=f"Department of Home Affairs: chin to crown 32-36 mm; {UNCHECKED}",
    ),
    PhotoSpec(
        "in-passport",
        "India passport",
        3,
        35,
        45,
        300,
        413,
        531,
        "white",
        f"Passport Seva: 4.5 x 3.5 cm, plain white background; {UNCHECKED}",
        country="IN",
        kind="passport",
        backgrounds=("white",),
    ),
    PhotoSpec(
        "in-visa",
        "India e-Visa",
        4,
        50.8,
        50.8,
        300,
        600,
        600,
        "white",
        f"Indian e-Visa (indianvisaonline.gov.in): square photo, plain white background; {UNCHECKED}",
        country="IN",
        kind="visa",
        backgrounds=("white",),
        digital="JPEG, square, >= 350 x 350 px",
        file_size_min_kb=10,
        file_size_max_kb=1024,
        digital_source=f"indianvisaonline.gov.in: JPEG, 10 KB-1 MB, >= 350 x 350 px; {UNCHECKED}",
    ),
    PhotoSpec(
        "jp-passport",
        "Japan passport",
        3,
        35,
        45,
        300,
        413,
        531,
        "white",
        f"Ministry of Foreign Affairs (mofa.go.jp) passport photo standard: 45 x 35 mm, plain background; {UNCHECKED}",
        country="JP",
        kind="passport",
        backgrounds=("white", "gray", "lightblue"),
        framing=Framing(head=(32, 36), top=(2, 6)),
        framing_source=f"MOFA passport photo standard: chin to crown 34 +- 2 mm, crown 4 +- 2 mm below the top; {UNCHECKED}",
    ),
    PhotoSpec(
        "jp-visa",
        "Japan visa",
        14,
        45,
        45,
        300,
        531,
        531,
        "white",
        f"Japanese embassies' visa photo: 45 x 45 mm, plain background; {UNCHECKED}",
        country="JP",
        kind="visa",
        backgrounds=("white",),
    ),
    PhotoSpec(
        "kr-passport",
        "Korea (Republic) passport",
        3,
        35,
        45,
        300,
        413,
        531,
        "white",
        f"Ministry of Foreign Affairs (passport.go.kr): 3.5 x 4.5 cm, white background; {UNCHECKED}",
        country="KR",
        kind="passport",
        backgrounds=("white",),
        framing=Framing(head=(32, 36)),
        framing_source=f"passport.go.kr photo rules: head length 3.2-3.6 cm; {UNCHECKED}",
    ),
    PhotoSpec(
        "kr-visa",
        "Korea (Republic) visa",
        3,
        35,
        45,
        300,
        413,
        531,
        "white",
        f"Korean visa portal: 3.5 x 4.5 cm, white background; {UNCHECKED}",
        country="KR",
        kind="visa",
        backgrounds=("white",),
    ),
    PhotoSpec(
        "ru-passport",
        "Russia international passport (zagranpasport)",
        3,
        35,
        45,
        300,
        413,
        531,
        "white",
        f"MVD: 35 x 45 mm, white background; {UNCHECKED}",
        country="RU",
        kind="passport",
        backgrounds=("white",),
    ),
    PhotoSpec(
        "ru-visa",
        "Russia visa",
        3,
        35,
        45,
        300,
        413,
        531,
        "white",
        f"Russian consulates: 35 x 45 mm, light background; {UNCHECKED}",
        country="RU",
        kind="visa",
        backgrounds=("white",),
    ),
    PhotoSpec(
        "br-passport",
        "Brazil passport (photo brought to the Polícia Federal)",
        12,
        50,
        70,
        300,
        591,
        827,
        "white",
        f"Polícia Federal: 5 x 7 cm, white background; {UNCHECKED}",
        country="BR",
        kind="passport",
        backgrounds=("white",),
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
