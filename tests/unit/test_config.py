"""Settings from the environment: read once, and a bad deployment fails at cold start."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from idphoto.config import Settings
from idphoto.errors import ConfigurationError

BASE = {"PHOTO_BUCKET": "b", "PHOTOS_TABLE": "t", "APPCODE_SECRET_NAME": "s"}


def test_defaults_and_settings_are_parsed() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "DEFAULT_SPEC_ID": "2",
            "DEFAULT_BACKGROUND": "white|blue",
            "DEFAULT_PRINT_TYPE": "",
            "MAX_UPLOAD_MB": "2",
            "UPLOAD_MAX_RECEIVE_COUNT": "2",
            "PHOTO_ACCESS": "any",
        }
    )

    assert settings.defaults["spec_id"] == 2
    assert [c.name for c in settings.defaults["background"]] == ["white", "blue"]
    assert "print_type" not in settings.defaults
    assert (settings.max_upload_bytes, settings.make_attempts, settings.photo_access) == (
        2 * 1024 * 1024,
        2,
        "any",
    )


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"PHOTO_BUCKET": ""}, "PHOTO_BUCKET"),
        ({"DEFAULT_BACKGROUND": "purple"}, "background"),
        ({"FINALS_PREFIX": "uploads/"}, "must not contain each other"),
        ({"FINALS_PREFIX": "uploads/finals/"}, "must not contain each other"),
        ({"UPLOAD_PREFIX": "/"}, "must not be empty"),
        ({"PHOTO_ACCESS": "everyone"}, "everyone"),
        ({"MAX_UPLOAD_MB": "lots"}, "lots"),
    ],
)
def test_a_bad_deployment_fails_loudly(extra: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        Settings.from_env({**BASE, **extra})


def test_each_setting_is_written_once_and_the_template_agrees_with_its_default() -> None:
    from dataclasses import fields

    from tests.template import resource, template

    variables = {
        **template()["Globals"]["Function"]["Environment"]["Variables"],
        **resource("MakePhotoFunction")["Properties"]["Environment"]["Variables"],
    }
    parameters = template()["Parameters"]
    checked = []
    for item in fields(Settings):
        if item.name == "defaults":
            continue
        meta = item.metadata
        assert "env" in meta, f"{item.name} has no environment variable"
        reference = variables.get(meta["env"], {})
        # A Ref to a parameter (not to a resource, such as UPLOAD_QUEUE_URL's queue) has a default.
        if isinstance(reference, dict) and reference.get("Ref") in parameters and "default" in meta:
            deployed = parameters[reference["Ref"]]["Default"]
            assert meta["parse"](str(deployed)) == meta["parse"](meta["default"]), item.name
            checked.append(meta["env"])

    assert {
        "UPLOAD_PREFIX",
        "MAX_UPLOAD_MB",
        "UPLOAD_MAX_RECEIVE_COUNT",
        "VENDOR_REFUSAL_WAIT_MINUTES",
        "PHOTO_ACCESS",
    } <= set(checked)


def test_unset_variables_take_the_one_default() -> None:
    assert Settings.from_env(BASE) == Settings(bucket="b", table="t", appcode_secret_name="s")


@pytest.mark.parametrize(("value", "expected"), [("on", True), (" ON ", True), ("off", False), ("", False)])
def test_api_validation_and_vendor_ids_are_read_in_config(value: str, expected: bool) -> None:
    from idphoto.config import api_validation, spec_vendor_ids

    assert api_validation({"API_VALIDATION": value}) is expected
    assert api_validation({}) is False
    assert spec_vendor_ids({"SPEC_VENDOR_IDS": "us-passport=40"}) == "us-passport=40"


# What reads the process environment: os.environ in any use (``[...]``, ``.get``, passed on),
# os.getenv, their bytes forms, and the same names imported from os.
ENVIRONMENT_NAMES = frozenset({"environ", "environb", "getenv", "getenvb"})


def environment_reads(source: str) -> list[int]:
    """The lines of ``source`` that read the process environment."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if (
            (isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT_NAMES)
            or (isinstance(node, ast.Name) and node.id in ENVIRONMENT_NAMES)
            or (
                isinstance(node, ast.ImportFrom)
                and node.module == "os"
                and any(alias.name in ENVIRONMENT_NAMES for alias in node.names)
            )
        ):
            lines.append(node.lineno)
    return sorted(set(lines))


@pytest.mark.parametrize(
    "source",
    [
        "import os\nos.environ['X']",
        "import os\nos.environ.get('X')",
        "import os\nvalue = os.getenv('X', 'd')",
        "import os as system\nsystem.environ.get('X')",
        "from os import getenv\ngetenv('X')",
        "from os import environ as env\nenv['X']",
        "import os\ndef f(env=os.environ): return env",
    ],
)
def test_every_way_of_reading_the_environment_is_seen(source: str) -> None:
    assert environment_reads(source) != []


def test_other_uses_of_os_are_not_taken_for_environment_reads() -> None:
    assert environment_reads("import os\nos.path.join('a', os.sep)\nenvironment = {}\nenviron_x = 1") == []


def test_nothing_but_config_reads_the_environment() -> None:
    root = Path(__file__).resolve().parents[2]
    package = root / "layers/idphoto/idphoto"
    # tracing reads the X-Ray daemon's address as the Lambda runtime sets it, not a setting of ours;
    # environment.py holds the settings of modules config imports (config re-exports them: no cycle)
    allowed = {package / "config.py", package / "environment.py", package / "tracing.py"}
    modules = sorted([*package.rglob("*.py"), *(root / "functions").rglob("*.py")])
    assert package / "api" / "resolver.py" in modules  # every subpackage is searched
    assert {root / "functions" / name / "app.py" for name in ("make_photo", "get_photo")} <= set(modules)

    readers = {
        str(path.relative_to(root)): lines
        for path in modules
        if path not in allowed and (lines := environment_reads(path.read_text(encoding="utf-8")))
    }

    assert readers == {}
