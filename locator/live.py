"""Live positions: ingest's sightings -> the engine -> current locations, history, zone events, map.

One ``LiveLocator`` per site runs in the ingest process that leads it (``locator/feed.py``), fed with
the sightings of every ingest process of the site. ``add()`` takes sightings as batches are
committed (in any order of time); ``tick()`` (about once a second) solves every heard tag at once and writes only what
changed: a tag that moved more than ``MOVE_M`` or changed room, plus a heartbeat. History rows are
kept on room/floor changes, on moves, and every ``HISTORY_HEARTBEAT_S``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from locator.engine import (
    Engine,
    EngineConfig,
    GatewayModel,
    OnlineCalibrator,
    RoomTracker,
    Survey,
    ZoneTracker,
    build_radio_maps,
    plan_radio_maps,
)
from sensors.ingest.pipeline import Sightings

from .models import (
    AssetEvent,
    CalibrationChange,
    CurrentLocation,
    HistoryReason,
    LocationHistory,
    SurveyPoint,
    Tag,
    ZoneEvent,
)
from .services import publish_floor_updates

log = logging.getLogger(__name__)

MOVE_M = 1.0  # current location rewritten when the fix moved this much (fixes are good to ~1 m)
HISTORY_MOVE_M = 3.0  # a history row when the tag moved this far since the last one
CURRENT_HEARTBEAT_S = 30.0
HISTORY_HEARTBEAT_S = 300.0
EXIT_DEBOUNCE_S = 600.0  # one exit event per asset and exit within this time
LAG_SLACK_S = 1.0  # tick() solves at most this long after the newest sighting (see tick)
METHODS = {"multilateration", "fingerprint", "two_gateways", "one_gateway"}


class Fix(NamedTuple):
    """A current location to write; field order is the upsert's column order."""

    tag_id: int
    floor_id: int
    room_id: int | None
    x: float
    y: float
    z: float
    accuracy_m: float
    confidence: float
    method: str
    gateways_heard: int
    fixed_at: object
    last_seen_at: object
    room_since: object
    moving: bool


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
        self.newest_t = self.solved_t = -math.inf
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
        self.cfg = config or EngineConfig()
        self.model = model
        self.gateway_pks = [g.pk for g in gateways]
        rooms = list(Room.objects.all())
        self.engine = Engine(model, self.cfg, radio_maps=self._radio_maps(model, rooms))
        self.rooms = RoomTracker([(r.pk, r.floor_id, r.shape) for r in rooms])
        zones = list(Zone.objects.all())
        self.zones = ZoneTracker([(z.pk, z.floor_id, z.shape) for z in zones])
        self.last_exit: dict[tuple[int, int], float] = {}
        self.exit_zones = {z.pk for z in zones if z.kind == "exit"}
        # Reference tags (and gateways' own beacons enrolled as reference tags) refine the radio model.
        self.references = {
            t.pk: (t.ref_floor_id, np.array([t.ref_x, t.ref_y, t.ref_z if t.ref_z is not None else 1.2]))
            for t in Tag.objects.filter(is_reference=True).exclude(ref_x=None).exclude(ref_y=None)
        }
        self.calibrator = OnlineCalibrator(model, self.cfg)
        self.asset_of = dict(Tag.objects.exclude(asset=None).values_list("pk", "asset_id"))
        self.known_tags = set(Tag.objects.values_list("pk", flat=True))
        self.missing_assets = set(
            Tag.objects.filter(asset__status="missing").values_list("asset_id", flat=True)
        )
        for loc in CurrentLocation.objects.all():
            self.written[loc.tag_id] = Written(loc.x, loc.y, loc.floor_id, loc.room_id, loc.fixed_at.timestamp(),
                                               loc.x, loc.y, loc.fixed_at.timestamp())

    def _radio_maps(self, model: GatewayModel, rooms) -> dict:
        """Per floor: the commissioning survey's radio map (manage.py calibrate --apply) where there is
        one, else the map predicted from the floor plan's walls (rooms of the floor drawn)."""
        from hospital.facility.choices import RoomType

        maps = plan_radio_maps(model, [(r.pk, r.floor_id, r.shape, r.room_type == RoomType.CORRIDOR) for r in rooms],
                               self.cfg)
        if maps:
            log.info("positioning uses floor-plan radio maps on %d floor(s)", len(maps))
        points = list(SurveyPoint.objects.values_list("gateway__gateway_id", "floor_id", "x", "y", "z", "rssi", "t"))
        if not points:
            return maps
        gw, floor, x, y, z, rssi, t = (np.array(c, dtype=object) for c in zip(*points, strict=True))
        survey = Survey.from_arrays(model, model.index_of(list(gw)), rssi.astype(float),
                                    np.c_[x.astype(float), y.astype(float), z.astype(float)], floor=floor,
                                    t=t.astype(float))
        surveyed = build_radio_maps(model, survey, self.cfg)
        log.info("positioning uses survey radio maps on %d floor(s)", len(surveyed))
        return {**maps, **surveyed}

    def add(self, sightings) -> None:
        """Take a chunk's sightings (``Sightings`` columns, or any iterable of ``Sighting``)."""
        if not self.enabled or not len(sightings):
            return
        columns = Sightings.of(sightings)
        t = np.asarray(columns.t, float)
        tags = np.asarray(columns.tag_pk, np.int64)
        rssi = np.asarray(columns.rssi, float)
        gw_ids = columns.gateway_id
        self.engine.ingest_ids(t, gw_ids, tags, rssi)
        self.newest_t = max(self.newest_t, float(t.max()))
        # Latest time per tag; chunks relayed from other processes may arrive after later ones.
        order = np.lexsort((t, tags))
        last = np.r_[tags[order][1:] != tags[order][:-1], True] if len(order) else np.zeros(0, bool)
        seen = self.last_seen
        for tag, ts in zip(tags[order][last].tolist(), t[order][last].tolist(), strict=True):
            if ts > seen.get(tag, -math.inf):
                seen[tag] = ts
        if self.references:
            self._add_reference_evidence(t, tags, gw_ids, rssi)

    def _add_reference_evidence(self, t, tags, gw_ids, rssi) -> None:
        model = self.model
        for tag_pk, (floor, xyz) in self.references.items():
            sel = np.flatnonzero(tags == tag_pk)
            if not len(sel):
                continue
            rows = model.index_of([gw_ids[i] for i in sel])
            same = (rows >= 0) & (model.floor[np.maximum(rows, 0)] == floor)
            if same.any():
                self.calibrator.add_reference(rows[same], np.tile(xyz, (int(same.sum()), 1)), rssi[sel][same],
                                              float(t[sel].max()))

    def recalibrate(self) -> int:
        """One bounded online calibration step; every change is saved and visible in the admin."""
        if not self.enabled or not self.references:
            return 0
        from sensors.models import Gateway

        updated, proposals = self.calibrator.apply(self.model)
        changes = []
        for i, p in enumerate(proposals):
            d_ref, d_exp = p.change
            if abs(d_ref) < 0.05 and abs(d_exp) < 0.005:
                continue
            changes.append(CalibrationChange(
                gateway_id=self.gateway_pks[i], source=CalibrationChange.Source.ONLINE,
                old_ref_power_dbm=round(p.current_ref_power, 2), new_ref_power_dbm=round(p.proposed_ref_power, 2),
                old_exponent=round(p.current_exponent, 3), new_exponent=round(p.proposed_exponent, 3),
                samples=round(p.n_eff, 1),
                note=f"target {p.target_ref_power:.1f} dBm / {p.target_exponent:.2f}; step bounded",
            ))
        if not changes:
            return 0
        with transaction.atomic():
            CalibrationChange.objects.bulk_create(changes)
            for change in changes:
                Gateway.objects.filter(pk=change.gateway_id).update(
                    ref_power_dbm=change.new_ref_power_dbm, path_loss_exponent=change.new_exponent)
        self.model = updated
        self.engine.set_gateway_params(updated.ref_power, updated.exponent)
        log.info("online calibration adjusted %d gateway(s)", len(changes))
        return len(changes)

    def check_missing(self, now: float | None = None) -> int:
        """Assets not heard for LOCATOR_MISSING_AFTER_S become "missing" with their last known place."""
        from hospital.assets.models import Asset, AssetStatus

        now = time.time() if now is None else now
        self.known_tags = set(Tag.objects.values_list("pk", flat=True))
        self.asset_of = dict(Tag.objects.exclude(asset=None).values_list("pk", "asset_id"))
        after = float(getattr(settings, "LOCATOR_MISSING_AFTER_S", 1800))
        cutoff = stamp(now - after)
        stale = (CurrentLocation.objects.filter(last_seen_at__lt=cutoff, tag__asset__isnull=False)
                 .exclude(tag__asset__status__in=[AssetStatus.MISSING, AssetStatus.OUT_OF_SERVICE])
                 .values_list("tag__asset_id", "floor_id", "room_id", "last_seen_at"))
        events = [AssetEvent(asset_id=asset, kind=AssetEvent.Kind.MISSING, t=stamp(now), floor_id=floor,
                             room_id=room, detail=f"not heard since {seen:%Y-%m-%d %H:%M} UTC")
                  for asset, floor, room, seen in stale]
        if events:
            with transaction.atomic():
                Asset.objects.filter(pk__in=[e.asset_id for e in events]).update(status=AssetStatus.MISSING)
                AssetEvent.objects.bulk_create(events)
            self.missing_assets.update(e.asset_id for e in events)
            log.warning("%d asset(s) not heard for %.0f min are now missing", len(events), after / 60)
        return len(events)

    def tick(self, now: float | None = None) -> int:
        """Solve and store. Returns the number of current locations written."""
        if not self.enabled:
            return 0
        now = time.time() if now is None else now
        # Ingest running behind the gateways (a loaded machine, a backlog after an outage): solve at
        # the newest sighting's time, not the clock, or a lag longer than the window leaves nothing
        # to solve and every tag vanishes from the map.
        now = min(now, self.newest_t + LAG_SLACK_S)
        if now <= self.solved_t:
            return 0
        self.solved_t = now
        fixes = self.engine.solve(now)
        if not len(fixes):
            return 0
        tag_ids = [int(t) for t in fixes.tag_ids.tolist()]
        rooms, changes = self.rooms.update(tag_ids, fixes.floor, fixes.x, fixes.y, now, room_probs=fixes.room_probs)
        xs, ys = self.rooms.place_inside(rooms, fixes.x, fixes.y)
        zone_events = self.zones.update(tag_ids, fixes.floor, xs, ys, now)
        changed_rooms = {c.tag_id for c in changes}

        current, history, deltas = [], [], []
        fixed_at = stamp(now)
        for i, tag in enumerate(tag_ids):
            x, y = float(xs[i]), float(ys[i])
            floor, room = int(fixes.floor[i]), rooms[i]
            prev = self.written.get(tag)
            moved = math.inf if prev is None else math.hypot(x - prev.x, y - prev.y)
            new_place = prev is None or prev.room != room or prev.floor != floor
            if not (new_place or moved >= MOVE_M or now - prev.t >= CURRENT_HEARTBEAT_S):
                continue
            method = fixes.method[i] if fixes.method[i] in METHODS else "multilateration"
            if tag not in self.known_tags:
                continue  # deleted since this process started
            current.append(Fix(
                tag, floor, room, round(x, 2), round(y, 2), float(fixes.z[i]), round(float(fixes.accuracy_m[i]), 2),
                round(float(fixes.confidence[i]), 3), method, int(fixes.n_gateways[i]), fixed_at,
                stamp(self.last_seen.get(tag, now)), fixed_at if tag in changed_rooms or prev is None else None,
                moved >= MOVE_M,
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

        events = self._found_and_exit_events(current, zone_events, now)
        with transaction.atomic():
            self._upsert(current)
            if events:
                self._record_events(events)
            LocationHistory.objects.bulk_create(history)
            ZoneEvent.objects.bulk_create([ZoneEvent(tag_id=int(e.tag_id), zone_id=e.zone_id, kind=e.kind,
                                                     t=stamp(e.t)) for e in zone_events])
            if deltas:
                transaction.on_commit(lambda: publish_floor_updates(deltas))
        return len(current)

    def _found_and_exit_events(self, current, zone_events, now: float) -> list[AssetEvent]:
        events = []
        for loc in current:
            asset = self.asset_of.get(loc.tag_id)
            if asset in self.missing_assets:
                self.missing_assets.discard(asset)
                events.append(AssetEvent(asset_id=asset, kind=AssetEvent.Kind.FOUND, t=stamp(now),
                                         floor_id=loc.floor_id, room_id=loc.room_id, detail="heard again"))
        for e in zone_events:
            asset = self.asset_of.get(int(e.tag_id))
            key = (asset, e.zone_id)
            if e.kind == "enter" and e.zone_id in self.exit_zones and asset is not None:
                if e.t - self.last_exit.get(key, -EXIT_DEBOUNCE_S) < EXIT_DEBOUNCE_S:
                    continue  # flicker at the zone's edge: one event per passage
                self.last_exit[key] = e.t
                events.append(AssetEvent(asset_id=asset, kind=AssetEvent.Kind.EXIT, t=stamp(e.t), zone_id=e.zone_id,
                                         detail="entered an exit zone"))
                log.warning("asset %s entered exit zone %s", asset, e.zone_id)
        return events

    @staticmethod
    def _record_events(events: list[AssetEvent]) -> None:
        from hospital.assets.models import Asset, AssetStatus

        AssetEvent.objects.bulk_create(events)
        found = [e.asset_id for e in events if e.kind == AssetEvent.Kind.FOUND]
        if found:
            Asset.objects.filter(pk__in=found, status=AssetStatus.MISSING).update(status=AssetStatus.AVAILABLE)

    @staticmethod
    def _upsert(current: list[Fix]) -> None:
        """One pipelined upsert for every changed tag (the ORM's per-object cost dominated at 20,000 tags)."""
        if not current:
            return
        table = connection.ops.quote_name(CurrentLocation._meta.db_table)
        columns = ("tag_id", "floor_id", "room_id", "x", "y", "z", "accuracy_m", "confidence", "method",
                   "gateways_heard", "fixed_at", "last_seen_at", "room_since", "moving")
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:] if c != "room_since")
        sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
               f"ON CONFLICT (tag_id) DO UPDATE SET {updates}, "
               f"room_since = COALESCE(excluded.room_since, {table}.room_since)")
        with connection.cursor() as cursor:
            cursor.executemany(sql, [tuple(f) for f in current])
