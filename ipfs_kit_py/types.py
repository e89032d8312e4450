"""Typed results of the operations (and ``AddOptions``, the options of add), shared by the
server's registry and every client; this module imports no server code.

The registry returns them (and /ws and libp2p mcp send them as JSON objects with
these field names); the HTTP client builds them from Kubo's JSON answers
(``from_kubo``), the local backend from the model's objects, so the CLI and
``IPFSSimpleAPI`` print and return one set of types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .content.metadata import Metadata
from .content.profiles import Profile, resolve_profile

__all__ = [
    "UNIXFS_TYPES",
    "AddOptions",
    "Added",
    "Attempt",
    "BlockStat",
    "CarImport",
    "Libp2pTransfer",
    "LsEntry",
    "Metadata",
    "NodeId",
    "Pin",
    "Progress",
    "RepoStat",
    "Stat",
    "TransferReport",
    "VerifyResult",
    "VersionInfo",
    "metadata_from_dict",
]

Progress = Callable[[int], None]
"""Called with the cumulative number of content bytes processed so far."""

# UnixFS type numbers as Kubo's ``ls`` reports them
UNIXFS_TYPES = {0: "raw", 1: "directory", 2: "file", 3: "metadata", 4: "symlink", 5: "directory"}


@dataclass(frozen=True, slots=True)
class AddOptions:
    """The flags of ``ipfs add`` (None: the repo's default profile decides)."""

    profile: str | None = None
    cid_version: int | None = None
    raw_leaves: bool | None = None
    chunker: str | None = None
    pin: bool = True
    only_hash: bool = False
    wrap_with_directory: bool = False
    recursive: bool = False
    hidden: bool = False

    def resolve(self, default_profile: str) -> Profile:
        return resolve_profile(
            self.profile or default_profile,
            cid_version=self.cid_version,
            raw_leaves=self.raw_leaves,
            chunker=self.chunker,
        )


@dataclass(frozen=True, slots=True)
class Added:
    """One line of ``add``: a file or directory and its CID. ``size`` is Kubo's
    ``Size`` (the cumulative size of the DAG, not the file's byte count)."""

    name: str
    cid: str
    size: int

    @classmethod
    def from_kubo(cls, d: dict[str, Any]) -> Added:
        return cls(d.get("Name", ""), d["Hash"], int(d.get("Size") or 0))


@dataclass(frozen=True, slots=True)
class LsEntry:
    name: str
    cid: str
    size: int
    type: str  # file, directory, symlink
    target: str = ""

    @property
    def is_dir(self) -> bool:
        return self.type == "directory"

    @classmethod
    def from_kubo(cls, d: dict[str, Any]) -> LsEntry:
        t = d.get("Type", 2)
        return cls(d.get("Name", ""), d["Hash"], int(d.get("Size") or 0),
                   UNIXFS_TYPES.get(t, "file") if isinstance(t, int) else str(t).lower(), d.get("Target") or "")


@dataclass(frozen=True, slots=True)
class Stat:
    cid: str
    type: str  # file, directory, symlink
    size: int  # file bytes (0 for directories)
    cumulative_size: int  # bytes of every block of the DAG
    blocks: int  # links of the root node

    @classmethod
    def from_kubo(cls, d: dict[str, Any]) -> Stat:
        return cls(d["Hash"], d.get("Type", "file"), int(d.get("Size") or 0),
                   int(d.get("CumulativeSize") or 0), int(d.get("Blocks") or 0))


@dataclass(frozen=True, slots=True)
class Pin:
    cid: str
    type: str  # recursive, direct, indirect
    name: str = ""  # the pin's name (pin add --name), listed with pin ls --names


@dataclass(frozen=True, slots=True)
class BlockStat:
    cid: str
    size: int

    @classmethod
    def from_kubo(cls, d: dict[str, Any]) -> BlockStat:
        return cls(d["Key"], int(d["Size"]))


@dataclass(frozen=True, slots=True)
class CarImport:
    roots: list[str]
    blocks: int | None = None  # None when the server did not report stats
    pin_errors: dict[str, str] = field(default_factory=dict)  # root -> Kubo's PinErrorMsg


@dataclass(frozen=True, slots=True)
class RepoStat:
    num_objects: int
    repo_size: int
    repo_path: str
    version: str
    storage_max: int = 0

    @classmethod
    def from_kubo(cls, d: dict[str, Any]) -> RepoStat:
        return cls(int(d.get("NumObjects") or 0), int(d.get("RepoSize") or 0), str(d.get("RepoPath") or ""),
                   str(d.get("Version") or ""), int(d.get("StorageMax") or 0))


@dataclass(frozen=True, slots=True)
class VerifyResult:
    checked: int
    corrupt: list[str]
    incomplete: list[str] = field(default_factory=list)  # pinned CIDs with a block missing under them

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.incomplete


@dataclass(frozen=True, slots=True)
class NodeId:
    id: str
    public_key: str = ""
    addresses: list[str] = field(default_factory=list)
    agent_version: str = ""
    protocols: list[str] = field(default_factory=list)

    @classmethod
    def from_kubo(cls, d: dict[str, Any]) -> NodeId:
        return cls(d.get("ID") or "", d.get("PublicKey") or "", list(d.get("Addresses") or []),
                   d.get("AgentVersion") or "", list(d.get("Protocols") or []))

    def to_kubo(self) -> dict[str, Any]:
        return {"ID": self.id, "PublicKey": self.public_key, "Addresses": self.addresses,
                "AgentVersion": self.agent_version, "Protocols": self.protocols}


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: str
    commit: str = ""
    repo: str = ""
    system: str = ""

    @classmethod
    def from_kubo(cls, d: dict[str, Any]) -> VersionInfo:
        return cls(d.get("Version", ""), d.get("Commit", ""), str(d.get("Repo", "")), d.get("System", ""))


def metadata_from_dict(d: dict[str, Any]) -> Metadata:
    """Metadata as the server sends it (the fields of ``Metadata.to_dict``)."""
    return Metadata(
        cid=d.get("cid") or d.get("Cid") or "",
        name=d.get("name"),
        size=d.get("size"),
        content_type=d.get("content_type"),
        added=d.get("added"),
        user=dict(d.get("user") or {}),
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    """One channel's try at a transfer."""

    channel: str  # libp2p | websocket | http
    ok: bool
    seconds: float
    error: str = ""


@dataclass(frozen=True, slots=True)
class TransferReport:
    """The result of ``transfer_content``: which channel carried the content, and every try."""

    transfer_id: str
    cid: str
    channel: str
    attempts: list[Attempt]
    bytes: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TransferReport:
        return cls(d["transfer_id"], d["cid"], d["channel"], [Attempt(**a) for a in d["attempts"]], d.get("bytes", 0))


@dataclass(frozen=True, slots=True)
class Libp2pTransfer:
    """The result of ``transfer_via_libp2p``."""

    cid: str
    peer: str
    blocks: int
    bytes: int
    transfer_id: str
    pinned: bool

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Libp2pTransfer:
        return cls(d["cid"], d["peer"], int(d.get("blocks", 0)), int(d.get("bytes", 0)), d.get("transfer_id", ""),
                   bool(d.get("pinned", False)))
