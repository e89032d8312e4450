"""Route helpers shared by the HTTP surfaces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI


def get_and_head(app: FastAPI, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
    """Serve `endpoint` for GET and HEAD. One route per method, and only GET in the OpenAPI
    schema: a route with both methods gives both the same operationId, which OpenAPI forbids."""
    app.add_api_route(path, endpoint, methods=["GET"], **kwargs)
    app.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False, **kwargs)
