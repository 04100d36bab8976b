"""Floor-plan files: parse and validate the GeoJSON geometry of one floor (see floorplans/README.md).

Pure code: no ORM, no settings. ``load_floorplan`` reads one file and returns a ``FloorPlan`` plus
every problem found in it (it never stops at the first); ``validate_floorplans`` adds the checks
that need all files at once (the same floor twice, one site named two ways). Each ``Problem`` names
the file, the room (or zone, or the floor) and what is wrong, so a person can fix the drawing.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from shapely import STRtree
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from .choices import RoomType, ZoneKind

# Two rooms may share a wall (their intersection is a line); more than this much common floor
# area (m²) means one drawing overlaps the other, which would make "which room is it in?" ambiguous.
OVERLAP_TOLERANCE_M2 = 0.01
FLOOR_KEYS_REQUIRED = ("site", "building", "level", "name", "elevation_m", "metres_per_unit", "origin", "svg")
ROOM_KEYS_REQUIRED = ("number", "name", "room_type")
ZONE_KEYS_REQUIRED = ("code", "name", "kind")


@dataclass(frozen=True)
class Problem:
    file: str
    where: str  # "room 3W-12", "zone pharmacy", "floor", "feature #4", "file"
    message: str

    def __str__(self):
        return f"{self.file}: {self.where}: {self.message}"


class FloorPlanError(Exception):
    """One or more floor-plan files are broken; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class RoomSpec:
    number: str
    name: str
    room_type: str
    department: str | None
    polygon: list[list[float]]  # open ring: the closing vertex of the GeoJSON ring is dropped


@dataclass
class ZoneSpec:
    code: str
    name: str
    kind: str
    polygon: list[list[float]]


@dataclass
class FloorPlan:
    path: Path
    site: str
    site_name: str
    site_timezone: str | None
    building: str
    building_name: str
    level: int
    name: str
    elevation_m: float
    height_m: float | None
    metres_per_unit: float
    origin: tuple[float, float]
    svg: str
    width_m: float
    depth_m: float
    departments: dict[str, str] = field(default_factory=dict)
    rooms: list[RoomSpec] = field(default_factory=list)
    zones: list[ZoneSpec] = field(default_factory=list)
    # Every room number in the file, including rooms refused for other problems (for the SVG check).
    numbers: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, int]:
        return self.site, self.building, self.level


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(point) -> str:
    return "[" + ", ".join(f"{v:g}" if _is_number(v) else repr(v) for v in point) + "]"


def _ring(geometry, report) -> list[list[float]] | None:
    """Check a GeoJSON Polygon geometry; return its outer ring without the closing vertex, or None."""
    if not isinstance(geometry, dict):
        report("has no geometry")
        return None
    if geometry.get("type") != "Polygon":
        report(f"geometry must be a Polygon, not {geometry.get('type')!r}")
        return None
    rings = geometry.get("coordinates")
    if not isinstance(rings, list) or not rings:
        report("Polygon has no coordinates")
        return None
    if len(rings) > 1:
        report("Polygon has holes (interior rings); draw the room outline only")
    ring = rings[0]
    if not isinstance(ring, list):
        report("Polygon ring is not a list of positions")
        return None
    bad = [
        i
        for i, p in enumerate(ring)
        if not (isinstance(p, list) and len(p) >= 2 and all(map(_is_number, p[:2])))
    ]
    if bad:
        report(f"vertex {bad[0] + 1} is not an [x, y] pair of numbers: {ring[bad[0]]!r}")
        return None
    if len(ring) < 4:
        report(
            f"ring has {len(ring)} positions; a closed ring needs at least 4 (3 corners + the first again)"
        )
        return None
    if ring[0][:2] != ring[-1][:2]:
        report(f"unclosed ring: first vertex {_fmt(ring[0])} != last vertex {_fmt(ring[-1])}")
        return None
    points = [[float(p[0]), float(p[1])] for p in ring[:-1]]
    shape = Polygon(points)
    if not shape.is_valid:
        reason = explain_validity(shape)
        if "Self-intersection" in reason:
            at = reason[reason.find("[") + 1 : reason.rfind("]")].split()
            report(f"self-intersecting polygon: edges cross at [{', '.join(at)}]")
        else:
            report(f"invalid polygon ({reason})")
        return None
    if shape.area <= 0:
        report("polygon has no area")
        return None
    return points


def _parse_json(path: Path, name: str) -> tuple[object | None, list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [Problem(name, "file", f"cannot read: {exc.strerror or exc}")]
    except UnicodeDecodeError as exc:
        return None, [Problem(name, "file", f"not UTF-8 text: {exc}")]
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        return None, [
            Problem(name, "file", f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
        ]


def parse_floorplan(data, name: str, path: Path | None = None) -> tuple[FloorPlan | None, list[Problem]]:
    """Validate decoded GeoJSON ``data`` of one floor. ``name`` is how problems name the file."""
    problems: list[Problem] = []

    def problem(where: str, message: str):
        problems.append(Problem(name, where, message))

    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        problem("file", "not a GeoJSON FeatureCollection")
        return None, problems
    props = data.get("properties")
    if not isinstance(props, dict):
        problem("floor", "missing the floor's 'properties' object (site, building, level, ...)")
        props = {}
    for key in FLOOR_KEYS_REQUIRED:
        if props.get(key) in (None, ""):
            what = (
                "missing scale (metres_per_unit)" if key == "metres_per_unit" else f"missing property {key!r}"
            )
            problem("floor", what)
    scale = props.get("metres_per_unit")
    if scale is not None and not (_is_number(scale) and scale > 0):
        problem("floor", f"metres_per_unit must be a positive number, not {scale!r}")
    level = props.get("level")
    if level is not None and not (isinstance(level, int) and not isinstance(level, bool)):
        problem("floor", f"level must be an integer, not {level!r}")
    for key in ("elevation_m", "height_m", "width_m", "depth_m"):
        if props.get(key) is not None and not _is_number(props[key]):
            problem("floor", f"{key} must be a number, not {props[key]!r}")
    origin = props.get("origin")
    if origin is not None and not (
        isinstance(origin, list) and len(origin) == 2 and all(map(_is_number, origin))
    ):
        problem("floor", f"origin must be [x, y] in SVG units, not {origin!r}")
    for key in ("site", "building"):
        if props.get(key) not in (None, "") and not isinstance(props[key], str):
            problem("floor", f"{key} must be a code (string), not {props[key]!r}")
    departments = props.get("departments") or {}
    if not isinstance(departments, dict):
        problem("floor", "departments must be an object {code: name}")
        departments = {}

    features = data.get("features")
    if not isinstance(features, list):
        problem("file", "'features' must be a list")
        features = []

    rooms: list[RoomSpec] = []
    zones: list[ZoneSpec] = []
    seen_rooms: dict[str, int] = {}
    seen_zones: dict[str, int] = {}
    room_types = set(RoomType.values)
    zone_kinds = set(ZoneKind.values)
    for index, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problem(f"feature #{index}", "not a GeoJSON Feature")
            continue
        fprops = feature.get("properties")
        if not isinstance(fprops, dict):
            problem(f"feature #{index}", "missing properties")
            continue
        zone = fprops.get("zone")
        if zone is not None:
            if not isinstance(zone, dict):
                problem(f"feature #{index}", "'zone' must be an object {code, name, kind}")
                continue
            where = f"zone {zone['code']}" if zone.get("code") else f"feature #{index} (zone)"
            ok = True
            for key in ZONE_KEYS_REQUIRED:
                if zone.get(key) in (None, ""):
                    problem(where, f"missing property {key!r}")
                    ok = False
            if zone.get("kind") not in (None, "") and zone["kind"] not in zone_kinds:
                problem(where, f"unknown zone kind {zone['kind']!r} (one of: {', '.join(ZoneKind.values)})")
                ok = False
            code = zone.get("code")
            if code:
                if code in seen_zones:
                    problem(where, f"duplicate zone code (also feature #{seen_zones[code]})")
                    ok = False
                seen_zones.setdefault(code, index)
            ring = _ring(feature.get("geometry"), lambda m, w=where: problem(w, m))
            if ok and ring is not None:
                zones.append(ZoneSpec(str(code), str(zone["name"]), zone["kind"], ring))
            continue

        number = fprops.get("number")
        where = f"room {number}" if number not in (None, "") else f"feature #{index}"
        ok = True
        for key in ROOM_KEYS_REQUIRED:
            if fprops.get(key) in (None, ""):
                problem(where, f"missing property {key!r}")
                ok = False
        room_type = fprops.get("room_type")
        if room_type not in (None, "") and room_type not in room_types:
            problem(where, f"unknown room type {room_type!r} (see RoomType in hospital/facility/choices.py)")
            ok = False
        department = fprops.get("department")
        if department is not None and not (isinstance(department, str) and department):
            problem(where, f"department must be a department code or null, not {department!r}")
            ok = False
        if number not in (None, ""):
            number = str(number)
            if number in seen_rooms:
                problem(where, f"duplicate room number (also feature #{seen_rooms[number]})")
                ok = False
            seen_rooms.setdefault(number, index)
        ring = _ring(feature.get("geometry"), lambda m, w=where: problem(w, m))
        if ok and ring is not None:
            rooms.append(RoomSpec(number, str(fprops["name"]), room_type, department, ring))

    problems.extend(_overlaps(name, rooms))
    if any(p.where in ("floor", "file") for p in problems):
        return None, problems

    shapes = [Polygon(r.polygon) for r in rooms]
    minx = min((s.bounds[0] for s in shapes), default=0.0)
    miny = min((s.bounds[1] for s in shapes), default=0.0)
    maxx = max((s.bounds[2] for s in shapes), default=0.0)
    maxy = max((s.bounds[3] for s in shapes), default=0.0)
    plan = FloorPlan(
        path=path or Path(name),
        site=props["site"],
        site_name=str(props.get("site_name") or props["site"]),
        site_timezone=props.get("site_timezone"),
        building=props["building"],
        building_name=str(props.get("building_name") or props["building"]),
        level=props["level"],
        name=str(props["name"]),
        elevation_m=float(props["elevation_m"]),
        height_m=float(props["height_m"]) if props.get("height_m") is not None else None,
        metres_per_unit=float(scale),
        origin=(float(origin[0]), float(origin[1])),
        svg=str(props["svg"]),
        width_m=float(props["width_m"])
        if props.get("width_m") is not None
        else round(maxx - min(minx, 0.0), 3),
        depth_m=float(props["depth_m"])
        if props.get("depth_m") is not None
        else round(maxy - min(miny, 0.0), 3),
        departments={str(k): str(v) for k, v in departments.items()},
        rooms=rooms,
        zones=zones,
        numbers=list(seen_rooms),
    )
    return plan, problems


def _overlaps(name: str, rooms: list[RoomSpec]) -> list[Problem]:
    shapes = [Polygon(r.polygon) for r in rooms]
    tree = STRtree(shapes)
    problems = []
    for i, shape in enumerate(shapes):
        for j in sorted(int(k) for k in tree.query(shape)):
            if j <= i:
                continue
            common = shape.intersection(shapes[j]).area
            if common > OVERLAP_TOLERANCE_M2:
                problems.append(
                    Problem(
                        name, f"room {rooms[i].number}", f"overlaps room {rooms[j].number} by {common:.2f} m²"
                    )
                )
    return problems


def svg_room_numbers(svg_path: Path) -> list[str]:
    """Room numbers drawn in an SVG plan: the ``data-room`` attribute of every element that has one."""
    root = ET.parse(svg_path).getroot()
    return [el.attrib["data-room"] for el in root.iter() if "data-room" in el.attrib]


def check_svg(plan: FloorPlan, name: str) -> tuple[list[Problem], list[str]]:
    """Compare the plan's drawing with its geometry. Returns (problems, warnings).

    A missing drawing is a warning (the geometry is still usable); a drawing that disagrees with the
    geometry about which rooms exist is a problem.
    """
    svg_path = plan.path.parent / plan.svg
    if not svg_path.is_file():
        return [], [
            f"{name}: floor: drawing {plan.svg!r} not found next to the file; floor imported without it"
        ]
    try:
        drawn = svg_room_numbers(svg_path)
    except ET.ParseError as exc:
        return [Problem(name, "floor", f"drawing {plan.svg!r} is not valid SVG/XML: {exc}")], []
    problems = []
    numbers = plan.numbers
    drawn_set, number_set = set(drawn), set(numbers)
    for number in numbers:
        if number not in drawn_set:
            problems.append(
                Problem(name, f"room {number}", f"not drawn in {plan.svg} (no element with data-room)")
            )
    for number in dict.fromkeys(drawn):
        if number not in number_set:
            problems.append(
                Problem(name, f"room {number}", f"drawn in {plan.svg} but missing from the geometry")
            )
    return problems, []


def load_floorplan(
    path: Path | str, name: str | None = None
) -> tuple[FloorPlan | None, list[Problem], list[str]]:
    """Read and check one GeoJSON floor file and its drawing. Returns (plan or None, problems, warnings)."""
    path = Path(path)
    name = name or str(path)
    data, problems = _parse_json(path, name)
    if problems:
        return None, problems, []
    plan, problems = parse_floorplan(data, name, path)
    warnings: list[str] = []
    if plan is not None:
        svg_problems, warnings = check_svg(plan, name)
        problems += svg_problems
    return (plan if not problems else None), problems, warnings


def validate_floorplans(plans: list[FloorPlan], names: dict[int, str] | None = None) -> list[Problem]:
    """Checks across files: one floor defined twice, a site or building named differently."""
    problems = []
    floors: dict[tuple, str] = {}
    site_names: dict[str, tuple[str, str]] = {}
    building_names: dict[tuple, tuple[str, str]] = {}
    for plan in plans:
        name = str(plan.path)
        if plan.key in floors:
            where = f"level {plan.level} of {plan.site}/{plan.building}"
            problems.append(Problem(name, "floor", f"duplicate floor: {where} is also in {floors[plan.key]}"))
        floors.setdefault(plan.key, name)
        other = site_names.setdefault(plan.site, (plan.site_name, name))
        if other[0] != plan.site_name:
            problems.append(
                Problem(
                    name,
                    "floor",
                    f"site {plan.site!r} is named {plan.site_name!r} here but {other[0]!r} in {other[1]}",
                )
            )
        bkey = (plan.site, plan.building)
        other = building_names.setdefault(bkey, (plan.building_name, name))
        if other[0] != plan.building_name:
            problems.append(
                Problem(
                    name,
                    "floor",
                    f"building {plan.building!r} is named {plan.building_name!r} here "
                    f"but {other[0]!r} in {other[1]}",
                )
            )
    return problems


def load_floorplans(paths: list[Path | str], progress=None) -> tuple[list[FloorPlan], list[str]]:
    """Load and check many files; raise ``FloorPlanError`` listing every problem in every file.

    ``progress`` optionally wraps the iteration (e.g. ``tqdm``). Returns (plans, warnings).
    """
    plans, problems, warnings = [], [], []
    paths = [Path(p) for p in paths]
    for path in progress(paths) if progress else paths:
        plan, file_problems, file_warnings = load_floorplan(path)
        problems += file_problems
        warnings += file_warnings
        if plan is not None:
            plans.append(plan)
    problems += validate_floorplans(plans)
    if problems:
        raise FloorPlanError(problems)
    return plans, warnings


def expand_paths(paths: list[Path | str]) -> list[Path]:
    """Files named directly, plus every ``*.geojson`` in a named directory (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.glob("*.geojson")) if p.is_dir() else [p])
    return out
