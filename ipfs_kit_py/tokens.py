"""Named API tokens with scopes, stored in the repo (Kubo's ``API.Authorizations``).

``<repo>/api_tokens.json`` (mode 0600) holds, per token, its name, scope and the
SHA-256 of the secret; the secret itself is shown once, when it is created.
Secrets are 256 random bits, so a plain hash is enough (nothing to brute-force).
The CLI edits the file on the repo (``ipfs-kit token create|ls|rm``), with or
without a running server; the server re-reads it when it changes, so a new
token works and a removed one stops working at once.

A running server also writes ``<repo>/api_secret`` (0600): an admin secret for
that run only, so the CLI and other programs of the repo's owner can talk to
their own server once tokens are required. Reading it needs access to the repo
directory, which already gives full control of the node.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .access import Scope
from .errors import InvalidArgument, NotFound

TOKENS_FILE = "api_tokens.json"
RUN_SECRET_FILE = "api_secret"
PREFIX = "ipfskit_"  # makes a leaked secret recognisable (secret scanners, logs)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
RUN_TOKEN_NAME = "(server run)"  # the name the per-run secret is known by in logs and refusals


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)  # [A-Za-z0-9_-]: fits a header and a WebSocket subprotocol


@dataclass(frozen=True)
class TokenInfo:
    name: str
    scope: Scope
    created: float  # Unix time

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "scope": self.scope.value, "created": self.created}


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)  # whatever the umask
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class TokenStore:
    """The tokens of one repo."""

    def __init__(self, repo_path: str | os.PathLike[str]) -> None:
        self.dir = Path(repo_path).expanduser()
        self.path = self.dir / TOKENS_FILE
        self._loaded_stat: tuple[int, int, int] | None = None  # (mtime_ns, size, inode) of what is cached
        self._by_digest: dict[str, TokenInfo] = {}
        self._infos: list[TokenInfo] = []

    # -- reading (the server, per request: one stat unless the file changed) -----------------
    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._loaded_stat, self._by_digest, self._infos = None, {}, []
            return
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        if key == self._loaded_stat:
            return
        entries = self._read()
        self._by_digest = {e["hash"]: self._info(e) for e in entries}
        self._infos = [self._info(e) for e in entries]
        self._loaded_stat = key

    def _read(self) -> list[dict[str, Any]]:  # JSON entries
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except ValueError as e:
            raise InvalidArgument(f"{self.path} is not valid JSON: {e}") from None
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(tokens, list):
            raise InvalidArgument(f"{self.path}: expected {{\"tokens\": [...]}}")
        return [t for t in tokens if isinstance(t, dict) and {"name", "scope", "hash"} <= set(t)]

    @staticmethod
    def _info(entry: dict[str, Any]) -> TokenInfo:
        return TokenInfo(str(entry["name"]), Scope.parse(str(entry["scope"])), float(entry.get("created") or 0))

    def any(self) -> bool:
        """Whether at least one token exists (then every control request needs one)."""
        self._refresh()
        return bool(self._infos)

    def list(self) -> list[TokenInfo]:
        self._refresh()
        return list(self._infos)

    def verify(self, secret: str) -> TokenInfo | None:
        """The token whose secret this is, or None."""
        self._refresh()
        # looked up by hash: lookup timing tells about the hash of a guess, not about a secret
        return self._by_digest.get(digest(secret))

    # -- writing (the CLI, under a lock so two commands do not lose each other's token) ------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[builtins.list[dict[str, Any]]]:  # builtins: `list` is a method here
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / f".{TOKENS_FILE}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            entries = self._read()
            yield entries
            _write_private(self.path, json.dumps({"tokens": entries}, indent=2) + "\n")
        finally:
            os.close(fd)

    def create(self, name: str, scope: Scope | str) -> str:
        """Add a token; return its secret (stored only as a hash: show it to the user now)."""
        if not NAME.fullmatch(name):
            raise InvalidArgument(f"invalid token name {name!r}: 1-64 letters, digits, '.', '_' or '-'")
        scope = scope if isinstance(scope, Scope) else Scope.parse(scope)
        secret = new_secret()
        with self._locked() as entries:
            if any(e["name"] == name for e in entries):
                raise InvalidArgument(f"a token named {name!r} exists: remove it first (ipfs-kit token rm {name})")
            entries.append({"name": name, "scope": scope.value, "hash": digest(secret), "created": time.time()})
        return secret

    def remove(self, name: str) -> None:
        with self._locked() as entries:
            kept = [e for e in entries if e["name"] != name]
            if len(kept) == len(entries):
                raise NotFound(f"no token named {name!r}")
            entries[:] = kept


# -- the per-run secret of a server ----------------------------------------------------------------
def write_run_secret(repo_path: str | os.PathLike[str]) -> str:
    secret = new_secret()
    _write_private(Path(repo_path) / RUN_SECRET_FILE, secret + "\n")
    return secret


def read_run_secret(repo_path: str | os.PathLike[str]) -> str | None:
    try:
        return (Path(repo_path).expanduser() / RUN_SECRET_FILE).read_text().strip() or None
    except (FileNotFoundError, PermissionError, NotADirectoryError):
        return None


def remove_run_secret(repo_path: str | os.PathLike[str]) -> None:
    with contextlib.suppress(FileNotFoundError):
        (Path(repo_path) / RUN_SECRET_FILE).unlink()
