"""The seed's WebRTC client, as written, completed to receive and decode frames.

    python examples/connect_to_mcp_webrtc.py localhost:8000 CID [--frames 30]

The server offers; this client answers and prints the decoded video frames.
ICE gathers only on the addresses in IPFS_KIT_WEBRTC_ICE_HOSTS (e.g. 127.0.0.1).
"""

import argparse
import asyncio
import json

import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription

from ipfs_kit_py import ice

FRAMES = 30


async def connect_to_mcp_webrtc(mcp_url, cid):
    # Create WebSocket connection for signaling
    async with websockets.connect(f"ws://{mcp_url}/webrtc") as websocket:
        # Request an offer for the specified content
        await websocket.send(json.dumps({
            "type": "offer_request",
            "cid": cid
        }))

        # Receive the offer
        response = json.loads(await websocket.recv())
        if response["type"] == "offer":
            # Process the WebRTC offer...
            sdp = response["sdp"]
            pc_id = response["pc_id"]

            # Create and initialize local peer connection
            pc = RTCPeerConnection()

            # Set the remote description (server's offer)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))

            # Create an answer
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)

            # Send the answer back
            await websocket.send(json.dumps({
                "type": "answer",
                "pc_id": pc_id,
                "sdp": pc.localDescription.sdp
            }))

            # Connection established, media will flow automatically
            track = next(t.receiver.track for t in pc.getTransceivers() if t.kind == "video")
            for _ in range(FRAMES):
                frame = await track.recv()
                print(f"frame {frame.width}x{frame.height} pts={frame.pts}", flush=True)
            await pc.close()
        else:
            print(f"server answered: {response}")
            raise SystemExit(1)


def main() -> None:
    global FRAMES
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mcp_url", help="host:port of the server")
    ap.add_argument("cid", help="CID of a video stored on the server")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    FRAMES = args.frames
    ice.apply_settings()  # loopback-only ICE when IPFS_KIT_WEBRTC_ICE_HOSTS says so
    asyncio.run(asyncio.wait_for(connect_to_mcp_webrtc(args.mcp_url, args.cid), args.timeout))


if __name__ == "__main__":
    main()
