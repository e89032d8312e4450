"""Alias of :mod:`ipfs_kit_py.server.uploads` (the server package's seed name; see ``ipfs_kit_py.mcp``)."""

import sys

from ipfs_kit_py.server import uploads as _module

sys.modules[__name__] = _module
