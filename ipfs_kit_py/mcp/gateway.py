"""Alias of :mod:`ipfs_kit_py.server.gateway` (the server package's seed name; see ``ipfs_kit_py.mcp``)."""

import sys

from ipfs_kit_py.server import gateway as _module

sys.modules[__name__] = _module
