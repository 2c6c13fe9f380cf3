"""Photo options: the vendor's make-photo parameters, parsed from S3 metadata and validated.

A photo's options are the deployment's defaults (template parameters, one environment variable each)
overridden by the upload's user-defined metadata (``x-amz-meta-<name>``). Both are strings in the same
format, parsed by the same code, so a default can never be something an upload could not say.

Everything the vendor would reject is rejected here first (its limits are in ``../shared/vendor/API.md``):
invalid work never reaches the vendor, and the record says exactly what was wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Final

from idphoto import specs
from idphoto.errors import InvalidOptions

MAX_WIDTH_PX: Final = 1050
MAX_HEIGHT_PX: Final = 1500
MAX_COLORS: Final = 6
RATIO_COUNT: Final = 8
MAX_VALUE_LENGTH: Final = 256
MAX_COLOR_NAME_LENGTH: Final = 32
MAX_FILE_SIZE_KB: Final = 10_240
# Beauty strength (``fair_level``). Our contract only says it is an integer (its 423 row); the vendor's
# direct API documents it as a level 1-5, default 1
# (http://apicall.id-photo-verify.com/api_doc/pages/api_2.html). 0 is no level there: beauty is turned off
# by a separate ``is_fair`` the market API lacks. The direct API's dict form with per-feature strengths
# (pages/api_11.html) is not offered: our contract names an integer only.
MIN_BEAUTY_LEVEL: Final = 1
MAX_BEAUTY_LEVEL: Final = 5

# Named background colours a person can type. Blue is the vendor's own example value (4427483).
NAMED_COLORS: Final[Mapping[str, int]] = {
    "white": 0xFFFFFF,
    "blue": 0x438EDB,
    "lightblue": 0x87CEEB,
    "red": 0xD9001B,
    "gray": 0xBFBFBF,
    "grey": 0xBFBFBF,
}

# A colour's name: how an upload names it and how the API asks for its final.
COLOR_NAME_PATTERN: Final = rf"^[a-z0-9][a-z0-9_-]{{0,{MAX_COLOR_NAME_LENGTH - 1}}}$"
_COLOR_NAME = re.compile(COLOR_NAME_PATTERN)
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")
_CLOTHES = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Lists take ',' or '|': `aws s3 cp --metadata k=v,k2=v2` splits on commas, so there a person writes
# `background=white|blue`.
_LIST_SEPARATOR = re.compile(r"[,|]")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class BackgroundColor:
    """One result colour: plain when top == bottom, otherwise a vertical gradient."""

    name: str
    top: int
    bottom: int

    @property
    def is_gradient(self) -> bool:
        return self.top != self.bottom

    def to_vendor(self) -> dict[str, Any]:
        return {"start_color": self.top, "color_name": self.name, "enc_color": self.bottom}

    def describe(self) -> str:
        text = f"#{self.top:06x}"
        return f"{self.name}={text}:#{self.bottom:06x}" if self.is_gradient else f"{self.name}={text}"


@dataclass(frozen=True)
class PhotoOptions:
    """The make-photo parameters of one photo, already within the vendor's limits."""

    spec_id: int
    width_px: int | None = None
    height_px: int | None = None
    background: tuple[BackgroundColor, ...] = ()
    ratios: tuple[float, ...] | None = None
    file_size_max: int | None = None
    file_size_min: int | None = None
    print_type: int | None = None
    hor_align_type: int | None = None
    pose_fix: int | None = None
    need_origin_beauty: int | None = None
    clothes: str | None = None
    fair_level: int | None = None

    @property
    def beauty(self) -> bool:
        return self.need_origin_beauty == 1

    def color_names(self) -> list[str]:
        """Names of the result colours in the vendor's order (its default is one photo)."""
        return [color.name for color in self.background]

    def to_vendor(self) -> dict[str, Any]:
        """The pic_handle_3 body without pic_url: unset options are left out, as the vendor expects."""
        body: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None or value == ():
                continue
            if item.name == "background":
                body["background_color"] = [color.to_vendor() for color in value]
            elif item.name == "ratios":
                body["ratios"] = list(value)
            else:
                body[item.name] = value
        return body

    def to_record(self) -> dict[str, Any]:
        """A JSON-friendly form for the photo record and the API (ratios as exact strings)."""
        data = {k: v for k, v in asdict(self).items() if v is not None and v != ()}
        if self.background:
            data["background"] = [asdict(color) for color in self.background]
        if self.ratios is not None:
            data["ratios"] = [repr(r) for r in self.ratios]  # exact, and a string for DynamoDB
        return data

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> PhotoOptions:
        values = dict(data)
        values["background"] = tuple(
            BackgroundColor(str(c["name"]), int(c["top"]), int(c["bottom"]))
            for c in data.get("background", ())
        )
        if "ratios" in data:
            values["ratios"] = tuple(float(r) for r in data["ratios"])
        for name in ("spec_id", *_INT_FIELDS):
            if values.get(name) is not None:
                values[name] = int(values[name])
        return cls(**values)


_INT_FIELDS: Final = (
    "width_px",
    "height_px",
    "file_size_max",
    "file_size_min",
    "print_type",
    "hor_align_type",
    "pose_fix",
    "need_origin_beauty",
    "fair_level",
)


# --- parsing: one parser per metadata name --------------------------------------------------------


def _parse_int(value: str, *, low: int, high: int) -> int:
    text = value.strip()
    if not re.fullmatch(r"[+-]?\d{1,9}", text):
        raise ValueError(f"{value!r} is not a whole number")
    number = int(text)
    if not low <= number <= high:
        raise ValueError(f"{number} is outside {low}..{high}")
    return number


def _parse_choice(value: str, choices: Mapping[str, int]) -> int:
    key = value.strip().lower()
    if key not in choices:
        raise ValueError(f"{value!r} is not one of {', '.join(sorted(choices))}")
    return choices[key]


def _parse_bool(value: str) -> int:
    key = value.strip().lower()
    if key in _TRUE:
        return 1
    if key in _FALSE:
        return 0
    raise ValueError(f"{value!r} is not one of 1/0, true/false, yes/no, on/off")


def _parse_color_value(token: str) -> tuple[int, str]:
    """A colour as a name from NAMED_COLORS or #RRGGBB; returns the value and a default name."""
    key = token.strip().lower()
    if key in NAMED_COLORS:
        return NAMED_COLORS[key], key
    match = _HEX.fullmatch(key)
    if match is None:
        known = ", ".join(sorted(NAMED_COLORS))
        raise ValueError(f"colour {token.strip()!r} is neither #RRGGBB nor one of {known}")
    return int(match.group(1), 16), match.group(1)


def parse_background(value: str) -> tuple[BackgroundColor, ...]:
    """``white,blue,sky=#87ceeb:#ffffff``: a list of ``[name=]colour[:bottom-colour]``."""
    colors: list[BackgroundColor] = []
    for item in _LIST_SEPARATOR.split(value):
        item = item.strip()
        if not item:
            raise ValueError("empty colour in the list")
        name, _, spec = item.rpartition("=")
        top_text, _, bottom_text = spec.partition(":")
        top, top_name = _parse_color_value(top_text)
        bottom, bottom_name = _parse_color_value(bottom_text) if bottom_text else (top, top_name)
        name = name.strip().lower() or (top_name if top == bottom else f"{top_name}-{bottom_name}")
        if not _COLOR_NAME.fullmatch(name):
            raise ValueError(f"colour name {name!r} must be 1-{MAX_COLOR_NAME_LENGTH} of a-z, 0-9, '-', '_'")
        colors.append(BackgroundColor(name, top, bottom))
    if len(colors) > MAX_COLORS:
        raise ValueError(f"{len(colors)} colours given, the vendor takes at most {MAX_COLORS}")
    names = [c.name for c in colors]
    if len(set(names)) != len(names):
        raise ValueError("colour names must be unique (name them: name=#RRGGBB)")
    return tuple(colors)


def parse_ratios(value: str) -> tuple[float, ...]:
    """Exactly 8 numbers, each in [0, 1] or -1 for "no requirement"."""
    parts = [p.strip() for p in _LIST_SEPARATOR.split(value)]
    if len(parts) != RATIO_COUNT:
        raise ValueError(f"{len(parts)} ratios given, exactly {RATIO_COUNT} are needed (use -1 for none)")
    ratios: list[float] = []
    for part in parts:
        try:
            ratio = float(part)
        except ValueError:
            raise ValueError(f"ratio {part!r} is not a number") from None
        if not math.isfinite(ratio) or not (ratio == -1 or 0 <= ratio <= 1):
            raise ValueError(f"ratio {part} must be between 0 and 1, or -1")
        ratios.append(ratio)
    return tuple(ratios)


def parse_clothes(value: str) -> str:
    text = value.strip()
    if not _CLOTHES.fullmatch(text):
        raise ValueError(f"{value!r} is not a clothes template id (letters, digits, '.', '-', '_')")
    return text


def _int(low: int, high: int) -> Any:
    return lambda value: _parse_int(value, low=low, high=high)


# Metadata name -> (field, parser). Names are the contract's, with '-' for '_' (S3 metadata keys are
# HTTP header names, where underscores are often dropped); either spelling is accepted.
PARSERS: Final[Mapping[str, tuple[str, Any]]] = {
    "spec-id": ("spec_id", _int(1, 99_999_999)),
    "width-px": ("width_px", _int(1, MAX_WIDTH_PX)),
    "height-px": ("height_px", _int(1, MAX_HEIGHT_PX)),
    "background": ("background", parse_background),
    "ratios": ("ratios", parse_ratios),
    "file-size-max": ("file_size_max", _int(1, MAX_FILE_SIZE_KB)),
    "file-size-min": ("file_size_min", _int(1, MAX_FILE_SIZE_KB)),
    "print-type": ("print_type", lambda v: _parse_choice(v, {"1": 1, "2": 2, "default": 1, "compact": 2})),
    "hor-align-type": (
        "hor_align_type",
        lambda v: _parse_choice(v, {"0": 0, "1": 1, "center": 0, "ears": 1}),
    ),
    "pose-fix": ("pose_fix", _parse_bool),
    "need-origin-beauty": ("need_origin_beauty", _parse_bool),
    "clothes": ("clothes", parse_clothes),
    # Named for what it does (the vendor's ``fair_level`` says little to a user); 1..5, see MAX_BEAUTY_LEVEL.
    "beauty-level": ("fair_level", _int(MIN_BEAUTY_LEVEL, MAX_BEAUTY_LEVEL)),
}


# ``spec=us-passport``: a named spec (idphoto.specs) instead of a number. Not in PARSERS: it is no vendor
# parameter of its own but sets two of them, ``spec_id`` and, unless the upload names colours, the
# spec's usual ``background`` (the spec is more specific than the deployment's default background).
# Naming both ``spec`` and ``spec-id`` is fine only when they agree.
SPEC_OPTION: Final = "spec"


@dataclass
class ParsedOptions:
    """Fields set by one source (defaults or one upload's metadata), what it said that we ignored,
    and every problem found (so that the record lists them all at once)."""

    source: str
    values: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def check(self) -> None:
        if self.problems:
            raise InvalidOptions(f"invalid {self.source}: " + "; ".join(self.problems))


# Upload metadata that is not a photo option but is read elsewhere (idphoto.autofinals): not "ignored".
FINALS_METADATA: Final = "finals"
# ``owner``: the caller of POST /uploads, fixed by its form's policy (idphoto.owners).
OTHER_METADATA = frozenset({FINALS_METADATA, "owner"})
# The automatic finals an upload may ask for (``finals`` metadata, or the deployment's AutoFinals).
ALL_FINALS: Final = ("auto", "all")
NO_FINALS: Final = ("off", "none", "")


def auto_finals_choice(wish: str | None, deployment: str, uploader_may_opt_in: bool) -> tuple[str, bool]:
    """The automatic finals a photo gets: (choice, whether the upload's wish was refused).

    ``wish`` is the upload's ``finals`` metadata (None: it says nothing, the deployment's AutoFinals
    applies). Where the operator forbids uploaders to opt in (AllowUploaderAutoFinals=false) and the
    deployment's choice is "off", a wish for any final is refused: automatic finals are billed, and
    the uploader is not who pays. Asking for fewer (``off``, or colours under AutoFinals=auto) is always
    allowed. A refused wish is not a failed photo (making it costs nothing); the photo is made
    without automatic finals and its status lists ``finals`` among the ignored metadata.
    """
    if wish is None:
        return deployment, False
    if uploader_may_opt_in or deployment in ALL_FINALS or wish.strip().lower() in NO_FINALS:
        return wish, False
    return deployment, True


def wanted_colors(choice: str, colors: list[str]) -> tuple[list[str], list[str]]:
    """(colours to fetch automatically, names asked for that the photo does not have)."""
    choice = choice.strip().lower()
    if choice in ALL_FINALS:
        return list(colors), []
    if choice in NO_FINALS:
        return [], []
    asked = [c.strip() for c in choice.split(",") if c.strip()]
    return [c for c in colors if c in asked], [c for c in asked if c not in colors]


def parse_metadata(metadata: Mapping[str, str], *, source: str = "metadata") -> ParsedOptions:
    """Parse option strings; never raises: problems are collected in the result."""
    parsed = ParsedOptions(source)
    problems = parsed.problems
    spec_name: str | None = None
    given: set[str] = set()
    for raw_name, raw_value in metadata.items():
        name = raw_name.strip().lower().replace("_", "-")
        if name in OTHER_METADATA:
            continue
        if name not in PARSERS and name != SPEC_OPTION:
            parsed.ignored.append(raw_name)
            continue
        if raw_value is None or not raw_value.strip():
            continue  # empty means "not set": the default applies
        if len(raw_value) > MAX_VALUE_LENGTH:
            problems.append(f"{name}: value longer than {MAX_VALUE_LENGTH} characters")
            continue
        given.add(name)
        if name == SPEC_OPTION:
            spec_name = raw_value
            continue
        field_name, parser = PARSERS[name]
        try:
            parsed.values[field_name] = parser(raw_value)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    if spec_name is not None:
        _apply_spec(parsed, spec_name, given)
    return parsed


def _apply_spec(parsed: ParsedOptions, name: str, given: set[str]) -> None:
    """Resolve a named spec into the vendor parameters that frame the photo to its rule.

    ``spec_id``, and unless the upload sets them: the spec's ``background``, its pixel size
    (``width_px``/``height_px``, so a vendor whose ids differ still makes the right size), its
    file-size bounds and its framing as the 8 ``ratios`` (see :attr:`idphoto.specs.PhotoSpec.ratios`
    for how the rule's measures map onto the vendor's).
    """
    catalogue = specs.active()
    spec = catalogue.get(name)
    if spec is None:
        parsed.problems.append(
            f"{SPEC_OPTION}: {name.strip()!r} is not a known spec (one of {', '.join(catalogue.names())})"
        )
        return
    spec_id = parsed.values.get("spec_id")
    if spec_id is not None and spec_id != spec.spec_id:
        parsed.problems.append(
            f"{SPEC_OPTION}: {spec.name!r} is spec id {spec.spec_id}, but spec-id says {spec_id}"
        )
        return
    parsed.values["spec_id"] = spec.spec_id
    implied: dict[str, Any] = {
        "background": parse_background(spec.background),
        "width-px": spec.width_px,
        "height-px": spec.height_px,
        "file-size-min": spec.file_size_min_kb,
        "file-size-max": spec.file_size_max_kb,
        "ratios": spec.ratios,
    }
    for option, value in implied.items():
        if option not in given and value is not None:
            parsed.values[PARSERS[option][0]] = value
    # Imported here: spec_rules parses the spec's colours with this module's parser.
    from idphoto import spec_rules

    parsed.problems += spec_rules.conflicts(spec, parsed.values, given, parse_background)


def merge(defaults: PhotoOptions | Mapping[str, Any] | None, overrides: ParsedOptions) -> PhotoOptions:
    """Apply an upload's options over the deployment's defaults, then check what needs both.

    Defaults may be partial (a background but no spec id: then every upload must name one).
    """
    overrides.check()
    values = {**_set_fields(defaults), **overrides.values}
    if "spec_id" not in values:
        raise InvalidOptions("spec-id is required (no default is configured)")
    return check(PhotoOptions(**values))


def check(options: PhotoOptions) -> PhotoOptions:
    """Rules across fields; single-field limits are enforced by the parsers."""
    _check_sizes(options.file_size_min, options.file_size_max)
    return options


def _check_sizes(low: int | None, high: int | None) -> None:
    if low is not None and high is not None and low > high:
        raise InvalidOptions(f"file-size-min ({low} KB) is larger than file-size-max ({high} KB)")


def _set_fields(defaults: PhotoOptions | Mapping[str, Any] | None) -> dict[str, Any]:
    if defaults is None:
        return {}
    if isinstance(defaults, PhotoOptions):
        return {
            f.name: getattr(defaults, f.name)
            for f in fields(defaults)
            if getattr(defaults, f.name) is not None
        }
    return dict(defaults)


def defaults_from(settings: Mapping[str, str]) -> dict[str, Any]:
    """The deployment's default option values (possibly partial), checked at cold start."""
    specs.active()  # a bad SPEC_VENDOR_IDS fails the cold start too, not every photo naming a spec
    parsed = parse_metadata(settings, source="default option")
    parsed.check()
    _check_sizes(parsed.values.get("file_size_min"), parsed.values.get("file_size_max"))
    return parsed.values
