"""One picture of a demo run: a row per photo, source, previews and finals side by side, labelled.

A tile may carry a compliance mark (its preview's report): a green PASS, a red FAIL or a grey "not
no framing figures" band under the image, with the one measure that matters most beside it (the failed one furthest
outside its range, or the passing one nearest its limit).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from PIL import Image, ImageDraw, ImageFont

ROW_HEIGHT: Final = 240
LABEL_WIDTH: Final = 300
GAP: Final = 12
CAPTION: Final = 18
MARK_HEIGHT: Final = 36  # the band under a tile: the verdict, then the worst measure
PITCH: Final = ROW_HEIGHT + MARK_HEIGHT + GAP
VERDICTS: Final = {
    True: ("PASS", (0, 128, 0)),
    False: ("FAIL", (190, 0, 0)),
    None: ("no framing figures", (120, 120, 120)),
}


@dataclass(frozen=True)
class Mark:
    """A preview's compliance: passed (None: no framing figures to hold it to) and its worst measure."""

    passed: bool | None
    worst: str


@dataclass(frozen=True)
class Tile:
    caption: str
    body: bytes  # JPEG/PNG
    mark: Mark | None = None


@dataclass
class Row:
    title: str
    lines: list[str]
    images: list[Tile] = field(default_factory=list)  # in the order they are shown


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _thumbnail(raw: bytes) -> Image.Image:
    height = ROW_HEIGHT - CAPTION
    try:
        image = Image.open(io.BytesIO(raw)).convert("RGB")
    except (OSError, ValueError):  # the bad uploads are not images: show what they are instead
        tile = Image.new("RGB", (height * 3 // 4, height), (235, 235, 235))
        ImageDraw.Draw(tile).text((10, height // 2), "not an image", fill=(150, 0, 0), font=_font(14))
        return tile
    width = max(1, round(image.width * height / image.height))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def render(rows: Sequence[Row], path: Path) -> Path:
    thumbs = [[(tile, _thumbnail(tile.body)) for tile in row.images] for row in rows]
    widths = [LABEL_WIDTH + sum(max(t.width, _mark_width(tile)) + GAP for tile, t in row) for row in thumbs]
    sheet = Image.new("RGB", (max(widths, default=LABEL_WIDTH) + GAP, GAP + len(rows) * PITCH), "white")
    draw = ImageDraw.Draw(sheet)
    title_font, text_font = _font(16), _font(13)
    for index, (row, images) in enumerate(zip(rows, thumbs, strict=True)):
        top = GAP + index * PITCH
        draw.text((GAP, top), row.title, fill="black", font=title_font)
        for number, line in enumerate(row.lines):
            draw.text((GAP, top + 26 + number * 17), line, fill=(60, 60, 60), font=text_font)
        left = LABEL_WIDTH
        for tile, thumb in images:
            draw.text((left, top), tile.caption, fill=(60, 60, 60), font=text_font)
            sheet.paste(thumb, (left, top + CAPTION))
            if tile.mark is not None:
                _draw_mark(draw, tile.mark, left, top + ROW_HEIGHT + 2, thumb.width)
            left += max(thumb.width, _mark_width(tile)) + GAP
        bottom = top + PITCH - GAP // 2
        draw.line((GAP, bottom, sheet.width - GAP, bottom), fill=(220, 220, 220))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, "JPEG", quality=88)
    return path


def _mark_width(tile: Tile) -> int:
    if tile.mark is None:
        return 0
    return round(_font(12).getlength(tile.mark.worst)) + 4


def _draw_mark(draw: ImageDraw.ImageDraw, mark: Mark, left: int, top: int, width: int) -> None:
    word, colour = VERDICTS[mark.passed]
    draw.rectangle((left, top, left + width - 1, top + 15), fill=colour)
    draw.text((left + 4, top + 1), word, fill="white", font=_font(13))
    draw.text((left, top + 18), mark.worst, fill=colour, font=_font(12))
