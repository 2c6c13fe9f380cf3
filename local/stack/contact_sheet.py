"""One picture of a demo run: a row per photo, source, previews and finals side by side, labelled."""

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


@dataclass
class Row:
    title: str
    lines: list[str]
    # (caption, JPEG/PNG bytes) in the order they are shown
    images: list[tuple[str, bytes]] = field(default_factory=list)


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
    thumbs = [[(caption, _thumbnail(raw)) for caption, raw in row.images] for row in rows]
    widths = [LABEL_WIDTH + sum(t.width + GAP for _, t in row) for row in thumbs]
    sheet = Image.new(
        "RGB", (max(widths, default=LABEL_WIDTH) + GAP, GAP + len(rows) * (ROW_HEIGHT + GAP)), "white"
    )
    draw = ImageDraw.Draw(sheet)
    title_font, text_font = _font(16), _font(13)
    for index, (row, images) in enumerate(zip(rows, thumbs, strict=True)):
        top = GAP + index * (ROW_HEIGHT + GAP)
        draw.text((GAP, top), row.title, fill="black", font=title_font)
        for number, line in enumerate(row.lines):
            draw.text((GAP, top + 26 + number * 17), line, fill=(60, 60, 60), font=text_font)
        left = LABEL_WIDTH
        for caption, thumb in images:
            draw.text((left, top), caption, fill=(60, 60, 60), font=text_font)
            sheet.paste(thumb, (left, top + CAPTION))
            left += thumb.width + GAP
        draw.line(
            (GAP, top + ROW_HEIGHT + GAP // 2, sheet.width - GAP, top + ROW_HEIGHT + GAP // 2),
            fill=(220, 220, 220),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, "JPEG", quality=88)
    return path
