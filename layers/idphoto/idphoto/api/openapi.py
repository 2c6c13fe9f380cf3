"""The API's OpenAPI document, built on demand from the typed routes of both its functions (never at
cold start): get-photo's ``GET /photos/{key}`` and ``POST /finals/{key}``, create-upload's
``POST /uploads``. One document: the API's title, version, servers and security once; each operation
as its function's resolver declares it.

``tests/unit/test_openapi.py`` compares it with the committed ``docs/openapi.json``.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from idphoto.api.contract import CONTRACT_TYPES, NewUpload
from idphoto.api.query import REFUSAL_DOC

API_VERSION: Final = "1.0.0"


def openapi_document(*apps: APIGatewayRestResolver, validation: bool) -> dict[str, Any]:
    """The API's OpenAPI document, as committed in ``docs/openapi.json``: the routes of every resolver
    given (each loaded with ``API_VALIDATION=on``), in one document.

    Powertools documents a 422 "Validation Error" for validated routes; this API answers a refused
    request with 400 ``BAD_REQUEST`` in its own error shape (the handlers' ``invalid_request``), so the
    422 and its schemas are left out.
    """
    if not validation:
        raise RuntimeError("the OpenAPI document needs the typed parameters: set API_VALIDATION=on")
    for model in CONTRACT_TYPES:  # field docstrings become the fields' descriptions
        type.__setattr__(model, "__pydantic_config__", {"use_attribute_docstrings": True})
    # parse_request refuses a field NewUpload does not list: the document says so
    type.__setattr__(NewUpload, "__pydantic_config__", {"use_attribute_docstrings": True, "extra": "forbid"})
    parts = [_document(app) for app in apps]
    document = parts[0]
    for part in parts[1:]:
        _merge(document, part)
    for path in document["paths"].values():
        for operation in path.values():
            operation["responses"].pop("422", None)
            # OpenAPI cannot say "no other query parameters"; the resolver refuses them (idphoto.api.query)
            operation["description"] = f"{operation.get('description', '')} {REFUSAL_DOC}".strip()
            if "requestBody" in operation:
                # The body parameter defaults to None for the deployed mode's sake (no validation:
                # Powertools passes none); a request without a body is refused all the same.
                operation["requestBody"]["required"] = True
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        document["components"]["schemas"].pop(name, None)
    return document


def _merge(document: dict[str, Any], part: dict[str, Any]) -> None:
    """Another function's paths and schemas into the document; the metadata is the same (_document)."""
    for path, item in part["paths"].items():
        if path in document["paths"]:
            raise ValueError(f"two functions declare {path}")
        document["paths"][path] = item
    schemas = document["components"].setdefault("schemas", {})
    for name, schema in part["components"].get("schemas", {}).items():
        if schemas.setdefault(name, schema) != schema:
            raise ValueError(f"two functions declare the schema {name} differently")


def _document(app: APIGatewayRestResolver) -> dict[str, Any]:
    """One resolver's routes, under the API's metadata."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, Server, ServerVariable

    schema = app.get_openapi_json_schema(
        title="idphoto API",
        version=API_VERSION,
        description=(
            "Upload forms for browsers and phones, status and previews (free), and watermark-free finals "
            "(billed once per colour, then kept) of the ID photos made from uploads. Requests are signed "
            "with SigV4 (service execute-api); the local stack (`make up`) does not check signatures. "
            'Errors are {"error": {"code", "message"}}.'
        ),
        servers=[
            Server(
                url="https://{restApiId}.execute-api.{region}.amazonaws.com/v1",
                description="a deployed stack (its ApiUrl output)",
                variables={
                    "restApiId": ServerVariable(default="your-api-id"),
                    "region": ServerVariable(default="us-east-1"),
                },
            ),
            Server(url="http://127.0.0.1:3000/v1", description="the local stack (make up)"),
        ],
        security_schemes={
            "sigv4": APIKey.model_validate(
                {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "description": "AWS Signature Version 4 (service execute-api)",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                }
            )
        },
        security=[{"sigv4": []}],
    )
    document: dict[str, Any] = json.loads(schema)
    return document
