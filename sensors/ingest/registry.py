"""What ingest needs to know about enrolled things, cached in memory and refreshed periodically.

Gateways, sensors (by MAC) and tags (by tag_id) change rarely; looking them up in the database for
each advertisement would be the bottleneck. A refresh every ``refresh_s`` picks up enrolments.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KnownGateway:
    pk: int
    gateway_id: str
    site: str
    enabled: bool
    floor_id: int
    x: float
    y: float
    z: float


@dataclass(frozen=True, slots=True)
class KnownSensor:
    pk: int
    sensor_id: str
    mac: str
    bindkey: bytes | None
    measurement_map: dict


class Registry:
    def __init__(self, refresh_s: float = 30.0):
        self.refresh_s = refresh_s
        self.loaded_at = 0.0
        self.gateways: dict[str, KnownGateway] = {}
        self.sensors_by_mac: dict[str, KnownSensor] = {}
        self.tags: dict[str, int] = {}  # tag_id -> Tag pk

    def refresh_if_due(self) -> None:
        if time.monotonic() - self.loaded_at >= self.refresh_s:
            self.refresh()

    def refresh(self) -> None:
        from locator.models import Tag
        from sensors.models import Gateway, Sensor

        self.gateways = {
            g.gateway_id: KnownGateway(g.pk, g.gateway_id, g.site.code, g.enabled, g.floor_id, g.x, g.y, g.z)
            for g in Gateway.objects.select_related("site")
        }
        self.sensors_by_mac = {
            s.mac_address.upper(): KnownSensor(
                s.pk, s.sensor_id, s.mac_address.upper(), bytes.fromhex(s.bindkey) if s.bindkey else None,
                s.measurement_map or {},
            )
            for s in Sensor.objects.all()
        }
        self.tags = dict(Tag.objects.values_list("tag_id", "pk"))
        self.loaded_at = time.monotonic()
