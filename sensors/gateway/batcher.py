"""Collects accepted advertisements and says when a batch must close: when ``max_batch`` are pending, or
``batch_interval_ms`` after the oldest pending one was heard, whichever comes first (protocol §5).

Times are monotonic: the wall clock of a gateway without a real-time clock jumps when NTP first syncs,
and a batch must not span that jump. The agent turns monotonic times into unix times when it closes a
batch (``to_wall``), all against one reading of the wall clock, so offsets inside a batch stay exact.
Not thread-safe on its own; the agent holds a lock around it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from sensors.protocol import Advertisement


class Heard(NamedTuple):
    """An advertisement with the monotonic time it was heard (seconds)."""

    mono: float
    address: str
    rssi: int
    manufacturer_data: dict[int, bytes]
    service_data: dict[str, bytes]


class Batcher:
    def __init__(
        self, max_batch: int = 500, interval_ms: int = 1000, clock: Callable[[], float] = time.monotonic
    ):
        self.clock = clock
        self.max_batch = max_batch
        self.interval_s = interval_ms / 1000
        self._pending: list[Heard] = []

    def configure(self, max_batch: int, interval_ms: int) -> None:
        self.max_batch = max_batch
        self.interval_s = interval_ms / 1000

    def add(self, heard: Heard) -> bool:
        """Add one advertisement; True when the batch is full and must be closed now."""
        self._pending.append(heard)
        return len(self._pending) >= self.max_batch

    def seconds_left(self, now: float | None = None) -> float | None:
        """Seconds until the pending batch is due (0 if overdue); None if nothing is pending."""
        if not self._pending:
            return None
        now = self.clock() if now is None else now
        return max(0.0, self._pending[0].mono + self.interval_s - now)

    def due(self, now: float | None = None) -> bool:
        left = self.seconds_left(now)
        return left is not None and (left <= 0 or len(self._pending) >= self.max_batch)

    def take(self, limit: int | None = None) -> list[Heard]:
        """Remove and return the pending advertisements (at most ``limit``, oldest first)."""
        n = len(self._pending) if limit is None else min(limit, len(self._pending))
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    def __len__(self) -> int:
        return len(self._pending)


# Formats that carry measurements (vaccine fridges, room climate): published on .../env (protocol §2a).
# The same identifiers as sensors.ble.ruuvi.COMPANY_ID and sensors.ble.bthome.SERVICE_UUID16, written out
# because the gateway imports no decoder (bthome needs cryptography; tests/sensors/test_gateway.py).
SENSOR_COMPANY_IDS = frozenset({0x0499})  # Ruuvi
SENSOR_SERVICE_UUIDS = frozenset({"0000fcd2-0000-1000-8000-00805f9b34fb"})  # BTHome v2


def is_sensor(heard: Heard) -> bool:
    """An environmental sensor's advertisement (by its format), rather than a tag's."""
    return (any(cid in SENSOR_COMPANY_IDS for cid in heard.manufacturer_data)
            or any(uuid in SENSOR_SERVICE_UUIDS for uuid in heard.service_data))


def to_wall(heard: list[Heard], mono_now: float, wall_now: float) -> list[Advertisement]:
    """Monotonic times -> unix seconds, all against one reading of both clocks."""
    offset = wall_now - mono_now
    return [
        Advertisement(h.mono + offset, h.address, h.rssi, h.manufacturer_data, h.service_data) for h in heard
    ]
