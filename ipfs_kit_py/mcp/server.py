"""``python -m ipfs_kit_py.mcp.server``: the seed's command, an alias of
:mod:`ipfs_kit_py.server.server` (the server package's seed name; see ``ipfs_kit_py.mcp``)."""

import sys

from ipfs_kit_py.server import server as _module

if __name__ == "__main__":
    sys.exit(_module.main())
sys.modules[__name__] = _module
