"""Alias of :mod:`ipfs_kit_py.server.http_api` (the server package's seed name; see ``ipfs_kit_py.mcp``)."""

import sys

from ipfs_kit_py.server import http_api as _module

sys.modules[__name__] = _module
