"""The get-photo API's OpenAPI document, built on demand from the typed routes (never at cold start).

``tests/unit/test_openapi.py`` compares it with the committed ``docs/openapi.json``.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from idphoto.api.contract import CONTRACT_TYPES
from idphoto.api.query import REFUSAL_DOC

API_VERSION: Final = "1.0.0"


def openapi_document(app: APIGatewayRestResolver, *, validation: bool) -> dict[str, Any]:
    """The API's OpenAPI document, as committed in ``docs/openapi.json`` (needs ``API_VALIDATION=on``).

    Powertools documents a 422 "Validation Error" for validated routes; this API answers a refused
    request with 400 ``BAD_REQUEST`` in its own error shape (the handler's ``invalid_request``), so the 422 and its
    schemas are left out.
    """
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, Server, ServerVariable

    if not validation:
        raise RuntimeError("the OpenAPI document needs the typed parameters: set API_VALIDATION=on")
    for model in CONTRACT_TYPES:  # field docstrings become the fields' descriptions
        type.__setattr__(model, "__pydantic_config__", {"use_attribute_docstrings": True})
    schema = app.get_openapi_json_schema(
        title="idphoto get-photo API",
        version=API_VERSION,
        description=(
            "Status and previews (free) and watermark-free finals (billed once per colour, then kept) of "
            "the ID photos made from uploads. Requests are signed with SigV4 (service execute-api); the "
            'local stack (`make up`) does not check signatures. Errors are {"error": {"code", "message"}}.'
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
    for path in document["paths"].values():
        for operation in path.values():
            operation["responses"].pop("422", None)
            # OpenAPI cannot say "no other query parameters"; the resolver refuses them (idphoto.api.query)
            operation["description"] = f"{operation.get('description', '')} {REFUSAL_DOC}".strip()
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        document["components"]["schemas"].pop(name, None)
    return document
