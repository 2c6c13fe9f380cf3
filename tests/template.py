"""Reads template.yaml for tests, so that test resources are made from the deployed definition.

Through the project's one CloudFormation YAML loader (:mod:`local.stack.cfn_yaml`, cfn-lint's decoder).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from local.stack.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parents[1]


@cache
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def resource(logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = template()["Resources"][logical_id]
    return found


def table_definition(name: str) -> dict[str, Any]:
    """create_table arguments for the template's photo table."""
    props = resource("PhotosTable")["Properties"]
    return {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props["BillingMode"],
    }
