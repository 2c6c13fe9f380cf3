"""The HTTP server: gateway in front, vendor behind, result files and admin beside.

A vendor call goes through, in order: route (unknown path -> gateway 404, wrong method -> 405), AppCode,
quota, flow control (``throttle_next``, ``throttle_every``, ``rate_limit_per_s``), then the injected backend faults
(``http_status_next``, ``transient_rate``, ``malformed_next``, ``hang_next``, ``latency_ms``,
``fail_next``) and finally the vendor. The vendor's code travels inside an HTTP 200 by default; with
``code_as_http_status`` (``--code-as-http-status`` or admin) the HTTP status mirrors it. An unexpected
exception in the vendor is a bare HTTP 500, so bugs show instead of hiding behind a vendor code.
"""

import logging
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.standin import gateway
from local.standin.admin import handle_admin
from local.standin.contract import VendorError
from local.standin.downloads import is_result_path, serve_result
from local.standin.faults import Faults
from local.standin.gateway import GatewayAnswer, GatewayError, check_appcode
from local.standin.http_util import read_body, send, send_json
from local.standin.service import DAY_S, Validity, Vendor
from local.standin.stats import Stats
from local.standin.vision import FaceDetector, Segmenter

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8750
DEFAULT_APPCODE = "local-appcode"
MAKE_PATH = "/aliyun_api/pic_handle_3"
GET_PATH = "/get_pic_3"
VENDOR_ROUTES = {MAKE_PATH: ("POST", "make"), GET_PATH: ("GET", "get")}
# The first bytes of a real answer, cut short: what a client sees when a proxy drops the connection.
MALFORMED_BODY = b'{"code": 200, "final_pic_name": ["'

log = logging.getLogger("local.standin")


@dataclass(slots=True)
class App:
    host: str
    appcode: str
    vendor: Vendor
    faults: Faults
    stats: Stats
    verbose: bool = False


class StandinHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a hung (fault-injected) handler must not hold up stop()

    def __init__(self, address: tuple[str, int], app: App) -> None:
        super().__init__(address, Handler)
        self.app = app


class Handler(BaseHTTPRequestHandler):
    server: StandinHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "standin/1.0"
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus delayed ACK add ~40 ms.
    disable_nagle_algorithm = True

    @property
    def app(self) -> App:
        return self.server.app

    def log_message(self, format: str, *args: Any) -> None:
        if self.app.verbose:
            sys.stderr.write(f"standin {self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def do_PUT(self) -> None:
        self._route()

    def do_DELETE(self) -> None:
        self._route()

    def _route(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/_admin/"):
            handle_admin(self, path, self.app.vendor, self.app.faults, self.app.stats)
        elif path in VENDOR_ROUTES:
            method, call = VENDOR_ROUTES[path]
            if self.command != method:
                self._drain()
                self._gateway(gateway.BAD_METHOD)
            else:
                self._vendor_call(call)
        elif self.command == "GET" and is_result_path(self.path):
            serve_result(self, self.app.vendor, self.app.stats)
        else:
            self._drain()
            self._gateway(gateway.NOT_FOUND)

    def _drain(self) -> None:
        if read_body(self, gateway.MAX_BODY_BYTES) is None:
            self.close_connection = True

    def _gateway(self, answer: GatewayAnswer) -> None:
        self.app.stats.gateway(answer.code)
        headers = {"X-Ca-Error-Code": answer.code, "X-Ca-Error-Message": answer.message}
        send(self, answer.status, b"", None, headers)

    def _admit(self, call: str) -> None:
        """The gateway's checks; raises :class:`GatewayError` to refuse."""
        check_appcode(self.headers.get("Authorization"), self.app.appcode)
        faults = self.app.faults
        if faults.quota_exhausted():
            raise GatewayError(gateway.QUOTA_EXHAUSTED)
        if faults.take("throttle_next", call) or faults.count_limited(call) or faults.rate_limited():
            raise GatewayError(gateway.THROTTLED)

    def _vendor_call(self, call: str) -> None:
        app = self.app
        app.stats.call(call)
        body = read_body(self, gateway.MAX_BODY_BYTES) if call == "make" else b""
        if body is None:
            self._gateway(gateway.BODY_TOO_LARGE)
            return
        try:
            self._admit(call)
        except GatewayError as refused:
            self._gateway(refused.answer)
            return
        if self._backend_fault(call):
            return
        payload = self._vendor_answer(call, body)
        if payload is None:
            send(self, 500, b"Internal Server Error", "text/plain; charset=utf-8")
            return
        code = int(payload["code"])
        app.stats.code(call, code)
        if call == "get" and code == 200:
            app.faults.spend_quota()
        send_json(self, code if app.faults.code_as_http_status else 200, payload)

    def _backend_fault(self, call: str) -> bool:
        """Apply injected failures between gateway and vendor; True when the answer was sent."""
        faults, stats = self.app.faults, self.app.stats
        failure = faults.take("http_status_next", call)
        if failure is not None or faults.transient_hit():
            stats.injected("http_status")
            status = int(failure.value) if failure else 503
            send(self, status, f"HTTP {status} from the vendor backend".encode(), "text/plain; charset=utf-8")
            return True
        if faults.take("malformed_next", call):
            stats.injected("malformed")
            send(self, 200, MALFORMED_BODY, "application/json; charset=utf-8")
            return True
        hang = faults.take("hang_next", call)
        if hang is not None:
            stats.injected("hang")
            time.sleep(hang.value)
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        return False

    def _vendor_answer(self, call: str, body: bytes) -> dict[str, Any] | None:
        injected = self.app.faults.take("fail_next", call)
        if injected is not None:
            return {
                "code": int(injected.value),
                "error": f"injected failure (fail_next, code {int(injected.value)})",
            }
        try:
            if call == "make":
                misframe = self.app.faults.take("misframe_next", call)
                if misframe is not None:
                    self.app.stats.injected("misframe")
                return self.app.vendor.make(body, head_share=misframe.value if misframe else None)
            return self.app.vendor.get(parse_qs(urlsplit(self.path).query, keep_blank_values=True))
        except VendorError as exc:
            return {"code": exc.code, "error": exc.message}
        except Exception:
            log.exception("stand-in vendor crashed on %s", call)
            return None


@dataclass(slots=True)
class StandinHandle:
    """A running stand-in: ``url`` is its base URL; ``stop()`` shuts it down."""

    server: StandinHTTPServer
    thread: threading.Thread
    app: App

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.app.host}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def build_server(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    appcode: str = DEFAULT_APPCODE,
    *,
    code_as_http_status: bool = False,
    preview_ttl_s: float = DAY_S,
    final_ttl_s: float = 7 * DAY_S,
    public_base_url: str | None = None,
    model_path: Path | None = None,
    verbose: bool = False,
) -> StandinHTTPServer:
    """Load the models (raising :class:`ModelMissingError` first if absent), then bind."""
    vendor = Vendor("", Segmenter(model_path), FaceDetector(), Validity(preview_ttl_s, final_ttl_s))
    server = StandinHTTPServer(
        (host, port), App(host, appcode, vendor, Faults(code_as_http_status), Stats(), verbose)
    )
    # Result URLs point back at this server, so the base is known only once the port is bound.
    vendor.base_url = (public_base_url or f"http://{host}:{server.server_address[1]}").rstrip("/")
    return server


def start_server(
    host: str = DEFAULT_HOST, port: int = 0, appcode: str = DEFAULT_APPCODE, **options: Any
) -> StandinHandle:
    """Start in a background thread (port 0 picks a free one) and return a handle."""
    server = build_server(host, port, appcode, **options)
    thread = threading.Thread(target=server.serve_forever, name="standin", daemon=True)
    thread.start()
    return StandinHandle(server, thread, server.app)
