"""Every use of a dependency's internals, one module per dependency, each version-guarded.

- ``aiortc``: negotiated codecs of a transceiver (``_codecs``), RTCP seen by a
  sender (``_handle_rtcp_packet``), the sender's encoder (name-mangled
  ``__encoder``), frames a receiver assembled before they are decoded (its
  jitter buffer).
- ``aioice``: which local addresses a connection gathers (``get_host_addresses``).
- ``yamux``: py-libp2p's window updates batched as go-yamux batches them (once half
  the window is read, not after every read).
- ``kad_kubo``: py-libp2p's Kademlia handler, so Kubo's binary record keys are accepted
  and ADD_PROVIDER gets no reply Kubo would misread (applied before the DHT serves).

Nothing here patches anything when imported: each hook is installed on the
object (or, for aioice, once for the process and then neutral unless a caller
asks) by an explicit call. ``check()`` in each module raises
``IncompatibleDependency`` when the installed version lacks what we rely on;
``tests/test_compat.py`` calls it, so an upgrade that breaks a hook fails loudly
there instead of silently degrading a stream.
"""

from __future__ import annotations


class IncompatibleDependency(RuntimeError):
    """An installed dependency no longer has the internals a compat hook relies on."""
