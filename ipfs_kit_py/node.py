"""Node: the running pieces of one server, wired together.

Holds the settings, repo, event bus and model, and the optional channel
services (WebSocket hub, WebRTC manager, libp2p peer). Controllers receive
the node; the model never sees it.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from .config import Settings
from .events import EventBus, set_event_bus
from .model import IPFSModel
from .repo import Repo

log = logging.getLogger(__name__)

SEQ_STATE_KEY = "events.last_seq"
SEQ_RESERVED_KEY = "events.seq_reserved"
REPLAY_STATE_KEY = "events.replay"


class Node:
    def __init__(self, repo_path: str | Path | None = None, settings: Settings | None = None) -> None:
        self.repo = Repo(repo_path, settings)
        self.settings = self.repo.settings if settings is None else settings
        index = self.repo.index
        last = int(index.get_state(SEQ_STATE_KEY) or 0)
        reserved = int(index.get_state(SEQ_RESERVED_KEY) or 0)
        # continue the previous run's sequence so resuming clients never see numbers reused,
        # even after a crash (numbers are reserved in blocks before use)
        self.bus = EventBus(
            self.settings.events.replay_size, self.settings.events.replay_age, first_seq=max(last, reserved) + 1,
            reserve=lambda upto: index.set_state(SEQ_RESERVED_KEY, str(upto)),
        )
        if reserved <= last:  # the last run stopped cleanly: its saved replay buffer is complete
            try:
                self.bus.restore(json.loads(index.get_state(REPLAY_STATE_KEY) or "[]"))
            except ValueError:
                log.warning("saved event replay buffer is unreadable; starting with an empty one")
        set_event_bus(self.bus)
        self.model = IPFSModel(self.repo, self.bus)
        self.started_at = time.time()
        self.services: dict[str, Any] = {}  # name -> object with async start()/stop()
        self.api_url: str | None = None

    def add_service(self, name: str, service: Any) -> None:
        self.services[name] = service

    async def start(self) -> None:
        for name, svc in self.services.items():
            start = getattr(svc, "start", None)
            if start is not None:
                try:
                    await start()
                except Exception:
                    log.exception("service %s failed to start", name)
                    raise

    async def stop(self) -> None:
        for name, svc in reversed(list(self.services.items())):
            stop = getattr(svc, "stop", None)
            if stop is not None:
                try:
                    await stop()
                except Exception:
                    log.exception("service %s failed to stop cleanly", name)
        self._save_events()

    def _save_events(self) -> None:
        """Save the replay buffer and the last sequence number (reserved last: if this
        is interrupted, the next start sees reserved > last and reports a gap)."""
        index, last = self.repo.index, str(self.bus.last_seq)
        index.set_state(REPLAY_STATE_KEY, json.dumps(self.bus.snapshot(), default=str))
        index.set_state(SEQ_STATE_KEY, last)
        index.set_state(SEQ_RESERVED_KEY, last)

    def close(self) -> None:
        self._save_events()
        self.repo.close()
