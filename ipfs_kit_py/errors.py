"""Every error that crosses a wire: one tree, each with its code and HTTP status.

A server answers an error with its ``code`` (``/ws``, libp2p mcp, signaling:
``{"code", ...}``; ``/api/v0``: Kubo's ``{"Message","Code","Type"}`` with the
HTTP ``status``); a client turns the code back into the same class through
:data:`BY_CODE`, the one table every client uses (no walk over
``__subclasses__()``, so the answer does not depend on what was imported).

::

    IPFSKitError                 500  error
    ├── InvalidArgument          400  invalid_argument
    │   ├── MalformedMultipart   400  malformed_multipart
    │   └── NotMedia             400  not_media
    ├── InvalidCID               400  invalid_cid
    ├── PathError                400  invalid_path
    ├── CorruptBlock             400  corrupt_block
    ├── InvalidCAR               400  invalid_car
    ├── ProtocolViolation        400  protocol_error
    ├── SignalingError           400  (the code given: unknown_session, bad_sdp, ...)
    ├── Unauthenticated          401  unauthenticated
    ├── Unauthorized             403  unauthorized
    │   └── Forbidden            403  forbidden
    ├── NotFound                 404  not_found
    │   └── BlockNotFound        404  block_not_found
    ├── UploadTimeout            408  upload_timeout
    ├── RepoLocked               409  repo_locked
    ├── NotCached                412  not_cached
    ├── RangeNotSatisfiable      416  range_not_satisfiable
    ├── LimitExceeded            429  limit_exceeded
    │   └── BodyTooLarge         413  limit_exceeded (a request body over the limit)
    ├── TransferError            502  all_channels_failed
    ├── TransferFailed           502  transfer_failed
    └── ChannelUnavailable       503  channel_unavailable
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~7 ms at `ipfs-kit add` start)
if TYPE_CHECKING:
    from typing import Any


class IPFSKitError(Exception):
    """Base class of every error ipfs_kit_py raises on purpose."""

    status = 500
    code = "error"

    def to_dict(self) -> dict[str, object]:
        # Kubo's error shape: {"Message", "Code", "Type"}
        return {"Message": str(self), "Code": 0, "Type": "error"}


class InvalidArgument(IPFSKitError, ValueError):
    status = 400
    code = "invalid_argument"


class MalformedMultipart(InvalidArgument):
    """The request body is not well-formed multipart/form-data."""

    code = "malformed_multipart"


class NotMedia(InvalidArgument):
    """The content is not audio or video PyAV can decode."""

    code = "not_media"


class InvalidCID(IPFSKitError, ValueError):
    status = 400
    code = "invalid_cid"


class PathError(IPFSKitError):
    status = 400
    code = "invalid_path"


class CorruptBlock(IPFSKitError):
    """A block whose bytes do not hash to its CID."""

    status = 400
    code = "corrupt_block"


class InvalidCAR(IPFSKitError):
    status = 400
    code = "invalid_car"


class ProtocolViolation(IPFSKitError):
    """A peer broke ``/ipfs-kit/content/1.0.0``."""

    status = 400
    code = "protocol_error"


class SignalingError(IPFSKitError):
    """A signaling request that cannot be served (sent to the client as an ``error``)."""

    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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


class NotFound(IPFSKitError, KeyError):
    status = 404
    code = "not_found"

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "not found"


class BlockNotFound(NotFound):
    code = "block_not_found"


class UploadTimeout(IPFSKitError):
    status = 408
    code = "upload_timeout"


class RepoLocked(IPFSKitError):
    status = 409
    code = "repo_locked"


class NotCached(IPFSKitError):
    """``Cache-Control: only-if-cached`` for content this node does not hold."""

    status = 412
    code = "not_cached"


class RangeNotSatisfiable(IPFSKitError):
    status = 416
    code = "range_not_satisfiable"


class LimitExceeded(IPFSKitError):
    status = 429
    code = "limit_exceeded"


class BodyTooLarge(LimitExceeded):
    """A request body (or a /ws upload) over ``server.max_request_body``: the code of
    LimitExceeded, HTTP's 413."""

    status = 413


class TransferFailed(IPFSKitError):
    """A libp2p content transfer failed (the peer refused or broke off)."""

    status = 502
    code = "transfer_failed"


class ChannelUnavailable(IPFSKitError):
    """A transport (libp2p, WebSocket, WebRTC, HTTP) cannot be used."""

    status = 503
    code = "channel_unavailable"


class TransferError(IPFSKitError):
    """``transfer_content`` failed on every channel; ``attempts`` says how each one did."""

    status = 502
    code = "all_channels_failed"

    def __init__(self, message: str, attempts: list[Any] | None = None) -> None:
        super().__init__(message)
        self.attempts = list(attempts or [])

    def to_dict(self) -> dict[str, object]:
        from dataclasses import asdict, is_dataclass

        return {**super().to_dict(), "Code": self.code,
                "Attempts": [asdict(a) if is_dataclass(a) and not isinstance(a, type) else a
                             for a in self.attempts]}


# The one code -> class table every client uses (written out: a code names one class).
BY_CODE: dict[str, type[IPFSKitError]] = {
    cls.code: cls
    for cls in (
        IPFSKitError, InvalidArgument, MalformedMultipart, NotMedia, InvalidCID, PathError, CorruptBlock,
        InvalidCAR, ProtocolViolation, Unauthenticated, Unauthorized, Forbidden, NotFound, BlockNotFound, UploadTimeout, RepoLocked,
        NotCached, RangeNotSatisfiable, LimitExceeded, TransferFailed, ChannelUnavailable, TransferError,
    )
}
# codes other parts of the server send (WebSocket protocol errors, signaling) -> their nearest class
BY_CODE.update({
    "invalid_json": InvalidArgument, "invalid_message": InvalidArgument, "unknown_action": InvalidArgument,
    "invalid_types": InvalidArgument, "unavailable": ChannelUnavailable, "internal_error": IPFSKitError,
})


def error_for(code: str | None, message: str, default: type[IPFSKitError] = IPFSKitError) -> IPFSKitError:
    """The typed exception for a ``code`` received from a server; ``.code`` keeps the code."""
    cls = BY_CODE.get(code or "", default)
    err = cls(message)
    if code and err.code != code:
        err.code = code
    return err


def public_message(exc: BaseException) -> str:
    """What a client is told about an error. Ours say what went wrong; anything else is
    a bug or an OS failure whose text may hold server paths (``[Errno 36] File name
    too long: '/home/.../blocks/...'``): only its kind goes out, the log has the rest."""
    if isinstance(exc, IPFSKitError):
        return str(exc) or exc.code
    if isinstance(exc, OSError) and exc.strerror:
        return f"internal error: {exc.strerror}"
    return f"internal error ({type(exc).__name__}); the server log has the details"
