"""A route's query parameters: the ones its signature declares, and nothing else.

A query parameter the API does not know is refused, never ignored: ``POST /finals/KEY?colour=white``
would otherwise read as "no colour asked", which means *every* colour, each one a billed call. The
known names come from the route function's signature (the same declaration Powertools documents in
the OpenAPI document and validates when validation is on), minus the rule's path parameters: adding a
query parameter to a route is one parameter in its signature, and nothing else to keep in step.

A known name given twice (``?color=white&color=blue``) is refused as well: API Gateway hands the
function the last value in ``queryStringParameters``, a guess about which colour was meant.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

BODY_PARAMETER: Final = "body"
"""A route's JSON body is its parameter of this name (Powertools' ``Body``), never a query parameter."""
REFUSAL_DOC: Final = (
    "A query parameter the route does not declare, or a declared one given twice, is refused with "
    "400 BAD_REQUEST naming it (and the closest known name for a near miss); none is ever ignored."
)


def path_parameters(rule: str) -> frozenset[str]:
    """``/finals/<key>`` -> ``{"key"}``."""
    return frozenset(re.findall(r"<(\w+)>", rule))


def declared(rule: str, func: Callable[..., Any]) -> frozenset[str]:
    """The query parameters a route function declares: its keyword parameters that are neither in the
    path nor its body."""
    names = {
        name
        for name, p in inspect.signature(func).parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    return frozenset(names - path_parameters(rule) - {BODY_PARAMETER})


def problem(query: Mapping[str, Sequence[str]] | None, known: frozenset[str]) -> str | None:
    """Why the query cannot be taken as it is, or None. ``query`` is the event's
    ``multiValueQueryStringParameters`` (every value of every name)."""
    query = query or {}
    unknown = sorted(name for name in query if name not in known)
    if unknown:
        accepted = ", ".join(sorted(known)) if known else "none"
        return (
            f"unknown query parameter {', '.join(_named(name, known) for name in unknown)}; "
            f"this route takes: {accepted}"
        )
    repeated = sorted(name for name, values in query.items() if len(values) > 1)
    if repeated:
        return f"query parameter {', '.join(repeated)} given more than once: give it once"
    return None


def _named(name: str, known: frozenset[str]) -> str:
    """The name, with the known one it most likely meant: a spelling (``colour``), a case or separator
    slip (``Color``, ``retry-uncertain``), or a shortening (``retry``)."""
    plain = name.lower().replace("-", "_")
    close = difflib.get_close_matches(plain, sorted(known), n=1, cutoff=0.6)
    close = close or sorted(k for k in known if k.startswith(plain))[:1]
    return f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)
