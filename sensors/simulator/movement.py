"""How equipment moves through the hospital: a small state machine per tagged asset plus walking routes.

An asset is *stored* (equipment store or clean utility of its department), *in use* (a care room:
patient room, ICU bay, operating room, emergency bay...), *dirty* (waiting in a soiled utility for
cleaning) or *in maintenance* (the biomedical engineering workshop). It stays where it is for a random
dwell time (exponential, means per kind of equipment below, hours for most), then someone takes it to
its next place: stored -> in use -> dirty -> stored, with detours that hospitals know: monitors and
scanners roam from room to room, beds, wheelchairs and stretchers travel with patients to other
departments and floors, maintenance returns equipment to its store. Out-of-service and missing
equipment never moves. Most assets are still at any moment; a trip is a walk at about 1.2 m/s along
the walking graph (room -> door -> corridors -> lift -> corridors -> door -> room, see world.py), with
a wait for the lift and a ride of a few seconds per floor.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np
from shapely.geometry import LineString, Point

from .world import CARE_TYPES, NOT_FOR_USE, SOILED_TYPE, STORE_TYPES, TAG_HEIGHT_M, Room, TagSpec, World

ROAMING = frozenset({"vital-signs-monitor", "ultrasound", "ecg-cart", "bladder-scanner", "pulse-oximeter"})
TRANSPORT = frozenset({"wheelchair", "stretcher", "hospital-bed"})
HOUR = 3600.0


@dataclass(frozen=True)
class MovementParams:
    walking_speed_mps: float = 1.2
    walking_speed_sd: float = 0.15
    bed_speed_mps: float = 0.9  # beds and stretchers are pushed more slowly
    lift_wait_s: tuple[float, float] = (15.0, 60.0)
    lift_s_per_floor: float = 8.0
    activity: float = 1.0  # divides every dwell time: 2.0 = twice as many trips
    # mean dwell times (seconds) by behaviour: (stored, in use, dirty)
    dwell_default: tuple[float, float, float] = (4 * HOUR, 6 * HOUR, 1.5 * HOUR)
    dwell_roaming: tuple[float, float, float] = (2 * HOUR, 0.75 * HOUR, 1.0 * HOUR)
    dwell_transport: tuple[float, float, float] = (2 * HOUR, 3 * HOUR, 1.0 * HOUR)
    maintenance_dwell_s: float = 48 * HOUR


@dataclass(slots=True)
class Leg:
    t0: float
    t1: float
    floor: int  # level
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(slots=True)
class Trip:
    legs: list[Leg]
    starts: list[float]
    src: str
    dst: str
    purpose: str

    @property
    def t_start(self) -> float:
        return self.legs[0].t0

    @property
    def t_end(self) -> float:
        return self.legs[-1].t1

    def at(self, t: float) -> tuple[int, float, float]:
        i = max(0, bisect.bisect_right(self.starts, t) - 1)
        leg = self.legs[i]
        if t >= leg.t1 or leg.t1 <= leg.t0:
            return leg.floor, leg.x1, leg.y1
        f = (t - leg.t0) / (leg.t1 - leg.t0)
        if f <= 0:
            return leg.floor, leg.x0, leg.y0
        return leg.floor, leg.x0 + f * (leg.x1 - leg.x0), leg.y0 + f * (leg.y1 - leg.y0)


@dataclass(slots=True)
class Agent:
    tag: int  # index into the tag list
    tag_id: str
    asset: str | None
    asset_type: str
    home: str | None
    state: str  # stored | in_use | dirty | maintenance | fixed
    room: str
    floor: int
    x: float
    y: float
    z: float
    next_t: float = math.inf
    trip: Trip | None = None
    prev_trip: Trip | None = None  # the trip that ended in the current step (positions before arrival)
    speed: float = 1.2
    events: list = field(default_factory=list)


class MovementModel:
    def __init__(
        self, world: World, tags: list[TagSpec], params: MovementParams, rng: np.random.Generator, t0: float
    ):
        self.w = world
        self.p = params
        self.rng = rng
        self.agents: list[Agent] = []
        self._use_rooms: dict[str, list[str]] = {}
        for i, tag in enumerate(tags):
            self.agents.append(self._make_agent(i, tag, t0))
        self.moving: set[int] = set()
        self._arrived: list[int] = []
        self._t_last = t0

    # --------------------------------------------------------------------------------- set-up
    def _make_agent(self, i: int, tag: TagSpec, t0: float) -> Agent:
        if tag.is_reference or tag.asset is None or tag.asset not in self.w.assets:
            if tag.ref is not None:
                level, x, y, z = tag.ref
            else:  # an unassigned tag: somewhere in the first room
                r = next(iter(self.w.rooms.values()))
                level, (x, y), z = r.floor, r.point, TAG_HEIGHT_M
            room = self.w.floor(level).room_at(x, y)
            return Agent(i, tag.tag_id, None, "", None, "fixed", room.number if room else "", level, x, y, z)
        a = self.w.assets[tag.asset]
        room = self.w.rooms.get(a.room) or next(iter(self.w.rooms.values()))
        state = {
            "available": "stored",
            "in_use": "in_use",
            "needs_cleaning": "dirty",
            "in_maintenance": "maintenance",
        }.get(a.status, "fixed")  # out_of_service and missing equipment stays put
        if state == "stored" and room.room_type in CARE_TYPES:
            state = "in_use"
        x, y = self._park(room)
        agent = Agent(
            i,
            tag.tag_id,
            a.asset_number,
            a.asset_type,
            a.home_department,
            state,
            room.number,
            room.floor,
            x,
            y,
            TAG_HEIGHT_M,
        )
        agent.speed = self._speed(agent)
        if state != "fixed":
            # exponential dwell times are memoryless: the time left is drawn like a whole dwell
            agent.next_t = t0 + self._dwell(agent)
        return agent

    def _speed(self, agent: Agent) -> float:
        p = self.p
        base = p.bed_speed_mps if agent.asset_type in ("hospital-bed", "stretcher") else p.walking_speed_mps
        return float(np.clip(self.rng.normal(base, p.walking_speed_sd), 0.6, 1.8))

    def _dwell(self, agent: Agent) -> float:
        p = self.p
        if agent.state == "maintenance":
            mean = p.maintenance_dwell_s
        else:
            table = (
                p.dwell_roaming
                if agent.asset_type in ROAMING
                else p.dwell_transport
                if agent.asset_type in TRANSPORT
                else p.dwell_default
            )
            mean = table[{"stored": 0, "in_use": 1, "dirty": 2}[agent.state]]
        return float(self.rng.exponential(mean / max(p.activity, 1e-9)))

    def _park(self, room: Room) -> tuple[float, float]:
        """A random spot in the room, away from the walls."""
        poly = room.inner
        minx, miny, maxx, maxy = poly.bounds
        for _ in range(50):
            x = float(self.rng.uniform(minx, maxx))
            y = float(self.rng.uniform(miny, maxy))
            if poly.contains(Point(x, y)):
                return round(x, 3), round(y, 3)
        return room.point

    # --------------------------------------------------------------------------------- choices
    def use_rooms(self, department: str | None) -> list[str]:
        key = department or ""
        rooms = self._use_rooms.get(key)
        if rooms is None:
            rooms = sorted(
                r.number
                for r in self.w.rooms.values()
                if r.department == department and r.room_type not in NOT_FOR_USE
            )
            self._use_rooms[key] = rooms
        return rooms

    def _pick(self, numbers: list[str], exclude: str | None = None) -> str | None:
        cand = [n for n in numbers if n != exclude] or numbers
        if not cand:
            return None
        return cand[int(self.rng.integers(len(cand)))]

    def _stores(self, agent: Agent) -> list[str]:
        rooms = sorted(r.number for r in self.w.rooms_where(types=STORE_TYPES, department=agent.home))
        if not rooms:  # departments without a store use the nearest store on their floor
            home_rooms = self.use_rooms(agent.home)
            level = self.w.rooms[home_rooms[0]].floor if home_rooms else agent.floor
            rooms = sorted(r.number for r in self.w.rooms_where(types=STORE_TYPES, floor=level))
            rooms = rooms or sorted(r.number for r in self.w.rooms_where(types=STORE_TYPES))
        return rooms

    def _soiled(self, agent: Agent) -> list[str]:
        here = self.w.rooms[agent.room]
        for dept in (here.department, agent.home):
            rooms = sorted(r.number for r in self.w.rooms_where(types=(SOILED_TYPE,), department=dept))
            if rooms:
                return rooms
        rooms = sorted(r.number for r in self.w.rooms_where(types=(SOILED_TYPE,), floor=agent.floor))
        return rooms or sorted(r.number for r in self.w.rooms_where(types=(SOILED_TYPE,)))

    def _next(self, agent: Agent) -> tuple[str, str | None, str]:
        """(next state, destination room, purpose) when the dwell time is over."""
        u = float(self.rng.random())
        t = agent.asset_type
        if agent.state == "stored":
            return "in_use", self._pick(self.use_rooms(agent.home), agent.room), "fetched for use"
        if agent.state == "dirty":
            return "stored", self._pick(self._stores(agent), agent.room), "cleaned, returned to store"
        if agent.state == "maintenance":
            return "stored", self._pick(self._stores(agent)), "back from maintenance"
        # in use
        if t in ROAMING:
            if u < 0.6:
                return (
                    "in_use",
                    self._pick(self.use_rooms(agent.home), agent.room),
                    "moved to the next patient",
                )
            if u < 0.85:
                return "stored", self._pick(self._stores(agent), agent.room), "returned to store"
        elif t in TRANSPORT:
            if u < 0.35:
                depts = sorted(
                    {
                        r.department
                        for r in self.w.rooms.values()
                        if r.room_type in CARE_TYPES and r.department and r.department != agent.home
                    }
                )
                dept = self._pick(depts)
                if dept:
                    return "in_use", self._pick(self.use_rooms(dept)), "patient transfer"
        elif u < 0.15:
            return "in_use", self._pick(self.use_rooms(agent.home), agent.room), "moved with the patient"
        return "dirty", self._pick(self._soiled(agent), agent.room), "sent for cleaning"

    # --------------------------------------------------------------------------------- trips
    def plan(self, agent: Agent, dst_room: str, t: float, purpose: str) -> Trip | None:
        w = self.w
        p = self.p
        wait = float(self.rng.uniform(*p.lift_wait_s))
        nodes = w.route(
            w.room_node[agent.room],
            w.room_node[dst_room],
            speed=agent.speed,
            lift_wait_s=wait,
            lift_s_per_floor=p.lift_s_per_floor,
        )
        if nodes is None:
            return None
        dst = w.rooms[dst_room]
        end = self._park(dst)
        pts: list[tuple[int, float, float]] = [(agent.floor, agent.x, agent.y)]
        inner = [(w.nodes[n].floor, w.nodes[n].x, w.nodes[n].y) for n in nodes[1:-1]]
        src_poly = w.rooms[agent.room].polygon.buffer(1e-6)
        if (
            inner
            and inner[0][0] == agent.floor
            and not src_poly.covers(LineString([(agent.x, agent.y), inner[0][1:]]))
        ):
            pts.append((agent.floor, *w.rooms[agent.room].point))
        pts.extend(inner)
        dst_poly = dst.polygon.buffer(1e-6)
        if inner and not dst_poly.covers(LineString([inner[-1][1:], end])):
            pts.append((dst.floor, *dst.point))
        pts.append((dst.floor, *end))
        legs: list[Leg] = []
        now = t
        lift_started = False
        for (f0, x0, y0), (f1, x1, y1) in zip(pts, pts[1:], strict=False):
            if f0 != f1:  # a lift ride: wait once, then a few seconds per floor
                if not lift_started:
                    legs.append(Leg(now, now + wait, f0, x0, y0, x0, y0))
                    now += wait
                    lift_started = True
                dur = p.lift_s_per_floor * abs(w.floor_index[f1] - w.floor_index[f0])
                legs.append(Leg(now, now + dur, f1, x1, y1, x1, y1))
                now += dur
                continue
            lift_started = False
            d = math.hypot(x1 - x0, y1 - y0)
            if d < 1e-9:
                continue
            dur = d / agent.speed
            legs.append(Leg(now, now + dur, f0, x0, y0, x1, y1))
            now += dur
        if not legs:
            legs.append(Leg(t, t, agent.floor, agent.x, agent.y, agent.x, agent.y))
        return Trip(legs, [leg.t0 for leg in legs], agent.room, dst_room, purpose)

    def advance(self, t: float) -> tuple[set[int], list[tuple[float, str, str, str]]]:
        """Start and finish trips up to time ``t``. Returns the agents moving at some time in the step
        (their positions are then asked for with :meth:`position`) and the events
        ``(t, kind, subject, detail)`` that happened."""
        events: list[tuple[float, str, str, str]] = []
        for i in self._arrived:
            self.agents[i].prev_trip = None
        self._arrived = []
        active = set(self.moving)
        for a in self.agents:
            if a.trip is None and a.next_t <= t:
                # never in the past of the previous step, whose positions are already out
                start = max(a.next_t, self._t_last)
                state, dst, purpose = self._next(a)
                trip = self.plan(a, dst, start, purpose) if dst and dst != a.room else None
                if trip is None:  # nowhere to go: stay and think again later
                    a.state = state
                    a.next_t = start + self._dwell(a)
                    continue
                a.trip = trip
                a.state = state
                self.moving.add(a.tag)
                active.add(a.tag)
                events.append(
                    (start, "trip_start", a.tag_id, f"{a.asset} {trip.src} -> {trip.dst}: {purpose}")
                )
        for i in list(self.moving):
            a = self.agents[i]
            trip = a.trip
            if trip is not None and trip.t_end <= t:
                f, x, y = trip.at(trip.t_end)
                a.floor, a.x, a.y, a.room = f, x, y, trip.dst
                a.trip = None
                a.prev_trip = trip
                a.next_t = trip.t_end + self._dwell(a)
                self.moving.discard(i)
                self._arrived.append(i)
                events.append(
                    (trip.t_end, "trip_end", a.tag_id, f"{a.asset} arrived in {trip.dst} ({a.state})")
                )
        self._t_last = t
        return active, events

    def position(self, i: int, t: float) -> tuple[int, float, float, float]:
        """(level, x, y, z) of agent ``i`` at time ``t`` (within the current step)."""
        a = self.agents[i]
        if a.trip is not None:
            f, x, y = a.trip.at(max(t, a.trip.t_start))
            if t < a.trip.t_start:
                return a.floor, a.x, a.y, a.z
            return f, x, y, a.z
        prev = a.prev_trip
        if prev is not None and t < prev.t_end:
            f, x, y = prev.at(max(t, prev.t_start))
            return f, x, y, a.z
        return a.floor, a.x, a.y, a.z
