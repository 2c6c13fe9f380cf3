"""API Gateway (REST API, Lambda proxy integration) semantics, without the HTTP server.

* **Routing**: the template's paths (``/photos/{key+}``) under the stage (``/v1``). ``{name}`` matches
  one segment, ``{name+}`` (greedy) the rest of the path; literal resources win over parameters.
* **Event**: payload format 1.0 as a REST API builds it (each rule's source beside it below):
  ``path`` keeps the client's percent-encoding, without the stage; ``pathParameters`` come decoded or
  still encoded, as the switch :data:`PATH_PARAMETERS_ENV` says (the sources disagree; get-photo must
  work either way and the integration tests run both); ``queryStringParameters`` are decoded;
  ``headers``/``queryStringParameters`` hold the last value of a repeated name and the ``multiValue*``
  fields all of them, ``body`` is text or base64 with ``isBase64Encoded``.
* **Errors of the gateway itself**, as a REST API answers them: a path or method no resource declares ->
  403 ``{"message":"Missing Authentication Token"}`` (API Gateway says 403, not 404/405, for both);
  an unknown stage -> 403 ``{"message":"Forbidden"}``; a handler that raised or answered something that
  is not a proxy response -> 502 ``{"message": "Internal server error"}``; no answer within 29 s ->
  504 ``{"message": "Endpoint request timed out"}``; a function API Gateway may not invoke -> 500
  ``{"message": "Internal server error"}`` (:mod:`local.stack.invoke_access`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

from local.stack.identity import api_identity
from local.stack.template import RouteSpec

INTEGRATION_TIMEOUT_S: Final = 29.0
# How pathParameters are delivered: "decoded" (default) or "encoded". Read on every request, so a test
# (in the stack's process) switches a running stack with monkeypatch.setenv.
PATH_PARAMETERS_ENV: Final = "IDPHOTO_LOCAL_PATH_PARAMETERS"
PATH_PARAMETER_MODES: Final = ("decoded", "encoded")


def path_parameters_mode(env: Mapping[str, str] = os.environ) -> str:
    mode = env.get(PATH_PARAMETERS_ENV, "decoded").strip().lower()
    if mode not in PATH_PARAMETER_MODES:
        raise ValueError(f"{PATH_PARAMETERS_ENV} must be one of {PATH_PARAMETER_MODES}, not {mode!r}")
    return mode


@dataclass(frozen=True)
class GatewayAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def gateway_error(status: int, message: str, error_type: str) -> GatewayAnswer:
    body = f'{{"message":"{message}"}}'.encode()
    return GatewayAnswer(
        status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)], body
    )


MISSING_TOKEN: Final = gateway_error(
    403, "Missing Authentication Token", "MissingAuthenticationTokenException"
)
FORBIDDEN: Final = gateway_error(403, "Forbidden", "ForbiddenException")
BAD_GATEWAY: Final = gateway_error(502, "Internal server error", "InternalServerErrorException")
TIMED_OUT: Final = gateway_error(504, "Endpoint request timed out", "IntegrationTimeoutException")
# API Gateway may not invoke the function (integration credentials or the function's resource policy).
INVOKE_REFUSED: Final = gateway_error(500, "Internal server error", "InternalServerErrorException")


# --- routing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    spec: RouteSpec
    pattern: re.Pattern[str]
    rank: tuple[int, int]  # sorts literal resources before parameters, greedy ones last


def compile_route(spec: RouteSpec) -> Route:
    parts: list[str] = []
    greedy = params = 0
    for segment in spec.path.strip("/").split("/"):
        match = re.fullmatch(r"\{([A-Za-z0-9_]+)(\+?)\}", segment)
        if match is None:
            parts.append(re.escape(segment))
        elif match.group(2):
            greedy += 1
            parts.append(f"(?P<{match.group(1)}>.+)")
        else:
            params += 1
            parts.append(f"(?P<{match.group(1)}>[^/]+)")
    return Route(spec, re.compile("/" + "/".join(parts)), (greedy, params))


def compile_routes(specs: Iterable[RouteSpec]) -> list[Route]:
    return sorted((compile_route(s) for s in specs), key=lambda r: r.rank)


def find_route(
    routes: Sequence[Route], method: str, raw_path: str, *, decode: bool = True
) -> tuple[Route, dict[str, str]] | None:
    """The route for this method and (still encoded) path, with its path parameters.

    Routing is on the encoded path: an encoded ``%2F`` does not split a ``{name}`` segment.
    ``decode``: the parameters percent-decoded once (``+`` stays ``+``, a path is not form encoding),
    as AWS's "Set up a proxy integration" guide describes the values; else as the client encoded them,
    as users of REST proxy integrations report (dherault/serverless-offline#638, fireprox#44).
    """
    for route in routes:
        match = route.pattern.fullmatch(raw_path)
        if match and route.spec.method in (method, "ANY"):
            params = match.groupdict()
            return route, {k: unquote(v) for k, v in params.items()} if decode else params
    return None


# --- the proxy event ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    raw_path: str  # without the stage
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    port: int


def proxy_event(
    request: Request,
    route: Route,
    params: dict[str, str],
    *,
    stage: str,
    api_id: str,
    account_id: str,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    request_id = str(uuid.uuid4())
    headers = [
        *request.headers,
        ("X-Forwarded-For", request.source_ip),
        ("X-Forwarded-Port", str(request.port)),
        ("X-Forwarded-Proto", "http"),
        ("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"),
    ]
    # Decoded: AWS's "Amazon API Gateway important notes" (known issues, REST APIs) say API Gateway
    # decodes query string parameters before passing them on.
    query = parse_qsl(request.query, keep_blank_values=True)
    body_text, is_base64 = _body(request.body)
    user_agent = next((v for k, v in request.headers if k.lower() == "user-agent"), None)
    host = next((v for k, v in request.headers if k.lower() == "host"), "127.0.0.1")
    return {
        "resource": route.spec.path,
        # Encoded as the client sent it: live captures of REST APIs (hotsock/voker#8, cited by
        # middleapi/standard-server#93) keep the percent-encoding; only HTTP APIs decode it.
        "path": request.raw_path,
        "httpMethod": request.method,
        "headers": _last_values(headers),
        "multiValueHeaders": _all_values(headers),
        "queryStringParameters": _last_values(query),
        "multiValueQueryStringParameters": _all_values(query),
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": _resource_id(route.spec.path),
            "resourcePath": route.spec.path,
            "httpMethod": request.method,
            "extendedRequestId": request_id[:16],
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{request.raw_path}",
            "accountId": account_id,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": host.split(".")[0],
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": api_identity(account_id, request.source_ip, user_agent),
            "domainName": host,
            "apiId": api_id,
        },
        "body": body_text,
        "isBase64Encoded": is_base64,
    }


def _resource_id(path: str) -> str:
    """A stable 6-character id per resource path, the shape API Gateway's resource ids have."""
    return hashlib.sha256(path.encode()).hexdigest()[:6]


def _body(raw: bytes) -> tuple[str | None, bool]:
    if not raw:
        return None, False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), True


def _last_values(pairs: list[tuple[str, str]]) -> dict[str, str] | None:
    return dict(pairs) or None


def _all_values(pairs: list[tuple[str, str]]) -> dict[str, list[str]] | None:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped or None


# --- the proxy answer -----------------------------------------------------------------------------


def proxy_answer(result: Any, request_id: str) -> GatewayAnswer:
    """The handler's ``{"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}``."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        return BAD_GATEWAY
    headers: list[tuple[str, str]] = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        single = {k.lower() for k, _ in headers}
        if name.lower() not in single:  # headers and multiValueHeaders are merged, not repeated
            headers += [(str(name), str(v)) for v in values]
    body = result.get("body") or ""
    if not isinstance(body, str):
        return BAD_GATEWAY
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    headers.append(("x-amzn-RequestId", request_id))
    return GatewayAnswer(int(result["statusCode"]), headers, payload)
