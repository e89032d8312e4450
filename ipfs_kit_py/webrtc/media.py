"""Media tracks that play IPFS content: demux with PyAV straight from the DAG reader.

``IPFSMediaStreamTrack`` is an aiortc ``MediaStreamTrack`` (video or audio). A
worker thread per track opens the content through the seekable UnixFS reader
(no temp files, no whole-file reads), demuxes, and decodes/encodes off the
event loop; ``recv()`` takes the next item from a bounded queue and paces it by
its timestamp against a clock shared by the tracks of one session.

Video leaves the track in one of three forms:
- passthrough: stored H.264 without B-frames, sent as ``av.Packet`` after the
  ``h264_mp4toannexb`` filter (no re-encoding, about a tenth of the CPU);
- transcode: decoded and re-encoded by the track's own libx264 encoder at the
  bitrate the controller chose, also as ``av.Packet`` (so REMB cannot override
  it: aiortc only packetizes packets);
- frames: decoded ``av.VideoFrame`` for aiortc's own encoder (a peer that did
  not negotiate H.264, e.g. VP8 only).
Passthrough and transcode switch at the next source keyframe when the target
bitrate crosses the source's bitrate.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fractions
import io
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..errors import NotMedia
from ..sframe import PackageInfo

MediaFile = IO[bytes] | io.RawIOBase  # what av.open reads here: an open file, a UnixFSReader

log = logging.getLogger(__name__)

PASSTHROUGH, TRANSCODE, FRAMES = "passthrough", "transcode", "frames"
QUEUE_ITEMS = 32  # per track: about one second of video decoded or demuxed ahead
AUDIO_RATE = 48000
VIDEO_CLOCK = 90000  # output video timestamps: the RTP clock, whatever the source's time base
VIDEO_TB = fractions.Fraction(1, VIDEO_CLOCK)


@dataclass(frozen=True)
class Rendition:
    """Another stored encoding of the same video: its CID and bits/s (None: the content itself)."""

    cid: str | None
    bitrate: int


@dataclass
class MediaInfo:
    format: str
    duration: float | None
    video_codec: str | None = None
    width: int = 0
    height: int = 0
    fps: float = 0.0
    video_bitrate: int = 0  # bits/s of the stored video (estimated from size/duration when unknown)
    b_frames: bool = False
    audio_codec: str | None = None
    sample_rate: int = 0
    encryption: dict[str, Any] | None = None  # an SFrame package (sframe.PackageInfo): passthrough only

    @property
    def passthrough(self) -> bool:
        """True when stored video can be sent as-is over H.264 RTP."""
        return self.video_codec == "h264" and not self.b_frames

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format, "duration": self.duration, "video_codec": self.video_codec,
            "width": self.width, "height": self.height, "fps": self.fps,
            "video_bitrate": self.video_bitrate, "b_frames": self.b_frames,
            "audio_codec": self.audio_codec, "sample_rate": self.sample_rate,
            "passthrough": self.passthrough, "encryption": self.encryption,
        }


def probe(reader: MediaFile, size: int | None = None) -> MediaInfo:
    """Describe the media in ``reader``; raises ``NotMedia`` for anything else (blocking)."""
    try:
        container = av.open(reader, mode="r")
    except (av.error.FFmpegError, ValueError) as e:
        raise NotMedia(f"content is not audio or video: {e}") from None
    try:
        v = container.streams.video[0] if container.streams.video else None
        a = container.streams.audio[0] if container.streams.audio else None
        if v is None and a is None:
            raise NotMedia("content has no audio or video stream")
        duration = container.duration / av.time_base if container.duration else None
        info = MediaInfo(format=container.format.name, duration=duration)
        package = PackageInfo.from_tag(container.metadata.get("comment"))
        if package is not None:
            info.encryption = package.to_dict()
        if v is not None:
            cc = v.codec_context
            info.video_codec = cc.name
            info.width, info.height = cc.width, cc.height
            info.fps = float(v.average_rate or v.guessed_rate or 30)
            info.b_frames = bool(cc.has_b_frames) or (cc.profile or "").lower() not in (
                "baseline", "constrained baseline", "")
            info.video_bitrate = int(cc.bit_rate or 0) or (
                int(size * 8 / duration) if size and duration else 0)
            if not info.width or not info.height:
                raise NotMedia("video stream has no picture size")
        if a is not None:
            info.audio_codec = a.codec_context.name
            info.sample_rate = a.codec_context.sample_rate
        return info
    finally:
        container.close()


def keyframe_before(reader: MediaFile, t: float) -> float:
    """Time of the video keyframe at or before ``t`` (where playback from ``t`` really starts,
    so that audio can start there too); ``t`` when there is no video (blocking)."""
    with av.open(reader, mode="r") as container:
        if not container.streams.video:
            return t
        v = container.streams.video[0]
        tb = v.time_base
        if tb is None:  # a demuxed stream always has one
            return t
        container.seek(int(t / tb), stream=v, backward=True)
        for packet in container.demux(v):
            if packet.pts is not None and packet.is_keyframe:
                return min(t, float(packet.pts * tb))
    return t


class SessionClock:
    """Wall-clock pacing shared by the tracks of one stream: media time t is sent at start + t.
    ``pause()`` holds every track on it; ``resume()`` shifts ``start`` by the time paused."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.paused_at: float | None = None
        self._resumed: asyncio.Event | None = None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def pause(self) -> None:
        if self.paused_at is None:
            self.paused_at = asyncio.get_running_loop().time()
            self._resumed = asyncio.Event()

    def resume(self) -> None:
        if self.paused_at is not None:
            if self.start is not None:
                self.start += asyncio.get_running_loop().time() - self.paused_at
            self.paused_at = None
            if self._resumed is not None:
                self._resumed.set()

    async def wait(self, t: float) -> None:
        loop = asyncio.get_running_loop()
        while self._resumed is not None and self.paused_at is not None:
            await self._resumed.wait()
        if self.start is None:
            self.start = loop.time() - t
        delay = self.start + t - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


_EOF = object()
_RESTART = object()


class IPFSMediaStreamTrack(MediaStreamTrack):
    """Video or audio of one IPFS file, paced in real time.

    ``open_reader(None)`` returns a fresh seekable file object over the content,
    ``open_reader(cid)`` one over a stored rendition of it
    (``lambda c=None: model.open(c or cid)``). ``renditions`` are other
    encodings of the same video (H.264 without B-frames, same timeline) that
    passthrough switches to, at a keyframe, when the target bitrate falls.
    ``output`` is decided after negotiation: ``packets`` (H.264 negotiated:
    passthrough or own encoder) or ``frames``.
    """

    def __init__(self, kind: str, open_reader: Callable[[str | None], MediaFile], info: MediaInfo,
                 clock: SessionClock | None = None, *, start: float = 0.0, loop: bool = False,
                 target_bitrate: int | None = None, allow_passthrough: bool = True,
                 renditions: list[Rendition] | None = None) -> None:
        super().__init__()
        if kind not in ("video", "audio"):
            raise ValueError("kind must be video or audio")
        self.kind = kind
        self.info = info
        self.open_reader = open_reader
        self.clock = clock or SessionClock()
        self.start_at = max(0.0, float(start))
        self.loop = loop
        self.output = "packets"  # or "frames"; set before the first recv()
        self.allow_passthrough = allow_passthrough and info.passthrough
        # the bitrate the controller wants; None: the source's (passthrough when allowed)
        self.target_bitrate = target_bitrate
        self.mode: str | None = None  # current video mode, changes at keyframes
        # passthrough sources, lowest bitrate first; None is the content itself
        self.renditions = sorted([*(renditions or []), Rendition(None, info.video_bitrate)], key=lambda r: r.bitrate)
        self.rendition: str | None = None  # the one being sent
        self.frames_sent = 0
        self.first_frame_at: float | None = None
        self.error: BaseException | None = None
        self._queue: asyncio.Queue[Any] | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._local = threading.local()
        self.time_offset = 0.0  # output seconds where the current worker's media starts
        self.source_time: float | None = None  # source seconds of the last item the worker queued
        self.last_time = -1.0  # output seconds of the last item sent

    # -- the aiortc side ----------------------------------------------------------------
    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        if self._queue is None:
            self._queue = asyncio.Queue(QUEUE_ITEMS)
            loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._run, args=(loop, self._queue, self._stopping), daemon=True,
                                            name=f"ipfs-{self.kind}-{self.id[:8]}")
            self._thread.start()
        queue = self._queue
        item = await queue.get()
        if queue is not self._queue:  # a seek replaced the worker meanwhile
            return await self.recv()
        if item is _EOF:
            self.stop()
            raise MediaStreamError
        t = float(item.pts * item.time_base)
        await self.clock.wait(t)
        self.last_time = max(self.last_time, t)
        self.frames_sent += 1
        if self.first_frame_at is None:
            self.first_frame_at = time.monotonic()
        return item

    def stop(self) -> None:
        self._stopping.set()
        super().stop()

    def seek(self, position: float) -> None:
        """Continue from ``position`` (source seconds; video from the keyframe at or before it).
        Output timestamps keep increasing: the new worker's media starts just after the last sent."""
        if self.readyState != "live":
            return
        self._stopping.set()  # the current worker ends at its next step
        self._stopping = threading.Event()
        old, self._queue = self._queue, None  # the next recv() starts a worker here
        if old is not None and not old.full():
            old.put_nowait(_RESTART)  # wakes a recv() waiting on the old worker
        self.start_at = max(0.0, float(position))
        step = 1 / (self.info.fps or 30) if self.kind == "video" else 0.02
        self.time_offset = max(self.time_offset, self.last_time + step)

    def desired(self) -> tuple[str, str | None]:
        """(mode, rendition CID or None for the content itself) for the current target."""
        if self.output == "frames":
            return FRAMES, None
        if not self.allow_passthrough:
            return TRANSCODE, None
        target = self.target_bitrate
        if target is None or target >= self.info.video_bitrate * 0.9:
            return PASSTHROUGH, None
        fitting = [r for r in self.renditions if r.bitrate <= target * 1.1]
        if fitting:
            return PASSTHROUGH, fitting[-1].cid
        if len(self.renditions) > 1:  # below every rendition: the smallest one
            return PASSTHROUGH, self.renditions[0].cid
        return TRANSCODE, None

    def desired_mode(self) -> str:
        return self.desired()[0]

    def stats(self) -> dict[str, Any]:
        return {"kind": self.kind, "mode": self.mode, "rendition": self.rendition, "frames_sent": self.frames_sent,
                "source_time": self.source_time,
                "target_bitrate": self.target_bitrate, "source_bitrate": self.info.video_bitrate}

    # -- the worker thread ----------------------------------------------------------------
    def _put(self, loop: asyncio.AbstractEventLoop, item: Any) -> bool:
        """Block until the queue takes ``item``; False when the track stopped meanwhile."""
        fut = asyncio.run_coroutine_threadsafe(self._local.queue.put(item), loop)
        while True:
            try:
                fut.result(0.25)
                return True
            except concurrent.futures.TimeoutError:
                if self._local.stop.is_set() or loop.is_closed():
                    fut.cancel()
                    return False
            except (concurrent.futures.CancelledError, RuntimeError):
                return False

    def _run(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any], stop: threading.Event) -> None:
        # this worker's own queue and stop flag: a seek starts another worker with new ones
        self._local.queue, self._local.stop = queue, stop
        try:
            if self.kind == "video":
                self._run_video(loop)
            else:
                self._run_audio(loop)
        except Exception as e:  # a broken file ends the track; the session reports it
            log.warning("%s track of %s failed: %s", self.kind, self.id, e)
            self.error = e
        if not self._local.stop.is_set():
            self._put(loop, _EOF)

    def _open(self, kind: str, rendition: str | None = None, at: float | None = None) -> tuple[Any, Any]:
        container = av.open(self.open_reader(rendition), mode="r")
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        stream.codec_context.thread_type = "SLICE"  # frame threading would delay every decoded frame
        if at and stream.time_base is not None:  # a demuxed stream always has a time base
            container.seek(int(at / stream.time_base), stream=stream, backward=True)
        return container, stream

    def _run_video(self, loop: asyncio.AbstractEventLoop) -> None:
        """Demux the current source; at a keyframe where the wanted source changes (another
        rendition), reopen at that time. Output timestamps are seconds on one timeline
        (in 1/90000), so switching and looping never move them backwards."""
        resume: float | None = self.start_at or None  # source time to continue from
        exact = False  # True after a switch: start at the first keyframe at or after ``resume``
        base: float | None = None  # source time that became output time 0
        offset = self.time_offset  # output seconds added (per loop, and after a seek)
        end = 0.0  # output end time so far
        encoder: Encoder | None = None
        while not self._local.stop.is_set():
            mode, source = self.desired()
            if mode != PASSTHROUGH:
                source = None  # decoding always starts from the content itself
            container, stream = self._open("video", source, resume)
            self.rendition = source
            tb = stream.time_base
            bsf = av.BitStreamFilterContext("h264_mp4toannexb", stream) if source or self.info.passthrough else None
            started, switch_at = False, None
            try:
                for packet in container.demux(stream):
                    if self._local.stop.is_set():
                        return
                    if packet.pts is None or packet.size == 0:
                        continue
                    t = float(packet.pts * tb)
                    if not started:
                        if not packet.is_keyframe or (exact and resume is not None and t < resume - 0.02):
                            continue
                        started = True
                        if base is None:
                            base = t
                    if packet.is_keyframe:
                        want_mode, want_source = self.desired()
                        if (want_source if want_mode == PASSTHROUGH else None) != source:
                            switch_at = t  # another source from this keyframe on
                            break
                        self.mode = want_mode
                    assert base is not None
                    self.source_time = t
                    out_t = t - base + offset
                    end = max(end, out_t + float((packet.duration or 0) * tb))
                    out: list[Any] = []
                    if self.mode == PASSTHROUGH and bsf is not None:
                        for p in bsf.filter(packet):
                            p.pts = p.dts = round(out_t * VIDEO_CLOCK)
                            p.time_base = VIDEO_TB
                            out.append(p)
                    else:
                        for frame in packet.decode():
                            ft = float(frame.pts * tb) - base + offset if frame.pts is not None else out_t
                            frame.pts = round(ft * VIDEO_CLOCK)
                            frame.time_base = VIDEO_TB
                            if self.mode == FRAMES:
                                out.append(frame)
                                continue
                            bitrate = self.target_bitrate or self.info.video_bitrate or 1_000_000
                            if encoder is None or not encoder.matches(frame, bitrate):
                                encoder = Encoder(frame, bitrate, VIDEO_TB, self.info.fps)
                            for p in encoder.encode(frame):
                                p.time_base = VIDEO_TB
                                out.append(p)
                    for item in out:
                        if not self._put(loop, item):
                            return
            finally:
                container.close()
            if switch_at is not None:
                resume, exact = switch_at, True
                continue
            if not self.loop:
                return
            resume, exact, base, offset = None, False, None, end

    def _run_audio(self, loop: asyncio.AbstractEventLoop) -> None:
        container, stream = self._open("audio", None, self.start_at)
        skip_until = self.start_at  # first pass only
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE)
        rate_tb = fractions.Fraction(1, AUDIO_RATE)
        offset = round(self.time_offset * AUDIO_RATE)  # samples, when looping or after a seek
        sent = 0
        try:
            while not self._local.stop.is_set():
                for frame in container.decode(stream):
                    if self._local.stop.is_set():
                        return
                    t = float(frame.pts * frame.time_base) if frame.pts is not None else None
                    if t is not None and t < skip_until:
                        continue
                    self.source_time = t
                    for out in resampler.resample(frame):
                        out.pts = offset + sent
                        out.time_base = rate_tb
                        sent += out.samples
                        if not self._put(loop, out):
                            return
                if not self.loop:
                    return
                container.seek(0, stream=stream)
                offset, sent, skip_until = offset + sent, 0, 0.0
        finally:
            container.close()


class Encoder:
    """The track's own H.264 encoder (baseline, no B-frames, one keyframe a second)."""

    def __init__(self, frame: av.VideoFrame, bitrate: int, time_base: fractions.Fraction, fps: float) -> None:
        self.width, self.height, self.bitrate = frame.width, frame.height, bitrate
        cc = av.CodecContext.create("libx264", "w")
        cc.width, cc.height = frame.width, frame.height
        cc.pix_fmt = "yuv420p"
        cc.time_base = time_base
        cc.framerate = fractions.Fraction(round(fps or 30), 1)
        cc.bit_rate = bitrate
        cc.gop_size = max(1, round(fps or 30))
        cc.max_b_frames = 0
        cc.profile = "Baseline"
        cc.options = {"tune": "zerolatency", "preset": "veryfast", "level": "31",
                      "x264-params": f"vbv-maxrate={bitrate // 1000}:vbv-bufsize={bitrate // 2000}"}
        self.cc = cc

    def matches(self, frame: av.VideoFrame, bitrate: int) -> bool:
        # a new bitrate reopens the encoder, which starts with a keyframe
        return frame.width == self.width and frame.height == self.height and bitrate == self.bitrate

    def encode(self, frame: av.VideoFrame) -> list[av.Packet[Any]]:
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        return list(self.cc.encode(frame))
