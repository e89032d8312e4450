"""The server: every HTTP route (Kubo's ``/api/v0`` generated from the operation
registry, the path gateway), the WebSocket hub, the access guard in front of
them, and the uvicorn runner (``server.py``). The seed called this package
``ipfs_kit_py.mcp`` (Model-Controller-Persistence); that name stays as an alias.
Not to be confused with the libp2p protocol ``/ipfs-kit/mcp/1.0.0``
(``p2p/mcp_protocol.py``) or the Model Context Protocol at ``/mcp``.
The app is composed in :mod:`ipfs_kit_py.app`.
"""
