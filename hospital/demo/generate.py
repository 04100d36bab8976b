"""Generate the demo hospital: ``python -m hospital.demo.generate [--out DIR] [--check]``.

Writes ``floorplans/seh-main-<level>.svg`` and ``.geojson`` and ``fixtures/demo/*.json`` under the
repository root (or ``--out``). Deterministic: every random choice comes from ``random.Random``
seeded with ``SEED`` and a section name, nothing depends on the clock, the machine or hash order,
so two runs write byte-identical files. ``--check`` compares instead of writing (exit status 1 when
the committed files are stale). The output is checked with the floor-plan validator before it is
written. Needs no Django settings. Everything produced is fake demo data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path

from . import catalogue, layout, svg
from .layout import DEPARTMENTS, FloorLayout

SEED = 20250611
GENERATOR = "python -m hospital.demo.generate"
ABOUT = (
    "GENERATED DEMO DATA for St. Example General Hospital, a fictional hospital. Everything here is fake: "
    "serial numbers, UDIs, MAC addresses, keys and people. Do not edit by hand; change hospital/demo/ "
    f"and run `{GENERATOR}`. Format: fixtures/README.md."
)
REPO_ROOT = Path(__file__).resolve().parents[2]
GATEWAY_Z_M = 2.7
REFERENCE_TAG_Z_M = 2.0
IBEACON_TX_POWER_DBM = -59
REFERENCE_MAJOR = 99
MOBILE_STATUS_WEIGHTS = (
    ("available", 44),
    ("in_use", 40),
    ("needs_cleaning", 9),
    ("in_maintenance", 4),
    ("out_of_service", 2),
    ("missing", 1),
)
CARE_TYPES = (
    "patient_room",
    "icu_bay",
    "operating_room",
    "isolation_room",
    "protective_environment",
    "emergency_bay",
    "recovery_bay",
    "imaging",
)
COMMISSIONED_FROM = dt.date(2015, 1, 1)
COMMISSIONED_TO = dt.date(2024, 12, 31)
UDI_FROM = dt.date(2019, 1, 1)  # equipment bought since then carries a UDI label
SENSOR_CALIBRATION_INTERVAL_DAYS = 365
USERS = (
    ("nurse", "nurse", "Nadia", "Okafor", False, False),
    ("engineer", "biomedical engineer", "Ben", "Tanaka", False, False),
    ("facility", "facility manager", "Fatima", "Rahman", False, False),
    ("admin", "administrator", "Alex", "Morgan", True, True),
)


def floorplan_name(level: int) -> str:
    return f"{layout.SITE['code']}-{layout.BUILDING['code']}-{level}"


def _rng(section: str) -> random.Random:
    return random.Random(f"{SEED}:{section}")  # str seeds hash with SHA-512: stable across runs


def _weighted(rng: random.Random, pairs):
    items, weights = zip(*pairs, strict=True)
    return rng.choices(items, weights=weights)[0]


def _pattern(rng: random.Random, pattern: str) -> str:
    out = []
    for ch in pattern:
        if ch == "#":
            out.append(str(rng.randrange(10)))
        elif ch == "@":
            out.append(chr(ord("A") + rng.randrange(26)))
        else:
            out.append(ch)
    return "".join(out)


def _mac(rng: random.Random, used: set[str]) -> str:
    """A random static BLE address (two top bits set), as BLE tags and sensors use."""
    while True:
        octets = [rng.randrange(256) for _ in range(6)]
        octets[0] |= 0xC0
        mac = ":".join(f"{o:02X}" for o in octets)
        if mac not in used:
            used.add(mac)
            return mac


def _gs1_check_digit(digits: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _udi(maker_index: int, model_index: int, made: dt.date, serial: str) -> str:
    body = f"0{catalogue.FAKE_GS1_PREFIX_BASE + maker_index:07d}{model_index:05d}"
    return f"(01){body}{_gs1_check_digit(body)}(11){made:%y%m%d}(21){serial}"


def _dump(head: dict, list_key: str, items: list) -> str:
    """JSON with the header keys on their own lines and one list item per line (small, diffable)."""
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
    lines.append(f"  {json.dumps(list_key)}: [")
    lines += [f"    {json.dumps(item, ensure_ascii=False)}," for item in items]
    if items:
        lines[-1] = lines[-1].rstrip(",")
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- floors -------------------------------------------------------------------------------------


def floor_geojson(floor: FloorLayout) -> str:
    name = floorplan_name(floor.level)
    used = [code for code in DEPARTMENTS if any(r.dept == code for r in floor.rooms)]
    props = {
        "site": layout.SITE["code"],
        "site_name": layout.SITE["name"],
        "site_timezone": layout.SITE["timezone"],
        "building": layout.BUILDING["code"],
        "building_name": layout.BUILDING["name"],
        "level": floor.level,
        "name": floor.name,
        "elevation_m": floor.elevation_m,
        "height_m": layout.FLOOR_HEIGHT_M,
        "width_m": layout.WIDTH_M,
        "depth_m": layout.DEPTH_M,
        "metres_per_unit": svg.METRES_PER_UNIT,
        "origin": list(svg.ORIGIN),
        "svg": f"{name}.svg",
        "departments": {code: DEPARTMENTS[code] for code in used},
        "generated": ABOUT.replace("fixtures/README.md", "floorplans/README.md"),
    }
    features = []
    for room in floor.rooms:
        features.append(
            {
                "type": "Feature",
                "id": room.number,
                "properties": {
                    "number": room.number,
                    "name": room.name,
                    "room_type": room.room_type,
                    "department": room.dept,
                },
                "geometry": {"type": "Polygon", "coordinates": [room.polygon]},
            }
        )
    for zone in floor.zones:
        features.append(
            {
                "type": "Feature",
                "id": f"zone:{zone.code}",
                "properties": {"zone": {"code": zone.code, "name": zone.name, "kind": zone.kind}},
                "geometry": {"type": "Polygon", "coordinates": [zone.polygon]},
            }
        )
    return _dump({"type": "FeatureCollection", "properties": props}, "features", features)


# --- equipment ----------------------------------------------------------------------------------


class Places:
    """Where equipment of a department is used, stored, cleaned and repaired."""

    def __init__(self, floors: list[FloorLayout]):
        self.rooms = {r.number: (f.level, r) for f in floors for r in f.rooms}
        by_dept: dict[str, list] = {}
        for level, room in self.rooms.values():
            by_dept.setdefault(room.dept, []).append((level, room))
        self.floor_of = {
            d: Counter(lv for lv, _ in rs).most_common(1)[0][0] for d, rs in by_dept.items() if d
        }
        self.care = {d: [r.number for _, r in rs if r.room_type in CARE_TYPES] for d, rs in by_dept.items()}
        self.store = {
            d: [r.number for _, r in rs if r.room_type in ("equipment_storage", "clean_utility")]
            for d, rs in by_dept.items()
        }
        self.soiled = {
            d: [r.number for _, r in rs if r.room_type == "soiled_utility"] for d, rs in by_dept.items()
        }
        self.library = self._named("Equipment library")
        self.workshop = self._named("Biomedical engineering workshop")
        self.waiting = next(n for n, (_, r) in self.rooms.items() if r.room_type == "waiting_area")
        self.staff_rooms = [n for n, (_, r) in self.rooms.items() if r.room_type == "staff_room"]
        self.load: Counter = Counter()  # (type code, room) -> units placed, to spread equipment out

    def _named(self, name: str) -> str:
        return next(n for n, (_, r) in self.rooms.items() if r.name == name)

    def least_used(self, rng: random.Random, type_code: str, candidates: list[str]) -> str:
        lowest = min(self.load[(type_code, n)] for n in candidates)
        room = rng.choice([n for n in candidates if self.load[(type_code, n)] == lowest])
        self.load[(type_code, room)] += 1
        return room

    def initial_room(self, rng: random.Random, spec: catalogue.TypeSpec, dept: str, status: str) -> str:
        if status in ("in_maintenance", "out_of_service"):
            return self.workshop
        if status == "missing":  # misplaced: left in a staff room somewhere
            return rng.choice(self.staff_rooms)
        if status == "needs_cleaning":
            soiled = self.soiled.get(dept) or [
                n
                for n, (lv, r) in self.rooms.items()
                if r.room_type == "soiled_utility" and lv == self.floor_of[dept]
            ]
            return rng.choice(soiled)
        if status == "in_use" and self.care.get(dept):
            return self.least_used(rng, spec.code, self.care[dept])
        if spec.code == "wheelchair" and dept == "ed":
            return self.waiting
        return self.least_used(rng, spec.code, self.store.get(dept) or [self.library])


def asset_types() -> list[dict]:
    return [
        {
            "code": t.code,
            "name": t.name,
            "category": t.category,
            "risk_class": t.risk_class,
            "pm_interval_days": t.pm_interval_days,
            "pm_interval_hours": t.pm_interval_hours,
            "calibration_interval_days": t.calibration_interval_days,
            "is_mobile": t.is_mobile,
        }
        for t in catalogue.TYPES
    ]


def assets(floors: list[FloorLayout]) -> list[dict]:
    rng = _rng("assets")
    places = Places(floors)
    makers = list(dict.fromkeys(m.manufacturer for t in catalogue.TYPES for m in t.models))
    model_index = {
        (m.manufacturer, m.model): i + 1 for i, m in enumerate(m for t in catalogue.TYPES for m in t.models)
    }
    serials: set[tuple[str, str]] = set()
    days = (COMMISSIONED_TO - COMMISSIONED_FROM).days
    types = {t.code: t for t in catalogue.TYPES}
    out = []
    numbers: Counter = Counter()

    def one(spec: catalogue.TypeSpec, model: catalogue.Model, dept: str, status: str, room: str, fixed: bool):
        numbers[spec.prefix] += 1
        while True:
            serial = _pattern(rng, model.serial)
            if (model.manufacturer, serial) not in serials:
                serials.add((model.manufacturer, serial))
                break
        commissioned = COMMISSIONED_FROM + dt.timedelta(days=rng.randrange(days))
        made = commissioned - dt.timedelta(days=rng.randrange(30, 240))
        udi = ""
        if commissioned >= UDI_FROM:
            udi = _udi(
                makers.index(model.manufacturer), model_index[(model.manufacturer, model.model)], made, serial
            )
        interval = spec.pm_interval_days or 365
        last_pm = rng.randrange(interval) if rng.random() > 0.06 else interval + rng.randrange(1, 45)
        hours = None
        if spec.pm_interval_hours:
            hours = rng.randrange(int(spec.pm_interval_hours * 0.97))
            if rng.random() < 0.05:
                hours = spec.pm_interval_hours + rng.randrange(1, 200)
        out.append(
            {
                "asset_number": f"SEH-{spec.prefix}-{numbers[spec.prefix]:04d}",
                "asset_type": spec.code,
                "manufacturer": model.manufacturer,
                "model": model.model,
                "serial_number": serial,
                "udi": udi,
                "home_department": dept,
                "status": status,
                "commissioned_on": commissioned.isoformat(),
                "initial_room": None if fixed else room,
                "installed_room": room if fixed else None,
                "last_pm_days_ago": last_pm,
                "hours_since_pm": hours,
            }
        )

    for spec in catalogue.TYPES:
        if not spec.is_mobile:
            continue
        for _ in range(spec.count):
            dept = _weighted(rng, spec.homes)
            model = _weighted(rng, [(m, m.weight) for m in spec.models])
            status = _weighted(rng, MOBILE_STATUS_WEIGHTS)
            one(spec, model, dept, status, places.initial_room(rng, spec, dept, status), fixed=False)
    for type_code, room, _profile, _fmt, _enc in catalogue.COLD_STORAGE:
        spec = types[type_code]
        model = rng.choice(spec.models)
        one(spec, model, places.rooms[room][1].dept, "in_use", room, fixed=True)
    return out


# --- radio: gateways, tags, sensors -------------------------------------------------------------


def gateways(floors: list[FloorLayout]) -> list[dict]:
    out = []
    for floor in floors:
        for room in floor.rooms:
            x, y = room.centre
            out.append(
                {
                    "gateway_id": f"gw-{room.number.lower()}",
                    "floor": floor.level,
                    "room": room.number,
                    "x": x,
                    "y": y,
                    "z": GATEWAY_Z_M,
                }
            )
    return out


def tags(floors: list[FloorLayout], asset_rows: list[dict], macs: set[str]) -> tuple[str, list[dict]]:
    rng = _rng("tags")
    site_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    places = Places(floors)
    types = {t.code: t for t in catalogue.TYPES}
    out = []
    minor = 0
    for row in asset_rows:
        if not types[row["asset_type"]].is_mobile:
            continue
        minor += 1
        major = places.floor_of[row["home_department"]]
        out.append(
            {
                "tag_id": f"ibeacon:{site_uuid}:{major}:{minor}",
                "kind": "ibeacon",
                "uuid": site_uuid,
                "major": major,
                "minor": minor,
                "mac": _mac(rng, macs),
                "tx_power_dbm": IBEACON_TX_POWER_DBM,
                "asset": row["asset_number"],
                "is_reference": False,
            }
        )
    ref = 0
    for floor in floors:
        for x in (15.0, 65.0):
            ref += 1
            y = round(sum(layout.CORRIDOR) / 2, 2)
            out.append(
                {
                    "tag_id": f"ibeacon:{site_uuid}:{REFERENCE_MAJOR}:{ref}",
                    "kind": "ibeacon",
                    "uuid": site_uuid,
                    "major": REFERENCE_MAJOR,
                    "minor": ref,
                    "mac": _mac(rng, macs),
                    "tx_power_dbm": IBEACON_TX_POWER_DBM,
                    "asset": None,
                    "is_reference": True,
                    "ref_floor": floor.level,
                    "ref_x": x,
                    "ref_y": y,
                    "ref_z": REFERENCE_TAG_Z_M,
                }
            )
    return site_uuid, out


def sensors(floors: list[FloorLayout], asset_rows: list[dict], macs: set[str]) -> list[dict]:
    rng = _rng("sensors")
    rooms = {r.number: (f.level, r) for f in floors for r in f.rooms}
    out = []

    def add(sensor_id, name, room, asset, profile, fmt, encrypted, quantities, interval):
        ago = rng.randrange(20, 330)
        out.append(
            {
                "sensor_id": sensor_id,
                "name": name,
                "floor": rooms[room][0],
                "room": room,
                "asset": asset,
                "profile": profile,
                "ble_format": fmt,
                "mac": _mac(rng, macs),
                "bindkey": rng.getrandbits(128).to_bytes(16, "big").hex() if encrypted else "",
                "quantities": list(quantities),
                "report_interval_s": interval,
                "calibrated_days_ago": ago,
                "calibration_due_in_days": SENSOR_CALIBRATION_INTERVAL_DAYS - ago,
            }
        )

    cold = [row for row in asset_rows if row["installed_room"]]
    for row, (type_code, room, profile, fmt, encrypted) in zip(cold, catalogue.COLD_STORAGE, strict=True):
        assert row["asset_type"] == type_code and row["installed_room"] == room
        type_name = next(t.name for t in catalogue.TYPES if t.code == type_code).split(" (")[0]
        add(
            f"env-{row['asset_number'].lower()}",
            f"{type_name} {row['asset_number']} ({room})",
            room,
            row["asset_number"],
            profile,
            fmt,
            encrypted,
            catalogue.COLD_QUANTITIES[fmt],
            60,
        )
    for selector, profile, fmt, quantities in catalogue.ROOM_SENSORS:
        numbers = [n for n, (_, r) in rooms.items() if r.room_type == selector.rstrip("*")]
        if selector.endswith("*"):
            numbers = sorted(rng.sample(numbers, catalogue.SAMPLED_ROOMS[selector]))
        for number in numbers:
            interval = {"patient_room": 300, "critical_care": 120, "waiting_area": 120}.get(profile, 60)
            add(
                f"env-room-{number.lower()}",
                f"Room sensor {number} {rooms[number][1].name}",
                number,
                None,
                profile,
                fmt,
                False,
                quantities,
                interval,
            )
    # A realistic calibration picture: three due within a month, one overdue (the platelet incubator's).
    for row, due in zip(
        rng.sample([s for s in out if "platelet" not in s["name"].lower()], 3), (6, 13, 24), strict=True
    ):
        row["calibration_due_in_days"] = due
        row["calibrated_days_ago"] = SENSOR_CALIBRATION_INTERVAL_DAYS - due
    overdue = next(s for s in out if s["profile"] == "platelet_incubator")
    overdue["calibration_due_in_days"], overdue["calibrated_days_ago"] = (
        -9,
        SENSOR_CALIBRATION_INTERVAL_DAYS + 9,
    )
    return out


def users() -> list[dict]:
    return [
        {
            "username": username,
            "password": f"demo-{username}",
            "role": role,
            "first_name": first,
            "last_name": last,
            "email": f"{username}@seh.example.org",
            "is_staff": staff,
            "is_superuser": superuser,
        }
        for username, role, first, last, staff, superuser in USERS
    ]


# --- output -------------------------------------------------------------------------------------


def build() -> dict[str, str]:
    """Every generated file: relative path -> text."""
    floors = layout.build_all()
    files: dict[str, str] = {}
    for floor in floors:
        name = floorplan_name(floor.level)
        files[f"floorplans/{name}.svg"] = svg.render(floor, layout.SITE["name"], layout.BUILDING["name"])
        files[f"floorplans/{name}.geojson"] = floor_geojson(floor)
    macs: set[str] = set()
    asset_rows = assets(floors)
    site_uuid, tag_rows = tags(floors, asset_rows, macs)
    sensor_rows = sensors(floors, asset_rows, macs)
    gateway_rows = gateways(floors)
    head = {
        "about": ABOUT,
        "generator": GENERATOR,
        "seed": SEED,
        "site": layout.SITE["code"],
        "building": layout.BUILDING["code"],
    }
    data = {
        "asset_types": asset_types(),
        "assets": asset_rows,
        "gateways": gateway_rows,
        "sensors": sensor_rows,
        "tags": tag_rows,
        "users": users(),
    }
    for name, rows in data.items():
        extra = {"ibeacon_uuid": site_uuid} if name == "tags" else {}
        if name == "users":
            extra = {
                "warning": "DEMO-ONLY ACCOUNTS with published passwords. Never load them into production."
            }
        files[f"fixtures/demo/{name}.json"] = _dump({**head, **extra}, "items", rows)
    counts = {
        "floors": len(floors),
        "rooms": sum(len(f.rooms) for f in floors),
        "rooms_excluding_corridors": sum(1 for f in floors for r in f.rooms if r.room_type != "corridor"),
        "zones": sum(len(f.zones) for f in floors),
        **{name: len(rows) for name, rows in data.items()},
        "cold_storage_units": len(catalogue.COLD_STORAGE),
    }
    manifest = {
        **head,
        "floorplans": [f"{floorplan_name(f.level)}.geojson" for f in floors],
        "fixtures": [f"{name}.json" for name in data],
        "counts": counts,
    }
    files["fixtures/demo/manifest.json"] = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    return files


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))


def self_check(files: dict[str, str]) -> None:
    """Refuse to write a demo whose floor plans the importer would refuse."""
    from hospital.facility.floorplan import load_floorplans

    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp), {k: v for k, v in files.items() if k.startswith("floorplans/")})
        load_floorplans(sorted((Path(tmp) / "floorplans").glob("*.geojson")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT, help="root to write under (default: the repository)"
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with the files under --out; write nothing"
    )
    args = parser.parse_args(argv)
    files = build()
    self_check(files)
    if args.check:
        stale = [
            rel
            for rel, text in files.items()
            if not (args.out / rel).is_file() or (args.out / rel).read_bytes() != text.encode("utf-8")
        ]
        for rel in stale:
            print(f"stale: {rel}", file=sys.stderr)
        print(
            "demo data is up to date" if not stale else f"{len(stale)} generated file(s) differ; regenerate"
        )
        return 1 if stale else 0
    write(args.out, files)
    size = sum(len(t.encode("utf-8")) for t in files.values())
    print(f"wrote {len(files)} files ({size / 1024:.0f} KiB) under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
