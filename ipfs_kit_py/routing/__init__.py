"""Content and peer routing, and providing.

- ``delegated``: the Delegated Routing V1 HTTP API's rules as plain functions
  (filters, content negotiation, peer IDs, cache headers); no I/O.
- ``api``: :class:`~ipfs_kit_py.routing.api.RoutingAPI`, the node's routing
  operations as plain async functions (find providers, find a peer, provide,
  DHT values, provide stats) over the local store and the DHT.
- ``reprovider``: re-announces what this node provides on an interval.
- ``http_server``: ``/routing/v1`` (public, CORS) over ``api``.

Kubo's ``/api/v0/routing/*`` (with the legacy ``dht/*`` aliases) and
``provide/stat`` are registry operations over ``api``: ``ipfs_kit_py/ops/routing.py``.
"""
