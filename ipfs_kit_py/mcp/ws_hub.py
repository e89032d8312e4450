"""Alias of :mod:`ipfs_kit_py.server.ws_hub` (the server package's seed name; see ``ipfs_kit_py.mcp``)."""

import sys

from ipfs_kit_py.server import ws_hub as _module

sys.modules[__name__] = _module
