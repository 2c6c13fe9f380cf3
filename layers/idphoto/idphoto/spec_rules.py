"""What a named spec fixes, and the upload options that contradict it.

An upload that names a spec (``spec=us-passport``) asks for a photo an authority will accept. Where it
also sets an option the spec fixes, to a value the spec does not allow (``background=blue`` for a US
passport, whose rule is white), the two cannot both be honoured. We **refuse** the upload
(``INVALID_OPTIONS`` naming each conflict, before the vendor is called) rather than make it and warn:

* a warning in the status is easy to miss, and the photo it describes would be rejected at the
  counter after its finals were paid for: nothing should spend money on a contradiction;
* whoever really wants a blue 2 x 2 in photo can say so without contradiction: leave out ``spec`` and
  give ``spec-id`` with the options they want (the message says how).

Fixed, for every spec (read through :mod:`idphoto.specs`' public attributes only):

* ``background``: each colour must be one the spec allows (``backgrounds``, else its ``background``),
  compared by colour value, so ``white`` and ``#ffffff`` are the same;
* ``width-px`` / ``height-px``: the spec's pixel size;
* ``file-size-min`` / ``file-size-max``: within the spec's bounds (a tighter range is still compliant);
* ``ratios``: the spec's framing, where it states one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from idphoto.specs import PhotoSpec


class _Colour(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def top(self) -> int: ...
    @property
    def bottom(self) -> int: ...


def conflicts(
    spec: PhotoSpec,
    values: Mapping[str, Any],
    given: set[str],
    parse_background: Callable[[str], Sequence[_Colour]],
) -> list[str]:
    """Each option in ``given`` (metadata names) whose parsed value (``values``, by field) the spec does
    not allow, as one sentence naming the option, the value and what the spec says."""
    found: list[str] = []
    if "background" in given and "background" in values:
        found += _backgrounds(spec, values["background"], parse_background)
    for option, field, fixed in (
        ("width-px", "width_px", spec.width_px),
        ("height-px", "height_px", spec.height_px),
    ):
        if option in given and values.get(field) is not None and values[field] != fixed:
            found.append(f"{option}: {values[field]} px, but {spec.name} is {fixed} px")
    low, high = spec.file_size_min_kb, spec.file_size_max_kb
    asked_low, asked_high = values.get("file_size_min"), values.get("file_size_max")
    if "file-size-min" in given and low is not None and asked_low is not None and asked_low < low:
        found.append(f"file-size-min: {asked_low} KB, but {spec.name} needs at least {low} KB")
    if "file-size-max" in given and high is not None and asked_high is not None and asked_high > high:
        found.append(f"file-size-max: {asked_high} KB, but {spec.name} allows at most {high} KB")
    framing = spec.ratios
    if "ratios" in given and framing is not None and tuple(values.get("ratios") or ()) != tuple(framing):
        found.append(
            f"ratios: {spec.name} frames the face by its own rule ({', '.join(f'{r:g}' for r in framing)})"
        )
    if found:
        found[-1] += (
            f" (a named spec fixes these; to make something else, leave out spec and give "
            f"spec-id={spec.spec_id} with your options)"
        )
    return found


def allowed_backgrounds(spec: PhotoSpec) -> tuple[str, ...]:
    return spec.backgrounds or (spec.background,)


def _backgrounds(
    spec: PhotoSpec, asked: Sequence[_Colour], parse_background: Callable[[str], Sequence[_Colour]]
) -> list[str]:
    allowed = {(c.top, c.bottom) for text in allowed_backgrounds(spec) for c in parse_background(text)}
    refused = [c.name for c in asked if (c.top, c.bottom) not in allowed]
    if not refused:
        return []
    return [
        f"background: {', '.join(refused)} is not allowed by {spec.name} "
        f"(allowed: {', '.join(allowed_backgrounds(spec))})"
    ]
