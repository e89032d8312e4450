"""The node's libp2p identity: an Ed25519 key kept in the repo.

The key file holds the libp2p protobuf encoding of the private key (the same
bytes Kubo keeps base64-encoded as ``Identity.PrivKey``), so the peer ID is
the same after every restart.
"""

from __future__ import annotations

import os
from pathlib import Path

from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.serialization import deserialize_private_key
from libp2p.peer.id import ID

KEY_FILE = "libp2p_identity.key"


def load_or_create_identity(directory: str | os.PathLike[str] | None) -> KeyPair:
    """The key in ``directory/libp2p_identity.key``, created (mode 0600) if missing.

    ``None`` gives a fresh, unsaved key (a throwaway client identity).
    """
    if directory is None:
        return create_new_key_pair()
    path = Path(directory) / KEY_FILE
    if path.exists():
        private = deserialize_private_key(path.read_bytes())
        return KeyPair(private, private.get_public_key())
    pair = create_new_key_pair()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pair.private_key.serialize())
    os.replace(tmp, path)
    return pair


def peer_id_of(pair: KeyPair) -> str:
    return ID.from_pubkey(pair.public_key).to_base58()
