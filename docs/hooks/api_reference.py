"""MkDocs hook: the API reference, rendered at build time from ``docs/openapi.json`` into Markdown.

No Swagger UI from a CDN: the site builds and reads offline, and the reference is the same document
the unit tests check against the code (tests/unit/test_openapi.py). A page without the marker fails
the build instead of silently losing the reference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PAGE = "api.md"
MARKER = "<!-- openapi -->"
DOCUMENT = Path(__file__).resolve().parents[1] / "openapi.json"
METHODS = ("get", "put", "post", "delete", "patch")


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def schema_text(schema: dict[str, Any]) -> str:
    """A schema in a few words: its type or a link to the component, with its constraints."""
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return f"[{name}](#{name.lower()})"
    for combiner in ("anyOf", "oneOf", "allOf"):
        if combiner in schema:
            return " or ".join(schema_text(s) for s in schema[combiner])
    kind = schema.get("type", "any")
    if kind == "array":
        text = f"array of {schema_text(schema.get('items', {}))}"
    elif kind == "null":
        text = "null"
    else:
        text = str(kind)
    limits = [
        f"{label} {schema[key]}"
        for key, label in (
            ("minLength", "length >="),
            ("maxLength", "length <="),
            ("minimum", ">="),
            ("maximum", "<="),
            ("minItems", "items >="),
            ("maxItems", "items <="),
            ("pattern", "pattern"),
        )
        if key in schema
    ]
    if "enum" in schema:
        limits.append("one of " + ", ".join(f"`{v}`" for v in schema["enum"]))
    return text + (f" ({'; '.join(limits)})" if limits else "")


def _operation(path: str, method: str, op: dict[str, Any]) -> list[str]:
    lines = [f"#### `{method.upper()} {path}`", "", f"**{op.get('summary', '')}**", ""]
    if op.get("description"):
        lines += [op["description"], ""]
    if op.get("parameters"):
        lines += ["| parameter | in | required | type | meaning |", "|---|---|---|---|---|"]
        for p in op["parameters"]:
            lines.append(
                f"| `{p['name']}` | {p['in']} | {'yes' if p.get('required') else 'no'} "
                f"| {_cell(schema_text(p.get('schema', {})))} | {_cell(p.get('description', ''))} |"
            )
        lines.append("")
    if op.get("requestBody"):
        body = op["requestBody"]
        types = ", ".join(
            f"{schema_text(c['schema'])} ({media})"
            for media, c in body.get("content", {}).items()
            if "schema" in c
        )
        required = "required" if body.get("required") else "optional"
        lines += [f"Request body ({required}): {types}. {body.get('description', '')}".rstrip(), ""]
    lines += ["| status | meaning | body | headers |", "|---|---|---|---|"]
    for status, answer in op.get("responses", {}).items():
        body = ", ".join(
            schema_text(c["schema"]) for c in answer.get("content", {}).values() if "schema" in c
        )
        headers = ", ".join(f"`{h}`" for h in answer.get("headers", {}))
        lines.append(
            f"| {status} | {_cell(answer.get('description', ''))} | {body or '-'} | {headers or '-'} |"
        )
    return [*lines, ""]


def _component(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"#### {name} {{: #{name.lower()} }}", ""]
    if schema.get("description"):
        lines += [_cell(schema["description"]), ""]
    properties = schema.get("properties", {})
    if not properties:
        return [*lines, f"Type: {schema_text(schema)}.", ""]
    required = set(schema.get("required", ()))
    lines += ["| field | type | required | meaning |", "|---|---|---|---|"]
    for field, spec in properties.items():
        lines.append(
            f"| `{field}` | {_cell(schema_text(spec))} | {'yes' if field in required else 'no'} "
            f"| {_cell(spec.get('description', ''))} |"
        )
    return [*lines, ""]


def render_reference(document: dict[str, Any]) -> str:
    info = document.get("info", {})
    lines = [
        f"Generated from `docs/openapi.json` ({info.get('title', '')}, version {info.get('version', '')}).",
        "",
    ]
    lines += ["Servers:", ""]
    lines += [f"- `{s['url']}`: {s.get('description', '')}" for s in document.get("servers", [])]
    lines += ["", "### Operations", ""]
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                lines += _operation(path, method, item[method])
    lines += ["### Request and answer types", ""]
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        lines += _component(name, schema)
    return "\n".join(lines)


def on_page_markdown(markdown: str, *, page: Any, **_context: Any) -> str:
    """MkDocs passes page, config and files by keyword; only the page matters here."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"{PAGE} lost its {MARKER} marker: the API reference would not be shown")
    return markdown.replace(MARKER, render_reference(json.loads(DOCUMENT.read_text(encoding="utf-8"))))
