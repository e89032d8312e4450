"""The result types, from the neutral module both the server and the clients import
(``ipfs_kit_py.types``); this path stays for the clients' existing imports."""

from ..types import *  # noqa: F403
from ..types import __all__  # noqa: F401
