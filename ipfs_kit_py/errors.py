"""Typed errors shared by every channel.

Each carries the HTTP status a Kubo-compatible API answers with, so every
controller turns a model error into the same response without a lookup table.
"""

from __future__ import annotations


class IPFSKitError(Exception):
    """Base class of every error ipfs_kit_py raises on purpose."""

    status = 500
    code = "error"

    def to_dict(self) -> dict[str, object]:
        # Kubo's error shape: {"Message", "Code", "Type"}
        return {"Message": str(self), "Code": 0, "Type": "error"}


class InvalidCID(IPFSKitError, ValueError):
    status = 400
    code = "invalid_cid"


class InvalidArgument(IPFSKitError, ValueError):
    status = 400
    code = "invalid_argument"


class NotFound(IPFSKitError, KeyError):
    status = 404
    code = "not_found"

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "not found"


class BlockNotFound(NotFound):
    code = "block_not_found"


class CorruptBlock(IPFSKitError):
    """A block whose bytes do not hash to its CID."""

    status = 400
    code = "corrupt_block"


class InvalidCAR(IPFSKitError):
    status = 400
    code = "invalid_car"


class PathError(IPFSKitError):
    status = 400
    code = "invalid_path"


class Unauthorized(IPFSKitError):
    status = 403
    code = "unauthorized"


class Forbidden(Unauthorized):
    """The caller is known but its scopes do not allow the operation (``access.authorize``)."""

    status = 403
    code = "forbidden"


class Unauthenticated(IPFSKitError):
    """A token is required and none (or no valid one) came with the request."""

    status = 401
    code = "unauthenticated"


class LimitExceeded(IPFSKitError):
    status = 429
    code = "limit_exceeded"


class RepoLocked(IPFSKitError):
    status = 409
    code = "repo_locked"


class ChannelUnavailable(IPFSKitError):
    """A transport (libp2p, WebSocket, WebRTC, HTTP) cannot be used."""

    status = 503
    code = "channel_unavailable"


class TransferError(IPFSKitError):
    """``transfer_content`` failed on every channel; ``attempts`` says how each one did."""

    status = 502
    code = "all_channels_failed"

    def __init__(self, message: str, attempts: list | None = None) -> None:
        super().__init__(message)
        self.attempts = list(attempts or [])

    def to_dict(self) -> dict[str, object]:
        from dataclasses import asdict, is_dataclass

        return {**super().to_dict(), "Code": self.code,
                "Attempts": [asdict(a) if is_dataclass(a) else a for a in self.attempts]}


def public_message(exc: BaseException) -> str:
    """What a client is told about an error. Ours say what went wrong; anything else is
    a bug or an OS failure whose text may hold server paths (``[Errno 36] File name
    too long: '/home/.../blocks/...'``): only its kind goes out, the log has the rest."""
    if isinstance(exc, IPFSKitError):
        return str(exc) or exc.code
    if isinstance(exc, OSError) and exc.strerror:
        return f"internal error: {exc.strerror}"
    return f"internal error ({type(exc).__name__}); the server log has the details"
