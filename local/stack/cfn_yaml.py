"""Load a CloudFormation/SAM template written in YAML, short-form tags included.

PyYAML rejects ``!Ref``/``!Sub``/... out of the box. Each short tag becomes the long form CloudFormation
itself uses (``{"Ref": ...}``, ``{"Fn::Sub": ...}``), so the resolver only deals with one shape.
``!GetAtt A.B`` becomes ``{"Fn::GetAtt": ["A", "B"]}`` as CloudFormation documents it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# Short tag -> long key. ``Ref`` and ``Condition`` have no ``Fn::`` prefix.
_LONG_FORM = {"Ref": "Ref", "Condition": "Condition"}


class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that also understands CloudFormation's short-form intrinsic functions."""


def _construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = _LONG_FORM.get(suffix, f"Fn::{suffix}")
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            logical_id, _, attribute = str(value).partition(".")
            value = [logical_id, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{suffix}", node.start_mark)
    return {key: value}


CfnLoader.add_multi_constructor("!", _construct)


def load_template(path: Path) -> dict[str, Any]:
    """The template as plain dicts and lists, intrinsic functions in their long form."""
    loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(loaded, dict) or "Resources" not in loaded:
        raise ValueError(f"{path} is not a CloudFormation template (no Resources)")
    return loaded
