"""The local API Gateway: an HTTP server on loopback for the template's REST API.

URLs carry the stage like the deployed ``ApiUrl`` output does (``http://127.0.0.1:3000/v1/photos/...``),
so a client switches between local and deployed by changing only the base URL. Exactly the stages of
the translated template answer (:attr:`ApiSpec.stages`): another first path segment is API Gateway's
403 ``Forbidden``. The API's
``DefaultAuthorizer: AWS_IAM`` is **not** enforced locally: requests need no SigV4 signature; every
request is the local user's (:mod:`local.stack.identity`). Beside the stage it serves the upload page
(``/``, :mod:`local.stack.webpage`). Whether API Gateway may then invoke the
function follows the integration's ``credentials`` (:mod:`local.stack.invoke_access`).
Gateway semantics (routing, event, errors) are in :mod:`local.stack.apigateway`. Bodies come by
``Content-Length`` or chunked, at most 10 MB (413 past it, like API Gateway); malformed framing and
requests ``http.server`` itself refuses get API Gateway-style JSON errors, never its HTML page.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import re
import socket
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final
from urllib.parse import urlsplit

from local.stack.apigateway import (
    BAD_GATEWAY,
    FORBIDDEN,
    INTEGRATION_TIMEOUT_S,
    INVOKE_REFUSED,
    MISSING_TOKEN,
    TIMED_OUT,
    GatewayAnswer,
    Request,
    compile_routes,
    find_route,
    gateway_error,
    path_parameters_mode,
    proxy_answer,
    proxy_event,
)
from local.stack.aws import check_port_free
from local.stack.invoke_access import InvokeAccess
from local.stack.lambdas import Invocable
from local.stack.template import ApiSpec
from local.stack.webpage import page_answer

log = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 10 * 1024 * 1024  # API Gateway's payload limit
# An oversized body is read (and dropped) up to this much, so the client gets to read the 413.
DRAIN_LIMIT: Final = 2 * MAX_BODY_BYTES
DRAIN_TIMEOUT_S: Final = 5.0
MAX_CHUNK_LINE: Final = 4096
# get-photo has no reserved concurrency; this bounds the threads, not what a client may send at once.
MAX_CONCURRENT_INVOCATIONS: Final = 32


class LocalApi:
    def __init__(
        self,
        api: ApiSpec,
        functions: Mapping[str, Invocable],
        *,
        account_id: str,
        access: InvokeAccess,
        host: str = "127.0.0.1",
        port: int = 3000,
        timeout_s: float = INTEGRATION_TIMEOUT_S,
    ) -> None:
        check_port_free(host, port)
        path_parameters_mode()  # a wrong switch fails here, not on every request
        self.api = api
        self._access = access
        self._functions = functions
        self._routes = compile_routes(api.routes)
        self._account_id = account_id
        self._timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(MAX_CONCURRENT_INVOCATIONS, thread_name_prefix="api-invoke")
        self._server = ThreadingHTTPServer((host, port), _handler_class(self))
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://{host}:{self.port}/{api.stage}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def stage_of(self, path: str) -> str | None:
        """The stage a request path names, if the API has it (the first path segment)."""
        first = path.lstrip("/").split("/", 1)[0]
        names = {stage.name for stage in self.api.stages} or {self.api.stage}
        return first if first in names else None

    def answer(self, method: str, target: str, request: Request) -> GatewayAnswer:
        """Route one request (``target``: path and query as sent) and run the function behind it."""
        path = urlsplit(target).path
        page = page_answer(method, path)  # the upload page, beside the stage (local.stack.webpage)
        if page is not None:
            return page
        stage = self.stage_of(path)
        if stage is None:
            return FORBIDDEN
        stage_prefix = f"/{stage}"
        decode = path_parameters_mode() == "decoded"
        found = find_route(self._routes, method, path.removeprefix(stage_prefix) or "/", decode=decode)
        if found is None:
            return MISSING_TOKEN
        route, params = found
        event = proxy_event(
            request,
            route,
            params,
            stage=stage,
            api_id=self.api.rest_api_id,
            account_id=self._account_id,
        )
        function = self._functions[route.spec.function_logical_id]
        if not self._access.allows(dataclasses.replace(self.api, stage=stage), route.spec, function.spec):
            log.warning(
                "%s: Execution failed due to configuration error: Invalid permissions on Lambda function",
                route.spec.name,
            )
            return INVOKE_REFUSED
        request_id = event["requestContext"]["requestId"]
        future = self._pool.submit(function.invoke, event, str(uuid.uuid4()))
        try:
            result = future.result(timeout=self._timeout_s)
        except FutureTimeout:
            return TIMED_OUT  # the invocation carries on in the background, as it would in Lambda
        except Exception:
            log.exception("%s raised: API Gateway answers 502", function.spec.name)
            return BAD_GATEWAY
        return proxy_answer(result, request_id)


def _handler_class(api: LocalApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like API Gateway
        server_version = "local-apigateway"

        def _serve(self) -> None:
            try:
                body = read_body(self.rfile, self.headers, self.connection)
            except RefusedBody as refused:
                self.close_connection = True  # what is left of the body cannot be told from a request
                self._send(refused.answer)
                return
            split = urlsplit(self.path)
            request = Request(
                method=self.command,
                raw_path=split.path.removeprefix(f"/{api.stage_of(split.path) or api.api.stage}") or "/",
                query=split.query,
                headers=list(self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
                port=api.port,
            )
            self._send(api.answer(self.command, self.path, request))

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

        def _send(self, answer: GatewayAnswer) -> None:
            self.send_response(answer.status)
            for name, value in answer.headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """http.server's own refusals (bad request line, URI or headers too long, a method it has no
            ``do_`` for) as API Gateway's JSON, never the standard library's HTML page."""
            log.debug("refused before routing: %d %s (%s)", code, message, explain)
            if code == HTTPStatus.NOT_IMPLEMENTED:  # an unknown method: no resource declares it
                answer = MISSING_TOKEN
            else:
                answer = gateway_error(code, HTTPStatus(code).phrase, "BadRequestException")
            if not str(self.request_version).startswith("HTTP/1"):
                self.request_version = self.protocol_version  # a status line even for garbage input
            self.close_connection = True
            self._send(answer)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    return Handler


def gateway_too_large() -> GatewayAnswer:
    return GatewayAnswer(413, [("Content-Type", "application/json")], b'{"message":"Request Too Long"}')


def gateway_bad_request(message: str) -> GatewayAnswer:
    return gateway_error(400, message, "BadRequestException")


class RefusedBody(Exception):
    """The request's body is refused with this answer (then the connection is closed)."""

    def __init__(self, answer: GatewayAnswer) -> None:
        super().__init__(answer.status)
        self.answer = answer


def read_body(rfile: io.BufferedIOBase, headers: Message, connection: socket.socket | None = None) -> bytes:
    """The body by ``Content-Length`` or chunked transfer coding, at most :data:`MAX_BODY_BYTES`.

    Raises :class:`RefusedBody`: 413 like API Gateway past the limit, 400 for a malformed length or
    chunk, or conflicting ``Content-Length`` headers (a request smuggling pattern).
    """
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        return _read_chunked(rfile)
    lengths = {value.strip() for value in headers.get_all("Content-Length") or []}
    if not lengths:
        return b""
    if len(lengths) > 1 or not re.fullmatch(r"[0-9]{1,19}", next(iter(lengths))):
        raise RefusedBody(gateway_bad_request("Invalid Content-Length"))
    length = int(next(iter(lengths)))
    if length > MAX_BODY_BYTES:
        _drain(rfile, min(length, DRAIN_LIMIT), connection)
        raise RefusedBody(gateway_too_large())
    body = rfile.read(length)
    if len(body) < length:
        raise RefusedBody(gateway_bad_request("Incomplete body"))
    return body


def _read_chunked(rfile: io.BufferedIOBase) -> bytes:
    """A chunked body; past the limit the rest is read and dropped (up to :data:`DRAIN_LIMIT`) before the
    413, so that the client, still sending, gets to read it."""
    body = bytearray()
    total = 0
    while True:
        line = rfile.readline(MAX_CHUNK_LINE + 1)
        size_text = line.split(b";", 1)[0].strip()
        if len(line) > MAX_CHUNK_LINE or not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size_text):
            raise RefusedBody(gateway_bad_request("Invalid chunked body"))
        size = int(size_text, 16)
        if size == 0:
            for _ in range(100):  # trailers, up to the blank line
                if rfile.readline(MAX_CHUNK_LINE + 1).strip() == b"":
                    break
            else:
                raise RefusedBody(gateway_bad_request("Invalid chunked body"))
            if total > MAX_BODY_BYTES:
                raise RefusedBody(gateway_too_large())
            return bytes(body)
        total += size
        if total > DRAIN_LIMIT:
            raise RefusedBody(gateway_too_large())
        chunk = rfile.read(size)
        if len(chunk) < size or rfile.readline(MAX_CHUNK_LINE + 1).strip():
            raise RefusedBody(gateway_bad_request("Invalid chunked body"))
        if total <= MAX_BODY_BYTES:
            body += chunk


def _drain(rfile: io.BufferedIOBase, length: int, connection: socket.socket | None) -> None:
    """Read and drop up to ``length`` bytes, giving up when the client stops sending."""
    if connection is not None:
        connection.settimeout(DRAIN_TIMEOUT_S)
    try:
        while length > 0:
            chunk = rfile.read(min(length, 64 << 10))
            if not chunk:
                return
            length -= len(chunk)
    except OSError:
        return
