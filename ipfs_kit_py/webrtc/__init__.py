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
- ``datachannel``: the sending side of content over an RTCDataChannel (a CID as a CAR stream)

Shared with the Python client, outside this package: ``ipfs_kit_py.ice`` (ICE host
addresses and servers from settings, per peer connection) and ``ipfs_kit_py.car_channel``
(the data-channel protocol and its verifying receiver).
"""

from ..errors import NotMedia
from .bitrate import AdaptiveBitrateController, NetworkReport
from .manager import WebRTCStreamingManager
from .media import IPFSMediaStreamTrack, MediaInfo, probe
from .session import SessionState, StreamOptions

__all__ = ["AdaptiveBitrateController", "IPFSMediaStreamTrack", "MediaInfo", "NetworkReport", "NotMedia",
           "SessionState", "StreamOptions", "WebRTCStreamingManager", "probe"]
