"""Walls from the floor plan, and a radio map predicted from them where nobody has surveyed.

Every room outline is a wall, except the line between two corridor segments (corridors are cut into
segments only to name positions). BLE at 2.4 GHz loses a few dB through each interior wall (the
COST 231 multi-wall model: about 3.4 dB for light and 6.9 dB for heavy walls), so the expected RSSI
at a place is the log-distance model minus ``wall_loss_db`` per wall on the straight line to the
gateway. That is what tells a tag in a small storeroom from one just outside it: through the wall
the room's own gateway sounds further away, and the gateways outside sound closer, than distance
alone says. ``plan_radio_map`` turns this into a ``RadioMap`` over the rooms of one floor, so the
engine's fingerprinting uses it exactly like a surveyed map (a survey map of the floor wins).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon
from shapely.ops import linemerge, unary_union

from .fingerprint import RadioMap
from .gateways import GatewayModel, distance_to_rssi


def shared_line(a: Polygon, b: Polygon) -> LineString | None:
    """The longest line two polygons' outlines share, or None."""
    inter = a.boundary.intersection(b.boundary)
    if inter.is_empty:
        return None
    parts = [g for g in getattr(inter, "geoms", [inter]) if isinstance(g, LineString) and g.length > 0]
    if not parts:
        return None
    merged = linemerge(parts) if len(parts) > 1 else parts[0]
    if not isinstance(merged, LineString):
        merged = max(merged.geoms, key=lambda g: g.length)
    return merged


def wall_segments(rooms: Iterable[tuple[Polygon, bool]]) -> list[tuple[float, float, float, float]]:
    """Room outlines as noded, de-duplicated two-point segments (a shared wall counts once).

    ``rooms``: (polygon, is_corridor). Lines shared by two corridor segments are left out.
    """
    rooms = list(rooms)
    if not rooms:
        return []
    merged = unary_union([p.exterior for p, _ in rooms])
    corridors = [p for p, is_corridor in rooms if is_corridor]
    open_lines = []
    for i, c in enumerate(corridors):
        for c2 in corridors[i + 1 :]:
            line = shared_line(c, c2)
            if line is not None:
                open_lines.append(line)
    if open_lines:
        merged = merged.difference(unary_union(open_lines).buffer(1e-6, cap_style="flat"))
    out: set[tuple[float, float, float, float]] = set()
    for line in getattr(merged, "geoms", [merged]):
        cs = list(line.coords)
        for (x0, y0), (x1, y1) in zip(cs, cs[1:], strict=False):
            if (x0, y0) == (x1, y1):
                continue
            a, b = sorted([(round(x0, 4), round(y0, 4)), (round(x1, 4), round(y1, 4))])
            out.add((a[0], a[1], b[0], b[1]))
    return sorted(out)


def count_crossings(a, b, walls) -> np.ndarray:
    """How many of the ``walls`` (W, 4) each segment from point ``a`` (2,) to points ``b`` (N, 2) crosses.

    Proper crossings only (orientation tests); a segment through a wall's end point, where two wall
    pieces meet, is rare at grid points and then counts for either piece or neither.
    """
    b = np.asarray(b, np.float32).reshape(-1, 2) - np.asarray(a, np.float32)  # gateway at the origin
    w = np.asarray(walls, np.float32).reshape(-1, 4) - np.tile(np.asarray(a, np.float32), 2)
    if len(w) == 0 or len(b) == 0:
        return np.zeros(len(b), dtype=np.int64)
    px, py, qx, qy = w.T
    ex, ey = qx - px, qy - py
    # the gateway (origin) and the cell on opposite sides of the wall's line ...
    side_gw = np.sign(ey * px - ex * py)  # (W,)
    side_cell = np.sign(ex[None, :] * (b[:, 1:2] - py) - ey[None, :] * (b[:, 0:1] - px))
    apart = side_gw * side_cell < 0
    # ... and the wall's two ends on opposite sides of the gateway-cell line
    ends = np.sign(b[:, 0:1] * py - b[:, 1:2] * px) * np.sign(b[:, 0:1] * qy - b[:, 1:2] * qx) < 0
    return (apart & ends).sum(1)


def plan_radio_map(gateways: GatewayModel, floor, rooms: Iterable[tuple[object, Polygon, bool]], *,
                   wall_loss_db: float, tag_height_m: float = 1.2, resolution: float = 0.5,
                   max_walls: int = 12, reach_m: float = 20.0, chunk: int = 2048) -> RadioMap | None:
    """Expected RSSI of every gateway of ``floor`` at grid cells inside its rooms (None: no rooms).

    ``rooms``: (room key, polygon, is_corridor). Cells outside every room are left out of the map
    (equipment is somewhere in a room or corridor); each cell is labelled with the smallest room
    holding it, so fingerprinting also gives each room's probability. Walls are counted out to
    ``reach_m`` from each gateway (a BLE tag further away is barely heard); beyond, a cell counts
    as behind ``max_walls`` walls. That keeps building a large floor's map to seconds.
    """
    rooms = sorted(rooms, key=lambda r: -r[1].area)  # smaller rooms label last: they win overlaps
    on_floor = np.flatnonzero(gateways.floor == floor)
    if not rooms or len(on_floor) == 0:
        return None
    bounds = unary_union([p for _, p, _ in rooms]).bounds
    lo = np.array(bounds[:2]) + resolution / 2
    nx, ny = (np.floor((np.array(bounds[2:]) - lo) / resolution).astype(int) + 1).tolist()
    gx, gy = np.meshgrid(lo[0] + resolution * np.arange(nx), lo[1] + resolution * np.arange(ny))
    room_of = np.full(nx * ny, -1, dtype=np.int64)
    for r, (_, poly, _) in enumerate(rooms):
        room_of[shapely.contains_xy(poly, gx.ravel(), gy.ravel())] = r
    inside = room_of >= 0
    cells = np.c_[gx.ravel(), gy.ravel()][inside]
    walls = np.array(wall_segments((poly, corridor) for _, poly, corridor in rooms), float).reshape(-1, 4)
    wall_db = np.empty((len(on_floor), len(cells)), dtype=np.float32)
    for m, g in enumerate(on_floor.tolist()):
        gxy = gateways.xyz[g, :2]
        near = np.flatnonzero(((cells - gxy) ** 2).sum(1) <= reach_m**2)
        # only walls that a segment from the gateway to a near cell can cross
        lo_w, hi_w = np.minimum(walls[:, :2], walls[:, 2:]), np.maximum(walls[:, :2], walls[:, 2:])
        w_near = walls[((lo_w <= gxy + reach_m) & (hi_w >= gxy - reach_m)).all(1)]
        n_walls = np.full(len(cells), max_walls, dtype=np.int64)
        if len(near):
            n_walls[near] = np.concatenate([count_crossings(gxy, cells[near[i:i + chunk]], w_near)
                                            for i in range(0, len(near), chunk)])
        wall_db[m] = wall_loss_db * np.minimum(n_walls, max_walls)
    column = np.full(len(gateways), -1, dtype=np.int64)
    column[on_floor] = np.arange(len(on_floor))
    lookup = np.full(nx * ny, -1, dtype=np.int64)
    lookup[inside] = np.arange(len(cells))
    rm = RadioMap(floor=floor, cells=cells, mu=np.empty(wall_db.shape), support=np.ones(len(cells)), column=column,
                  resolution=resolution, origin=lo, shape=(ny, nx), lookup=lookup,
                  cell_room=room_of[inside], room_keys=[key for key, _, _ in rooms], wall_db=wall_db)
    refresh_plan_map(rm, gateways, tag_height_m)
    return rm


def refresh_plan_map(rm: RadioMap, gateways: GatewayModel, tag_height_m: float) -> None:
    """Recompute a plan map's expected RSSI from the gateways' current path-loss parameters
    (online calibration moves them); the wall losses stay."""
    for g in np.flatnonzero(rm.column >= 0).tolist():
        d = np.sqrt(((rm.cells - gateways.xyz[g, :2]) ** 2).sum(1) + (gateways.xyz[g, 2] - tag_height_m) ** 2)
        rm.mu[rm.column[g]] = distance_to_rssi(d, gateways.ref_power[g], gateways.exponent[g]) - rm.wall_db[rm.column[g]]
    rm.clear_cache()


def plan_radio_maps(gateways: GatewayModel, rooms: Iterable[tuple], cfg) -> dict:
    """``plan_radio_map`` of every floor. ``rooms``: (room key, floor, polygon, is_corridor)."""
    from .rooms import as_polygon

    per_floor: dict = {}
    for key, floor, poly, corridor in rooms:
        per_floor.setdefault(floor, []).append((key, as_polygon(poly), corridor))
    maps = {}
    for floor, rs in per_floor.items():
        rm = plan_radio_map(gateways, floor, rs, wall_loss_db=cfg.wall_loss_db, tag_height_m=cfg.tag_height_m,
                            resolution=cfg.plan_map_resolution_m)
        if rm is not None:
            maps[floor] = rm
    return maps
