"""Alias of :mod:`ipfs_kit_py.server.guard` (the server package's seed name; see ``ipfs_kit_py.mcp``)."""

import sys

from ipfs_kit_py.server import guard as _module

sys.modules[__name__] = _module
