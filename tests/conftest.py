"""Hypothesis settings for the whole suite (issue 27).

- No deadline, anywhere: Hypothesis' default fails an example that takes over 200 ms, and on a loaded
  2-core machine any example may (a "must finish in N ms" in disguise; speed bars belong in bench/).
- On CI (``CI`` set, as GitHub Actions, GitLab and .ci/run set it) the ``idphoto-ci`` profile: the same
  examples on every run (``derandomize``) and no example database, so a red run is reproducible from
  the commit alone and a failure found once is not replayed from ``.hypothesis/`` on later runs. The
  models must hold for every example, so this changes what is tried, never what must pass.
- ``HYPOTHESIS_PROFILE=<name>`` picks a profile by hand (``idphoto-ci`` reproduces CI locally).

Hypothesis' settings profiles: https://hypothesis.readthedocs.io/en/latest/reference/api.html#settings-profiles
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from hypothesis import settings

settings.register_profile("idphoto", deadline=None)
settings.register_profile("idphoto-ci", deadline=None, derandomize=True, database=None, print_blob=True)


def _profile(env: Mapping[str, str]) -> str:
    chosen = env.get("HYPOTHESIS_PROFILE", "").strip()
    if chosen:
        return chosen
    on_ci = env.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    return "idphoto-ci" if on_ci else "idphoto"


settings.load_profile(_profile(os.environ))
