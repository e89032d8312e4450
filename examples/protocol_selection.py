"""The seed's ``select_protocol``: which channel carries which content.

    python examples/protocol_selection.py
"""

from ipfs_kit_py.client.selection import select_protocol

CASES = [
    ("video/mp4", 50 * 1024 * 1024, "normal"),
    ("audio/ogg", 3 * 1024 * 1024, "high"),
    ("application/json", 2048, "high"),
    ("application/json", 2048, "normal"),
    ("application/octet-stream", 500 * 1024 * 1024, "high"),
]

if __name__ == "__main__":
    for content_type, size, priority in CASES:
        print(f"{content_type:26} {size:>11} bytes  {priority:6} -> {select_protocol(content_type, size, priority)}")
