"""Where ingest's tag sightings go, so that each site's positions are computed in exactly one place.

``SightingsFeed.add`` is the pipeline's ``on_sightings``. The ingest process that leads the site
(``locator.leadership``) hands its own sightings straight to its ``LiveLocator`` and, before each
solve, the other processes' sightings from the relay (``locator.relay``, over Redis); a process that
does not lead sends its sightings to the relay and runs no locator. One process alone (the embedded
default on SQLite, or one ingest per site) always leads, so its path is the direct call it always was.
When the leader dies another process takes the lead within a second or two and starts a locator from
the stored current locations; tracks re-converge within a few seconds.
"""

from __future__ import annotations

import logging

from django.db import connection
from django.db.models import F

from .leadership import Leadership
from .relay import SightingsRelay, channel_name

log = logging.getLogger(__name__)


def default_relay(site: str) -> SightingsRelay | None:
    """The Redis channel layer when there is one; the in-memory layer cannot reach other processes."""
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        log.warning("no REDIS_URL: if another ingest process leads site %s, this one's sightings are dropped "
                    "(run one ingest per site, or set REDIS_URL; docs/deploy.md)", site)
        return None
    return SightingsRelay(layer, channel_name(site, str(connection.settings_dict["NAME"])))


class SightingsFeed:
    def __init__(self, site: str = "+", *, leadership: Leadership | None = None, relay=..., locator_factory=None):
        """``relay``: a ``SightingsRelay``, None for none, or by default Redis's when the lead is contested."""
        self.site = site
        self.leadership = leadership or Leadership(f"locator:{site}")
        if relay is ...:
            relay = default_relay(site) if self.leadership.contested else None
        self.relay = relay
        if locator_factory is None:
            from .live import LiveLocator

            locator_factory = LiveLocator
        self.factory = locator_factory
        self.locator = None
        self.dropped = 0  # sightings of a follower without a relay
        self._reported: dict[str, int] = {}
        self.check()

    @property
    def leading(self) -> bool:
        return self.locator is not None

    def check(self) -> bool:
        """Take or keep the lead (and the locator with it), or give them up."""
        if self.leadership.check():
            if self.locator is None:
                self.locator = self.factory()
                if self.relay is not None:
                    self.relay.receive(True)
                if self.leadership.contested:
                    log.info("computing positions of site %s (sightings of the other ingest processes via %s)",
                             self.site, self.relay.channel if self.relay else "nothing: no relay")
        elif self.locator is not None:
            log.warning("no longer leading site %s: positions are computed by another ingest process", self.site)
            self.locator = None
            if self.relay is not None:
                self.relay.receive(False)
        return self.locator is not None

    # the pipeline's callback ------------------------------------------------------------------
    def add(self, sightings) -> None:
        if self.locator is not None:
            self.locator.add(sightings)
        elif self.relay is not None:
            self.relay.send(sightings)
        else:
            self.dropped += len(sightings)

    # ingest's periodic tasks ------------------------------------------------------------------
    def tick(self, now: float | None = None) -> int:
        """Every second: keep the lead; the leader takes the relayed sightings and solves."""
        written = 0
        if self.check():
            if self.relay is not None:
                for sightings in self.relay.drain():
                    self.locator.add(sightings)
            written = self.locator.tick(now)
        self._report_counts()
        return written

    def check_missing(self) -> int:
        return self.locator.check_missing() if self.locator is not None else 0

    def recalibrate(self) -> int:
        return self.locator.recalibrate() if self.locator is not None else 0

    def close(self) -> None:
        if self.relay is not None:
            self.relay.close()
        self.leadership.release()

    def _report_counts(self) -> None:
        """Relay counts as ingest counters (admin, Ingest counters): ``locator.relay.sent`` and so on."""
        from sensors.models import IngestCounter

        counts = {**(self.relay.counts if self.relay is not None else {}), "dropped_no_relay": self.dropped}
        for name, value in sorted(counts.items()):
            delta = value - self._reported.get(name, 0)
            if delta <= 0:
                continue
            full = f"locator.relay.{name}"
            if not IngestCounter.objects.filter(name=full).update(value=F("value") + delta):
                IngestCounter.objects.create(name=full, value=delta)
            self._reported[name] = value


__all__ = ["SightingsFeed", "default_relay"]
