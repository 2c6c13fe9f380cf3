"""Cold start: import and initialise each function module in fresh processes, against the floor.

The floor is the least any implementation must do at cold start: ``import boto3, requests`` and
create the clients it will use. Each figure is the median of N fresh interpreter processes; the
rows are measured interleaved, so machine noise hits them alike.

    .venv/bin/python -m bench.cold_start [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

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
}

FLOOR = """
import time; t = time.perf_counter()
import boto3, requests
boto3.client("s3"); boto3.client("dynamodb"); requests.Session()
print(time.perf_counter() - t)
"""

HANDLER = """
import time; t = time.perf_counter()
import importlib.util, sys
sys.path.insert(0, {layer!r})
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
from idphoto import services
services.storage(); services.records(); services.vendor()
print(time.perf_counter() - t)
"""


def run(code: str) -> float:
    env = {**os.environ, **ENV, "PYTHONDONTWRITEBYTECODE": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)  # noqa: S603
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    layer = str(ROOT / "layers" / "idphoto")
    rows = {
        "floor: import boto3, requests + clients": FLOOR,
        "make-photo: import + init": HANDLER.format(
            layer=layer, path=str(ROOT / "functions/make_photo/app.py")
        ),
        "get-photo: import + init": HANDLER.format(
            layer=layer, path=str(ROOT / "functions/get_photo/app.py")
        ),
    }
    for code in rows.values():
        run(code)  # warm the bytecode caches once
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.runs):
        for name, code in rows.items():
            times[name].append(run(code))
    floor = statistics.median(times[next(iter(rows))])
    print(f"| what | median ms (n={args.runs}) | ratio to floor | target |")
    print("|---|---|---|---|")
    for name, samples in times.items():
        median = statistics.median(samples)
        target = "" if name.startswith("floor") else "<= 1.3"
        print(f"| {name} | {median * 1000:.0f} | {median / floor:.2f} | {target} |")


if __name__ == "__main__":
    main()
