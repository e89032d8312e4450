"""The metadata record of a CID (what ``metadata get`` answers): stored by the index,
returned by the model and by every client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Metadata:
    cid: str
    name: str | None = None
    size: int | None = None
    content_type: str | None = None
    added: float | None = None
    user: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cid": self.cid,
            "name": self.name,
            "size": self.size,
            "content_type": self.content_type,
            "added": self.added,
            "user": dict(self.user),
        }
