"""Kubo-compatible RPC API under /api/v0 (placeholder: version only, filled in by the HTTP work)."""

from __future__ import annotations

from fastapi import FastAPI

from .. import __version__
from ..node import Node


def register(app: FastAPI, node: Node) -> None:
    @app.post("/api/v0/version")
    async def version() -> dict[str, str]:
        return {"Version": __version__, "Commit": "", "Repo": "1", "System": "python", "Golang": ""}
