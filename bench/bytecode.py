"""Bytecode for everything the bench imports, whatever ``PYTHONDONTWRITEBYTECODE`` says.

With that variable set (this machine sets it), Python never writes ``__pycache__``, so every fresh
process compiles every module it imports: a cold-start row then measures the compiler, not our code
(the floor's ``import boto3, requests`` took 1166 ms compiled on the fly against about 280 ms from
bytecode). Lambda's runtime ships boto3 compiled and our layer ships its own bytecode
(``layers/idphoto/Makefile``), so the bench compiles the venv and our source trees once, up front,
with ``compileall`` (which writes ``.pyc`` files whatever the variable says; up-to-date ones are
skipped, so later runs cost a second). From then on every process reads bytecode, and the figures
are the same with or without the variable.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
OURS: Final = ("layers/idphoto/idphoto", "functions", "local", "bench", "client")


def trees() -> list[str]:
    site = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    return sorted(site) + [str(ROOT / name) for name in OURS]


def compile_all() -> None:
    """Compile what is not compiled yet. A file that does not compile (a package's Python 2 test
    data) is left as it is: nothing imports it, so compileall's exit status is not ours to judge."""
    subprocess.run(  # noqa: S603 - our own interpreter, our own trees
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *trees()],
        check=False,
        capture_output=True,
    )
