"""``/_admin/*``: test-only controls, outside the vendor contract and without AppCode.

====  =================  ===========================================================================
GET   /_admin/stats      counters (see :mod:`local.standin.stats`) plus ``stored_results``
POST  /_admin/reset      clear counters and faults; validity and code mode back to startup values
GET   /_admin/faults     current faults (see :mod:`local.standin.faults`)
POST  /_admin/faults     merge faults from a JSON object (``null`` clears one); 400 on a bad spec
GET   /_admin/config     ``{"preview_ttl_s", "final_ttl_s", "code_as_http_status", "thin"}``
POST  /_admin/config     set any of those (thin: canned images, no image work, for benchmarks)
====  =================  ===========================================================================

Stored results survive a reset, so URLs handed out before it keep working until they expire.
"""

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from local.standin.faults import Faults, FaultSpecError
from local.standin.http_util import read_body, send_json
from local.standin.service import Vendor
from local.standin.stats import Stats

MAX_ADMIN_BODY = 64 << 10
CONFIG_KEYS = frozenset({"preview_ttl_s", "final_ttl_s", "code_as_http_status", "thin"})


class AdminError(ValueError):
    pass


def _json_object(handler: BaseHTTPRequestHandler) -> dict[str, Any]:
    raw = read_body(handler, MAX_ADMIN_BODY)
    try:
        decoded = json.loads(raw or b"{}")
    except ValueError as exc:
        raise AdminError("body is not valid JSON") from exc
    if not isinstance(decoded, dict):
        raise AdminError("body must be a JSON object")
    return decoded


def _ttl(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 365 * 86_400:
        raise AdminError(f"{name} must be a number of seconds between 0 and one year")
    return float(value)


def _config(vendor: Vendor, faults: Faults) -> dict[str, Any]:
    return {
        "preview_ttl_s": vendor.validity.preview_ttl_s,
        "final_ttl_s": vendor.validity.final_ttl_s,
        "code_as_http_status": faults.snapshot()["code_as_http_status"],
        "thin": vendor.thin,
    }


def _set_config(body: dict[str, Any], vendor: Vendor, faults: Faults) -> None:
    unknown = sorted(set(body) - CONFIG_KEYS)
    if unknown:
        raise AdminError(f"unknown setting: {unknown[0]}")
    preview = _ttl(body["preview_ttl_s"], "preview_ttl_s") if "preview_ttl_s" in body else None
    final = _ttl(body["final_ttl_s"], "final_ttl_s") if "final_ttl_s" in body else None
    if "thin" in body:
        if not isinstance(body["thin"], bool):
            raise AdminError("thin must be true or false")
        vendor.thin = body["thin"]
    if "code_as_http_status" in body:
        faults.update({"code_as_http_status": body["code_as_http_status"]})
    vendor.set_validity(preview, final)


def handle_admin(
    handler: BaseHTTPRequestHandler, route: str, vendor: Vendor, faults: Faults, stats: Stats
) -> None:
    method = handler.command
    try:
        if (method, route) == ("GET", "/_admin/stats"):
            send_json(handler, 200, {**stats.snapshot(), "stored_results": len(vendor.store)})
        elif (method, route) == ("POST", "/_admin/reset"):
            _json_object(handler)  # drain any body so the connection can be reused
            faults.reset()
            stats.reset()
            vendor.reset_validity()
            vendor.thin = False
            send_json(handler, 200, {"ok": True})
        elif (method, route) == ("GET", "/_admin/faults"):
            send_json(handler, 200, faults.snapshot())
        elif (method, route) == ("POST", "/_admin/faults"):
            faults.update(_json_object(handler))
            send_json(handler, 200, faults.snapshot())
        elif (method, route) == ("GET", "/_admin/config"):
            send_json(handler, 200, _config(vendor, faults))
        elif (method, route) == ("POST", "/_admin/config"):
            _set_config(_json_object(handler), vendor, faults)
            send_json(handler, 200, _config(vendor, faults))
        else:
            send_json(handler, 404, {"error": f"no admin route {method} {route}"})
    except (AdminError, FaultSpecError) as exc:
        send_json(handler, 400, {"error": str(exc)})
