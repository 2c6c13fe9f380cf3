"""``python -m bench [--quick] [--only NAME ...]``: every benchmark, one Markdown table, short notes.

Sections, in the order they run: cold_start and sizes need no stack (cold starts go first, before the
stack's threads exist, to keep their processes' timings quiet); warm, api, rss and cost share one local
stack started on first use; throughput (:mod:`bench.pipeline`) starts a fresh stack per run, with the
stand-in in thin mode. Every section starts from compiled bytecode (:mod:`bench.bytecode`). While a stack runs, the functions' logs and metrics (written to
stdout, as on Lambda) go to ``out/bench/functions.log``; the table is printed to the real stdout at the
end. ``--quick`` is a smoke run (fewer samples, 40 uploads for throughput) in a few minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Final

from bench import api, bytecode, cold_start, compliance, cost, phone, pipeline, sizes, throughput, warm
from bench.context import ROOT, Context
from bench.report import Section, table

SECTIONS: Final[dict[str, Callable[[Context], Section]]] = {
    "cold_start": cold_start.run,
    "sizes": sizes.run,
    "warm": warm.run,
    "api": api.run,
    "throughput": pipeline.run,
    "rss": throughput.run_rss,
    "cost": cost.run,
    "phone": phone.run,
    "compliance": compliance.run,
}
LOG: Final = ROOT / "out" / "bench" / "functions.log"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run with fewer samples")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(SECTIONS),
        metavar="NAME",
        help=f"run only this section (repeatable): {', '.join(SECTIONS)}",
    )
    args = parser.parse_args(argv)
    chosen = [name for name in SECTIONS if not args.only or name in args.only]
    # Powertools warns on every status read (it records no metric): expected, and not ours to show.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    started, load = time.perf_counter(), os.getloadavg()[0]
    bytecode.compile_all()  # before any timing: the same figures whatever PYTHONDONTWRITEBYTECODE says
    out = sys.stdout
    LOG.parent.mkdir(parents=True, exist_ok=True)
    results: list[Section] = []
    with (
        LOG.open("w", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
        contextlib.ExitStack() as cleanup,
    ):
        ctx = Context(quick=args.quick, cleanup=cleanup, log=LOG)
        for name in chosen:
            began = time.perf_counter()
            results.append(SECTIONS[name](ctx))
            ctx.progress(f"{name} took {time.perf_counter() - began:.0f} s")
    elapsed = time.perf_counter() - started
    rows = [row for section in results for row in section.rows]
    notes = [note for section in results for note in section.notes]
    mode = "--quick" if args.quick else "full"
    print(table(rows), file=out)
    print(file=out)
    for note in notes:
        print(f"- {note}", file=out)
    print(
        f"\n`python -m bench{' --quick' if args.quick else ''}` ({mode}) took {elapsed:.0f} s on "
        f"{os.cpu_count()} cores; 1-minute load average {load:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end (other work on the machine skews absolute times; "
        "ours and the floor run interleaved to share it).",
        file=out,
    )
    missed = [row.what for row in rows if row.met is False]
    if missed:
        print(f"Targets missed: {len(missed)} (see the rows marked **missed**).", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
