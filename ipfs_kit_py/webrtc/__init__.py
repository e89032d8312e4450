"""WebRTC channel: stream media stored as IPFS content to browsers and Python.

- ``signaling``: WebSocket routes ``/ws/webrtc`` and ``/webrtc``, the player page
- ``manager``: ``WebRTCStreamingManager`` (sessions, limits, timeouts, teardown)
- ``media``: ``IPFSMediaStreamTrack`` (video/audio from the DAG reader; passthrough or transcode)
- ``bitrate``: ``AdaptiveBitrateController`` (pure decision logic)
- ``datachannel``: content of a CID as a verified CAR stream over an RTCDataChannel
- ``ice``: ICE host addresses and servers from settings
"""

from .bitrate import AdaptiveBitrateController, NetworkReport
from .manager import StreamOptions, WebRTCStreamingManager
from .media import IPFSMediaStreamTrack, MediaInfo, NotMedia, probe

__all__ = ["AdaptiveBitrateController", "IPFSMediaStreamTrack", "MediaInfo", "NetworkReport", "NotMedia",
           "StreamOptions", "WebRTCStreamingManager", "probe"]
