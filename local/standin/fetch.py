"""Download ``pic_url`` the way the vendor does: one plain GET of the URL exactly as given.

The URL is typically an S3 presigned URL, whose signature covers the exact query string, so it is
passed to urllib untouched (requests may re-quote it). Proxies from the environment are ignored: the
stand-in only ever fetches from this machine. Failures map to vendor code 507 (cannot fetch: network
error, HTTP error such as an expired presigned URL's 403, timeout, oversize); what the bytes contain is
judged later (506 when they are not an image).
"""

import urllib.error
import urllib.request
from urllib.parse import urlsplit

from local.standin.contract import VendorError

TIMEOUT_S = 10.0
MAX_BYTES = 20 << 20

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def download(url: str, timeout_s: float = TIMEOUT_S, max_bytes: int = MAX_BYTES) -> bytes:
    if urlsplit(url).scheme not in ("http", "https"):
        raise VendorError(507, "cannot download pic_url: only http and https URLs are fetched")
    request = urllib.request.Request(url, method="GET")  # noqa: S310 - scheme checked above
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            data: bytes = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        raise VendorError(507, f"cannot download pic_url: HTTP {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise VendorError(507, f"cannot download pic_url: {reason}") from exc
    if len(data) > max_bytes:
        raise VendorError(507, f"cannot download pic_url: larger than {max_bytes >> 20} MiB")
    return data
