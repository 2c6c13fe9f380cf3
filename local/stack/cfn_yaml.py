"""The one loader of CloudFormation/SAM YAML here: cfn-lint's own decoder (``cfnlint.decode``).

cfn-lint already reads short-form tags into the long form CloudFormation itself uses (``!Ref X`` ->
``{"Ref": "X"}``, ``!GetAtt A.B`` -> ``{"Fn::GetAtt": ["A", "B"]}``, ``!Sub`` -> ``{"Fn::Sub": ...}``),
the same reading ``make lint`` applies to the template, so there is no second YAML dialect to keep.
Its nodes (dict/str subclasses carrying line marks) become plain dicts, lists and scalars.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cfnlint.decode import decode


class TemplateSyntaxError(ValueError):
    """The file is not a template cfn-lint can read."""


def load_template(path: Path) -> dict[str, Any]:
    """The template as plain dicts and lists, intrinsic functions in their long form."""
    loaded, errors = decode(str(path))
    if errors:
        raise TemplateSyntaxError(f"{path}: " + "; ".join(str(e) for e in errors))
    if not isinstance(loaded, dict) or "Resources" not in loaded:
        raise TemplateSyntaxError(f"{path} is not a CloudFormation template (no Resources)")
    plain: dict[str, Any] = json.loads(json.dumps(loaded))  # drops cfn-lint's node classes
    return plain
