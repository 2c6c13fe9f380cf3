"""Fail on any secret-like string that the reviewed baseline does not already list.

``detect-secrets-hook`` rewrites the baseline whenever a known finding moves to another line and
then fails, which makes CI red for an edit near a fake value. This compares findings by file, type
and hash instead, and never writes anything.

    detect-secrets scan $(git ls-files) | python -m ops.secrets_check .secrets.baseline
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

Finding = tuple[str, str, str]


def findings(report: dict[str, Any]) -> set[Finding]:
    return {
        (path, item["type"], item["hashed_secret"])
        for path, items in report.get("results", {}).items()
        for item in items
    }


def new_findings(baseline: dict[str, Any], scan: dict[str, Any]) -> list[Finding]:
    return sorted(findings(scan) - findings(baseline))


def main(argv: list[str]) -> int:
    baseline = json.loads(Path(argv[1]).read_text())
    scan = json.loads(sys.stdin.read())
    new = new_findings(baseline, scan)
    for path, kind, _ in new:
        print(f"{path}: {kind} not in the baseline (review it; if it is fake: make secrets-baseline)")
    print(f"secret scan: {len(new)} new finding(s), {len(findings(baseline))} known")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
