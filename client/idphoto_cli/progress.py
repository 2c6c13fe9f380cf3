"""A progress display on stderr: one line per photo, redrawn in place on a terminal, and plain lines
(one per change) when stderr is a file or a pipe, so logs stay readable."""

from __future__ import annotations

import sys
import time
from typing import TextIO

SPINNER = "|/-\\"


class Progress:
    def __init__(self, keys: list[str], stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._keys = keys
        self._states = dict.fromkeys(keys, "UPLOADED")
        self._started = time.monotonic()
        self._ticks = 0
        self._drawn = 0
        self._width = max((len(k) for k in keys), default=0)

    def update(self, key: str, state: str) -> None:
        changed = self._states.get(key) != state
        self._states[key] = state
        if self._tty:
            self._redraw()
        elif changed:
            self._stream.write(f"{key}  {state}  {self._elapsed()}\n")
            self._stream.flush()

    def tick(self) -> None:
        if self._tty:
            self._ticks += 1
            self._redraw()

    def close(self) -> None:
        if self._tty and self._drawn:
            self._redraw(final=True)

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self._started:.0f}s"

    def _redraw(self, final: bool = False) -> None:
        if self._drawn:
            self._stream.write(f"\x1b[{self._drawn}F")  # back to the first line drawn
        spin = " " if final else SPINNER[self._ticks % len(SPINNER)]
        for key in self._keys:
            state = self._states[key]
            mark = spin if state in ("UPLOADED", "PROCESSING") else " "
            self._stream.write(f"\x1b[2K{mark} {key:<{self._width}}  {state:<10} {self._elapsed()}\n")
        self._drawn = len(self._keys)
        self._stream.flush()
