"""Content and peer routing, and providing.

- ``delegated``: the Delegated Routing V1 HTTP API's rules as plain functions
  (filters, content negotiation, peer IDs, cache headers); no I/O.
- ``api``: :class:`~ipfs_kit_py.routing.api.RoutingAPI`, the node's routing
  operations as plain async functions (find providers, find a peer, provide,
  DHT values, provide stats) over the local store and the DHT.
- ``reprovider``: re-announces what this node provides on an interval.
- ``http_server``: ``/routing/v1`` (public, CORS) over ``api``.
- ``kubo_rpc``: ``/api/v0/routing/*``, the legacy ``/api/v0/dht/*`` and
  ``/api/v0/provide/stat`` over ``api``.
"""
