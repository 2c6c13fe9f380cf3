"""The REST resolver where a rule's ``<key>`` is API Gateway's greedy ``{key+}``, and a route takes only
the query parameters it declares.

Powertools has no public way to declare a multi-segment path parameter: its ``<name>`` matches one
segment (its catch-all regex rules cannot name a parameter, so the OpenAPI document would lose it).
:meth:`KeyPathResolver._compile_regex` is the one internal this leans on;
``tests/unit/test_api_edge.py`` pins the behaviour (a ``<key>`` rule matches keys with slashes, spaces,
``%`` and non-ASCII), so a Powertools upgrade that renames it fails a test, not a deployment.

Every route registered through :meth:`KeyPathResolver.route` (``get``, ``post``, ... call it) refuses a
query parameter its signature does not declare (:mod:`idphoto.api.query`): no route can forget to.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from idphoto.api import query
from idphoto.api.http_errors import BadRequest


class KeyPathResolver(APIGatewayRestResolver):
    """Powertools' REST resolver, a ``<name>`` in a rule matching the rest of the path, slashes included;
    still documented as the path parameter ``{name}``. Unknown query parameters are a 400."""

    @staticmethod
    def _compile_regex(rule: str, base_regex: str = "^{}/*$") -> re.Pattern[str]:
        return re.compile(base_regex.format(re.sub(r"<(\w+)>", r"(?P<\1>.+)", rule)))

    def route(self, rule: str, method: Any, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        register = super().route(rule, method, *args, **kwargs)

        def checked_route(func: Callable[..., Any]) -> Callable[..., Any]:
            known = query.declared(rule, func)

            # functools.wraps keeps the signature (inspect follows __wrapped__): Powertools still
            # documents and validates the route's own parameters.
            @functools.wraps(func)
            def checked(*call_args: Any, **call_kwargs: Any) -> Any:
                refused = query.problem(self.current_event.multi_value_query_string_parameters, known)
                if refused:
                    raise BadRequest(refused)
                return func(*call_args, **call_kwargs)

            register(checked)
            return func

        return checked_route
