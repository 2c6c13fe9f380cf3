"""The REST resolver where a rule's ``<key>`` is API Gateway's greedy ``{key+}``.

Powertools has no public way to declare a multi-segment path parameter: its ``<name>`` matches one
segment (its catch-all regex rules cannot name a parameter, so the OpenAPI document would lose it).
:meth:`KeyPathResolver._compile_regex` is the one internal this leans on;
``tests/unit/test_api_edge.py`` pins the behaviour (a ``<key>`` rule matches keys with slashes, spaces,
``%`` and non-ASCII), so a Powertools upgrade that renames it fails a test, not a deployment.
"""

from __future__ import annotations

import re

from aws_lambda_powertools.event_handler import APIGatewayRestResolver


class KeyPathResolver(APIGatewayRestResolver):
    """Powertools' REST resolver, a ``<name>`` in a rule matching the rest of the path, slashes included;
    still documented as the path parameter ``{name}``."""

    @staticmethod
    def _compile_regex(rule: str, base_regex: str = "^{}/*$") -> re.Pattern[str]:
        return re.compile(base_regex.format(re.sub(r"<(\w+)>", r"(?P<\1>.+)", rule)))
