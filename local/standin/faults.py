"""Fault injection for tests (``/_admin/faults``), outside the vendor contract.

``POST /_admin/faults`` merges a JSON object into the current faults; a key set to ``null`` clears it.
Counted faults take ``count`` (>= 1) and an optional ``call``: ``"make"``, ``"get"`` or ``"any"``
(default), and fire on the next matching vendor calls that passed the AppCode check:

- ``latency_ms``: int, added to every vendor call.
- ``fail_next``: ``{"count", "code", "call"}``, answer with that vendor code (400/422/423/506/507).
- ``http_status_next``: ``{"count", "status", "call"}``, a bare HTTP 5xx, plain-text body, no gateway
  headers, as when the vendor's backend falls over.
- ``throttle_next``: ``{"count", "call"}``, the gateway's flow-control answer (429, ``T429PR``).
- ``rate_limit_per_s``: number, a token bucket over both calls; beyond it, the flow-control answer.
- ``throttle_every``: ``{"every", "call"}``, flow control by count: of the matching calls that reach
  it, the ``every``-th, 2x``every``-th, ... get the flow-control answer (``every`` >= 2). The same calls
  on any machine, where ``rate_limit_per_s`` bites only when the calls come fast enough.
- ``hang_next``: ``{"count", "seconds", "call"}``, sleep before handling; the call still completes
  afterwards (and a ``get_pic_3`` is still billed), like a real answer that arrives too late.
- ``malformed_next``: ``{"count", "call"}``, HTTP 200 with a truncated JSON body; nothing is made
  or billed.
- ``transient_rate``: ``{"rate", "seed"}``, each vendor call fails with HTTP 503 at that probability
  (seeded, so a run is reproducible).
- ``quota_remaining``: int, billed calls left; at 0 both calls get the gateway's ``B403MQ``.
- ``code_as_http_status``: bool, mirror the vendor code as the HTTP status (else 200 + code).
- ``misframe_next``: ``{"count", "head"}`` with ``head`` ``"small"`` or ``"large"``: the next make calls
  answer 200 with a misframed photo (the head ``MISFRAMED_HEAD`` of the photo's height, the request's
  ``ratios`` ignored), as a vendor whose cropping went wrong would; for showing the compliance check
  refuse to pay for it (``call`` is always ``"make"``).

``POST /_admin/reset`` clears every fault (``code_as_http_status`` back to its startup value).
"""

import random
import threading
from dataclasses import dataclass
from typing import Any

from local.standin.gateway import EveryNth, TokenBucket

CALLS = ("make", "get", "any")
VENDOR_FAIL_CODES = (400, 422, 423, 506, 507)
COUNTED = ("fail_next", "http_status_next", "throttle_next", "hang_next", "malformed_next", "misframe_next")
# Head height / photo height of a misframed photo, by the fault's ``head``.
MISFRAMED_HEAD = {"small": 0.35, "large": 0.88}
KNOWN = frozenset(
    {
        *COUNTED,
        "latency_ms",
        "rate_limit_per_s",
        "throttle_every",
        "quota_remaining",
        "code_as_http_status",
        "transient_rate",
    }
)


class FaultSpecError(ValueError):
    """The admin sent a fault it cannot apply."""


@dataclass(slots=True)
class Counted:
    count: int
    call: str
    value: float = 0

    def as_json(self, value_key: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {"count": self.count, "call": self.call}
        if value_key == "head":  # misframe_next: the word, not its head share
            out[value_key] = next(w for w, share in MISFRAMED_HEAD.items() if share == self.value)
        elif value_key:
            out[value_key] = self.value
        return out


VALUE_KEYS: dict[str, str | None] = {
    "fail_next": "code",
    "http_status_next": "status",
    "throttle_next": None,
    "hang_next": "seconds",
    "malformed_next": None,
    "misframe_next": "head",
}


def _int(value: object, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise FaultSpecError(f"{name} must be an integer between {low} and {high}")
    return value


def _number(value: object, name: str, low: float, high: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise FaultSpecError(f"{name} must be a number between {low} and {high}")
    return float(value)


def _counted(name: str, spec: object) -> Counted:
    if not isinstance(spec, dict):
        raise FaultSpecError(f"{name} must be an object")
    value_key = VALUE_KEYS[name]
    allowed = {"count", "call"} | ({value_key} if value_key else set())
    extra = sorted(set(spec) - allowed)
    if extra:
        raise FaultSpecError(f"{name}: unknown field {extra[0]}")
    count = _int(spec.get("count"), f"{name}.count", 1, 1_000_000)
    call = spec.get("call", "any")
    if call not in CALLS:
        raise FaultSpecError(f"{name}.call must be one of {', '.join(CALLS)}")
    value: float = 0
    if name == "fail_next":
        value = _int(spec.get("code"), "fail_next.code", 400, 599)
        if value not in VENDOR_FAIL_CODES:
            raise FaultSpecError(f"fail_next.code must be one of {VENDOR_FAIL_CODES}")
    elif name == "http_status_next":
        value = _int(spec.get("status"), "http_status_next.status", 500, 599)
    elif name == "hang_next":
        value = _number(spec.get("seconds"), "hang_next.seconds", 0, 600)
    elif name == "misframe_next":
        head = spec.get("head")
        if head not in MISFRAMED_HEAD:
            raise FaultSpecError(f"misframe_next.head must be one of {', '.join(MISFRAMED_HEAD)}")
        if call not in ("make", "any"):
            raise FaultSpecError("misframe_next.call must be make")
        call, value = "make", MISFRAMED_HEAD[head]
    return Counted(count, call, value)


class Faults:
    """The current faults; every method is thread-safe."""

    def __init__(self, code_as_http_status: bool = False) -> None:
        self._lock = threading.Lock()
        self._startup_code_as_status = code_as_http_status
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.latency_ms = 0
            self.code_as_http_status = self._startup_code_as_status
            self.quota_remaining: int | None = None
            self._counted: dict[str, Counted] = {}
            self._bucket: TokenBucket | None = None
            self._every: EveryNth | None = None
            self._transient: tuple[float, int, random.Random] | None = None

    def update(self, changes: dict[str, Any]) -> None:
        """Validate all of ``changes`` first, then apply them together."""
        staged: list[tuple[str, Any]] = []
        for name, spec in changes.items():
            if name not in KNOWN:
                raise FaultSpecError(f"unknown fault: {name}")
            staged.append((name, None if spec is None else self._parse(name, spec)))
        with self._lock:
            for name, parsed in staged:
                self._apply(name, parsed)

    def _parse(self, name: str, spec: object) -> object:
        if name in COUNTED:
            return _counted(name, spec)
        if name == "latency_ms":
            return _int(spec, name, 0, 600_000)
        if name == "rate_limit_per_s":
            return TokenBucket(_number(spec, name, 0.001, 1_000_000))
        if name == "throttle_every":
            if not isinstance(spec, dict) or set(spec) - {"every", "call"}:
                raise FaultSpecError("throttle_every must be an object with every and optional call")
            call = spec.get("call", "any")
            if call not in CALLS:
                raise FaultSpecError(f"throttle_every.call must be one of {', '.join(CALLS)}")
            return EveryNth(_int(spec.get("every"), "throttle_every.every", 2, 1_000_000), call)
        if name == "quota_remaining":
            return _int(spec, name, 0, 1_000_000_000)
        if name == "code_as_http_status":
            if not isinstance(spec, bool):
                raise FaultSpecError("code_as_http_status must be true or false")
            return spec
        if name == "transient_rate":
            if not isinstance(spec, dict) or set(spec) - {"rate", "seed"}:
                raise FaultSpecError("transient_rate must be an object with rate and optional seed")
            rate = _number(spec.get("rate"), "transient_rate.rate", 0, 1)
            seed = _int(spec.get("seed", 0), "transient_rate.seed", 0, 2**63)
            return (rate, seed, random.Random(seed))  # noqa: S311 - fault dice, not crypto
        raise FaultSpecError(f"unknown fault: {name}")

    def _apply(self, name: str, parsed: Any) -> None:
        if name in COUNTED:
            if parsed is None:
                self._counted.pop(name, None)
            else:
                self._counted[name] = parsed
        elif name == "latency_ms":
            self.latency_ms = parsed or 0
        elif name == "rate_limit_per_s":
            self._bucket = parsed
        elif name == "throttle_every":
            self._every = parsed
        elif name == "quota_remaining":
            self.quota_remaining = parsed
        elif name == "code_as_http_status":
            self.code_as_http_status = self._startup_code_as_status if parsed is None else parsed
        elif name == "transient_rate":
            self._transient = parsed

    def take(self, name: str, call: str) -> Counted | None:
        """Consume one shot of a counted fault if it applies to ``call``."""
        with self._lock:
            fault = self._counted.get(name)
            if fault is None or fault.call not in (call, "any"):
                return None
            fault.count -= 1
            if fault.count == 0:
                del self._counted[name]
            return Counted(1, fault.call, fault.value)

    def rate_limited(self) -> bool:
        with self._lock:
            bucket = self._bucket
        return bucket is not None and not bucket.take()

    def count_limited(self, call: str) -> bool:
        with self._lock:
            every = self._every
        return every is not None and every.refuses(call)

    def transient_hit(self) -> bool:
        with self._lock:
            if self._transient is None:
                return False
            rate, _, dice = self._transient
            return dice.random() < rate

    def quota_exhausted(self) -> bool:
        with self._lock:
            return self.quota_remaining == 0

    def spend_quota(self) -> None:
        with self._lock:
            if self.quota_remaining:
                self.quota_remaining -= 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {
                "latency_ms": self.latency_ms,
                "code_as_http_status": self.code_as_http_status,
                "quota_remaining": self.quota_remaining,
                "rate_limit_per_s": self._bucket.rate if self._bucket else None,
                "throttle_every": (
                    {"every": self._every.every, "call": self._every.call} if self._every else None
                ),
                "transient_rate": (
                    {"rate": self._transient[0], "seed": self._transient[1]} if self._transient else None
                ),
            }
            for name in COUNTED:
                fault = self._counted.get(name)
                out[name] = fault.as_json(VALUE_KEYS[name]) if fault else None
            return out
