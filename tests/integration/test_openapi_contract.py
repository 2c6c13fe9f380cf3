"""schemathesis against the local API, from the committed OpenAPI document (docs/openapi.json).

Every generated request (any key, any colour; and, half the time, the key of a photo that really exists,
so that the 200 answers are checked too) must answer without a 5xx, with a documented status and
content type, and with a body that matches the document's schema; ``POST /uploads`` gets generated
bodies (most of their options are refused: a documented 400). The local stack runs both functions as
deployed (``API_VALIDATION`` off), so this is the check that the deployed answers keep the contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.stack import Stack

pytestmark = pytest.mark.integration

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 60  # per operation; about 10 s each against the local stack


@pytest.fixture(scope="module")
def schema() -> Any:
    return schemathesis.openapi.from_path(DOCUMENT)


@pytest.fixture(scope="module")
def made_key(stack: Stack, portrait: bytes) -> str:
    """A READY photo with two colours, as uploaded (without the prefix, which the API accepts too)."""
    key = stack.upload("contract/portrait.jpg", portrait, {"spec": "cn-two-inch", "background": "white|blue"})
    assert stack.wait_for_photo(key)["status"] == "READY"
    return key.removeprefix(stack.upload_prefix)


def with_key(key: str) -> Any:
    def put(case: Any) -> Any:
        case.path_parameters = {**(case.path_parameters or {}), "key": key}
        return case

    return put


@pytest.mark.parametrize(
    ("path", "method"), [("/photos/{key}", "GET"), ("/finals/{key}", "POST"), ("/uploads", "POST")]
)
def test_every_answer_keeps_the_contract(
    stack: Stack, schema: Any, made_key: str, path: str, method: str
) -> None:
    operation = schema[path][method]
    generated = operation.as_strategy()
    cases = st.one_of(generated, generated.map(with_key(made_key))) if "{key}" in path else generated

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same requests in every CI run
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def answers(case: Any) -> None:
        case.call_and_validate(base_url=stack.api_url, checks=CHECKS)

    answers()
