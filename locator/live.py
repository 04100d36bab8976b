"""Live positions: ingest's sightings -> the engine -> current locations, history, zone events, map.

One ``LiveLocator`` lives in each ingest process. ``add()`` takes sightings as batches are
committed; ``tick()`` (about once a second) solves every heard tag at once and writes only what
changed: a tag that moved more than ``MOVE_M`` or changed room, plus a heartbeat. History rows are
kept on room/floor changes, on moves, and every ``HISTORY_HEARTBEAT_S``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
from django.db import transaction

from locator.engine import Engine, EngineConfig, GatewayModel, RoomTracker, ZoneTracker

from .models import CurrentLocation, HistoryReason, LocationHistory, Tag, ZoneEvent
from .services import publish_floor_updates

log = logging.getLogger(__name__)

MOVE_M = 0.5  # current location rewritten when the fix moved this much
HISTORY_MOVE_M = 3.0  # a history row when the tag moved this far since the last one
CURRENT_HEARTBEAT_S = 30.0
HISTORY_HEARTBEAT_S = 300.0
METHODS = {"multilateration", "fingerprint", "two_gateways", "one_gateway"}


@dataclass
class Written:
    x: float
    y: float
    floor: int | None
    room: int | None
    t: float
    history_x: float
    history_y: float
    history_t: float


def stamp(t: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, tz=UTC)


class LiveLocator:
    def __init__(self, config: EngineConfig | None = None):
        from hospital.facility.models import Room, Zone
        from sensors.models import Gateway

        gateways = list(Gateway.objects.filter(enabled=True).order_by("gateway_id"))
        self.enabled = bool(gateways)
        self.written: dict[int, Written] = {}
        self.last_seen: dict[int, float] = {}
        if not self.enabled:
            log.warning("no gateways registered: positioning is idle")
            return
        model = GatewayModel(
            ids=[g.gateway_id for g in gateways],
            xyz=np.array([[g.x, g.y, g.z] for g in gateways], float),
            floor=[g.floor_id for g in gateways],
            ref_power=np.array([g.ref_power_dbm for g in gateways], float),
            exponent=np.array([g.path_loss_exponent for g in gateways], float),
        )
        self.engine = Engine(model, config or EngineConfig())
        self.rooms = RoomTracker([(r.pk, r.floor_id, r.shape) for r in Room.objects.all()])
        self.zones = ZoneTracker([(z.pk, z.floor_id, z.shape) for z in Zone.objects.all()])
        for loc in CurrentLocation.objects.all():
            self.written[loc.tag_id] = Written(loc.x, loc.y, loc.floor_id, loc.room_id, loc.fixed_at.timestamp(),
                                               loc.x, loc.y, loc.fixed_at.timestamp())

    def add(self, sightings) -> None:
        if not self.enabled or not sightings:
            return
        t = np.fromiter((s.t for s in sightings), float, len(sightings))
        tags = np.fromiter((s.tag_pk for s in sightings), np.int64, len(sightings))
        rssi = np.fromiter((s.rssi for s in sightings), float, len(sightings))
        self.engine.ingest_ids(t, [s.gateway_id for s in sightings], tags.astype(object), rssi)
        for s in sightings:
            if s.t > self.last_seen.get(s.tag_pk, 0.0):
                self.last_seen[s.tag_pk] = s.t

    def tick(self, now: float | None = None) -> int:
        """Solve and store. Returns the number of current locations written."""
        if not self.enabled:
            return 0
        now = time.time() if now is None else now
        fixes = self.engine.solve(now)
        if not len(fixes):
            return 0
        tag_ids = [int(t) for t in fixes.tag_ids.tolist()]
        rooms, changes = self.rooms.update(tag_ids, fixes.floor, fixes.x, fixes.y, now)
        zone_events = self.zones.update(tag_ids, fixes.floor, fixes.x, fixes.y, now)
        changed_rooms = {c.tag_id for c in changes}

        current, history, deltas = [], [], []
        for i, tag in enumerate(tag_ids):
            x, y = float(fixes.x[i]), float(fixes.y[i])
            floor, room = int(fixes.floor[i]), rooms[i]
            prev = self.written.get(tag)
            moved = math.inf if prev is None else math.hypot(x - prev.x, y - prev.y)
            new_place = prev is None or prev.room != room or prev.floor != floor
            if not (new_place or moved >= MOVE_M or now - prev.t >= CURRENT_HEARTBEAT_S):
                continue
            method = fixes.method[i] if fixes.method[i] in METHODS else "multilateration"
            current.append(CurrentLocation(
                tag_id=tag, floor_id=floor, room_id=room, x=round(x, 2), y=round(y, 2), z=float(fixes.z[i]),
                accuracy_m=round(float(fixes.accuracy_m[i]), 2), confidence=round(float(fixes.confidence[i]), 3),
                method=method, gateways_heard=int(fixes.n_gateways[i]), fixed_at=stamp(now),
                last_seen_at=stamp(self.last_seen.get(tag, now)),
                room_since=stamp(now) if tag in changed_rooms or prev is None else None, moving=moved >= MOVE_M,
            ))
            reason = None
            if prev is None or prev.floor != floor:
                reason = HistoryReason.FLOOR_CHANGE
            elif prev.room != room:
                reason = HistoryReason.ROOM_CHANGE
            elif math.hypot(x - prev.history_x, y - prev.history_y) >= HISTORY_MOVE_M:
                reason = HistoryReason.MOVED
            elif now - prev.history_t >= HISTORY_HEARTBEAT_S:
                reason = HistoryReason.HEARTBEAT
            if reason:
                history.append(LocationHistory(tag_id=tag, t=stamp(now), floor_id=floor, room_id=room, x=round(x, 2),
                                               y=round(y, 2), accuracy_m=current[-1].accuracy_m, reason=reason))
            hx, hy, ht = (x, y, now) if reason else (prev.history_x, prev.history_y, prev.history_t)
            self.written[tag] = Written(x, y, floor, room, now, hx, hy, ht)
            deltas.append(current[-1])

        with transaction.atomic():
            self._upsert(current)
            LocationHistory.objects.bulk_create(history)
            ZoneEvent.objects.bulk_create([ZoneEvent(tag_id=int(e.tag_id), zone_id=e.zone_id, kind=e.kind,
                                                     t=stamp(e.t)) for e in zone_events])
            if deltas:
                transaction.on_commit(lambda: publish_floor_updates(deltas))
        return len(current)

    @staticmethod
    def _upsert(current: list[CurrentLocation]) -> None:
        if not current:
            return
        keep_since = [c for c in current if c.room_since is None]
        new_since = [c for c in current if c.room_since is not None]
        fields = ["floor", "room", "x", "y", "z", "accuracy_m", "confidence", "method", "gateways_heard", "fixed_at",
                  "last_seen_at", "moving"]
        for rows, update in ((keep_since, fields), (new_since, [*fields, "room_since"])):
            if rows:
                existing = set(Tag.objects.filter(pk__in=[r.tag_id for r in rows]).values_list("pk", flat=True))
                CurrentLocation.objects.bulk_create(
                    [r for r in rows if r.tag_id in existing], update_conflicts=True, unique_fields=["tag"],
                    update_fields=update, batch_size=1000,
                )
