"""Run several long-lived parts of the service in one process, for the demo.

Each part is a ``Service``: something with a name that runs until a shared stop event is set.
Production runs the same parts as separate processes (``manage.py ingest``, ``manage.py simulate``,
``daphne``); the demo runs them as threads so the in-memory channel layer and the embedded broker
are shared.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import close_old_connections

log = logging.getLogger(__name__)


@dataclass
class Service:
    name: str
    run: Callable[[threading.Event], None]
    thread: threading.Thread | None = field(default=None, repr=False)
    failed: BaseException | None = None


class ServiceGroup:
    """Start services in threads; stop them all on request; report the first failure."""

    def __init__(self):
        self.stop_event = threading.Event()
        self.services: list[Service] = []

    def add(self, name: str, run: Callable[[threading.Event], None]) -> None:
        self.services.append(Service(name, run))

    def start(self) -> None:
        for service in self.services:
            service.thread = threading.Thread(target=self._guard, args=(service,), name=service.name, daemon=True)
            service.thread.start()
            log.info("started %s", service.name)

    def _guard(self, service: Service) -> None:
        try:
            service.run(self.stop_event)
        except BaseException as exc:  # noqa: BLE001 - a dead part must be visible, not silent
            service.failed = exc
            log.exception("%s stopped with an error", service.name)
        finally:
            close_old_connections()

    def stop(self, timeout: float = 15.0) -> None:
        self.stop_event.set()
        for service in self.services:
            if service.thread:
                service.thread.join(timeout)
                if service.thread.is_alive():
                    log.warning("%s did not stop within %.0fs", service.name, timeout)
