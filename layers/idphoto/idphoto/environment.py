"""The settings read beneath :mod:`idphoto.config`, by modules that config itself imports.

config parses the deployment's default options with :mod:`idphoto.options`, which resolves named specs
with :mod:`idphoto.specs`, which needs ``SPEC_VENDOR_IDS``: were that read in config, specs would import
config back (an import cycle, and a module half-initialised when the other asks for it). So the few
variables such modules need are read here, a module that imports nothing of the package, and config
re-exports them: config stays the one place to look for a setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

VENDOR_IDS_ENV: Final = "SPEC_VENDOR_IDS"


def spec_vendor_ids(env: Mapping[str, str] = os.environ) -> str:
    """``SPEC_VENDOR_IDS``, unparsed: ``specs.active`` parses it (option parsing needs it where no
    settings are at hand, so it is not a field of ``Settings``)."""
    return env.get(VENDOR_IDS_ENV, "")
