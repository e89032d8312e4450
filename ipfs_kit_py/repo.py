"""The repo directory: blocks (flatfs layout), index (SQLite), config, lock and API file.

Like Kubo, a running server holds ``repo.lock`` and writes its address to
``api``; the CLI reads that file to talk to the server instead of opening the
repo itself.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from .config import CONFIG_FILE, Settings, default_repo_path, load_settings
from .errors import RepoLocked
from .repo_paths import api_url_for as api_url_for  # lives there: the CLI's fast path reads it

REPO_VERSION = "1"


class Repo:
    def __init__(self, path: str | os.PathLike[str] | None = None, settings: Settings | None = None) -> None:
        self.path = Path(path).expanduser() if path else default_repo_path()
        self.path.mkdir(parents=True, exist_ok=True)
        version = self.path / "version"
        if not version.exists():
            version.write_text(REPO_VERSION + "\n")
        cfg = self.path / CONFIG_FILE
        if not cfg.exists():
            cfg.write_text(json.dumps({}, indent=2) + "\n")
        self.settings = settings or load_settings(self.path)
        # imported here, when a repo is opened: clients read api_url_for without the store
        from .content.blockstore import Blockstore
        from .content.index import Index

        self.blocks = Blockstore(self.path / "blocks", sync=self.settings.repo.sync)
        self.index = Index(self.path / "index.sqlite")
        self._lock_fd: int | None = None

    # -- server lock and API address ------------------------------------------
    @property
    def api_file(self) -> Path:
        return self.path / "api"

    def lock(self) -> None:
        """Take the repo for a server; raise RepoLocked if another process has it."""
        fd = os.open(self.path / "repo.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RepoLocked(f"repo {self.path} is in use by another ipfs-kit server") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd
        self.blocks.remove_temp_files()

    def unlock(self) -> None:
        self.api_file.unlink(missing_ok=True)
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def is_locked(self) -> bool:
        """True when a server process holds this repo."""
        if self._lock_fd is not None:
            return True
        try:
            fd = os.open(self.path / "repo.lock", os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def write_api(self, url: str) -> None:
        # temp file + rename: a CLI reading it concurrently sees the old file or the new, never an empty one
        tmp = self.api_file.with_name(f".{self.api_file.name}.{os.getpid()}.tmp")
        tmp.write_text(url + "\n")
        os.replace(tmp, self.api_file)

    def read_api(self) -> str | None:
        """The running server's base URL, or None if no server holds the repo."""
        try:
            url = self.api_file.read_text().strip()
        except FileNotFoundError:
            return None
        return url if url and self.is_locked() else None

    def close(self) -> None:
        self.unlock()
        self.index.close()


