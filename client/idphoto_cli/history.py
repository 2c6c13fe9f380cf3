"""The uploads this tool made on this machine, so that ``idphoto list`` can show one's photos and a
local file name given to ``status`` finds the key ``make`` gave it.

Why a local file and not a listing of the bucket: a user of the API needs only ``s3:PutObject`` on the
upload prefix and ``execute-api:Invoke`` (see the README's caller policy); listing the bucket would take
``s3:ListBucket``, which would also show everyone else's uploads. Every entry's status is read through
the API, which answers only the caller's own photos.

The file is JSON lines at ``$IDPHOTO_HISTORY``, else ``$XDG_STATE_HOME/idphoto/uploads.jsonl``, else
``~/.local/state/idphoto/uploads.jsonl``. Losing it loses nothing but this convenience.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Upload:
    key: str
    file: str  # the local file, absolute
    bucket: str
    time: int


def path(env: Mapping[str, str] = os.environ) -> Path:
    if env.get("IDPHOTO_HISTORY"):
        return Path(env["IDPHOTO_HISTORY"])
    state = Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "idphoto" / "uploads.jsonl"


def remember(key: str, file: Path, bucket: str) -> None:
    """Append one upload; a history that cannot be written costs the user nothing but ``list``."""
    entry = Upload(key, str(file.resolve()), bucket, int(time.time()))
    where = path()
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        with where.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(entry)) + "\n")
    except OSError:
        pass


def uploads(bucket: str) -> list[Upload]:
    """This bucket's uploads, newest first, one per key (the latest upload of a key wins)."""
    try:
        lines = path().read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    latest: dict[str, Upload] = {}
    for line in lines:
        try:
            entry = Upload(**json.loads(line))
        except (ValueError, TypeError):
            continue  # a torn line from an interrupted write
        if entry.bucket == bucket:
            latest[entry.key] = entry
    return sorted(latest.values(), key=lambda u: u.time, reverse=True)


def keys_for_file(name: str, bucket: str) -> list[str]:
    """The keys the local file ``name`` was uploaded under (newest first)."""
    wanted = Path(name).resolve()
    return [u.key for u in uploads(bucket) if Path(u.file) == wanted or Path(u.file).name == name]
