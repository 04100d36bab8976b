"""Devices heard but not enrolled, aggregated in memory and written every few seconds.

Only devices that speak a known format (iBeacon, Eddystone, Ruuvi, BTHome) are listed, so the
phones and headphones of a busy ward do not flood the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction

MAX_PENDING = 10_000


@dataclass
class Pending:
    address: str
    formats: list
    identity: dict
    measurements: dict
    first_t: float
    last_t: float
    gateway: str
    rssi: int
    count: int


class DiscoveredBuffer:
    def __init__(self):
        self.pending: dict[str, Pending] = {}

    def add(self, decoded, adv, gateway_id: str) -> None:
        tag_id = decoded.identity["tag_id"]
        entry = self.pending.get(tag_id)
        if entry is None:
            if len(self.pending) >= MAX_PENDING:
                return
            self.pending[tag_id] = Pending(decoded.address, list(decoded.formats), dict(decoded.identity),
                                           dict(decoded.measurements), adv.t, adv.t, gateway_id, adv.rssi, 1)
            return
        entry.count += 1
        if adv.t >= entry.last_t:
            entry.last_t, entry.gateway, entry.rssi = adv.t, gateway_id, adv.rssi
            entry.measurements = dict(decoded.measurements) or entry.measurements

    def flush(self) -> int:
        from sensors.models import DiscoveredDevice

        if not self.pending:
            return 0
        pending, self.pending = self.pending, {}
        stamp = lambda t: datetime.fromtimestamp(t, tz=UTC)  # noqa: E731
        with transaction.atomic():
            existing = {d.tag_id: d for d in DiscoveredDevice.objects.filter(tag_id__in=list(pending))}
            updates, creates = [], []
            for tag_id, p in pending.items():
                device = existing.get(tag_id)
                if device is None:
                    creates.append(DiscoveredDevice(
                        tag_id=tag_id, address=p.address, formats=p.formats, identity=p.identity,
                        last_measurements=p.measurements, first_seen_at=stamp(p.first_t), last_seen_at=stamp(p.last_t),
                        last_gateway=p.gateway, last_rssi=p.rssi, times_heard=p.count,
                    ))
                else:
                    device.address, device.formats = p.address, p.formats
                    device.last_measurements = p.measurements or device.last_measurements
                    device.last_seen_at, device.last_gateway, device.last_rssi = stamp(p.last_t), p.gateway, p.rssi
                    device.times_heard += p.count
                    updates.append(device)
            DiscoveredDevice.objects.bulk_create(creates, ignore_conflicts=True)
            DiscoveredDevice.objects.bulk_update(
                updates, ["address", "formats", "last_measurements", "last_seen_at", "last_gateway", "last_rssi",
                          "times_heard"])
        return len(pending)
