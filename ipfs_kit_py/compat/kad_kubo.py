"""py-libp2p 0.8.x's DHT server, made to serve Kubo (go-libp2p-kad-dht) correctly.

Two fixes in ``KadDHT._do_handle_stream``, applied by rewriting exact lines of
its source (version guard: if any line is not found exactly once, nothing is
patched and a warning says so):

1. Binary keys. Kubo stores IPNS records under ``/ipns/`` + the name's binary
   multihash. py-libp2p decodes every incoming PUT_VALUE key as UTF-8 before
   validating it, so Kubo's PUT fails and the stream is reset: we would never
   hold Kubo's records. The decode becomes latin-1 (lossless bytes -> str); our
   validators (``ipfs_kit_py.ipns.dht.IpnsValidator``) map the name back.
2. No answer to ADD_PROVIDER. go-libp2p-kad-dht sends ADD_PROVIDER without
   reading an answer and reuses the stream for its next request; py-libp2p
   echoes the message, so Kubo's next request on that stream (a PUT_VALUE when
   it publishes a name) reads the stale echo as its answer. Kubo 0.43.1 then
   dereferences the echo's missing record and the whole daemon crashes (nil
   pointer in ``ProtocolMessenger.PutValue``). py-libp2p's own client never
   reads the echo either, so dropping it changes nothing for py-libp2p peers.
"""

from __future__ import annotations

import inspect
import logging
import textwrap

log = logging.getLogger(__name__)

_I = " " * 24  # the statements' indentation in py-libp2p's file
_ADD_PROVIDER_ECHO = (f"{_I}response.type = Message.MessageType.ADD_PROVIDER\n{_I}response.key = key\n"
                      f"{_I}response_bytes = response.SerializeToString()\n"
                      f"{_I}await stream.write(varint.encode(len(response_bytes)))\n"
                      f"{_I}await stream.write(response_bytes)\n")
PATCHES = (
    ('key_str = key.decode("utf-8")', 'key_str = key.decode("latin-1")'),
    (_ADD_PROVIDER_ECHO, f"{_I}pass  # no answer: go-libp2p-kad-dht does not read one (compat.kad_kubo)\n"),
)
_applied = False


def apply() -> bool:
    """Patch py-libp2p's DHT handler once per process; whether it is patched."""
    global _applied
    if _applied:
        return True
    from libp2p.kad_dht import kad_dht

    method = kad_dht.KadDHT._do_handle_stream
    try:
        source = inspect.getsource(method)
    except (OSError, TypeError):
        log.warning("compat.kad_kubo: cannot read py-libp2p's source; DHT not patched for Kubo")
        return False
    for old, new in PATCHES:
        if source.count(old) != 1:
            log.warning("compat.kad_kubo: py-libp2p changed (%r not found once); DHT not patched", old[:40])
            return False
        source = source.replace(old, new)
    namespace: dict[str, object] = {}
    exec(compile(textwrap.dedent(source), inspect.getsourcefile(method) or "<kad_dht>", "exec"),  # noqa: S102
         kad_dht.__dict__, namespace)
    # the recompiled method (an object to mypy) replaces py-libp2p's: this module's purpose
    kad_dht.KadDHT._do_handle_stream = namespace["_do_handle_stream"]  # type: ignore[method-assign, assignment]
    _applied = True
    return True
