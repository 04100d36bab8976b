"""The simulated hospital as plain data: floors and room polygons, gateways, tags, sensors, assets, and
the walking graph equipment moves along. Built from the fixture JSON and floor-plan GeoJSON files by
:func:`load_world`; no database, no Django.

Walking graph: a node at each room's interior point, a "door" node in the middle of every wall a room
shares with a corridor (the demo draws its doors there), and a node in the middle of every wall two
corridors share. Nodes that lie in (or on the edge of) the same room are joined when the straight line
between them stays inside that room, so a route is room -> door -> corridor ... -> door -> room and
every point of it lies inside some room polygon. Stairs/lift rooms that sit on top of each other on
adjacent floors form a shaft; equipment changes floor only there (in a lift when there is one).
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import shapely
from shapely.geometry import LineString, Point, Polygon, shape
from shapely.ops import linemerge, unary_union

from locator.engine.walls import shared_line, wall_segments

# Room types equipment is used in, stored in, cleaned in; see floorplans/README.md for all types.
CARE_TYPES = frozenset(
    {
        "patient_room",
        "icu_bay",
        "operating_room",
        "isolation_room",
        "protective_environment",
        "emergency_bay",
        "recovery_bay",
        "imaging",
    }
)
STORE_TYPES = ("equipment_storage", "clean_utility")
SOILED_TYPE = "soiled_utility"
CORRIDOR = "corridor"
STAIRS_LIFT = "stairs_lift"
NOT_FOR_USE = frozenset(
    {CORRIDOR, STAIRS_LIFT, "equipment_storage", "clean_utility", SOILED_TYPE, "staff_room", "office"}
)

TAG_HEIGHT_M = 1.0  # a tag on a pump or a bed rail
MIN_DOOR_M = 0.8  # a shared wall shorter than this cannot hold a door


@dataclass(slots=True)
class Room:
    number: str
    name: str
    room_type: str
    department: str | None
    floor: int  # level
    polygon: Polygon
    inner: Polygon  # the polygon shrunk by a margin: where equipment is parked
    point: tuple[float, float]  # a point well inside (the walking-graph node)


@dataclass(slots=True)
class Floor:
    level: int
    name: str
    elevation_m: float
    height_m: float
    rooms: list[Room]
    bounds: tuple[float, float, float, float]  # minx, miny, maxx, maxy
    walls: list[tuple[float, float, float, float]] = field(default_factory=list)  # noded, de-duplicated
    _tree: shapely.STRtree | None = None

    def room_at(self, x: float, y: float) -> Room | None:
        """The room containing (x, y) (on a shared wall: one of the two), or None outside the building."""
        if self._tree is None:
            self._tree = shapely.STRtree([r.polygon for r in self.rooms])
        p = Point(x, y)
        hits = self._tree.query(p, predicate="intersects")
        if len(hits) == 0:
            return None
        return self.rooms[int(min(hits))]


@dataclass(frozen=True, slots=True)
class GatewaySpec:
    gateway_id: str
    floor: int
    room: str
    x: float
    y: float
    z: float


@dataclass(frozen=True, slots=True)
class TagSpec:
    tag_id: str
    mac: str
    uuid: str
    major: int
    minor: int
    tx_power_dbm: int
    asset: str | None
    is_reference: bool
    ref: tuple[int, float, float, float] | None = None  # floor, x, y, z of a reference tag


@dataclass(frozen=True, slots=True)
class AssetSpec:
    asset_number: str
    asset_type: str
    category: str
    is_mobile: bool
    home_department: str | None
    status: str
    room: str  # initial_room (mobile) or installed_room (fixed)


@dataclass(frozen=True, slots=True)
class SensorSpec:
    sensor_id: str
    name: str
    floor: int
    room: str
    asset: str | None
    profile: str
    ble_format: str  # "ruuvi_v5" | "bthome_v2"
    mac: str
    bindkey: str  # 32 hex digits, or "" for plain
    quantities: tuple[str, ...]
    report_interval_s: float


@dataclass(slots=True)
class NavNode:
    floor: int
    x: float
    y: float
    room: str  # the room it is in (a door node: the room it opens)


@dataclass(slots=True)
class World:
    site: str
    building: str
    floors: list[Floor]
    gateways: list[GatewaySpec]
    tags: list[TagSpec]
    sensors: list[SensorSpec]
    assets: dict[str, AssetSpec]
    profiles: dict = field(default_factory=dict)
    # walking graph
    nodes: list[NavNode] = field(default_factory=list)
    edges: dict[int, list[tuple[int, float, str]]] = field(default_factory=dict)  # node -> (node, cost, kind)
    room_node: dict[str, int] = field(default_factory=dict)
    room_doors: dict[str, list[int]] = field(default_factory=dict)
    rooms: dict[str, Room] = field(default_factory=dict)
    floor_index: dict[int, int] = field(default_factory=dict)  # level -> index in floors

    def floor(self, level: int) -> Floor:
        return self.floors[self.floor_index[level]]

    def rooms_where(
        self, *, types: Iterable[str] | None = None, department: str | None = None, floor: int | None = None
    ) -> list[Room]:
        types = set(types) if types is not None else None
        return [
            r
            for r in self.rooms.values()
            if (types is None or r.room_type in types)
            and (department is None or r.department == department)
            and (floor is None or r.floor == floor)
        ]

    def subset(
        self,
        *,
        tags: Iterable[str] | None = None,
        sensors: Iterable[str] | None = None,
        gateways: Iterable[str] | None = None,
    ) -> World:
        """A copy with only the named tags/sensors/gateways (None keeps all): small worlds for tests."""
        keep_t = None if tags is None else set(tags)
        keep_s = None if sensors is None else set(sensors)
        keep_g = None if gateways is None else set(gateways)
        return World(
            self.site,
            self.building,
            self.floors,
            [g for g in self.gateways if keep_g is None or g.gateway_id in keep_g],
            [t for t in self.tags if keep_t is None or t.tag_id in keep_t],
            [s for s in self.sensors if keep_s is None or s.sensor_id in keep_s],
            self.assets,
            self.profiles,
            self.nodes,
            self.edges,
            self.room_node,
            self.room_doors,
            self.rooms,
            self.floor_index,
        )

    # ------------------------------------------------------------------------------------ routing
    def route(
        self, start: int, goal: int, *, speed: float, lift_wait_s: float, lift_s_per_floor: float
    ) -> list[int] | None:
        """Fastest node sequence from ``start`` to ``goal`` (Dijkstra on travel time)."""
        if start == goal:
            return [start]
        dist = {start: 0.0}
        prev: dict[int, int] = {}
        heap = [(0.0, start)]
        while heap:
            d, n = heapq.heappop(heap)
            if n == goal:
                break
            if d > dist.get(n, math.inf):
                continue
            for m, cost, kind in self.edges.get(n, ()):
                step = cost / speed if kind == "walk" else lift_wait_s + cost * lift_s_per_floor
                nd = d + step
                if nd < dist.get(m, math.inf):
                    dist[m] = nd
                    prev[m] = n
                    heapq.heappush(heap, (nd, m))
        if goal not in dist:
            return None
        path = [goal]
        while path[-1] != start:
            path.append(prev[path[-1]])
        return path[::-1]


# ----------------------------------------------------------------------------------------- loading


def _items(path: Path) -> tuple[dict, list[dict]]:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    return doc, doc.get("items", [])


def _find_fixture_dir(fixture_dir: Path) -> Path:
    if (fixture_dir / "gateways.json").exists():
        return fixture_dir
    if (fixture_dir / "demo" / "gateways.json").exists():
        return fixture_dir / "demo"
    raise FileNotFoundError(f"no gateways.json in {fixture_dir} or {fixture_dir / 'demo'}")


def _floorplan_files(floorplan_dir: Path, manifest: dict | None) -> list[Path]:
    names = (manifest or {}).get("floorplans")
    if names:
        return [floorplan_dir / n for n in names]
    files = sorted(floorplan_dir.glob("*.geojson"))
    if not files:
        raise FileNotFoundError(f"no *.geojson floor plans in {floorplan_dir}")
    return files


def _load_floor(path: Path) -> tuple[dict, Floor]:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    props = doc.get("properties", {})
    level = int(props["level"])
    rooms = []
    for feat in doc.get("features", []):
        p = feat.get("properties") or {}
        if "number" not in p or "zone" in p:
            continue
        poly = shape(feat["geometry"])
        if not isinstance(poly, Polygon) or poly.area <= 0:
            continue
        inner = poly.buffer(-0.4)
        if inner.is_empty or not isinstance(inner, Polygon):
            inner = poly.buffer(-0.1) if not poly.buffer(-0.1).is_empty else poly
            if not isinstance(inner, Polygon):
                inner = poly
        rp = poly.representative_point() if not poly.centroid.within(inner) else poly.centroid
        rooms.append(
            Room(
                number=p["number"],
                name=p.get("name", p["number"]),
                room_type=p.get("room_type", "other"),
                department=p.get("department"),
                floor=level,
                polygon=poly,
                inner=inner,
                point=(round(rp.x, 3), round(rp.y, 3)),
            )
        )
    if not rooms:
        raise ValueError(f"{path}: no rooms")
    bounds = unary_union([r.polygon for r in rooms]).bounds
    floor = Floor(
        level=level,
        name=props.get("name", f"Level {level}"),
        elevation_m=float(props.get("elevation_m", 0.0)),
        height_m=float(props.get("height_m", 3.5)),
        rooms=rooms,
        bounds=tuple(float(b) for b in bounds),
    )
    floor.walls = _walls(rooms)
    return props, floor


def _walls(rooms: list[Room]) -> list[tuple[float, float, float, float]]:
    """Every room outline as de-duplicated segments; the line between two corridor segments is not a
    wall (corridors are cut into segments only to name positions). Same geometry as the locator's
    floor-plan radio map reads from the plan; the radio model on top of it is the simulator's own."""
    return wall_segments((r.polygon, r.room_type == CORRIDOR) for r in rooms)


def _build_graph(world: World) -> None:
    nodes: list[NavNode] = []
    in_room: dict[str, list[int]] = {}

    def add(floor: int, x: float, y: float, room: str, *also: str) -> int:
        nodes.append(NavNode(floor, round(x, 3), round(y, 3), room))
        i = len(nodes) - 1
        for r in (room, *also):
            in_room.setdefault(r, []).append(i)
        return i

    for fl in world.floors:
        for r in fl.rooms:
            world.room_node[r.number] = add(fl.level, r.point[0], r.point[1], r.number)
            world.room_doors[r.number] = []
        corridors = [r for r in fl.rooms if r.room_type == CORRIDOR]
        others = [r for r in fl.rooms if r.room_type != CORRIDOR]
        for r in others:
            doors = []
            for c in corridors:
                line = shared_line(r.polygon, c.polygon)
                if line is not None and line.length >= MIN_DOOR_M:
                    doors.append((line.length, c, line))
            if not doors:  # an inner room: a door to the neighbour it shares the longest wall with
                for o in others:
                    if o is r:
                        continue
                    line = shared_line(r.polygon, o.polygon)
                    if line is not None and line.length >= MIN_DOOR_M:
                        doors.append((line.length, o, line))
                doors = sorted(doors, key=lambda d: -d[0])[:1]
            # one door per corridor-facing wall run: the middle of the merged shared wall
            merged: dict[str, tuple[Room, LineString]] = {}
            lines = [d[2] for d in doors]
            if lines:
                union = linemerge(lines) if len(lines) > 1 else lines[0]
                runs = list(getattr(union, "geoms", [union]))
                for run in runs:
                    mid = run.interpolate(0.5, normalized=True)
                    other = next((d[1] for d in doors if d[1].polygon.distance(mid) < 1e-6), doors[0][1])
                    merged[f"{mid.x:.3f},{mid.y:.3f}"] = (other, mid)
            for other, mid in merged.values():
                i = add(fl.level, mid.x, mid.y, r.number, other.number)
                world.room_doors[r.number].append(i)
        for i, c in enumerate(corridors):
            for c2 in corridors[i + 1 :]:
                line = shared_line(c.polygon, c2.polygon)
                if line is not None and line.length >= MIN_DOOR_M:
                    mid = line.interpolate(0.5, normalized=True)
                    add(fl.level, mid.x, mid.y, c.number, c2.number)

    edges: dict[int, list[tuple[int, float, str]]] = {i: [] for i in range(len(nodes))}
    for number, members in in_room.items():
        room = world.rooms[number]
        area = room.polygon.buffer(1e-6)
        uniq = sorted(set(members))
        for a_i, a in enumerate(uniq):
            for b in uniq[a_i + 1 :]:
                na, nb = nodes[a], nodes[b]
                if (na.x, na.y) == (nb.x, nb.y):
                    d = 0.0
                else:
                    seg = LineString([(na.x, na.y), (nb.x, nb.y)])
                    if not area.covers(seg):
                        continue
                    d = seg.length
                edges[a].append((b, d, "walk"))
                edges[b].append((a, d, "walk"))
    # vertical shafts: stairs/lift rooms overlapping on adjacent floors. Wheeled equipment takes a lift
    # ("lift" in the room name); stairs are used only in a building without any lift.
    levels = [f.level for f in world.floors]
    shafts = []
    for lo, hi in zip(levels, levels[1:], strict=False):
        for a in world.floor(lo).rooms:
            if a.room_type != STAIRS_LIFT:
                continue
            for b in world.floor(hi).rooms:
                if b.room_type != STAIRS_LIFT:
                    continue
                ov = a.polygon.intersection(b.polygon).area
                if ov < 0.5 * min(a.polygon.area, b.polygon.area):
                    continue
                is_lift = "lift" in a.name.lower() or "lift" in b.name.lower()
                shafts.append((is_lift, world.room_node[a.number], world.room_node[b.number]))
    any_lift = any(s[0] for s in shafts)
    for is_lift, na, nb in shafts:
        if any_lift and not is_lift:
            continue
        edges[na].append((nb, 1.0, "lift"))
        edges[nb].append((na, 1.0, "lift"))
    world.nodes = nodes
    world.edges = edges


def load_world(
    fixture_dir: str | Path = "fixtures",
    floorplan_dir: str | Path = "floorplans",
    *,
    profiles_file: str | Path | None = None,
) -> World:
    """Build the world from ``<fixture_dir>[/demo]/{gateways,tags,sensors,assets,asset_types}.json`` and
    the floor plans in ``floorplan_dir`` (those listed in ``manifest.json``, else every ``*.geojson``).
    ``profiles_file`` defaults to ``<fixture_dir>/monitoring_profiles.json`` when it exists."""
    fixture_dir = Path(fixture_dir)
    floorplan_dir = Path(floorplan_dir)
    demo = _find_fixture_dir(fixture_dir)
    manifest = None
    if (demo / "manifest.json").exists():
        with open(demo / "manifest.json", encoding="utf-8") as f:
            manifest = json.load(f)
    floors = []
    site = building = None
    for path in _floorplan_files(floorplan_dir, manifest):
        props, fl = _load_floor(path)
        site = site or props.get("site")
        building = building or props.get("building")
        floors.append(fl)
    floors.sort(key=lambda f: f.level)

    gdoc, gitems = _items(demo / "gateways.json")
    site = gdoc.get("site", site) or "site"
    building = gdoc.get("building", building) or "main"
    gateways = [
        GatewaySpec(g["gateway_id"], int(g["floor"]), g["room"], float(g["x"]), float(g["y"]), float(g["z"]))
        for g in gitems
    ]
    _, titems = _items(demo / "tags.json")
    tags = []
    for t in titems:
        ref = None
        if t.get("is_reference"):
            ref = (int(t["ref_floor"]), float(t["ref_x"]), float(t["ref_y"]), float(t.get("ref_z", 2.0)))
        tags.append(
            TagSpec(
                t["tag_id"],
                t["mac"].upper(),
                t["uuid"],
                int(t["major"]),
                int(t["minor"]),
                int(t.get("tx_power_dbm", -59)),
                t.get("asset"),
                bool(t.get("is_reference")),
                ref,
            )
        )
    _, types = _items(demo / "asset_types.json")
    type_by_code = {t["code"]: t for t in types}
    _, aitems = _items(demo / "assets.json")
    assets = {}
    for a in aitems:
        at = type_by_code.get(a["asset_type"], {})
        assets[a["asset_number"]] = AssetSpec(
            a["asset_number"],
            a["asset_type"],
            at.get("category", ""),
            bool(at.get("is_mobile", True)),
            a.get("home_department"),
            a.get("status", "available"),
            a.get("initial_room") or a.get("installed_room") or "",
        )
    _, sitems = _items(demo / "sensors.json")
    sensors = [
        SensorSpec(
            s["sensor_id"],
            s.get("name", s["sensor_id"]),
            int(s["floor"]),
            s["room"],
            s.get("asset"),
            s.get("profile", ""),
            s["ble_format"],
            s["mac"].upper(),
            s.get("bindkey") or "",
            tuple(s.get("quantities", ())),
            float(s.get("report_interval_s", 60)),
        )
        for s in sitems
    ]
    profiles = {}
    pf = Path(profiles_file) if profiles_file else fixture_dir / "monitoring_profiles.json"
    if pf.exists():
        with open(pf, encoding="utf-8") as f:
            profiles = json.load(f).get("profiles", {})

    world = World(site, building, floors, gateways, tags, sensors, assets, profiles)
    world.floor_index = {f.level: i for i, f in enumerate(floors)}
    world.rooms = {r.number: r for f in floors for r in f.rooms}
    for g in gateways:
        if g.floor not in world.floor_index:
            raise ValueError(f"gateway {g.gateway_id}: floor {g.floor} has no floor plan")
    _build_graph(world)
    return world
