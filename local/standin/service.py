"""The vendor itself: the two calls, from validated input to the documented JSON answers.

Result names follow the vendor's pattern ``<32 hex>clothes<clothes><color_name>`` (the example
``89a58bd0dea511e9ab4900163e0aee01clothesblue`` has no clothes template). Each photo gets its own random
hex, so repeated colour names never collide. Retention and URL validity:

- previews (``wm_pic_url``, ``print_wm_pic_url``) are signed for ``preview_ttl_s`` (default 1 day);
- a final can be fetched with ``get_pic_3`` for ``final_ttl_s`` after it was made (default 7 days), and
  each answer's URLs are signed for ``final_ttl_s`` from that moment; later -> 422 ``file_name expired``;
- an unknown (or evicted) ``file_name`` -> 422 ``unknown file_name``.

``clothes`` is recorded in the name only: no clothing template is drawn. ``fair_level`` is checked to be
an integer (423 otherwise, as API.md says) and sets the retouch's strength (``imaging.beautify``: the
vendor's direct API calls it a beauty level 1-5, default 1; other integers are clamped to that).
Watermark-free files are the JPEGs bound by ``file_size_*``; previews and sheets use quality 92.
"""

import functools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from local.standin.contract import MakeRequest, VendorError, parse_body, validate_get, validate_make
from local.standin.fetch import download
from local.standin.imaging import (
    composite,
    decode,
    encode_jpeg,
    encode_sized,
    input_delay_s,
    print_sheet,
    watermark,
)
from local.standin.pipeline import make_portrait
from local.standin.store import FINAL_PREFIX, PREVIEW_PREFIX, ResultSet, ResultStore, Signer
from local.standin.vision import FaceDetector, Image, Segmenter

DAY_S = 86_400.0


@functools.cache
def _canned() -> tuple[bytes, bytes, bytes, bytes]:
    """photo, photo_wm, sheet, sheet_wm of thin mode: small real JPEGs, made once.

    Small on purpose (about 110 KB a set): the result store evicts beyond 256 MB, and a benchmark's
    thousand photos must all stay fetchable.
    """
    photo = np.full((531, 413, 3), 255, dtype=np.uint8)
    sheet = np.full((600, 900, 3), 255, dtype=np.uint8)
    return (
        encode_jpeg(photo),
        encode_jpeg(watermark(photo)),
        encode_jpeg(sheet),
        encode_jpeg(watermark(sheet)),
    )


@dataclass(slots=True)
class Validity:
    preview_ttl_s: float = DAY_S
    final_ttl_s: float = 7 * DAY_S


class Vendor:
    def __init__(
        self, base_url: str, segmenter: Segmenter, detector: FaceDetector, validity: Validity
    ) -> None:
        self.base_url = base_url
        self.segmenter = segmenter
        self.detector = detector
        self.startup_validity = Validity(validity.preview_ttl_s, validity.final_ttl_s)
        self.validity = validity
        self.store = ResultStore()
        # The stand-in's wall clock (results' age, URLs' Expires, downloads' expiry check): tests
        # replace it to move time without sleeping.
        self.clock: Callable[[], float] = time.time
        self.signer = Signer(clock=lambda: self.clock())
        self._lock = threading.Lock()
        # Thin mode (benchmarks of the pipeline itself): the same contract, checks, pic_url download,
        # latency faults and counters, but canned result images instead of any image work, so the
        # stand-in's CPU no longer hides ours.
        self.thin = False

    def set_validity(self, preview_ttl_s: float | None = None, final_ttl_s: float | None = None) -> None:
        with self._lock:
            if preview_ttl_s is not None:
                self.validity.preview_ttl_s = preview_ttl_s
            if final_ttl_s is not None:
                self.validity.final_ttl_s = final_ttl_s

    def reset_validity(self) -> None:
        self.set_validity(self.startup_validity.preview_ttl_s, self.startup_validity.final_ttl_s)

    def make(self, raw_body: bytes, head_share: float | None = None) -> dict[str, Any]:
        """``head_share``: the ``misframe_next`` fault, a photo whose head is that share of its height
        (the request's ``ratios`` ignored), made like any other."""
        request = validate_make(parse_body(raw_body))
        if head_share is not None:  # the asked framing replaced by a head of that share, +- 0.01
            top = min(0.1, max(0.02, (1 - head_share) / 3))
            spec = replace(request.spec, head_target=head_share, top_target=top)
            ratios = (head_share - 0.01, head_share + 0.01, *(-1.0,) * 6)
            request = replace(request, spec=spec, ratios=ratios)
        if self.thin:
            return self._make_thin(request)
        data = download(request.pic_url)
        source = decode(data)
        time.sleep(input_delay_s(len(data), source.shape[0] * source.shape[1]))
        portrait = make_portrait(source, request, self.detector, self.segmenter)
        per_sheet = 8 if request.print_type == 1 else 10
        names, previews, sheets = [], [], []
        for colour in request.colours:
            photo = composite(portrait.rgb, portrait.mask, colour.start, colour.end)
            name = f"{uuid.uuid4().hex}clothes{request.clothes}{colour.name}"
            self.store.put(self._result_set(name, photo, request, per_sheet))
            names.append(name)
            previews.append(self._url(PREVIEW_PREFIX, name, sheet=False))
            sheets.append(self._url(PREVIEW_PREFIX, name, sheet=True))
        return {
            "code": 200,
            "final_pic_name": names,
            "wm_pic_url": previews,
            "print_wm_pic_url": sheets,
            "one_sheet_num": per_sheet,
        }

    def _make_thin(self, request: MakeRequest) -> dict[str, Any]:
        download(request.pic_url)  # the vendor reads the upload: the presigned URL is still proven
        per_sheet = 8 if request.print_type == 1 else 10
        names = [f"{uuid.uuid4().hex}clothes{request.clothes}{c.name}" for c in request.colours]
        for name in names:
            self.store.put(ResultSet(name, *_canned(), created=self.clock()))
        return {
            "code": 200,
            "final_pic_name": names,
            "wm_pic_url": [self._url(PREVIEW_PREFIX, n, sheet=False) for n in names],
            "print_wm_pic_url": [self._url(PREVIEW_PREFIX, n, sheet=True) for n in names],
            "one_sheet_num": per_sheet,
        }

    def _result_set(self, name: str, photo: Image, request: MakeRequest, per_sheet: int) -> ResultSet:
        dpi = request.spec.dpi
        final = encode_sized(photo, dpi, request.file_size_max_kb, request.file_size_min_kb)
        sheet = print_sheet(photo, per_sheet)
        return ResultSet(
            name=name,
            photo=final,
            photo_wm=encode_jpeg(watermark(photo), dpi=dpi),
            sheet=encode_jpeg(sheet),
            sheet_wm=encode_jpeg(watermark(sheet)),
            created=self.clock(),
        )

    def _url(self, prefix: str, name: str, sheet: bool) -> str:
        ttl = self.validity.preview_ttl_s if prefix == PREVIEW_PREFIX else self.validity.final_ttl_s
        return self.signer.url(self.base_url, prefix, name, sheet, ttl)

    def get(self, query: dict[str, list[str]]) -> dict[str, Any]:
        name = validate_get(query)
        result = self.store.get(name)
        if result is None:
            raise VendorError(422, f"unknown file_name: {name}")
        if self.clock() > result.created + self.validity.final_ttl_s:
            raise VendorError(422, f"file_name expired: {name}")
        return {
            "code": 200,
            "file_name": self._url(FINAL_PREFIX, name, sheet=False),
            "file_name_list": self._url(FINAL_PREFIX, name, sheet=True),
        }
