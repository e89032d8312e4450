"""How bytes become a DAG: the add profiles (``v0``, ``v1raw``, ``v1-2025``) and Kubo's flags
that adjust them (``--cid-version``, ``--raw-leaves``, ``--chunker``).

Plain values with no I/O, apart from the importer so that clients can check add flags
(the CLI refuses a bad chunker before it touches anything) without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class Profile:
    """How bytes become a DAG: the knobs of ``ipfs add``."""

    name: str
    cid_version: int = 0
    raw_leaves: bool = False
    chunk_size: int = 262144
    max_links: int = 174
    # when a directory becomes a HAMT: "links" (boxo: name + CID bytes >= 256 KiB)
    # or "block" (IPIP-499 unixfs-v1-2025: the dag-pb block would exceed 256 KiB)
    shard_by: str = "links"

    def describe(self) -> str:
        return (
            f"{self.name}: CIDv{self.cid_version}, {'raw' if self.raw_leaves else 'dag-pb'} leaves, "
            f"size-{self.chunk_size} chunks, {self.max_links} links per node"
        )


PROFILES: dict[str, Profile] = {
    "v0": Profile("v0", 0, False, 262144, 174),
    "v1raw": Profile("v1raw", 1, True, 262144, 174),
    "v1-2025": Profile("v1-2025", 1, True, 1048576, 1024, "block"),
}
MAX_CHUNK_SIZE = 1024 * 1024  # Kubo refuses larger chunks: bitswap caps blocks at 2 MiB


def parse_chunker(chunker: str | None) -> int | None:
    """``size-N`` (Kubo's fixed-size chunker) to N; None passes through."""
    if chunker is None or chunker == "":
        return None
    if chunker == "default":
        return 262144
    if chunker.startswith("size-"):
        try:
            n = int(chunker[5:])
        except ValueError:
            raise InvalidArgument(f"invalid chunker {chunker!r}: size must be an integer") from None
        if not 0 < n <= MAX_CHUNK_SIZE:
            raise InvalidArgument(f"chunker size must be between 1 and {MAX_CHUNK_SIZE} bytes")
        return n
    raise InvalidArgument(f"unsupported chunker {chunker!r}: only size-N is supported")


def resolve_profile(
    profile: str | None = None,
    *,
    cid_version: int | None = None,
    raw_leaves: bool | None = None,
    chunker: str | None = None,
) -> Profile:
    """A named profile adjusted by Kubo's flags, with Kubo's rule that
    ``--cid-version=1`` implies raw leaves unless ``--raw-leaves=false`` is given."""
    base = PROFILES.get(profile or "v0")
    if base is None:
        raise InvalidArgument(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    version = base.cid_version if cid_version is None else cid_version
    if version not in (0, 1):
        raise InvalidArgument(f"unsupported CID version {version}")
    raw = base.raw_leaves if raw_leaves is None else raw_leaves
    if raw_leaves is None and cid_version == 1 and base.cid_version == 0:
        raw = True
    if version == 0 and raw:
        version = 1  # Kubo: raw leaves cannot be addressed by CIDv0, so the root becomes v1
    size = parse_chunker(chunker) or base.chunk_size
    knobs = (version, raw, size, base.max_links, base.shard_by)
    for named in (base, *PROFILES.values()):
        if (named.cid_version, named.raw_leaves, named.chunk_size, named.max_links, named.shard_by) == knobs:
            return named
    return Profile("custom", *knobs)
