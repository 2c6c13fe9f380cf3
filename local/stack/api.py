"""The local API Gateway: an HTTP server on loopback for the template's REST API.

URLs carry the stage like the deployed ``ApiUrl`` output does (``http://127.0.0.1:3000/v1/photos/...``),
so a client switches between local and deployed by changing only the base URL. The API's
``DefaultAuthorizer: AWS_IAM`` is **not** enforced locally: requests need no SigV4 signature.
Gateway semantics (routing, event, errors) are in :mod:`local.stack.apigateway`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final
from urllib.parse import urlsplit

from local.stack.apigateway import (
    BAD_GATEWAY,
    FORBIDDEN,
    INTEGRATION_TIMEOUT_S,
    MISSING_TOKEN,
    TIMED_OUT,
    GatewayAnswer,
    Request,
    compile_routes,
    find_route,
    proxy_answer,
    proxy_event,
)
from local.stack.aws import check_port_free
from local.stack.lambdas import LocalFunction
from local.stack.template import ApiSpec

log = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 10 * 1024 * 1024  # API Gateway's payload limit
# get-photo has no reserved concurrency; this bounds the threads, not what a client may send at once.
MAX_CONCURRENT_INVOCATIONS: Final = 32


class LocalApi:
    def __init__(
        self,
        api: ApiSpec,
        functions: Mapping[str, LocalFunction],
        *,
        account_id: str,
        host: str = "127.0.0.1",
        port: int = 3000,
        timeout_s: float = INTEGRATION_TIMEOUT_S,
    ) -> None:
        check_port_free(host, port)
        self.api = api
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

    def answer(self, method: str, target: str, request: Request) -> GatewayAnswer:
        """Route one request (``target``: path and query as sent) and run the function behind it."""
        stage_prefix = f"/{self.api.stage}"
        path = urlsplit(target).path
        if path != stage_prefix and not path.startswith(stage_prefix + "/"):
            return FORBIDDEN
        found = find_route(self._routes, method, path.removeprefix(stage_prefix) or "/")
        if found is None:
            return MISSING_TOKEN
        route, params = found
        event = proxy_event(
            request,
            route,
            params,
            stage=self.api.stage,
            api_id=self.api.rest_api_id,
            account_id=self._account_id,
        )
        function = self._functions[route.spec.function_logical_id]
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
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._send(gateway_too_large())
                return
            body = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            request = Request(
                method=self.command,
                raw_path=split.path.removeprefix(f"/{api.api.stage}") or "/",
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
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    return Handler


def gateway_too_large() -> GatewayAnswer:
    return GatewayAnswer(413, [("Content-Type", "application/json")], b'{"message":"Request Too Long"}')
