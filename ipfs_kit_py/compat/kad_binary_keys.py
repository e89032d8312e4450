"""py-libp2p 0.8.x: accept DHT records whose keys are binary, as Kubo's are.

Kubo stores IPNS records under ``/ipns/`` + the name's binary multihash and
public keys under ``/pk/`` + binary. py-libp2p's PUT_VALUE handler decodes every
incoming key as UTF-8 before validating it, so such a PUT from Kubo fails and
the stream is reset: our node would never hold Kubo's records. This patch makes
that one decode latin-1 (a lossless bytes -> str mapping); the validators we
register (``ipfs_kit_py.ipns.dht.IpnsValidator``) map the name back to bytes.

Applied by rewriting that single line of ``KadDHT._do_handle_stream``; if the
installed py-libp2p does not have the line (another version), nothing is
patched and a warning says so.
"""

from __future__ import annotations

import inspect
import logging
import textwrap

log = logging.getLogger(__name__)

_OLD = 'key_str = key.decode("utf-8")'
_NEW = 'key_str = key.decode("latin-1")'
_applied = False


def apply() -> bool:
    global _applied
    if _applied:
        return True
    from libp2p.kad_dht import kad_dht

    method = kad_dht.KadDHT._do_handle_stream
    try:
        source = textwrap.dedent(inspect.getsource(method))
    except (OSError, TypeError):
        log.warning("compat.kad_binary_keys: cannot read py-libp2p's source; binary DHT keys stay refused")
        return False
    if source.count(_OLD) != 1:
        log.warning("compat.kad_binary_keys: py-libp2p changed (%s not found once); not patched", _OLD)
        return False
    namespace: dict[str, object] = {}
    exec(compile(source.replace(_OLD, _NEW), inspect.getsourcefile(method) or "<kad_dht>", "exec"),  # noqa: S102
         kad_dht.__dict__, namespace)
    kad_dht.KadDHT._do_handle_stream = namespace["_do_handle_stream"]  # type: ignore[method-assign]
    _applied = True
    return True
