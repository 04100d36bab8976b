"""Room and zone membership from positions, with hysteresis (pure; shapely, no Django).

``RoomTracker``: each tag is in at most one room per floor. A tag stays in its current room while
it is within ``margin_m`` of that room's polygon (positions near a doorway wobble by a metre), and a
different room must hold for ``dwell_s`` before the tag is moved there. Point-in-polygon tests for
all tags of a floor run as one ``STRtree.query`` on prepared geometries.

Where the engine has a floor-plan radio map (walls.py), each fix also carries the probability of
each nearby room. The tracker then decides by that evidence rather than by the point: per tag a
log-belief per room, decaying with ``evidence_tau_s`` and adding each fix's log-probability (a
discrete filter; floored so one bad window cannot veto a room); another room must lead the
current one by ``evidence_margin`` (nats) before it counts. A tag standing by a wall of a
3 m wide room has its point on the wrong side about as often as on the right one, but its radio
evidence, summed over several seconds, names the room. The dwell still applies to changes.

``ZoneTracker``: zones (geofences) may overlap; a tag enters a zone when its position is inside
(for ``dwell_s``), and leaves when it is further than ``margin_m`` outside or on another floor.
``update`` returns the enter/leave events.

Per-tag state is kept in dicts keyed by tag id; the Django side calls these with the engine's fixes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import shapely
import shapely.ops
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry


def as_polygon(geom) -> BaseGeometry:
    """A shapely geometry from a geometry or a sequence of (x, y) vertices."""
    if isinstance(geom, BaseGeometry):
        return geom
    return Polygon(geom)


class _FloorIndex:
    """Polygons grouped by floor with an STRtree per floor."""

    def __init__(self, items: Iterable[tuple]):
        self.geom: dict = {}
        self.floor_of: dict = {}
        per_floor: dict = {}
        for key, floor, geom in items:
            g = as_polygon(geom)
            shapely.prepare(g)
            self.geom[key] = g
            self.floor_of[key] = floor
            per_floor.setdefault(floor, []).append(key)
        self.keys = {f: np.array(ks, dtype=object) for f, ks in per_floor.items()}
        self.trees = {f: shapely.STRtree([self.geom[k] for k in ks]) for f, ks in per_floor.items()}
        self.area = {k: g.area for k, g in self.geom.items()}

    def containing(self, floors, points) -> list[list]:
        """For each point, the keys of the polygons on its floor that contain it (boundary included)."""
        out: list[list] = [[] for _ in range(len(points))]
        floors = np.asarray(floors, dtype=object)
        for f in set(floors.tolist()):
            tree = self.trees.get(f)
            if tree is None:
                continue
            sel = np.flatnonzero(floors == f)
            pi, gi = tree.query(points[sel], predicate="intersects")
            keys = self.keys[f]
            for p, g in zip(sel[pi].tolist(), gi.tolist(), strict=True):
                out[p].append(keys[g])
        return out

    def distance(self, keys, points) -> np.ndarray:
        geoms = np.array([self.geom[k] for k in keys], dtype=object)
        return shapely.distance(geoms, points) if len(keys) else np.zeros(0)


@dataclass
class RoomChange:
    tag_id: object
    old_room: object
    new_room: object
    t: float


class RoomTracker:
    """Room of each tag with a stay-margin and a dwell time. ``rooms``: (room_id, floor, polygon)."""

    def __init__(self, rooms: Iterable[tuple], margin_m: float = 1.0, dwell_s: float = 5.0,
                 evidence_tau_s: float = 5.0, evidence_floor: float = 0.01, evidence_margin: float = 5.0):
        self.index = _FloorIndex(rooms)
        self.margin_m = float(margin_m)
        self.dwell_s = float(dwell_s)
        self.evidence_tau_s = float(evidence_tau_s)
        self.log_floor = float(np.log(evidence_floor))
        self.evidence_margin = float(evidence_margin)
        self.state: dict = {}  # tag -> [room, floor, pending_room, pending_since]
        self.belief: dict = {}  # tag -> (floor, t, {room: log-belief})
        self._inner: dict = {}  # room -> polygon shrunk by place_inside's inset

    def room_of(self, tag_id):
        s = self.state.get(tag_id)
        return None if s is None else s[0]

    def update(self, tag_ids, floors, x, y, t, room_probs=None) -> tuple[np.ndarray, list[RoomChange]]:
        """Rooms (object array, None = no room) for the given fixes, and the changes they caused.

        ``room_probs``: per fix a {room: probability} dict from the engine, or None where it has none.
        """
        tag_ids = list(tag_ids)
        n = len(tag_ids)
        floors = np.asarray(floors, dtype=object).reshape(n)
        t = np.broadcast_to(np.asarray(t, float), (n,))
        pts = shapely.points(np.asarray(x, float), np.asarray(y, float))
        inside = self.index.containing(floors, pts)
        area = self.index.area
        cand = [min(ks, key=area.__getitem__) if ks else None for ks in inside]
        by_evidence = np.zeros(n, dtype=bool)
        if room_probs is not None:
            for i, probs in enumerate(room_probs):
                if probs:
                    cand[i] = self._believe(tag_ids[i], floors[i], float(t[i]), probs)
                    by_evidence[i] = True
                else:
                    self.belief.pop(tag_ids[i], None)

        # stay in the current room while within the margin of it (same floor); radio evidence has
        # its own memory and is not second-guessed by the point
        cur = [self.state.get(k, [None])[0] for k in tag_ids]
        chk = [i for i in range(n) if cur[i] is not None and cand[i] != cur[i] and not by_evidence[i]
               and self.index.floor_of.get(cur[i]) == floors[i]]
        if chk:
            d = self.index.distance([cur[i] for i in chk], pts[chk])
            for i, di in zip(chk, d.tolist(), strict=True):
                if di <= self.margin_m:
                    cand[i] = cur[i]

        rooms = np.empty(n, dtype=object)
        changes: list[RoomChange] = []
        for i, key in enumerate(tag_ids):
            s = self.state.get(key)
            c = cand[i]
            if s is None:
                self.state[key] = [c, floors[i], None, None]
                rooms[i] = c
                if c is not None:
                    changes.append(RoomChange(key, None, c, float(t[i])))
                continue
            if c == s[0]:
                s[2] = s[3] = None
            elif s[2] != c or s[3] is None:
                s[2], s[3] = c, float(t[i])
            if s[2] is not None and c == s[2] and t[i] - s[3] >= self.dwell_s:
                changes.append(RoomChange(key, s[0], c, float(t[i])))
                s[0], s[2], s[3] = c, None, None
            s[1] = floors[i]
            rooms[i] = s[0]
        return rooms, changes

    def _believe(self, tag_id, floor, t: float, probs: dict):
        """Fold one fix's room probabilities into the tag's belief; the room it now favours."""
        old = self.belief.get(tag_id)
        lp = {r: max(np.log(p), self.log_floor) if p > 0 else self.log_floor for r, p in probs.items()}
        if old is None or old[0] != floor:
            b = lp
        else:
            decay = float(np.exp(-max(0.0, t - old[1]) / self.evidence_tau_s))
            prev = old[2]
            # a room absent from one side had at most the floor probability there
            missing = self.log_floor / (1.0 - decay) if decay < 1.0 else self.log_floor
            b = {r: decay * prev.get(r, missing) + lp.get(r, self.log_floor) for r in prev.keys() | lp.keys()}
            top = max(b.values())
            b = {r: v for r, v in b.items() if v > top - 40.0}  # drop rooms far behind: keeps it small
        self.belief[tag_id] = (floor, t, b)
        best = max(b, key=b.get)
        current = self.state.get(tag_id, [None])[0]
        if current in b and b[best] - b[current] < self.evidence_margin:
            return current  # another room must lead clearly before it counts (doorways)
        return best

    def forget(self, tag_id) -> None:
        self.state.pop(tag_id, None)
        self.belief.pop(tag_id, None)

    def place_inside(self, rooms, x, y, inset_m: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
        """Positions moved to the nearest point of their room where the point lies outside it.

        Room decisions from radio evidence can disagree with the point (a tag by a wall); the map
        must not draw a marker in one room and list it in another. Rooms of None are left alone.
        """
        x, y = np.array(x, float), np.array(y, float)
        for i, room in enumerate(rooms):
            geom = self.index.geom.get(room)
            if geom is None:
                continue
            pt = shapely.Point(x[i], y[i])
            if geom.contains(pt):
                continue
            inner = self._inner.get(room)
            if inner is None:
                inner = geom.buffer(-inset_m)
                self._inner[room] = inner = geom if inner.is_empty else inner
            _, near = shapely.ops.nearest_points(pt, inner)
            x[i], y[i] = near.x, near.y
        return x, y


@dataclass
class ZoneEvent:
    tag_id: object
    zone_id: object
    kind: str  # "enter" or "leave"
    t: float


class ZoneTracker:
    """Geofence membership and enter/leave events. ``zones``: (zone_id, floor, polygon)."""

    def __init__(self, zones: Iterable[tuple], margin_m: float = 0.5, dwell_s: float = 0.0):
        self.index = _FloorIndex(zones)
        self.margin_m = float(margin_m)
        self.dwell_s = float(dwell_s)
        self.inside: dict = {}  # tag -> set of zone ids
        self.pending: dict = {}  # tag -> {zone: first time seen inside}

    def zones_of(self, tag_id) -> set:
        return set(self.inside.get(tag_id, ()))

    def update(self, tag_ids, floors, x, y, t) -> list[ZoneEvent]:
        tag_ids = list(tag_ids)
        n = len(tag_ids)
        floors = np.asarray(floors, dtype=object).reshape(n)
        t = np.broadcast_to(np.asarray(t, float), (n,))
        pts = shapely.points(np.asarray(x, float), np.asarray(y, float))
        now_in = self.index.containing(floors, pts)
        events: list[ZoneEvent] = []

        # zones the tag is in but whose polygon does not contain the point: leave beyond the margin
        chk_i, chk_z = [], []
        for i, key in enumerate(tag_ids):
            here = set(now_in[i])
            for z in self.inside.get(key, ()):
                if z not in here:
                    chk_i.append(i)
                    chk_z.append(z)
        if chk_i:
            d = self.index.distance(chk_z, pts[chk_i])
            for i, z, di in zip(chk_i, chk_z, d.tolist(), strict=True):
                if di > self.margin_m or self.index.floor_of[z] != floors[i]:
                    self.inside[tag_ids[i]].discard(z)
                    events.append(ZoneEvent(tag_ids[i], z, "leave", float(t[i])))

        for i, key in enumerate(tag_ids):
            cur = self.inside.setdefault(key, set())
            here = set(now_in[i])
            old = self.pending.pop(key, {})
            waiting = {}
            for z in here - cur:
                since = old.get(z, float(t[i]))
                if t[i] - since >= self.dwell_s:
                    cur.add(z)
                    events.append(ZoneEvent(key, z, "enter", float(t[i])))
                else:
                    waiting[z] = since
            if waiting:
                self.pending[key] = waiting
        return events

    def forget(self, tag_id, t: float) -> list[ZoneEvent]:
        """The tag is gone (lost, switched off): leave every zone it was in."""
        zs = self.inside.pop(tag_id, set())
        self.pending.pop(tag_id, None)
        return [ZoneEvent(tag_id, z, "leave", float(t)) for z in sorted(zs, key=str)]
