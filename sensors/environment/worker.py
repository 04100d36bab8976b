"""How environmental monitoring runs.

* Inside ingest: ``attach(pipeline)`` hooks an ``AlarmService`` onto the pipeline's ``on_readings``
  (kept in the chunk's transaction) and returns the periodic callables for ingest's idle hook
  (``tick`` every second, a checkpoint every minute).
* Beside it, one ``EnvironmentWorker`` (``manage.py environment_worker``, or a thread in the demo):
  escalation, delivery of notifications with retries, the per-minute/daily rollup and retention.
  It only uses the database, so it never slows ingest down (a slow webhook cannot stall alarms).
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import close_old_connections

log = logging.getLogger(__name__)


def attach(pipeline, *, site: str = "+", service=None) -> list:
    """Evaluate alarms inside ``pipeline`` (an ``IngestPipeline``). Returns the periodic callables to
    add to ingest's idle hook (``build_consumer(extra_idle=...)``)."""
    from sensors.ingest.service import Periodic

    from .alarm_service import AlarmService

    service = service or AlarmService(site=site)
    previous = pipeline.on_readings

    if previous is None:
        pipeline.on_readings = service.on_readings
    else:
        def on_readings(readings):
            previous(readings)
            service.on_readings(readings)

        pipeline.on_readings = on_readings
    pipeline.alarm_service = service
    return [Periodic(1, service.tick)]


class EnvironmentWorker:
    """Escalation and notification delivery every few seconds, rollup every minute, retention hourly."""

    def __init__(self, *, notify_every_s: float = 2.0, rollup_every_s: float = 60.0,
                 retention_every_s: float = 3600.0):
        self.tasks = [
            [notify_every_s, 0.0, self.notify],
            [rollup_every_s, 0.0, self.rollup],
            [retention_every_s, 0.0, self.retention],
        ]

    @staticmethod
    def notify() -> None:
        from .notifications import deliver_due, escalate

        escalate()
        while deliver_due() >= 200:
            pass

    @staticmethod
    def rollup() -> None:
        from .rollup import rollup_minutes

        rollup_minutes()

    @staticmethod
    def retention() -> None:
        from .rollup import apply_retention

        apply_retention()

    def run_once(self) -> None:
        now = time.monotonic()
        for task in self.tasks:
            every, last, fn = task
            if now - last >= every:
                task[1] = now
                try:
                    fn()
                except Exception:  # noqa: BLE001 - one failed round must not stop the worker
                    log.exception("environment worker: %s failed", fn.__name__)
                finally:
                    close_old_connections()

    def run(self, stop: threading.Event) -> None:
        log.info("environment worker started")
        while not stop.is_set():
            self.run_once()
            stop.wait(0.5)
        log.info("environment worker stopped")


def run_environment_worker(stop: threading.Event) -> None:
    """The demo's service entry: ``("environment", run_environment_worker)``."""
    try:
        EnvironmentWorker().run(stop)
    finally:
        close_old_connections()
