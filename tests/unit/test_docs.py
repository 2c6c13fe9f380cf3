"""The documentation: the hooks that make pages from the code's own data (docs/hooks/), and the README's
links. ``make docs`` builds the whole site with --strict; these catch a hook that loses content."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from docs.hooks import api_reference, catalogue_page
from idphoto.specs import CATALOGUE
from local.stack.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parents[2]


def page(src_uri: str) -> SimpleNamespace:
    return SimpleNamespace(file=SimpleNamespace(src_uri=src_uri))


def test_the_specs_page_shows_every_spec_with_its_figures_and_sources() -> None:
    text = catalogue_page.on_page_markdown("# Named specs\n\n<!-- catalogue -->\n", page=page("specs.md"))

    assert "<!-- catalogue -->" not in text
    assert CATALOGUE.version in text
    for spec in CATALOGUE:
        assert f"{{: #{spec.name} }}" in text, spec.name
        assert spec.source.replace("|", "\\|") in text, spec.name
        assert f"{spec.size_px} at {spec.dpi} dpi" in text, spec.name
    us = text[text.index("{: #us-passport }") :]
    assert "head 25-35 mm, eyes 28-35 mm" in us.split("### ", 1)[0]


def test_a_country_without_a_name_fails_the_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(catalogue_page.COUNTRIES, "US")
    with pytest.raises(ValueError, match="US"):
        catalogue_page.render_catalogue()


@pytest.mark.parametrize(
    ("hook", "uri"),
    [(catalogue_page.on_page_markdown, "specs.md"), (api_reference.on_page_markdown, "api.md")],
)
def test_a_page_that_lost_its_marker_fails_the_build_and_other_pages_pass_untouched(
    hook: Callable[..., str], uri: str
) -> None:
    with pytest.raises(ValueError, match="marker"):
        hook("# no marker here\n", page=page(uri))
    assert hook("# other <!-- catalogue --> <!-- openapi -->", page=page("index.md")) == (
        "# other <!-- catalogue --> <!-- openapi -->"
    )


def test_the_api_page_shows_every_operation_parameter_answer_and_type() -> None:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))

    text = api_reference.on_page_markdown("## Reference\n\n<!-- openapi -->\n", page=page("api.md"))

    for path, item in document["paths"].items():
        for method, operation in item.items():
            section = text[text.index(f"#### `{method.upper()} {path}`") :].split("#### ", 2)[1]
            for parameter in operation.get("parameters", []):
                assert f"| `{parameter['name']}` |" in section
            if "requestBody" in operation:
                ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                body = ref.rsplit("/", 1)[1]
                assert f"Request body (required): [{body}](#{body.lower()}) (application/json)" in section
            for status in operation["responses"]:
                assert f"\n| {status} |" in section, (path, method, status)
    for name, schema in document["components"]["schemas"].items():
        assert f"#### {name} {{: #{name.lower()} }}" in text
        for field in schema.get("properties", {}):
            assert f"| `{field}` |" in text


def test_schema_text_links_references_and_states_constraints() -> None:
    assert (
        api_reference.schema_text({"$ref": "#/components/schemas/PhotoStatus"})
        == "[PhotoStatus](#photostatus)"
    )
    assert api_reference.schema_text({"type": "array", "items": {"type": "string", "minLength": 1}}) == (
        "array of string (length >= 1)"
    )
    assert api_reference.schema_text({"anyOf": [{"type": "integer", "maximum": 5}, {"type": "null"}]}) == (
        "integer (<= 5) or null"
    )


def test_the_readme_is_short_and_its_links_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)

    assert len(readme.splitlines()) <= 200
    local = [link for link in links if "://" not in link]
    assert local, "the README links into the documentation"
    assert [link for link in local if not (ROOT / link).exists()] == []


def deploy_rows() -> dict[str, str]:
    """The deploy page's parameter table: each parameter named in a row's first cell -> that row's default."""
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    table = text[text.index("## Parameters") :].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([A-Za-z]+)`", cells[0])
        # one default for every name of the row, or one each ("`x-api-key`, empty")
        defaults = (
            [d.strip().strip("`") for d in cells[1].split(",")] if len(names) > 1 else [cells[1].strip("`")]
        )
        if len(defaults) == 1:
            defaults *= len(names)
        for name, default in zip(names, defaults, strict=True):
            rows[name] = "" if default == "empty" else default
    return rows


def test_the_deploy_page_lists_every_template_parameter_with_its_default() -> None:
    parameters = load_template(ROOT / "template.yaml")["Parameters"]

    rows = deploy_rows()

    assert sorted(rows) == sorted(parameters)
    for name, parameter in parameters.items():
        assert rows[name] == str(parameter.get("Default", "")), name


def test_the_operations_page_has_a_runbook_entry_for_every_alarm() -> None:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    alarms = {name for name, resource in resources.items() if resource["Type"] == "AWS::CloudWatch::Alarm"}
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    headed = {
        name for heading in re.findall(r"^### (.+)$", text, re.MULTILINE) for name in heading.split(" and ")
    }
    listed = set(re.findall(r"^\| \[`(\w+Alarm)`\]", text, re.MULTILINE))

    assert headed & alarms == alarms, "a runbook heading for each alarm"
    assert listed == alarms, "the alarm table names exactly the template's alarms"
