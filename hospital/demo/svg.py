"""Draw one demo floor as SVG: rooms with ids and labels, doors, zones, scale bar and north arrow.

Drawing units: ``UNITS_PER_METRE`` per metre; floor metre (0, 0) (the south-west corner) is at
``ORIGIN`` in the drawing, and SVG y grows downwards, so drawing y = origin_y - metres_y * units.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from .layout import DEPTH_M, WIDTH_M, FloorLayout

UNITS_PER_METRE = 10
METRES_PER_UNIT = 1 / UNITS_PER_METRE
MARGIN_X = 40.0
TOP = 70
ORIGIN = (MARGIN_X, TOP + DEPTH_M * UNITS_PER_METRE)
CANVAS = (WIDTH_M * UNITS_PER_METRE + 2 * MARGIN_X, ORIGIN[1] + 60)
DOOR_M = 1.2
WIDE_DOOR_M = 1.8  # theatres, bays and imaging take beds through their doors

STYLE = """
.room{stroke:#333;stroke-width:1.5}
.t-corridor{fill:#f2f2f2;stroke:#c8c8c8;stroke-width:0.6;stroke-dasharray:3 3}.t-stairs_lift{fill:#d9d9d9}
.t-patient_room,.t-icu_bay,.t-recovery_bay,.t-emergency_bay{fill:#e3f0fb}
.t-operating_room{fill:#d6ecd2}.t-isolation_room{fill:#fde2cf}.t-protective_environment{fill:#e8defa}
.t-pharmacy,.t-medication_room{fill:#fff4c2}.t-blood_bank{fill:#f8d3d3}.t-laboratory{fill:#f0e4d0}
.t-imaging{fill:#d5e8e8}.t-sterile_storage,.t-clean_utility{fill:#eaf7ea}.t-soiled_utility{fill:#efe7dc}
.t-equipment_storage{fill:#e6e6f5}.t-office,.t-staff_room{fill:#fafafa}.t-waiting_area{fill:#fff9e6}
.door{stroke:#fff;stroke-width:3}.leaf{fill:none;stroke:#777;stroke-width:0.6}
.zone{fill:none;stroke-width:1.2;stroke-dasharray:6 3}
.z-exit{stroke:#1a7f37}.z-restricted{stroke:#c62828}.z-storage,.z-other{stroke:#555}
text{font-family:Helvetica,Arial,sans-serif;fill:#222}
.num{font-size:7.5px;font-weight:bold}.lbl{font-size:6.5px}
.title{font-size:14px;font-weight:bold}.sub{font-size:9px;fill:#555}.scale{font-size:8px}
""".strip()


def _pt(x: float, y: float) -> tuple[float, float]:
    return round(ORIGIN[0] + x * UNITS_PER_METRE, 2), round(ORIGIN[1] - y * UNITS_PER_METRE, 2)


def _points(polygon) -> str:
    return " ".join("{:g},{:g}".format(*_pt(x, y)) for x, y in polygon[:-1])


def _num(v: float) -> str:
    return f"{round(v, 2):g}"


def render(floor: FloorLayout, site_name: str, building_name: str) -> str:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_num(CANVAS[0])} {_num(CANVAS[1])}" '
        f'width="{_num(CANVAS[0])}" height="{_num(CANVAS[1])}" data-level="{floor.level}" '
        f'data-metres-per-unit="{METRES_PER_UNIT:g}" data-origin="{_num(ORIGIN[0])},{_num(ORIGIN[1])}">',
        f"<title>{escape(f'{site_name}, {building_name}: {floor.name}')}</title>",
        f"<style>{STYLE}</style>",
        f'<text class="title" x="{MARGIN_X:g}" y="26">'
        f"{escape(f'{site_name} - {building_name} - {floor.name}')}</text>",
        f'<text class="sub" x="{MARGIN_X:g}" y="42">Generated demo floor plan of a fictional hospital. '
        f"Scale 1 m = {UNITS_PER_METRE} units; coordinates in metres from the south-west corner.</text>",
        '<g id="rooms">',
    ]
    # Corridors first and light: their segment boundaries are not walls, so room walls draw over them.
    for room in sorted(floor.rooms, key=lambda r: r.side != "corridor"):
        out.append(
            f"<polygon id={quoteattr('room-' + room.number)} data-room={quoteattr(room.number)} "
            f'data-type="{room.room_type}" class="room t-{room.room_type}" points="{_points(room.polygon)}">'
            f"<title>{escape(f'{room.number} {room.name}')}</title></polygon>"
        )
    (x0, y0), (x1, y1) = _pt(0, DEPTH_M), _pt(WIDTH_M, 0)
    out.append(
        f'<rect id="outline" x="{x0:g}" y="{y0:g}" width="{x1 - x0:g}" height="{y1 - y0:g}" '
        'fill="none" stroke="#222" stroke-width="2.5"/>'
    )
    out.append("</g>")
    out.append('<g id="doors">')
    for room in floor.rooms:
        if room.side == "corridor":
            continue
        wide = room.room_type in (
            "operating_room",
            "icu_bay",
            "emergency_bay",
            "recovery_bay",
            "imaging",
            "stairs_lift",
        )
        door = min(WIDE_DOOR_M if wide else DOOR_M, room.width - 0.6)
        wall_y = room.y1 if room.side == "south" else room.y0
        cx = (room.x0 + room.x1) / 2
        inward = -1 if room.side == "south" else 1  # the leaf opens into the room
        (ax, ay), (bx, by) = _pt(cx - door / 2, wall_y), _pt(cx + door / 2, wall_y)
        lx, ly = _pt(cx - door / 2, wall_y + inward * door)
        r = door * UNITS_PER_METRE
        sweep = 1 if room.side == "south" else 0
        out.append(
            f'<g class="door-mark" data-door={quoteattr(room.number)}>'
            f'<line class="door" x1="{ax:g}" y1="{ay:g}" x2="{bx:g}" y2="{by:g}"/>'
            f'<path class="leaf" d="M{ax:g},{ay:g} L{lx:g},{ly:g} '
            f'A{r:g},{r:g} 0 0 {sweep} {bx:g},{by:g}"/></g>'
        )
    out.append("</g>")
    out.append('<g id="zones">')
    for zone in floor.zones:
        out.append(
            f"<polygon id={quoteattr('zone-' + zone.code)} data-zone={quoteattr(zone.code)} "
            f'class="zone z-{zone.kind}" points="{_points(zone.polygon)}">'
            f"<title>{escape(zone.name)}</title></polygon>"
        )
    out.append("</g>")
    out.append('<g id="labels">')
    for room in floor.rooms:
        cx, cy = _pt(*room.centre)
        if room.side == "corridor":
            out.append(
                f'<text class="lbl" x="{cx:g}" y="{cy + 2:g}" text-anchor="middle">'
                f"{escape(room.number)}</text>"
            )
            continue
        rotate = room.width < 5.5
        transform = f' transform="rotate(-90 {cx:g} {cy:g})"' if rotate else ""
        out.append(
            f'<text x="{cx:g}" y="{cy:g}" text-anchor="middle"{transform}>'
            f'<tspan class="num" x="{cx:g}" dy="-1">{escape(room.number)}</tspan>'
            f'<tspan class="lbl" x="{cx:g}" dy="8">{escape(room.short)}</tspan></text>'
        )
    out.append("</g>")
    out += _scale_bar() + _north_arrow()
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _scale_bar() -> list[str]:
    x, y = MARGIN_X, ORIGIN[1] + 30
    u = UNITS_PER_METRE
    return [
        f'<g id="scale-bar" data-metres="10" data-units="{10 * u}">',
        f'<rect x="{x:g}" y="{y:g}" width="{5 * u}" height="4" fill="#222"/>',
        f'<rect x="{x + 5 * u:g}" y="{y:g}" width="{5 * u}" height="4" '
        'fill="#fff" stroke="#222" stroke-width="0.8"/>',
        f'<text class="scale" x="{x:g}" y="{y + 14:g}" text-anchor="middle">0</text>',
        f'<text class="scale" x="{x + 5 * u:g}" y="{y + 14:g}" text-anchor="middle">5</text>',
        f'<text class="scale" x="{x + 10 * u:g}" y="{y + 14:g}" text-anchor="middle">10 m</text>',
        "</g>",
    ]


def _north_arrow() -> list[str]:
    x, y = CANVAS[0] - MARGIN_X - 10, 18
    return [
        f'<g id="north-arrow" transform="translate({_num(x)} {y})">',
        '<polygon points="0,0 7,22 0,17 -7,22" fill="#222"/>',
        '<text x="0" y="34" text-anchor="middle" font-size="11" font-weight="bold">N</text>',
        "</g>",
    ]
