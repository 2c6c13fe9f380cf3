"""The one table every section contributes rows to, and the notes under it."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    what: str
    ours: str
    floor: str = "—"
    ratio: str = "—"
    target: str = "—"
    met: bool | None = None  # None: no target to meet

    def cells(self) -> list[str]:
        target = self.target
        if self.met is not None:
            target += " ✓" if self.met else " **missed**"
        return [self.what, self.ours, self.floor, self.ratio, target]


@dataclass
class Section:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def table(rows: Sequence[Row]) -> str:
    lines = ["| what | ours | the floor | ratio | target |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


def ratio(ours: float, floor: float) -> str:
    return f"{ours / floor:.2f}" if floor > 0 else "—"


def mb(size: int) -> str:
    """MB as Lambda's limits count them (250 MB unzipped = 250 x 2^20 bytes)."""
    digits = 3 if size < 2**20 // 10 else 2  # a handler file is a few KB: keep it visible
    return f"{size / 2**20:.{digits}f} MB"
