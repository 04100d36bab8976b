"""Find equipment: the nearest units that match a search, by walking distance from a room.

The walking graph is built from the room polygons alone (no extra data to maintain):

* a **door** where a room shares a wall of at least ``MIN_DOOR_M`` with a corridor (and where two
  corridors meet), at the middle of the shared wall: the demo draws its doors there, and real plans
  put them on the corridor side. A room that touches no corridor opens into its neighbours instead;
* inside a room, each door reaches every other door in a straight line;
* stairs/lift rooms that overlap on consecutive floors of a building form a shaft; changing floor
  costs ``FLOOR_CHANGE_M`` metres-equivalent (waiting for the lift, the stairs) per floor.

Distances are found with a small Dijkstra (``heapq``) over a few hundred nodes: under a millisecond,
so no cache per origin is needed and no scipy/networkx dependency. The graph is cached per process
and rebuilt when rooms change. When the origin's floor has no corridors, or no route exists, units are
ordered by floor (nearest floor first) and then straight-line distance.
"""

from __future__ import annotations

import heapq
import math
import re
import threading
import time
from dataclasses import dataclass, field

from django.db.models import Count, Max, Q
from shapely import STRtree
from shapely.geometry import LineString, Polygon
from shapely.ops import linemerge

CORRIDOR = "corridor"
STAIRS_LIFT = "stairs_lift"
MIN_DOOR_M = 0.8
FLOOR_CHANGE_M = 25.0
STALE_S = 1800  # a unit not heard for 30 minutes is listed after the ones heard recently
MAX_RESULTS = 50


# --------------------------------------------------------------------------- the walking graph


@dataclass(slots=True)
class RoomInfo:
    id: int
    floor: int
    level: int
    building: int
    number: str
    room_type: str
    point: tuple[float, float]
    doors: list[int] = field(default_factory=list)
    shaft: int | None = None  # node id of this stairs/lift room's shaft stop


@dataclass
class WalkingGraph:
    rooms: dict[int, RoomInfo]
    nodes: list[tuple[int, float, float]]  # (floor id, x, y)
    edges: list[list[tuple[int, float]]]
    corridor_floors: set[int]

    def distances(self, sources: list[tuple[int, float]]) -> list[float]:
        """Dijkstra from several (node, initial cost) sources; returns the cost of every node."""
        dist = [math.inf] * len(self.nodes)
        heap = []
        for node, cost in sources:
            if cost < dist[node]:
                dist[node] = cost
                heap.append((cost, node))
        heapq.heapify(heap)
        while heap:
            d, node = heapq.heappop(heap)
            if d > dist[node]:
                continue
            for other, w in self.edges[node]:
                nd = d + w
                if nd < dist[other]:
                    dist[other] = nd
                    heapq.heappush(heap, (nd, other))
        return dist


def _shared_wall(a: Polygon, b: Polygon) -> LineString | None:
    shared = a.boundary.intersection(b.boundary)
    if shared.is_empty or shared.length < MIN_DOOR_M:
        return None
    if shared.geom_type == "MultiLineString":
        shared = linemerge(shared)
    if shared.geom_type == "MultiLineString":
        shared = max(shared.geoms, key=lambda g: g.length)
    if shared.geom_type == "GeometryCollection":
        lines = [g for g in shared.geoms if g.geom_type == "LineString"]
        if not lines:
            return None
        shared = max(lines, key=lambda g: g.length)
    return shared if shared.geom_type == "LineString" and shared.length >= MIN_DOOR_M else None


def build_graph(rows) -> WalkingGraph:
    """``rows``: (room id, floor id, level, building id, number, room type, polygon) tuples."""
    rooms: dict[int, RoomInfo] = {}
    shapes: dict[int, Polygon] = {}
    by_floor: dict[int, list[int]] = {}
    for rid, floor, level, building, number, rtype, polygon in rows:
        shape = Polygon(polygon)
        if not shape.is_valid or shape.area <= 0:
            continue
        inside = shape.centroid if shape.contains(shape.centroid) else shape.representative_point()
        rooms[rid] = RoomInfo(rid, floor, level, building, number, rtype, (inside.x, inside.y))
        shapes[rid] = shape
        by_floor.setdefault(floor, []).append(rid)

    nodes: list[tuple[int, float, float]] = []
    edges: list[list[tuple[int, float]]] = []

    def add_node(floor: int, x: float, y: float) -> int:
        nodes.append((floor, x, y))
        edges.append([])
        return len(nodes) - 1

    def link(a: int, b: int, w: float) -> None:
        edges[a].append((b, w))
        edges[b].append((a, w))

    corridor_floors = set()
    for floor, ids in by_floor.items():
        if any(rooms[r].room_type == CORRIDOR for r in ids):
            corridor_floors.add(floor)
        tree = STRtree([shapes[r] for r in ids])
        pairs = {}
        for i, rid in enumerate(ids):
            for j in tree.query(shapes[rid], predicate="intersects"):
                if j > i:
                    wall = _shared_wall(shapes[rid], shapes[ids[j]])
                    if wall is not None:
                        pairs[(rid, ids[j])] = wall
        opens_to_corridor = {r for pair in pairs for r in pair
                             if CORRIDOR in (rooms[pair[0]].room_type, rooms[pair[1]].room_type)}
        for (a, b), wall in pairs.items():
            through_corridor = CORRIDOR in (rooms[a].room_type, rooms[b].room_type)
            # A room with no corridor door opens into its neighbours (suites, inner rooms).
            if through_corridor or a not in opens_to_corridor or b not in opens_to_corridor:
                mid = wall.interpolate(0.5, normalized=True)
                door = add_node(floor, mid.x, mid.y)
                rooms[a].doors.append(door)
                rooms[b].doors.append(door)

    for room in rooms.values():
        if room.room_type == STAIRS_LIFT:
            room.shaft = add_node(room.floor, *room.point)
            room.doors.append(room.shaft)
        stops = room.doors
        for i, a in enumerate(stops):
            for b in stops[i + 1:]:
                link(a, b, math.dist(nodes[a][1:], nodes[b][1:]))

    shafts = sorted((r for r in rooms.values() if r.shaft is not None), key=lambda r: (r.building, r.level))
    for i, lower in enumerate(shafts):
        for upper in shafts[i + 1:]:
            if upper.building != lower.building or upper.level <= lower.level:
                continue
            gap = sum(1 for f in {(r.building, r.level) for r in rooms.values()}
                      if f[0] == lower.building and lower.level < f[1] < upper.level) + 1
            if gap > 1:
                continue  # only consecutive floors; longer rides chain through the floors between
            overlap = shapes[lower.id].intersection(shapes[upper.id]).area
            if overlap >= 0.5 * min(shapes[lower.id].area, shapes[upper.id].area):
                link(lower.shaft, upper.shaft, FLOOR_CHANGE_M)
    return WalkingGraph(rooms, nodes, edges, corridor_floors)


_cache: dict = {"key": None, "graph": None}
_cache_lock = threading.Lock()


def walking_graph() -> WalkingGraph:
    """The graph for the current rooms, rebuilt only when a room was added, changed or removed."""
    from hospital.facility.models import Room

    key = tuple(Room.objects.aggregate(n=Count("id"), changed=Max("updated_at")).values())
    with _cache_lock:
        if _cache["key"] == key and _cache["graph"] is not None:
            return _cache["graph"]
    rows = Room.objects.values_list("id", "floor_id", "floor__level", "floor__building_id", "number", "room_type",
                                    "polygon")
    graph = build_graph(rows)
    with _cache_lock:
        _cache.update(key=key, graph=graph)
    return graph


# --------------------------------------------------------------------------- matching


def _terms(query: str) -> list[str]:
    return [t for t in re.split(r"[\s,;/]+", query.strip().lower()) if t]


def _term_q(term: str) -> Q:
    from hospital.assets.choices import AssetCategory

    variants = {term}
    if len(term) > 3 and term.endswith("s"):
        variants.add(term[:-1])  # "pumps" finds "pump"
    q = Q()
    for v in variants:
        q |= (Q(asset_type__name__icontains=v) | Q(asset_type__code__icontains=v) | Q(asset_number__icontains=v)
              | Q(manufacturer__icontains=v) | Q(model__icontains=v))
        categories = [c.value for c in AssetCategory if v in c.label.lower() or v in c.value]
        if categories:
            q |= Q(asset_type__category__in=categories)
    return q


def matching_assets(query: str, *, statuses: list[str] | None = None):
    """Assets whose type, category, number, make or model match every word of ``query``."""
    from hospital.assets.models import Asset

    qs = Asset.objects.all()
    for term in _terms(query):
        qs = qs.filter(_term_q(term))
    if statuses:
        qs = qs.filter(status__in=statuses)
    return qs


def find_room(text: str):
    """A room by its number as signed on the door ("3W-12", any case), or None."""
    from hospital.facility.models import Room

    text = (text or "").strip()
    if not text:
        return None
    number = text.split()[0]
    return (Room.objects.select_related("floor__building").filter(number__iexact=number)
            .order_by("floor__building_id", "floor__level").first())


# --------------------------------------------------------------------------- search


@dataclass
class Hit:
    asset: object
    room: object | None
    floor: object | None
    x: float | None
    y: float | None
    last_seen: object | None  # datetime, None for fixed equipment
    fixed: bool
    distance_m: float | None  # walking (or straight-line) metres, None when not comparable
    floors_away: int | None
    stale: bool
    walked: bool = False  # distance_m is a walking distance (else straight-line on the same floor)


@dataclass
class SearchResult:
    query: str
    origin: object | None  # Room
    method: str  # "walking" | "floor" | "none"
    hits: list[Hit]
    total: int  # matches before the limit
    exact: bool = False  # the query named one asset by its number: status filter not applied
    elapsed_ms: float = 0.0


def search(query: str, origin_room=None, *, statuses: list[str] | None = ("available",), limit: int = 20
           ) -> SearchResult:
    """The nearest matching units in ``statuses`` (None: any status): walking distance from
    ``origin_room`` when the floors have corridors, else nearest floor then straight-line distance; with
    no origin, by asset number. An empty query with statuses lists every unit in those statuses; a query
    that is exactly one asset number finds that unit whatever its status."""
    from hospital.assets.models import Asset
    from locator.models import CurrentLocation

    started = time.perf_counter()
    query = (query or "").strip()
    exact = False
    if query and (one := Asset.objects.filter(asset_number__iexact=query).values_list("id", flat=True).first()):
        assets = Asset.objects.filter(pk=one)
        exact = True
    else:
        statuses = list(statuses) if statuses else None
        assets = matching_assets(query, statuses=statuses) if (query or statuses) else Asset.objects.none()
    assets = list(assets.select_related("asset_type", "home_department", "installed_room__floor__building"))
    by_id = {a.id: a for a in assets}
    locations = {
        loc.tag.asset_id: loc
        for loc in CurrentLocation.objects.filter(tag__asset_id__in=list(by_id)).select_related(
            "tag", "room", "floor__building")
    }
    now = time.time()
    hits = []
    for asset in assets:
        loc = locations.get(asset.id)
        if loc is not None and loc.floor_id is not None:
            hits.append(Hit(asset, loc.room, loc.floor, loc.x, loc.y, loc.last_seen_at, False, None, None,
                            now - loc.last_seen_at.timestamp() > STALE_S))
        elif asset.installed_room_id:
            room = asset.installed_room
            hits.append(Hit(asset, room, room.floor, room.centroid_x, room.centroid_y, None, True, None, None, False))
        else:
            hits.append(Hit(asset, None, None, None, None, None, False, None, None, True))

    method = "none"
    if origin_room is not None:
        method = _rank(hits, origin_room)
    else:
        hits.sort(key=lambda h: (h.floor is None, h.stale, h.asset.asset_number))
    total = len(hits)
    return SearchResult(query, origin_room, method, hits[:limit], total, exact,
                        round((time.perf_counter() - started) * 1000, 2))


def _rank(hits: list[Hit], origin) -> str:
    graph = walking_graph()
    info = graph.rooms.get(origin.id)
    walking = info is not None and info.floor in graph.corridor_floors and bool(info.doors)
    dist = None
    if walking:
        ox, oy = info.point
        dist = graph.distances([(d, math.dist((ox, oy), graph.nodes[d][1:])) for d in info.doors])
    origin_level = origin.floor.level
    origin_building = origin.floor.building_id
    for h in hits:
        if h.floor is None:
            continue
        h.floors_away = abs(h.floor.level - origin_level) if h.floor.building_id == origin_building else None
        d = math.inf
        if walking:
            if h.room is not None and h.room.id == origin.id:
                d = math.dist(info.point, (h.x, h.y))
            else:
                room = graph.rooms.get(h.room.id) if h.room is not None else None
                doors = room.doors if room is not None else [
                    n for n, (f, _, _) in enumerate(graph.nodes) if f == h.floor.id]
                d = min((dist[n] + math.dist(graph.nodes[n][1:], (h.x, h.y)) for n in doors), default=math.inf)
        if math.isfinite(d):
            h.distance_m, h.walked = round(d, 1), True
        elif h.floor.id == origin.floor_id:
            h.distance_m = round(math.dist((origin.centroid_x, origin.centroid_y), (h.x, h.y)), 1)

    def key(h: Hit):
        if h.floor is None:
            return (3, 0, 0.0, h.stale, h.asset.asset_number)
        if h.walked:
            return (0, h.stale, h.distance_m, h.asset.asset_number)
        far = h.floors_away if h.floors_away is not None else 99
        return (1, h.stale, far, h.distance_m if h.distance_m is not None else math.inf, h.asset.asset_number)

    hits.sort(key=key)
    return "walking" if walking else "floor"
