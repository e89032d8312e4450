"""The seed's WebSocket notification client, as written, plus a bounded main.

    python examples/connect_to_notifications.py localhost:8000 [--count 3] [--timeout 30]

Prints every notification until ``--count`` have arrived (add some content to
the node meanwhile: ``ipfs-kit add FILE``).
"""

import argparse
import asyncio
import json

import websockets

COUNT = 3


async def connect_to_notifications(mcp_url):
    async with websockets.connect(f"ws://{mcp_url}/ws/notifications") as websocket:
        # Subscribe to specific notification types
        await websocket.send(json.dumps({
            "action": "subscribe",
            "notification_types": ["content_added", "content_removed", "transfer_progress"]
        }))

        # Receive notifications
        received = 0
        async for message in websocket:
            notification = json.loads(message)
            print(f"Received notification: {notification['type']}", flush=True)
            # Process notification...
            if notification["type"] in ("content_added", "content_removed", "transfer_progress"):
                received += 1
                if received >= COUNT:
                    return


def main() -> None:
    global COUNT
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mcp_url", nargs="?", default="localhost:8000", help="host:port of the server")
    ap.add_argument("--count", type=int, default=3, help="stop after this many events")
    ap.add_argument("--timeout", type=float, default=30.0, help="give up after this many seconds")
    args = ap.parse_args()
    COUNT = args.count
    asyncio.run(asyncio.wait_for(connect_to_notifications(args.mcp_url), args.timeout))


if __name__ == "__main__":
    main()
