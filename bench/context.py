"""What the sections share in one run: the quick flag, one local stack (started on first use), the floor."""

from __future__ import annotations

import contextlib
import sys
from functools import cached_property
from pathlib import Path
from typing import Final

from bench.floor import Floor
from bench.stackrun import BenchStack, bench_stack

ROOT: Final = Path(__file__).resolve().parents[1]
# Outside the upload prefix: the floor's source portrait never triggers make-photo.
FLOOR_SOURCE_KEY: Final = "bench-floor-source/astronaut.jpg"


class Context:
    def __init__(self, *, quick: bool, cleanup: contextlib.ExitStack, log: Path) -> None:
        self.quick = quick
        self.log = log  # where the functions' stdout (logs, EMF metrics) goes while the stack runs
        self._cleanup = cleanup

    def progress(self, message: str) -> None:
        """To stderr: stdout carries the functions' logs during the run and the table at its end."""
        print(f"bench: {message}", file=sys.stderr, flush=True)

    @cached_property
    def stack(self) -> BenchStack:
        self.progress("starting the local stack")
        bench = self._cleanup.enter_context(bench_stack())
        bench.stack.client("s3").put_object(
            Bucket=bench.stack.bucket, Key=FLOOR_SOURCE_KEY, Body=self.portrait, ContentType="image/jpeg"
        )
        return bench

    @cached_property
    def floor(self) -> Floor:
        stack = self.stack.stack
        return Floor(stack.bucket, stack.table, stack.vendor_url, stack.appcode)

    @cached_property
    def portrait(self) -> bytes:
        from local.stack import samples  # imported late: scikit-image is slow to load

        return samples.astronaut()
