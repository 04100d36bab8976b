"""Tell operators whether ingest keeps up: an ``IngestStatus`` row per process, and the consoles.

The row is written when the shedding level changes and as a heartbeat; when shedding starts or stops
the alarm consoles are told at once (``alarms.service``), so the banner appears and clears live.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from .shedding import LoadShedder

log = logging.getLogger(__name__)

HEARTBEAT_S = 10.0
STALE_AFTER_S = 30.0  # a row older than this belongs to a process that stopped


def _stamp(t: float | None):
    return None if t is None else datetime.fromtimestamp(t, tz=UTC)


class StatusReporter:
    """Called about once a second from ingest's idle hook."""

    def __init__(self, shedder: LoadShedder, client_id: str, site: str, *, backlog: Callable[[], int] = lambda: 0,
                 heartbeat_s: float = HEARTBEAT_S, clock: Callable[[], float] = time.monotonic):
        self.shedder, self.client_id, self.site = shedder, client_id, site
        self.backlog, self.heartbeat_s, self.clock = backlog, heartbeat_s, clock
        self._version = -1
        self._shedding = False
        self._written = -float("inf")

    def __call__(self) -> bool:
        """Write the row if something changed or a heartbeat is due; returns whether it wrote."""
        shedder = self.shedder
        if shedder.version == self._version and self.clock() - self._written < self.heartbeat_s:
            return False
        self.write()
        if shedder.shedding != self._shedding:
            self._shedding = shedder.shedding
            publish_to_consoles()
        return True

    def write(self) -> None:
        from sensors.models import IngestStatus

        shedder = self.shedder
        IngestStatus.objects.update_or_create(client_id=self.client_id[:200], defaults={
            "site": self.site[:64], "shedding": shedder.shedding, "shedding_since": _stamp(shedder.since),
            "keep_one_in": shedder.keep_one_in, "lag_s": round(shedder.lag_s, 2),
            "backlog": max(0, int(self.backlog())), "sightings_shed": shedder.shed_episode,
            "detail": shedder.describe()[:300], "heartbeat_at": timezone.now(),
        })
        self._version, self._written = shedder.version, self.clock()


def ingest_health(now=None) -> dict:
    """What the consoles show about ingest: processes heard recently, and whether any sheds load."""
    from sensors.models import IngestStatus

    now = now or timezone.now()
    live = list(IngestStatus.objects.filter(heartbeat_at__gte=now - timedelta(seconds=STALE_AFTER_S)))
    shedding = [s for s in live if s.shedding]
    since = min((s.shedding_since for s in shedding if s.shedding_since), default=None)
    return {
        "shedding": bool(shedding),
        "since": since.isoformat() if since else None,
        "keep_one_in": max((s.keep_one_in for s in shedding), default=1),
        "lag_s": max((s.lag_s for s in shedding), default=0.0),
        "processes": [{"client_id": s.client_id, "site": s.site, "shedding": s.shedding, "keep_one_in": s.keep_one_in,
                       "lag_s": s.lag_s, "sightings_shed": s.sightings_shed, "detail": s.detail} for s in live],
    }


def publish_to_consoles() -> None:
    """Push the service health (alarm service and ingest) to every alarm console now."""
    try:
        from hospital.facility.models import Site
        from sensors.environment.services import ALL_GROUP, publish, service_health, site_group

        message = {"type": "alarms.service", "service": service_health()}
        groups = [ALL_GROUP, *(site_group(pk) for pk in Site.objects.values_list("pk", flat=True))]
        publish([(group, message) for group in groups])
    except Exception:  # noqa: BLE001 - telling the consoles must never stop ingest
        log.exception("could not tell the consoles about ingest's load")
