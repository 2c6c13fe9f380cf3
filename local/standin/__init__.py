"""A local stand-in for the Leqi ID-photo API sold on the Alibaba Cloud API market.

It honours /work/shared/vendor/API.md (``POST /aliyun_api/pic_handle_3``, ``GET /get_pic_3``, the
market gateway's AppCode check) and makes real ID photos: Haar face detection, MediaPipe selfie
segmentation (TFLite), crop to the spec and ``ratios``, background colour or gradient, watermarked
previews, print sheets, size-bound JPEGs. It is never deployed: integration tests, demo and benchmarks
use it. Test-only controls live under ``/_admin/``.

Setup once: ``python -m local.standin.models``; run: ``python -m local.standin --port 8750``;
in-process: ``start_server(port=0, appcode=...)`` returns a handle with ``.url`` and ``.stop()``.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.standin.server import StandinHandle, build_server, start_server

__all__ = ["StandinHandle", "build_server", "start_server"]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m local.standin.models` does not load OpenCV and the server first.
    if name in __all__:
        from local.standin import server

        return getattr(server, name)
    raise AttributeError(f"module 'local.standin' has no attribute {name!r}")
