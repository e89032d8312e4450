import sys

from ipfs_kit_py.server.server import main

sys.exit(main())
