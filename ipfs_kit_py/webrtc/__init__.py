"""WebRTC channel: stream media stored as IPFS content to browsers and Python.

- ``signaling``: WebSocket routes ``/ws/webrtc`` and ``/webrtc``, the player page
- ``messages``: signaling messages parsed into typed requests at the boundary
- ``manager``: ``WebRTCStreamingManager`` (sessions, limits, timeouts, teardown)
- ``session``: ``Session`` and its state machine (``SessionState``), ``StreamOptions``
- ``negotiation``: SDP (transceivers, codec preference, the agreed codec, ICE candidates)
- ``control``: the bitrate loop (receiver report -> controller -> track)
- ``stats``: receiver reports, REMB, the ``stats`` reply
- ``media``: ``IPFSMediaStreamTrack`` (video/audio from the DAG reader; passthrough or transcode)
- ``bitrate``: ``AdaptiveBitrateController`` (pure decision logic)
- ``datachannel``: content of a CID as a verified CAR stream over an RTCDataChannel
- ``ice``: ICE host addresses and servers from settings, per peer connection
"""

from .bitrate import AdaptiveBitrateController, NetworkReport
from .manager import WebRTCStreamingManager
from .media import IPFSMediaStreamTrack, MediaInfo, NotMedia, probe
from .session import SessionState, StreamOptions

__all__ = ["AdaptiveBitrateController", "IPFSMediaStreamTrack", "MediaInfo", "NetworkReport", "NotMedia",
           "SessionState", "StreamOptions", "WebRTCStreamingManager", "probe"]
