"""Exit codes a script can rely on, and the one error type that carries them to ``main``."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """``idphoto``'s exit codes (documented in ``idphoto --help`` and docs/cli.md)."""

    OK = 0
    USAGE = 1  # bad arguments or options, a refused request (400/403), confirmation declined
    PHOTO_FAILED = 2  # the photo is FAILED: its error says why (bad options, no face, ...)
    NOT_FOUND = 3  # no such photo, route, bucket or stack
    TIMEOUT = 4  # the photo (or a final in progress) was not ready in time
    UNAVAILABLE = 5  # the vendor, the API or AWS is unreachable or failing (429, 5xx, connection)


EXIT_HELP = """exit codes:
  0  success
  1  usage: bad arguments or options, a request the API refused (400, 403), confirmation declined
  2  the photo failed (its error says why)
  3  not found: no such photo, bucket or stack
  4  timeout: the photo was not ready in time
  5  unavailable: the vendor, the API or AWS failed or is unreachable (429, 5xx, no connection)"""


class CliError(Exception):
    """A failure to report in one or two lines (no traceback) and exit with ``code``."""

    def __init__(self, message: str, code: Exit, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint
