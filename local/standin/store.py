"""Results kept in memory and handed out at signed, expiring, OSS-looking URLs.

Each photo made is one :class:`ResultSet` of four JPEGs, reachable at these object keys::

    result_wm/<name>.jpg        watermarked photo       (URL in pic_handle_3's wm_pic_url)
    result_wm/<name>_print.jpg  watermarked print sheet (print_wm_pic_url)
    result/<name>.jpg           watermark-free photo    (only from a get_pic_3 answer)
    result/<name>_print.jpg     watermark-free sheet    (get_pic_3's file_name_list)

A URL is ``<base>/<prefix>%2F<name>[_print].jpg?Signature=..&Expires=<unix>&OSSAccessKeyId=LOCALSTANDIN``
where Signature is an HMAC-SHA1 (base64, as OSS does) over the key and Expires with a random secret made
at startup, so only the stand-in's own answers yield valid URLs. The store is an LRU bounded in bytes.
"""

import base64
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

ACCESS_KEY_ID = "LOCALSTANDIN"
PREVIEW_PREFIX = "result_wm"
FINAL_PREFIX = "result"
SHEET_SUFFIX = "_print"


@dataclass(frozen=True, slots=True)
class ResultSet:
    name: str
    photo: bytes
    photo_wm: bytes
    sheet: bytes
    sheet_wm: bytes
    created: float

    @property
    def size(self) -> int:
        return len(self.photo) + len(self.photo_wm) + len(self.sheet) + len(self.sheet_wm)

    def blob(self, prefix: str, sheet: bool) -> bytes:
        if prefix == PREVIEW_PREFIX:
            return self.sheet_wm if sheet else self.photo_wm
        return self.sheet if sheet else self.photo


class ResultStore:
    """Thread-safe LRU of result sets, evicting the least recently used beyond ``max_bytes``."""

    def __init__(self, max_bytes: int = 256 << 20) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, ResultSet] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, result: ResultSet) -> None:
        with self._lock:
            old = self._items.pop(result.name, None)
            if old is not None:
                self._bytes -= old.size
            self._items[result.name] = result
            self._bytes += result.size
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.size

    def get(self, name: str) -> ResultSet | None:
        with self._lock:
            result = self._items.get(name)
            if result is not None:
                self._items.move_to_end(name)
            return result

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class Signer:
    def __init__(self, secret: bytes | None = None, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret or secrets.token_bytes(32)
        self._clock = clock

    def signature(self, key: str, expires: int) -> str:
        digest = hmac.new(self._secret, f"GET\n{expires}\n/{key}".encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    def verify(self, key: str, expires: int, signature: str) -> bool:
        return hmac.compare_digest(self.signature(key, expires), signature)

    def url(self, base: str, prefix: str, name: str, sheet: bool, ttl_s: float) -> str:
        # Expires is whole seconds (as OSS's): rounded up, a URL is valid for at least ``ttl_s`` (rounded
        # down, a 1 s URL was valid for anything between 0 and 1 s, and "still valid" lost races).
        expires = math.ceil(self._clock() + ttl_s)
        key = object_key(prefix, name, sheet)
        path = f"{prefix}%2F{quote(name + (SHEET_SUFFIX if sheet else ''), safe='')}.jpg"
        signature = quote(self.signature(key, expires), safe="")
        return f"{base}/{path}?Signature={signature}&Expires={expires}&OSSAccessKeyId={ACCESS_KEY_ID}"


def object_key(prefix: str, name: str, sheet: bool) -> str:
    return f"{prefix}/{name}{SHEET_SUFFIX if sheet else ''}.jpg"
