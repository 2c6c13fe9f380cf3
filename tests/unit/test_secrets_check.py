"""The CI secret check: new findings fail it, known ones that moved lines do not."""

from __future__ import annotations

from ops.secrets_check import new_findings


def report(*items: tuple[str, str, str, int]) -> dict[str, object]:
    results: dict[str, list[dict[str, object]]] = {}
    for path, kind, hashed, line in items:
        results.setdefault(path, []).append({"type": kind, "hashed_secret": hashed, "line_number": line})
    return {"results": results}


def test_a_known_finding_on_another_line_is_not_new() -> None:
    baseline = report(("a.py", "Secret Keyword", "h1", 10))

    assert new_findings(baseline, report(("a.py", "Secret Keyword", "h1", 42))) == []


def test_a_new_secret_is_reported() -> None:
    baseline = report(("a.py", "Secret Keyword", "h1", 10))
    scan = report(("a.py", "Secret Keyword", "h1", 10), ("b.py", "AWS Access Key", "h2", 3))

    assert new_findings(baseline, scan) == [("b.py", "AWS Access Key", "h2")]
