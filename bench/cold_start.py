"""Cold start: import and initialise each function module in fresh processes, against the floor.

The floor is the least any implementation must do at cold start: ``import boto3, requests`` and
create the clients it will use (:data:`bench.floor.COLD_START`). Ours imports the handler file with
the layer on ``sys.path`` (module-level settings check, Powertools logger, metrics and, for get-photo,
the API resolver) and builds what its first invocation would: clients, records, storage, vendor
client. Each figure is the median of N fresh interpreter processes; the three kinds run interleaved,
so machine noise hits them alike. One extra process per kind runs with ``-X importtime`` to say which
imports make the difference (that flag inflates times, so only the shares are used).

And as Lambda counts its Init: each function of the template started as the local stack starts it
(:class:`local.stack.runtime.Environment`: ``python -m awslambdaric app.lambda_handler`` with the
function's code folder, the layer and its resolved variables), timed from the process's start to its
first ``GET /runtime/invocation/next``; against a floor handler that does the floor's imports and
clients at import, started the same way (Lambda developer guide, "Understanding the Lambda execution
environment lifecycle": the Init phase ends when the runtime asks for its first event).

    .venv/bin/python -m bench.cold_start [--runs 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from bench.floor import COLD_START as FLOOR
from bench.report import Row, Section, median, ratio, table

if TYPE_CHECKING:
    from bench.context import Context
    from local.stack.template import FunctionSpec

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "idphoto"
BUILD = ROOT / ".aws-sam" / "build"
BUILT_LAYER = BUILD / "IdPhotoLayer" / "python"
TARGET = 1.3

ENV = {
    "PHOTO_BUCKET": "bench-bucket",
    "PHOTOS_TABLE": "bench-table",
    "APPCODE_SECRET_NAME": "idphoto/appcode",
    "DEFAULT_SPEC_ID": "1",
    "DEFAULT_BACKGROUND": "white",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    # Nothing of the person running it: no profile, config file or endpoint of theirs.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}

HANDLER = """
import time; t = time.perf_counter()
import importlib.util, sys
sys.path.insert(0, {layer!r})
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
from idphoto import services
services.{wiring}()
print(time.perf_counter() - t)
"""


# As deployed: /opt/python is the built layer, read-only, so Python cannot write bytecode caches
# there: it uses the .pyc files the build shipped (layers/idphoto/Makefile precompiles them) and
# compiles anything else at each cold start (boto3 comes with the runtime, compiled). Run with -B,
# the built tree gets no __pycache__ from us either.
# And only what Lambda has is importable: the standard library, the runtime's AWS SDK and its
# dependencies, the layer and the function; anything else (found in .venv here) fails as it would
# there, so a dependency missing from the layer shows in this row instead of after a deployment.
LAMBDA_ONLY = """
import sys
from pathlib import Path
RUNTIME = {{"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"}}
SHIPPED = [Path(p) for p in {shipped!r}]
class LambdaOnly:
    def find_spec(self, name, path=None, target=None):
        if "." in name or name in sys.stdlib_module_names or name in RUNTIME:
            return None
        if any((d / name).is_dir() or (d / (name + ".py")).is_file() for d in SHIPPED):
            return None
        raise ModuleNotFoundError(f"{{name}} is not in the layer, the function or the Lambda runtime")
sys.meta_path.insert(0, LambdaOnly())
"""
BUILT_FLOOR = "import sys; sys.path.insert(0, {layer!r})\n" + FLOOR


def kinds() -> dict[str, str]:
    """Name -> code. Each handler builds the object its first invocation asks ``services`` for."""
    codes = {
        "floor": FLOOR,
        "make-photo": HANDLER.format(
            layer=str(LAYER), path=str(ROOT / "functions/make_photo/app.py"), wiring="maker"
        ),
        "get-photo": HANDLER.format(
            layer=str(LAYER), path=str(ROOT / "functions/get_photo/app.py"), wiring="finals"
        ),
    }
    if BUILT_LAYER.is_dir():
        layer = str(BUILT_LAYER)
        codes["floor as built"] = LAMBDA_ONLY.format(shipped=[layer]) + BUILT_FLOOR.format(layer=layer)
        for kind, function, wiring in (
            ("make-photo", "MakePhotoFunction", "maker"),
            ("get-photo", "GetPhotoFunction", "finals"),
        ):
            folder = BUILD / function
            codes[f"{kind} as built"] = LAMBDA_ONLY.format(shipped=[layer, str(folder)]) + HANDLER.format(
                layer=layer, path=str(folder / "app.py"), wiring=wiring
            )
    return codes


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PHOTO", "DEFAULT_"))}
    return env | ENV


def run_once(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, *flags, "-c", code], env=_env(), capture_output=True, text=True, check=True, cwd=ROOT
    )


def seconds(code: str, built: bool) -> float:
    return float(run_once(code, *(["-B"] if built else [])).stdout.strip().splitlines()[-1])


def measure(runs: int) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Samples per kind, and the kinds that cannot start at all with the last line of their error."""
    codes = kinds()
    failed: dict[str, str] = {}
    for name, code in list(codes.items()):
        try:
            seconds(code, "built" in name)  # warm the bytecode caches and the page cache once
        except subprocess.CalledProcessError as exc:
            failed[name] = (exc.stderr.strip().splitlines() or ["no output"])[-1]
            del codes[name]
    samples: dict[str, list[float]] = {name: [] for name in codes}
    for _ in range(runs):
        for name, code in codes.items():
            samples[name].append(seconds(code, "built" in name))
    return samples, failed


def import_shares(code: str) -> Counter[str]:
    """Self time of each top-level package imported (microseconds, under ``-X importtime``)."""
    shares: Counter[str] = Counter()
    for line in run_once(code, "-X", "importtime").stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            shares[parts[2].strip().split(".")[0]] += int(parts[0])
    return shares


def extra_imports(kind: str) -> str:
    """The packages a handler imports beyond the floor's, largest first."""
    codes = kinds()
    ours, floor = import_shares(codes[kind]), import_shares(codes["floor"])
    extra = {name: us for name, us in ours.items() if name not in floor}
    total = sum(ours.values())
    top = sorted(extra.items(), key=lambda item: -item[1])[:4]
    listed = ", ".join(f"{name} {us / total:.0%}" for name, us in top)
    return f"{kind}: {sum(extra.values()) / total:.0%} of its import time is beyond the floor's ({listed})"


FLOOR_HANDLER = """
import boto3, requests
boto3.client("s3"); boto3.client("dynamodb"); requests.Session()


def handler(event, context):
    return None
"""
INIT_FLOOR = "floor"


def lambda_inits(runs: int) -> dict[str, list[float]]:
    """Init seconds per function (by logical id) and for the floor, the kinds interleaved; a first
    round warms the page cache and is dropped."""
    from local.stack import template

    specs: dict[str, FunctionSpec] = {f.logical_id: f for f in template.load().functions}
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "floor.py").write_text(FLOOR_HANDLER, encoding="utf-8")
        specs[INIT_FLOOR] = dataclasses.replace(
            next(iter(specs.values())),
            logical_id=INIT_FLOOR,
            code_dir=Path(folder),
            handler="floor.handler",
            layer_dirs=(),
            environment={},
        )
        samples: dict[str, list[float]] = {name: [] for name in specs}
        for _ in range(runs + 1):
            for name, spec in specs.items():
                samples[name].append(init_s(spec))
    return {name: values[1:] for name, values in samples.items()}


def init_s(spec: FunctionSpec) -> float:
    """One environment's Init: its process started to its first ``invocation/next``."""
    from botocore.credentials import ReadOnlyCredentials

    from local.stack.runtime import Environment, EnvironmentConfig

    config = EnvironmentConfig(
        spec, ReadOnlyCredentials("testing", "testing", None), "http://127.0.0.1:9", "us-east-1"
    )
    environment = Environment(config, sink=lambda _line: None)
    try:
        deadline = time.monotonic() + 60
        while (seconds := environment.stats.init_s) is None:
            if not environment.alive or time.monotonic() > deadline:
                raise RuntimeError(f"{spec.logical_id} never asked for its first event")
            time.sleep(0.005)  # the figure is taken by the Runtime API itself, not by this loop
        return seconds
    finally:
        environment.stop()


def init_rows(samples: dict[str, list[float]]) -> list[Row]:
    floor = median(samples[INIT_FLOOR])
    out = []
    for name, values in samples.items():
        if name == INIT_FLOOR:
            continue
        what = f"Lambda Init {name}: awslambdaric's start to its first invocation/next"
        out.append(against_floor(f"{what} (median of {len(values)} environments)", median(values), floor))
    return out


def against_floor(what: str, ours: float, floor: float) -> Row:
    """A row of seconds against the floor's, with the cold-start target."""
    return Row(
        what,
        f"{ours * 1000:.0f} ms",
        f"{floor * 1000:.0f} ms",
        ratio(ours, floor),
        f"<= {TARGET}",
        ours / floor <= TARGET,
    )


def rows(samples: dict[str, list[float]], failed: dict[str, str]) -> list[Row]:
    runs = len(samples["floor"])
    out = []
    for kind in ("make-photo", "get-photo", "make-photo as built", "get-photo as built"):
        if kind in failed:
            out.append(Row(f"cold start {kind}", f"fails: {failed[kind]}", target=f"<= {TARGET}", met=False))
        if kind not in samples:
            continue
        floor_kind = "floor as built" if "built" in kind else "floor"
        what = f"cold start {kind}: import + init (median of {runs} processes)"
        out.append(against_floor(what, median(samples[kind]), median(samples[floor_kind])))
    return out


def run(ctx: Context) -> Section:
    runs = 2 if ctx.quick else 20
    ctx.progress(f"cold start: {runs} fresh processes per kind, interleaved")
    samples, failed = measure(runs)
    ctx.progress(f"cold start: Lambda's Init of each function, {runs} environments each, interleaved")
    section = Section(rows(samples, failed) + init_rows(lambda_inits(runs)))
    built = (
        '"as built": the `sam build` output (`.aws-sam/build`), layer on `sys.path` with only the bytecode '
        "the build shipped, as Lambda's read-only /opt runs it (the floor's requests from the same build)"
        if "floor as built" in samples
        else 'no `.aws-sam/build` (run `make build`): the "as built" rows are missing'
    )
    # Which imports make the difference: two more processes per kind, skipped in a smoke run.
    shares = (
        ""
        if ctx.quick
        else " "
        + "; ".join(extra_imports(k) for k in ("make-photo", "get-photo"))
        + " (shares of import time under `-X importtime`)."
    )
    section.notes.append(
        "Cold start: fresh `python -c` processes, timed inside from the first import to the clients "
        "built (interpreter start-up excluded, same for both); floor = `import boto3, requests` + S3 and "
        f"DynamoDB clients + a session; {built}.{shares} Lambda Init: each function started as the "
        "local stack starts it (`python -m awslambdaric app.lambda_handler`, its code folder, the layer, "
        "its resolved variables), timed by the local Runtime API from the process's start to its first "
        "`invocation/next`; the floor: a handler file doing the floor's imports and clients at import, "
        "started the same way."
    )
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(table(rows(*measure(args.runs)) + init_rows(lambda_inits(args.runs))))


if __name__ == "__main__":
    main()
