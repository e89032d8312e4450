"""Where a repo is and whether a server runs on it, without the settings or the store:
what ``ipfs-kit``'s fast path (``cli_entry.py``) and clients ask before anything else.
``config`` and ``repo`` re-export these names."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

CONFIG_FILE = "config.json"


def default_repo_path() -> Path:
    return Path(os.environ.get("IPFS_KIT_PATH") or Path.home() / ".ipfs_kit").expanduser()


def api_url_for(path: str | os.PathLike[str] | None) -> str | None:
    """The base URL of the server running on a repo, without opening the repo."""
    p = Path(path).expanduser() if path else default_repo_path()
    try:
        url = (p / "api").read_text().strip()
    except FileNotFoundError:
        return None
    try:
        fd = os.open(p / "repo.lock", os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None  # stale api file: nobody holds the lock
    except BlockingIOError:
        return url or None
    finally:
        os.close(fd)
