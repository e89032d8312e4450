"""Node: the running pieces of one server, wired together.

Holds the settings, repo, event bus and model, and the optional channel
services (WebSocket hub, WebRTC manager, libp2p peer). Controllers receive
the node; the model never sees it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from .config import Settings, load_settings
from .events import EventBus, set_event_bus
from .model import IPFSModel
from .repo import Repo

log = logging.getLogger(__name__)

SEQ_STATE_KEY = "events.last_seq"


class Node:
    def __init__(self, repo_path: str | Path | None = None, settings: Settings | None = None) -> None:
        self.repo = Repo(repo_path, settings)
        self.settings = self.repo.settings if settings is None else settings
        last = int(self.repo.index.get_state(SEQ_STATE_KEY) or 0)
        # continue the previous run's sequence so resuming clients never see numbers reused
        self.bus = EventBus(self.settings.events.replay_size, self.settings.events.replay_age, first_seq=last + 1)
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
        self.repo.index.set_state(SEQ_STATE_KEY, str(self.bus.last_seq))

    def close(self) -> None:
        self.repo.index.set_state(SEQ_STATE_KEY, str(self.bus.last_seq))
        self.repo.close()
