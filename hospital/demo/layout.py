"""The demo building's floors: which rooms, where, how big. Pure data and arithmetic.

Every floor is 80 m (x, west to east) by 23 m (y, south to north): a row of rooms 10 m deep on the
south side (y 0-10), a 3 m east-west corridor (y 10-13) cut into 10 m segments, and a row of rooms on
the north side (y 13-23). A central core (x 36-44) holds lifts and stairs on the north side; the west
wing (W) runs from the core to x 0 and the east wing (E) from the core to x 80.

Room numbers: floor digit, wing letter (W, C for the core, E), two digits; odd on the south side and
even on the north side, counted outwards from the core, as on many hospital wayfinding schemes.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH_M = 80.0
DEPTH_M = 23.0
SOUTH = (0.0, 10.0)
CORRIDOR = (10.0, 13.0)
NORTH = (13.0, 23.0)
CORE = (36.0, 44.0)
CORRIDOR_SEGMENT_M = 10.0
FLOOR_HEIGHT_M = 4.2

SITE = {"code": "seh", "name": "St. Example General Hospital", "timezone": "Europe/London"}
BUILDING = {"code": "main", "name": "Main Building"}

DEPARTMENTS = {
    "ed": "Emergency Department",
    "radiology": "Radiology",
    "laboratory": "Laboratory",
    "blood-bank": "Blood Bank",
    "pharmacy": "Pharmacy",
    "theatres": "Operating Theatres",
    "icu": "Intensive Care Unit",
    "medical-ward": "Medical Ward",
    "surgical-ward": "Surgical Ward",
    "biomed": "Biomedical Engineering",
    "facilities": "Facilities",
}


@dataclass(frozen=True)
class R:
    """One room in a row: width along the corridor (m), type, name, short label, department."""

    width: float
    room_type: str
    name: str
    short: str
    dept: str | None


def many(n: int, width: float, room_type: str, name: str, short: str, dept: str, start: int = 1) -> list[R]:
    return [R(width, room_type, name.format(i), short.format(i), dept) for i in range(start, start + n)]


STAIRS_W = R(4, "stairs_lift", "West stairs", "Stairs W", "facilities")
STAIRS_E = R(4, "stairs_lift", "East stairs", "Stairs E", "facilities")
CORE_NORTH = [
    R(4, "stairs_lift", "Lifts", "Lifts", "facilities"),
    R(4, "stairs_lift", "Central stairs", "Stairs C", "facilities"),
]

# Per floor: rows listed outwards from the core (W rows run west, E rows run east); the core rows
# run west to east. Each row fills its span exactly (checked by ``build_floor``).
FLOORS = {
    1: {
        "name": "Level 1 - Emergency & Diagnostics",
        "W": {
            "south": [
                R(3, "emergency_bay", "ED triage", "Triage", "ed"),
                R(5.5, "emergency_bay", "Resuscitation bay 1", "Resus 1", "ed"),
                R(5.5, "emergency_bay", "Resuscitation bay 2", "Resus 2", "ed"),
                *many(5, 3, "emergency_bay", "ED cubicle {}", "Bay {}", "ed"),
                R(3, "equipment_storage", "ED equipment store", "Equip store", "ed"),
                STAIRS_W,
            ],
            "north": [
                *many(4, 3, "emergency_bay", "ED cubicle {}", "Bay {}", "ed", start=6),
                R(3, "medication_room", "ED medication room", "Meds", "ed"),
                R(3, "clean_utility", "ED clean utility", "Clean util", "ed"),
                R(3, "soiled_utility", "ED soiled utility", "Soiled util", "ed"),
                R(3, "staff_room", "ED staff room", "Staff", "ed"),
                R(6, "imaging", "CT scanner", "CT", "radiology"),
                R(6, "imaging", "X-ray room", "X-ray", "radiology"),
            ],
        },
        "C": {
            "south": [R(8, "waiting_area", "Main entrance and waiting area", "Entrance / waiting", "ed")],
            "north": CORE_NORTH,
        },
        "E": {
            "south": [
                R(6, "pharmacy", "Pharmacy dispensary", "Dispensary", "pharmacy"),
                R(4, "pharmacy", "Pharmacy stores", "Rx stores", "pharmacy"),
                R(4, "pharmacy", "Pharmacy aseptic compounding", "Compounding", "pharmacy"),
                R(6, "blood_bank", "Blood bank", "Blood bank", "blood-bank"),
                R(3, "blood_bank", "Blood bank issue room", "Issue", "blood-bank"),
                R(4, "imaging", "Ultrasound room", "Ultrasound", "radiology"),
                R(3, "office", "Radiology reporting room", "Reporting", "radiology"),
                R(6, "equipment_storage", "Biomedical engineering workshop", "Biomed workshop", "biomed"),
            ],
            "north": [
                R(6, "laboratory", "Core laboratory", "Core lab", "laboratory"),
                R(5, "laboratory", "Microbiology laboratory", "Microbiology", "laboratory"),
                R(3, "laboratory", "Specimen reception", "Specimens", "laboratory"),
                R(3, "office", "Laboratory office", "Lab office", "laboratory"),
                R(5, "equipment_storage", "Equipment library", "Equip library", "biomed"),
                R(3, "office", "Facilities office", "Facilities", "facilities"),
                R(3, "office", "Patient flow office", "Patient flow", "ed"),
                R(4, "staff_room", "Staff restaurant", "Staff", "facilities"),
                STAIRS_E,
            ],
        },
    },
    2: {
        "name": "Level 2 - Theatres & Critical Care",
        "W": {
            "south": [
                *many(3, 6.5, "operating_room", "Operating room {}", "OR {}", "theatres"),
                R(3.5, "sterile_storage", "Sterile store 1", "Sterile 1", "theatres"),
                R(3, "clean_utility", "Theatre clean utility", "Clean util", "theatres"),
                R(3, "soiled_utility", "Theatre soiled utility", "Soiled util", "theatres"),
                R(3, "equipment_storage", "Theatre equipment store", "Equip store", "theatres"),
                STAIRS_W,
            ],
            "north": [
                *many(2, 6.5, "operating_room", "Operating room {}", "OR {}", "theatres", start=4),
                R(3, "sterile_storage", "Sterile store 2", "Sterile 2", "theatres"),
                *many(8, 2.5, "recovery_bay", "Recovery bay {}", "Rec {}", "theatres"),
            ],
        },
        "C": {
            "south": [
                R(4, "office", "Theatre reception", "Reception", "theatres"),
                R(4, "office", "Anaesthetics office", "Anaes office", "theatres"),
            ],
            "north": CORE_NORTH,
        },
        "E": {
            "south": [
                *many(6, 4, "icu_bay", "ICU bed {}", "ICU {}", "icu"),
                R(3, "medication_room", "ICU medication room", "Meds", "icu"),
                R(3, "clean_utility", "ICU clean utility", "Clean util", "icu"),
                R(3, "soiled_utility", "ICU soiled utility", "Soiled util", "icu"),
                R(3, "equipment_storage", "ICU equipment store", "Equip store", "icu"),
            ],
            "north": [
                *many(5, 4, "icu_bay", "ICU bed {}", "ICU {}", "icu", start=7),
                R(4, "isolation_room", "ICU isolation room", "ICU isol", "icu"),
                R(3, "office", "ICU office", "Office", "icu"),
                R(5, "staff_room", "ICU staff room", "Staff", "icu"),
                STAIRS_E,
            ],
        },
    },
    3: {
        "name": "Level 3 - Wards",
        "W": {
            "south": [
                *many(4, 4, "patient_room", "Medical ward patient room", "Patient", "medical-ward"),
                *many(
                    2, 5, "isolation_room", "Airborne-infection isolation room {}", "AII {}", "medical-ward"
                ),
                R(3, "medication_room", "Medical ward medication room", "Meds", "medical-ward"),
                R(3, "equipment_storage", "Medical ward equipment store", "Equip store", "medical-ward"),
                STAIRS_W,
            ],
            "north": [
                *many(6, 4, "patient_room", "Medical ward patient room", "Patient", "medical-ward"),
                R(3, "clean_utility", "Medical ward clean utility", "Clean util", "medical-ward"),
                R(3, "soiled_utility", "Medical ward soiled utility", "Soiled util", "medical-ward"),
                R(3, "staff_room", "Medical ward staff room", "Staff", "medical-ward"),
                R(3, "office", "Medical ward office", "Office", "medical-ward"),
            ],
        },
        "C": {
            "south": [
                R(4, "office", "Nurses' station, medical ward", "Nurses W", "medical-ward"),
                R(4, "office", "Nurses' station, surgical ward", "Nurses E", "surgical-ward"),
            ],
            "north": CORE_NORTH,
        },
        "E": {
            "south": [
                *many(
                    2,
                    4.5,
                    "protective_environment",
                    "Protective-environment room {}",
                    "PE {}",
                    "surgical-ward",
                ),
                *many(4, 4, "patient_room", "Surgical ward patient room", "Patient", "surgical-ward"),
                R(3, "medication_room", "Surgical ward medication room", "Meds", "surgical-ward"),
                R(4, "equipment_storage", "Surgical ward equipment store", "Equip store", "surgical-ward"),
                R(4, "clean_utility", "Surgical ward clean utility", "Clean util", "surgical-ward"),
            ],
            "north": [
                *many(6, 4, "patient_room", "Surgical ward patient room", "Patient", "surgical-ward"),
                R(4, "soiled_utility", "Surgical ward soiled utility", "Soiled util", "surgical-ward"),
                R(4, "staff_room", "Surgical ward staff room", "Staff", "surgical-ward"),
                STAIRS_E,
            ],
        },
    },
}


@dataclass
class Room:
    number: str
    name: str
    short: str
    room_type: str
    dept: str | None
    x0: float
    y0: float
    x1: float
    y1: float
    side: str  # "south", "north" or "corridor"

    @property
    def polygon(self) -> list[list[float]]:
        """Counter-clockwise outline, closed (GeoJSON ring)."""
        x0, y0, x1, y1 = self.x0, self.y0, self.x1, self.y1
        return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]

    @property
    def centre(self) -> tuple[float, float]:
        return round((self.x0 + self.x1) / 2, 3), round((self.y0 + self.y1) / 2, 3)

    @property
    def width(self) -> float:
        return self.x1 - self.x0


@dataclass
class Zone:
    code: str
    name: str
    kind: str
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def polygon(self) -> list[list[float]]:
        x0, y0, x1, y1 = self.x0, self.y0, self.x1, self.y1
        return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


@dataclass
class FloorLayout:
    level: int
    name: str
    rooms: list[Room]
    zones: list[Zone]

    @property
    def elevation_m(self) -> float:
        return round((self.level - 1) * FLOOR_HEIGHT_M, 3)

    def room(self, number: str) -> Room:
        return next(r for r in self.rooms if r.number == number)


def _row(level: int, wing: str, side: str, rooms: list[R]) -> list[Room]:
    y0, y1 = SOUTH if side == "south" else NORTH
    total = sum(r.width for r in rooms)
    span = {"W": CORE[0], "C": CORE[1] - CORE[0], "E": WIDTH_M - CORE[1]}[wing]
    if abs(total - span) > 1e-9:
        raise ValueError(f"level {level} {wing} {side}: rooms are {total} m wide, the row is {span} m")
    out = []
    number = 1 if side == "south" else 2
    x = CORE[0] if wing == "W" else (CORE[0] if wing == "C" else CORE[1])
    for spec in rooms:
        if wing == "W":
            x0, x1 = x - spec.width, x
            x = x0
        else:
            x0, x1 = x, x + spec.width
            x = x1
        out.append(
            Room(
                f"{level}{wing}-{number:02d}",
                spec.name,
                spec.short,
                spec.room_type,
                spec.dept,
                x0,
                y0,
                x1,
                y1,
                side,
            )
        )
        number += 2
    return out


def build_floor(level: int) -> FloorLayout:
    spec = FLOORS[level]
    rooms: list[Room] = []
    for wing in ("W", "C", "E"):
        for side in ("south", "north"):
            rooms += _row(level, wing, side, spec[wing][side])
    segments = int(WIDTH_M // CORRIDOR_SEGMENT_M)
    for i in range(segments):
        x0 = i * CORRIDOR_SEGMENT_M
        rooms.append(
            Room(
                f"{level}-COR-{i + 1:02d}",
                f"Corridor, segment {i + 1:02d}",
                f"Cor {i + 1:02d}",
                "corridor",
                "facilities",
                x0,
                CORRIDOR[0],
                x0 + CORRIDOR_SEGMENT_M,
                CORRIDOR[1],
                "corridor",
            )
        )
    rooms.sort(key=lambda r: (r.side == "corridor", r.number))
    return FloorLayout(level, spec["name"], rooms, _zones(level, rooms))


def _zones(level: int, rooms: list[Room]) -> list[Zone]:
    zones = []
    for room in rooms:
        if room.room_type == "stairs_lift" and "stairs" in room.name.lower():
            wing = room.short.split()[-1].lower()
            zones.append(
                Zone(f"exit-stairs-{wing}", f"{room.name} (exit)", "exit", room.x0, room.y0, room.x1, room.y1)
            )
    if level == 1:
        zones.append(Zone("main-entrance", "Main entrance", "exit", 38.0, 0.0, 42.0, 1.5))
        zones.append(Zone("ambulance-bay", "Ambulance bay entrance", "exit", 0.0, 10.0, 2.0, 13.0))
        pharmacy = [r for r in rooms if r.dept == "pharmacy"]
        blood = [r for r in rooms if r.dept == "blood-bank"]
        for code, name, group in (
            ("pharmacy", "Pharmacy (restricted)", pharmacy),
            ("blood-bank", "Blood bank (restricted)", blood),
        ):
            zones.append(
                Zone(
                    code,
                    name,
                    "restricted",
                    min(r.x0 for r in group),
                    min(r.y0 for r in group),
                    max(r.x1 for r in group),
                    max(r.y1 for r in group),
                )
            )
    if level == 2:
        zones.append(
            Zone("theatre-suite", "Theatre suite (restricted)", "restricted", 0.0, 0.0, CORE[0], DEPTH_M)
        )
    return zones


def build_all() -> list[FloorLayout]:
    return [build_floor(level) for level in sorted(FLOORS)]
