"""Alias of :mod:`ipfs_kit_py.server.rpc_wire` (the server package's seed name; see ``ipfs_kit_py.mcp``)."""

import sys

from ipfs_kit_py.server import rpc_wire as _module

sys.modules[__name__] = _module
