"""Find equipment: the nearest units that match a search, by walking distance from a room.

The walking graph is built from the room polygons alone (no extra data to maintain):

* a **door** where a room shares a wall of at least ``MIN_DOOR_M`` with a corridor (and where two
  corridors meet), at the middle of the shared wall: the demo draws its doors there, and real plans
  put them on the corridor side. A room that touches no corridor opens into its neighbours instead;
* inside a room, each door reaches every other door in a straight line;
* stairs/lift rooms that overlap on consecutive floors of a building form a shaft; changing floor
  costs ``FLOOR_CHANGE_M`` metres-equivalent (waiting for the lift, the stairs) per floor.

Distances are found with a small Dijkstra (``heapq``) over a few hundred nodes: under a millisecond,
no scipy/networkx dependency. The graph is cached per process and rebuilt when rooms change; the
distances from each origin room are kept with it (searches from one ward repeat all day). When the origin's floor has no corridors, or no route exists, units are
ordered by floor (nearest floor first) and then straight-line distance.
"""

from __future__ import annotations

import functools
import heapq
import math
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db.models import Count, Max
from django.utils.dateparse import parse_datetime
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


@dataclass(frozen=True, slots=True)
class BuildingRef:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class FloorRef:
    """A floor as the search pages need it (no query per result)."""

    pk: int
    name: str
    level: int
    building: BuildingRef

    @property
    def id(self) -> int:
        return self.pk

    @property
    def building_id(self) -> int:
        return self.building.id

    def __str__(self):
        return self.name


@dataclass(frozen=True, slots=True)
class RoomRef:
    pk: int
    number: str
    name: str
    room_type: str
    floor: FloorRef
    centroid_x: float
    centroid_y: float

    @property
    def id(self) -> int:
        return self.pk

    @property
    def floor_id(self) -> int:
        return self.floor.pk

    def __str__(self):
        return f"{self.number} {self.name}".strip()


@dataclass
class Places:
    """The walking graph with the rooms and floors it was built from, cached per process."""

    graph: WalkingGraph
    rooms: dict[int, RoomRef]
    by_number: dict[str, RoomRef]
    floors: dict[int, FloorRef]
    _from: dict[int, list[float]] = field(default_factory=dict)

    def distances_from(self, origin: RoomInfo) -> list[float]:
        """Walking cost from the middle of ``origin`` to every node of the graph. Kept per origin room for
        as long as the graph (a few hundred floats each): the walls do not move between two searches."""
        dist = self._from.get(origin.id)
        if dist is None:
            graph, (ox, oy) = self.graph, origin.point
            dist = self._from[origin.id] = graph.distances(
                [(d, math.dist((ox, oy), graph.nodes[d][1:])) for d in origin.doors])
        return dist


GRAPH_CHECK_S = 10.0  # other processes' room edits are picked up within this; this process's at once
_cache: dict = {"key": None, "places": None, "checked": 0.0}
_cache_lock = threading.Lock()


def invalidate_places(*args, **kwargs) -> None:
    with _cache_lock:
        _cache.update(key=None, places=None, checked=0.0)


def places() -> Places:
    """Rooms, floors and the walking graph, rebuilt only when a room was added, changed or removed
    (checked at most every ``GRAPH_CHECK_S`` seconds: one small query)."""
    from hospital.facility.models import Floor, Room

    now = time.monotonic()
    with _cache_lock:
        if _cache["places"] is not None and now - _cache["checked"] < GRAPH_CHECK_S:
            return _cache["places"]
    key = tuple(Room.objects.aggregate(n=Count("id"), changed=Max("updated_at")).values())
    with _cache_lock:
        if _cache["key"] == key and _cache["places"] is not None:
            _cache["checked"] = now
            return _cache["places"]
    floors = {f.pk: FloorRef(f.pk, f.name, f.level, BuildingRef(f.building_id, f.building.name))
              for f in Floor.objects.select_related("building")}
    rows = list(Room.objects.values_list("id", "floor_id", "floor__level", "floor__building_id", "number", "room_type",
                                         "polygon", "name", "centroid_x", "centroid_y"))
    graph = build_graph([r[:7] for r in rows])
    rooms = {r[0]: RoomRef(r[0], r[4], r[7], r[5], floors[r[1]], r[8], r[9]) for r in rows}
    by_number: dict[str, RoomRef] = {}
    for room in sorted(rooms.values(), key=lambda r: (r.floor.building.id, r.floor.level), reverse=True):
        by_number[room.number.lower()] = room  # the same number in two buildings: the first building wins
    result = Places(graph, rooms, by_number, floors)
    with _cache_lock:
        _cache.update(key=key, places=result, checked=now)
    return result


def walking_graph() -> WalkingGraph:
    return places().graph


def _connect_invalidation():
    from django.db.models.signals import post_delete, post_save

    from hospital.facility.models import Room

    post_save.connect(invalidate_places, sender=Room, dispatch_uid="locator.search.rooms")
    post_delete.connect(invalidate_places, sender=Room, dispatch_uid="locator.search.rooms-deleted")


# --------------------------------------------------------------------------- matching


def _terms(query: str) -> list[str]:
    return [t for t in re.split(r"[\s,;/]+", query.strip().lower()) if t]


def _like(text: str) -> str:
    """``%text%`` for ``LIKE ... ESCAPE '\\'``: the user's ``%`` and ``_`` match themselves."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _term_sql(term: str, text: str, type_text: str) -> tuple[str, list]:
    """SQL (and parameters) true when ``term`` (or its singular) occurs in the asset's ``text`` or its
    type's ``type_text`` (both upper case), or names the category."""
    from hospital.assets.choices import AssetCategory

    variants = {term}
    if len(term) > 3 and term.endswith("s"):
        variants.add(term[:-1])  # "pumps" finds "pump"
    parts, params = [], []
    for v in sorted(variants):
        parts.append(f"{text} LIKE UPPER(%s) ESCAPE '\\' OR {type_text} LIKE UPPER(%s) ESCAPE '\\'")
        params += [_like(v), _like(v)]
        categories = [c.value for c in AssetCategory if v in c.label.lower() or v in c.value]
        if categories:
            parts.append(f"t.category IN ({', '.join(['%s'] * len(categories))})")
            params += categories
    return "(" + " OR ".join(parts) + ")", params


def _search_sql(query: str, statuses: list[str] | None, exact_word: bool) -> tuple[str, list]:
    """One hand-written query for the search: the matching units with their type and current position.

    Hand-written because building the equivalent ORM query (five joined ``icontains`` per word) took
    Django about 1 ms of CPU per search, several times what PostgreSQL needs to run it. Every word of
    the query must occur in the asset number, make, model, type name or type code, or name the
    category. The database keeps those fields upper-cased in ``search_text`` (one column on the asset,
    one on its type), so a search no longer builds and upper-cases the text of every unit: that was
    half of PostgreSQL's time per search. With ``exact_word`` a unit whose number is the query itself is found too, in
    any status. Portable: ``UPPER``, ``||`` and ``LIKE ... ESCAPE`` mean the same on PostgreSQL and
    SQLite."""
    from django.db import connection

    from hospital.assets.models import Asset, AssetType
    from locator.models import CurrentLocation, Tag

    qn = connection.ops.quote_name
    where, params = [], []
    for term in _terms(query):
        sql, p = _term_sql(term, "a.search_text", "t.search_text")
        where.append(sql)
        params += p
    if statuses:
        where.append(f"a.status IN ({', '.join(['%s'] * len(statuses))})")
        params += list(statuses)
    condition = " AND ".join(where) or "1 = 1"
    if exact_word:
        condition = f"UPPER(a.asset_number) = UPPER(%s) OR ({condition})"
        params.insert(0, query)
    sql = (
        "SELECT a.id, a.asset_number, a.status, a.manufacturer, a.model, t.name, t.category, a.installed_room_id,"
        " l.floor_id, l.room_id, l.x, l.y, l.last_seen_at"
        f" FROM {qn(Asset._meta.db_table)} a"
        f" JOIN {qn(AssetType._meta.db_table)} t ON t.id = a.asset_type_id"
        f" LEFT JOIN {qn(Tag._meta.db_table)} g ON g.asset_id = a.id"
        f" LEFT JOIN {qn(CurrentLocation._meta.db_table)} l ON l.tag_id = g.id"
        f" WHERE {condition}"
    )
    return sql, params


def _search_cursor(connection):
    """On PostgreSQL, a cursor that binds parameters on the server, so psycopg prepares the search after
    a few runs (``prepare_threshold`` in the database options) and PostgreSQL stops planning it anew:
    the plan was about a third of the database's time per search. Django's own cursors bind on the
    client and are never prepared. Wrapped like Django's, so query logging and capturing still see it."""
    if connection.vendor != "postgresql" or connection.settings_dict["OPTIONS"].get("prepare_threshold") is None:
        return connection.cursor()
    import psycopg

    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


def _aware(value):
    """SQLite hands a raw query's timestamps back naive (UTC, as Django stores them); PostgreSQL aware."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return _aware(parse_datetime(value))


def find_room(text: str) -> RoomRef | None:
    """A room by its number as signed on the door ("3W-12", any case), or None."""
    text = (text or "").strip()
    if not text:
        return None
    return places().by_number.get(text.split()[0].lower())


# --------------------------------------------------------------------------- search


@dataclass(slots=True)
class AssetRef:
    """The fields of a found asset (read with one query, no model instances)."""

    pk: int
    asset_number: str
    status: str
    manufacturer: str
    model: str
    type_name: str
    category: str

    @property
    def id(self) -> int:
        return self.pk

    @property
    def asset_type(self):
        return _TypeRef(self.type_name, self.category)

    def get_status_display(self) -> str:
        return _status_labels().get(self.status, self.status)


@functools.cache
def _status_labels() -> dict[str, str]:
    """Status value -> label, read once: looking labels up through the enum cost a tenth of a search."""
    from hospital.assets.choices import AssetStatus

    return dict(AssetStatus.choices)


@dataclass(frozen=True, slots=True)
class _TypeRef:
    name: str
    category: str


@dataclass
class Hit:
    asset: AssetRef
    room: RoomRef | None
    floor: FloorRef | None
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
    origin: RoomRef | None
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
    that is exactly one asset number finds that unit whatever its status. One query per search: rooms,
    floors and the walking distances from each origin room come from the per-process cache."""
    from django.db import connection

    started = time.perf_counter()
    query = (query or "").strip()
    where = places()
    if origin_room is not None and not isinstance(origin_room, RoomRef):
        origin_room = where.rooms.get(origin_room.pk)
    statuses = list(statuses) if statuses else None
    one_word = bool(query) and not any(c.isspace() for c in query)
    rows = []
    if query or statuses:
        sql, params = _search_sql(query, statuses, exact_word=one_word)
        with _search_cursor(connection) as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    exact = False
    if one_word:  # the query is one unit's number (unique): that unit alone, whatever its status
        named = [r for r in rows if r[1].lower() == query.lower()]
        exact = bool(named)
        if exact:
            rows = named
        elif statuses:  # the number clause may have let a unit of another status in
            rows = [r for r in rows if r[2] in statuses]
    now = time.time()
    hits = []
    for (pk, number, status, make, model, type_name, category, installed, floor_id, room_id, x, y, seen) in rows:
        asset = AssetRef(pk, number, status, make, model, type_name, category)
        if floor_id is not None and floor_id in where.floors:
            seen = _aware(seen)
            hits.append(Hit(asset, where.rooms.get(room_id), where.floors[floor_id], x, y, seen, False, None, None,
                            now - seen.timestamp() > STALE_S))
        elif installed is not None and installed in where.rooms:
            room = where.rooms[installed]
            hits.append(Hit(asset, room, room.floor, room.centroid_x, room.centroid_y, None, True, None, None, False))
        else:
            hits.append(Hit(asset, None, None, None, None, None, False, None, None, True))

    method = "none"
    if origin_room is not None:
        method = _rank(hits, origin_room, where)
    else:
        hits.sort(key=lambda h: (h.floor is None, h.stale, h.asset.asset_number))
    return SearchResult(query, origin_room, method, hits[:limit], len(hits), exact,
                        round((time.perf_counter() - started) * 1000, 2))


def _rank(hits: list[Hit], origin: RoomRef, where: Places) -> str:
    graph = where.graph
    info = graph.rooms.get(origin.id)
    walking = info is not None and info.floor in graph.corridor_floors and bool(info.doors)
    dist = where.distances_from(info) if walking else None
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


_connect_invalidation()
