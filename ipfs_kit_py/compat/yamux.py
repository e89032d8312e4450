"""py-libp2p 0.8.x's yamux (``libp2p.stream_muxer.yamux.yamux``): window updates
batched as go-yamux batches them.

py-libp2p sends a WINDOW_UPDATE after every read of a stream by default
(``PY_YAMUX_RELEASE_ON_READ``, read from the environment at each read): one more
encrypted frame and socket write per read, on both sides of a bulk transfer.
go-yamux (Kubo) credits the sender once half the window has been read; with the
release-on-read branch off, py-libp2p's own hysteresis does exactly that. In
``benchmarks/bench_retrieval.py``'s setting (128 MiB over bitswap between two of
our nodes) the fetch went from 31 to 42 MB/s, with 25% less CPU in the fetcher
and 38% less in the provider.

:func:`batch_window_updates` (called once when a host starts) turns the branch off
for the process, unless ``PY_YAMUX_RELEASE_ON_READ`` is set explicitly (then
py-libp2p reads it as before).

py-libp2p's data frames carry 64 KiB (go-yamux's size), 12 bytes more than one
Noise message holds: each frame went out as a full Noise message plus one of 17
bytes, two encryptions, two socket writes, and two messages for the receiver to
read and decrypt. :func:`frames_in_one_noise_message` sizes them to fit one
(65,507 bytes of data); peers accept any frame size up to their window. :func:`check` (``tests/test_compat.py``) fails
loudly when the module no longer has what this relies on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib.metadata import version as _dist_version

from . import IncompatibleDependency

TESTED = "0.8."
ENV = "PY_YAMUX_RELEASE_ON_READ"


def version() -> str:
    return _dist_version("libp2p")


def check() -> None:
    v = version()
    if not v.startswith(TESTED):
        raise IncompatibleDependency(f"libp2p {v} is untested (compat/yamux.py was checked against {TESTED})")
    from libp2p.stream_muxer.yamux import yamux

    if not callable(getattr(yamux, "_yamux_release_on_read", None)):
        raise IncompatibleDependency("libp2p's yamux has no _yamux_release_on_read")
    if "_yamux_release_on_read" not in yamux.YamuxStream._auto_tune_and_send_window_update.__code__.co_names:
        raise IncompatibleDependency("YamuxStream._auto_tune_and_send_window_update no longer asks _yamux_release_on_read")
    if "MAX_MESSAGE_SIZE" not in yamux.YamuxStream.write.__code__.co_names:
        raise IncompatibleDependency("YamuxStream.write no longer sizes its frames by MAX_MESSAGE_SIZE")


def batch_window_updates() -> None:
    """Credit the sender once half the window is read (go-yamux), not after every read."""
    from libp2p.stream_muxer.yamux import yamux

    current = yamux._yamux_release_on_read
    if getattr(current, "_ipfs_kit", False):
        return
    check()

    def release_on_read(original: Callable[[], bool] = current) -> bool:
        return original() if ENV in os.environ else False

    release_on_read._ipfs_kit = True  # type: ignore[attr-defined]
    yamux._yamux_release_on_read = release_on_read


def frames_in_one_noise_message() -> None:
    """Data frames of at most one Noise message (65,519 bytes, header included)."""
    from libp2p.security.noise.io import MAX_PLAINTEXT_LENGTH
    from libp2p.stream_muxer.yamux import yamux

    check()
    yamux.MAX_MESSAGE_SIZE = min(yamux.MAX_MESSAGE_SIZE, MAX_PLAINTEXT_LENGTH)
