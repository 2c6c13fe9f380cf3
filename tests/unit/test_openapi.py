"""The API's OpenAPI document: generated from the typed routes of get-photo and create-upload, committed,
never drifting.

After changing a route, a parameter or an answer type, re-generate and review the diff::

    .venv/bin/python -m tests.unit.test_openapi
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, get_args

import pytest
from openapi_spec_validator import validate

from idphoto import aws as clients
from idphoto import config
from idphoto.api import openapi
from idphoto.api.contract import ImageType
from idphoto.api.query import REFUSAL_DOC
from idphoto.uploads import IMAGE_TYPES

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "openapi.json"
ENV = {
    "PHOTO_BUCKET": "openapi-bucket",
    "PHOTOS_TABLE": "openapi-table",
    "APPCODE_SECRET_NAME": "idphoto/appcode",  # pragma: allowlist secret
    "DEFAULT_SPEC_ID": "1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


FUNCTIONS = ("get_photo", "create_upload")  # every function behind the API, in the document's order


def load_app(validation: str, function: str = "get_photo") -> ModuleType:
    """A fresh function module, as a cold start with ``API_VALIDATION=<validation>`` would load it."""
    os.environ["API_VALIDATION"] = validation
    spec = importlib.util.spec_from_file_location(
        f"{function}_{validation}", ROOT / "functions" / function / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered as Lambda's import would: pydantic reads the fields' docstrings from the source.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def document_of(validation: str) -> dict[str, Any]:
    """One document from every function's resolver."""
    modules = [load_app(validation, function) for function in FUNCTIONS]
    return openapi.openapi_document(
        *(module.app for module in modules), validation=all(module.VALIDATION for module in modules)
    )


def generate() -> str:
    """The document as committed: the resolvers', pretty-printed with a final newline."""
    return json.dumps(document_of("on"), indent=2, ensure_ascii=False) + "\n"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("API_VALIDATION", "off")  # restored by monkeypatch after load_app set it
    caches = [config.get_settings, clients.s3_client]  # create-upload's client: no credentials here
    for cached in caches:
        cached.cache_clear()
    yield
    for cached in caches:
        cached.cache_clear()


@pytest.fixture
def document(env: None) -> dict[str, Any]:
    generated: dict[str, Any] = json.loads(generate())
    return generated


def test_the_committed_document_is_what_the_routes_generate(env: None) -> None:
    committed = DOCUMENT.read_text(encoding="utf-8") if DOCUMENT.exists() else ""

    assert generate() == committed, (
        "docs/openapi.json is out of date: run `.venv/bin/python -m tests.unit.test_openapi` and review the diff"
    )


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)  # raises on an invalid document
    assert document["openapi"].startswith("3.1")


def test_every_route_of_both_functions_is_in_the_document_once(document: dict[str, Any]) -> None:
    operations = {(path, method) for path, item in document["paths"].items() for method in item}

    assert operations == {("/photos/{key}", "get"), ("/finals/{key}", "post"), ("/uploads", "post")}
    assert document["info"]["title"] == "idphoto API"
    assert [s["url"] for s in document["servers"]][1] == "http://127.0.0.1:3000/v1"


def test_the_get_photo_routes_take_the_greedy_key_as_a_path_parameter(document: dict[str, Any]) -> None:
    status = document["paths"]["/photos/{key}"]["get"]
    finals = document["paths"]["/finals/{key}"]["post"]
    assert [(p["name"], p["in"], p["required"]) for p in status["parameters"]] == [("key", "path", True)]
    color = next(p for p in finals["parameters"] if p["name"] == "color")
    assert color["in"] == "query" and not color["required"]
    assert "^[a-z0-9]" in json.dumps(color["schema"])


def test_answers_reference_the_typed_models(document: dict[str, Any]) -> None:
    status = document["paths"]["/photos/{key}"]["get"]["responses"]
    finals = document["paths"]["/finals/{key}"]["post"]["responses"]
    schemas = document["components"]["schemas"]

    assert status["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PhotoStatus"
    }
    assert finals["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Finals"}
    assert schemas["PhotoStatus"]["properties"]["status"]["enum"] == ["PROCESSING", "READY", "FAILED"]
    assert "error" not in schemas["PhotoStatus"]["required"]  # absent, not null, unless FAILED


def test_every_error_is_documented_in_the_apis_own_shape_and_422_is_not(document: dict[str, Any]) -> None:
    finals = document["paths"]["/finals/{key}"]["post"]["responses"]

    assert {"400", "403", "404", "409", "500", "502", "503"} <= set(finals)
    assert "422" not in finals
    for status in ("400", "404", "409", "500", "502", "503"):
        assert finals[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorAnswer"
        }
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_post_uploads_takes_its_typed_body_and_answers_201_with_the_form(document: dict[str, Any]) -> None:
    uploads = document["paths"]["/uploads"]["post"]
    schemas = document["components"]["schemas"]

    body = uploads["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/NewUpload"
    assert "parameters" not in uploads  # neither a path nor a query parameter
    assert uploads["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UploadAnswer"
    }
    new = schemas["NewUpload"]
    assert new["required"] == ["content_type"] and new["additionalProperties"] is False
    assert new["properties"]["content_type"]["enum"] == list(IMAGE_TYPES)
    answer = "key upload content_type max_bytes expires_at expires_in status_path status_url"
    assert set(schemas["UploadAnswer"]["required"]) == set(answer.split())
    assert set(schemas["PresignedPost"]["required"]) == {"url", "fields"}


def test_post_uploads_documents_the_errors_it_really_answers(document: dict[str, Any]) -> None:
    answers = document["paths"]["/uploads"]["post"]["responses"]

    assert set(answers) == {"201", "400", "403", "429", "500", "504"}  # no record read, no AWS call
    for status in ("400", "500"):
        assert answers[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorAnswer"
        }
    assert "INVALID_OPTIONS" in answers["400"]["description"]


def test_every_route_documents_that_an_unknown_query_parameter_is_refused(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert REFUSAL_DOC in operation["description"], (method, path)
            assert "query parameter" in operation["responses"]["400"]["description"], (method, path)


def test_the_documented_image_types_are_the_ones_uploads_take() -> None:
    assert get_args(ImageType) == tuple(IMAGE_TYPES)


def test_the_api_is_documented_as_sigv4_signed(document: dict[str, Any]) -> None:
    assert document["security"] == [{"sigv4": []}]
    assert document["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_deployed_mode_never_imports_pydantic(function: str) -> None:
    """Powertools' validation imports pydantic, which costs more cold start than the rest of get-photo
    (and doubles create-upload's import time); the layer does not ship it."""
    code = (
        "import importlib.util, sys\n"
        "sys.path.insert(0, 'layers/idphoto')\n"
        f"spec = importlib.util.spec_from_file_location('app', 'functions/{function}/app.py')\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(module.VALIDATION, sorted(n for n in sys.modules if n.split('.')[0] == 'pydantic'))\n"
    )
    env = {**os.environ, **ENV, "API_VALIDATION": "off"}
    answer = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )

    assert answer.stdout.split() == ["False", "[]"]


def test_the_document_needs_the_validated_mode(env: None) -> None:
    with pytest.raises(RuntimeError, match="API_VALIDATION=on"):
        document_of("off")


if __name__ == "__main__":
    for name, value in ENV.items():
        os.environ.setdefault(name, value)
    DOCUMENT.parent.mkdir(exist_ok=True)
    DOCUMENT.write_text(generate(), encoding="utf-8")
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")
