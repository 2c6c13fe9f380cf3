"""The API-market gateway in front of the vendor: AppCode check, quota, flow control.

Gateway answers carry a non-empty six-character ``X-Ca-Error-Code`` (letter, HTTP status, two letters,
the scheme of Alibaba Cloud API Gateway's codes) and ``X-Ca-Error-Message``, a 4xx status and an empty
body: never the vendor's JSON. The codes the stand-in uses, modelled on Alibaba's published ones (the
real market may use others of the same shape; clients should key on "header non-empty" and the status):

======  ====  ==========================================  ============================
code    HTTP  X-Ca-Error-Message                          when
======  ====  ==========================================  ============================
A401AC  401   Invalid AppCode ``not exists``               no ``Authorization: APPCODE`` header
A403AC  403   Invalid AppCode                              wrong AppCode
B403MQ  403   Api Market Subscription quota exhausted      admin ``quota_remaining`` hit 0
T429PR  429   Throttled by APP Flow Control                ``throttle_next``, ``throttle_every``, ``rate_limit_per_s``
I404NF  404   API not found                                unknown path
I405UM  405   Unsupported Method                           wrong method on a known path
I413RL  413   Request body too Large                       body over 1 MiB
======  ====  ==========================================  ============================

Credentials and quota (A401AC, A403AC, B403MQ) are permanent until someone acts; T429PR is transient.
"""

import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GatewayAnswer:
    status: int
    code: str
    message: str


class GatewayError(Exception):
    """Raised to send a gateway answer instead of the vendor's."""

    def __init__(self, answer: GatewayAnswer) -> None:
        super().__init__(answer.message)
        self.answer = answer


MISSING_APPCODE = GatewayAnswer(401, "A401AC", "Invalid AppCode `not exists`")
WRONG_APPCODE = GatewayAnswer(403, "A403AC", "Invalid AppCode")
QUOTA_EXHAUSTED = GatewayAnswer(403, "B403MQ", "Api Market Subscription quota exhausted")
THROTTLED = GatewayAnswer(429, "T429PR", "Throttled by APP Flow Control")
NOT_FOUND = GatewayAnswer(404, "I404NF", "API not found")
BAD_METHOD = GatewayAnswer(405, "I405UM", "Unsupported Method")
BODY_TOO_LARGE = GatewayAnswer(413, "I413RL", "Request body too Large")

MAX_BODY_BYTES = 1 << 20


def check_appcode(header: str | None, appcode: str) -> None:
    """Raise the gateway's answer unless the header is ``APPCODE <appcode>``."""
    if not header:
        raise GatewayError(MISSING_APPCODE)
    scheme, _, value = header.strip().partition(" ")
    if scheme != "APPCODE" or not value.strip():
        raise GatewayError(MISSING_APPCODE)
    # Constant-time comparison: cheap, and the habit matters more than the threat here.
    if not hmac.compare_digest(value.strip().encode(), appcode.encode()):
        raise GatewayError(WRONG_APPCODE)


class EveryNth:
    """Flow control by count, not by time: the ``every``-th, 2x``every``-th, ... call is refused.

    A token bucket refuses calls only when they come faster than its rate, which depends on how fast the
    machine makes them; this refuses the same calls on any machine, so a test can rely on the limit
    biting (never two refusals in a row, so a retried call always gets through eventually).
    """

    def __init__(self, every: int, call: str) -> None:
        self.every = every
        self.call = call
        self._seen = 0
        self._lock = threading.Lock()

    def refuses(self, call: str) -> bool:
        if self.call not in (call, "any"):
            return False
        with self._lock:
            self._seen += 1
            return self._seen % self.every == 0


class TokenBucket:
    """Flow control: ``rate`` calls a second, bursts up to ``max(1, rate)``."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._clock = clock  # tests move it by hand
        self._tokens = self.capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False
