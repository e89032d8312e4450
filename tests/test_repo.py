"""The repo's small files: written so that a concurrent reader never sees half of one."""

from __future__ import annotations

import threading
from pathlib import Path

from ipfs_kit_py.repo import Repo


def test_api_file_is_never_seen_empty(tmp_path: Path) -> None:
    """The CLI reads ``<repo>/api`` while a server may be rewriting it: it must see a whole URL."""
    repo = Repo(tmp_path / "repo")
    try:
        repo.write_api("http://127.0.0.1:1")
        stop = threading.Event()
        seen: set[str] = set()

        def reader() -> None:
            while not stop.is_set():
                seen.add(repo.api_file.read_text())

        t = threading.Thread(target=reader)
        t.start()
        try:
            for port in range(2, 600):
                repo.write_api(f"http://127.0.0.1:{port}")
        finally:
            stop.set()
            t.join()
        assert seen and all(s.startswith("http://127.0.0.1:") and s.endswith("\n") for s in seen)
        assert not list(repo.api_file.parent.glob(".api.*.tmp"))
    finally:
        repo.close()
