"""Floor-plan files: validation names the file, the room and the problem; import is all-or-nothing
and idempotent."""

import copy
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from hospital.facility.floorplan import FloorPlanError, load_floorplan, load_floorplans
from hospital.facility.models import Building, Department, Floor, Room, Site, Zone


def rect(x0, y0, x1, y1):
    return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]


def room(number, name, room_type, coords, department="ward"):
    return {
        "type": "Feature",
        "properties": {"number": number, "name": name, "room_type": room_type, "department": department},
        "geometry": {"type": "Polygon", "coordinates": coords},
    }


def floor_doc(level=1, site="tst", prefix=None):
    prefix = prefix or f"{level}W"
    return {
        "type": "FeatureCollection",
        "properties": {
            "site": site,
            "site_name": "Test Hospital",
            "building": "a",
            "building_name": "Building A",
            "level": level,
            "name": f"Level {level}",
            "elevation_m": 4.0 * (level - 1),
            "metres_per_unit": 0.1,
            "origin": [10, 140],
            "svg": f"level-{level}.svg",
            "departments": {"ward": "Ward"},
        },
        "features": [
            room(f"{prefix}-01", "Patient room", "patient_room", rect(0, 0, 4, 10)),
            room(f"{prefix}-03", "Patient room", "patient_room", rect(4, 0, 8, 10)),  # shares a wall with -01
            room(f"{prefix}-05", "Clean utility", "clean_utility", rect(8, 0, 11, 10)),
            room(f"{level}-COR-01", "Corridor", "corridor", rect(0, 10, 11, 13), department=None),
            {
                "type": "Feature",
                "properties": {"zone": {"code": "exit-w", "name": "West exit", "kind": "exit"}},
                "geometry": {"type": "Polygon", "coordinates": rect(0, 10, 1, 13)},
            },
        ],
    }


def numbers(doc):
    return [f["properties"]["number"] for f in doc["features"] if "number" in f["properties"]]


def write(tmp_path, doc, name=None, svg_numbers=None, raw=None):
    """Write ``doc`` (or ``raw`` text) as GeoJSON plus a matching minimal SVG drawing."""
    name = name or f"level-{doc['properties']['level']}"
    path = tmp_path / f"{name}.geojson"
    path.write_text(raw if raw is not None else json.dumps(doc, indent=1), encoding="utf-8")
    svg_name = (doc.get("properties") or {}).get("svg") or f"{name}.svg"
    shapes = "".join(
        f'<polygon id="room-{n}" data-room="{n}" points="0,0 1,0 1,1"/>'
        for n in (svg_numbers if svg_numbers is not None else numbers(doc))
    )
    (tmp_path / svg_name).write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg">{shapes}</svg>', encoding="utf-8"
    )
    return path


def problems_of(path):
    plan, problems, _warnings = load_floorplan(path)
    assert plan is None
    return [str(p) for p in problems]


def test_a_valid_plan_parses(tmp_path):
    plan, problems, warnings = load_floorplan(write(tmp_path, floor_doc()))
    assert problems == [] and warnings == []
    assert [r.number for r in plan.rooms] == ["1W-01", "1W-03", "1W-05", "1-COR-01"]
    assert plan.rooms[0].polygon == [[0, 0], [4, 0], [4, 10], [0, 10]]  # closing vertex dropped
    assert plan.zones[0].kind == "exit" and plan.metres_per_unit == 0.1 and plan.origin == (10.0, 140.0)
    assert (plan.width_m, plan.depth_m) == (11.0, 13.0)


def _unclosed(doc):
    doc["features"][1]["geometry"]["coordinates"][0].pop()


def _bow_tie(doc):
    doc["features"][1]["geometry"]["coordinates"] = [[[4, 0], [8, 10], [8, 0], [4, 10], [4, 0]]]


def _overlap(doc):
    doc["features"][1]["geometry"]["coordinates"] = rect(3, 0, 8, 10)  # 1 m into 1W-01


def _unknown_type(doc):
    doc["features"][1]["properties"]["room_type"] = "broom_cupboard"


def _duplicate(doc):
    doc["features"][2]["properties"]["number"] = "1W-03"


def _missing_name(doc):
    del doc["features"][1]["properties"]["name"]


BROKEN = [
    (_unclosed, "room 1W-03", "unclosed ring"),
    (_bow_tie, "room 1W-03", "self-intersecting polygon"),
    (_overlap, "room 1W-01", "overlaps room 1W-03 by 10.00 m²"),
    (_unknown_type, "room 1W-03", "unknown room type 'broom_cupboard'"),
    (_duplicate, "room 1W-03", "duplicate room number"),
    (_missing_name, "room 1W-03", "missing property 'name'"),
]


@pytest.mark.parametrize(("breaks", "where", "what"), BROKEN, ids=[b[0].__name__.strip("_") for b in BROKEN])
def test_each_kind_of_broken_room_is_named(tmp_path, breaks, where, what):
    doc = floor_doc()
    breaks(doc)
    path = write(tmp_path, doc)
    found = problems_of(path)
    assert any(p.startswith(f"{path}: {where}: ") and what in p for p in found), found


def test_missing_scale_is_refused(tmp_path):
    doc = floor_doc()
    del doc["properties"]["metres_per_unit"]
    path = write(tmp_path, doc)
    assert f"{path}: floor: missing scale (metres_per_unit)" in problems_of(path)


def test_missing_floor_properties_are_each_named(tmp_path):
    doc = floor_doc()
    del doc["properties"]["level"], doc["properties"]["site"]
    found = problems_of(write(tmp_path, doc, name="level-x"))
    assert any("missing property 'level'" in p for p in found) and any(
        "missing property 'site'" in p for p in found
    )


def test_invalid_json_reports_line_and_column(tmp_path):
    path = write(tmp_path, floor_doc(), raw='{\n  "type": "FeatureCollection",\n  "features": [,]\n}\n')
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: file: invalid JSON at line 3, column 16")


def test_all_problems_are_collected_not_just_the_first(tmp_path):
    doc = floor_doc()
    _unknown_type(doc)  # 1W-03
    doc["features"][0]["geometry"]["coordinates"][0].pop()  # 1W-01 unclosed
    del doc["features"][2]["properties"]["name"]  # 1W-05
    doc["features"][4]["properties"]["zone"]["kind"] = "lava"
    found = problems_of(write(tmp_path, doc))
    assert len(found) == 4, found
    assert {p.split(": ")[1] for p in found} == {"room 1W-01", "room 1W-03", "room 1W-05", "zone exit-w"}


def test_shared_walls_and_touching_corners_are_fine(tmp_path):
    doc = floor_doc()
    doc["features"].append(
        room("1W-07", "Store", "equipment_storage", rect(11, 10, 14, 13))
    )  # touches a corner
    plan, problems, _ = load_floorplan(write(tmp_path, doc))
    assert problems == [] and len(plan.rooms) == 5


def test_drawing_must_agree_with_the_geometry(tmp_path):
    path = write(tmp_path, floor_doc(), svg_numbers=["1W-01", "1W-03", "1-COR-01", "1W-99"])
    found = problems_of(path)
    assert f"{path}: room 1W-05: not drawn in level-1.svg (no element with data-room)" in found
    assert f"{path}: room 1W-99: drawn in level-1.svg but missing from the geometry" in found


def test_a_missing_drawing_is_only_a_warning(tmp_path):
    path = write(tmp_path, floor_doc())
    (tmp_path / "level-1.svg").unlink()
    plan, problems, warnings = load_floorplan(path)
    assert plan is not None and problems == [] and "level-1.svg" in warnings[0]


def test_the_same_floor_in_two_files_is_refused(tmp_path):
    a = write(tmp_path, floor_doc(), name="a")
    b = write(tmp_path, floor_doc(), name="b")
    with pytest.raises(FloorPlanError) as exc:
        load_floorplans([a, b])
    assert f"{b}: floor: duplicate floor: level 1 of tst/a is also in {a}" in str(exc.value)


# --- import -------------------------------------------------------------------------------------


def counts():
    return tuple(m.objects.count() for m in (Site, Building, Floor, Department, Room, Zone))


def run(*args):
    out = StringIO()
    call_command("import_floorplan", *map(str, args), stdout=out, stderr=StringIO())
    return out.getvalue()


def test_import_creates_everything_and_reimport_is_unchanged(db, tmp_path):
    paths = [write(tmp_path, floor_doc(1)), write(tmp_path, floor_doc(2))]
    out = run(*paths)
    assert "rooms: 8 created, 0 updated, 0 unchanged" in out
    assert counts() == (1, 1, 2, 1, 8, 2)
    room = Room.objects.get(number="1W-03")
    assert room.polygon == [[4, 0], [8, 0], [8, 10], [4, 10]] and room.area_m2 == 40 and room.centroid_x == 6
    assert room.department.name == "Ward" and room.floor.metres_per_unit == 0.1
    assert Room.objects.get(number="1-COR-01").department is None

    out = run(tmp_path)  # a directory imports every *.geojson in it
    assert (
        "rooms: 0 created, 0 updated, 8 unchanged" in out
        and "floors: 0 created, 0 updated, 2 unchanged" in out
    )
    assert counts() == (1, 1, 2, 1, 8, 2)


def test_a_changed_file_updates_the_room(db, tmp_path):
    doc = floor_doc()
    run(write(tmp_path, doc))
    before = Room.objects.get(number="1W-03")
    doc["features"][1]["properties"]["name"] = "Single patient room"
    doc["features"][1]["geometry"]["coordinates"] = rect(4, 0, 8, 9)
    out = run(write(tmp_path, doc))
    assert "rooms: 0 created, 1 updated, 3 unchanged" in out
    after = Room.objects.get(number="1W-03")
    assert after.pk == before.pk and after.name == "Single patient room" and after.area_m2 == 36


def test_prune_deletes_rooms_no_longer_in_the_file(db, tmp_path):
    doc = floor_doc()
    run(write(tmp_path, doc))
    del doc["features"][2]
    path = write(tmp_path, doc)
    assert "1 not in the files (kept; --prune deletes them)" in run(path)
    assert Room.objects.filter(number="1W-05").exists()
    assert "rooms: 0 created, 0 updated, 3 unchanged, 1 deleted" in run(path, "--prune")
    assert not Room.objects.filter(number="1W-05").exists()


def test_nothing_is_half_imported_when_a_later_file_is_broken(db, tmp_path):
    first = floor_doc(1)
    run(write(tmp_path, first))
    snapshot = counts()
    changed = copy.deepcopy(first)
    changed["features"][0]["properties"]["name"] = "Renamed"
    changed["features"].append(room("1W-07", "New room", "office", rect(11, 0, 14, 10)))
    broken = floor_doc(2)
    _unclosed(broken)
    _unknown_type(broken)
    paths = [write(tmp_path, changed), write(tmp_path, broken)]
    with pytest.raises(CommandError) as exc:
        run(*paths)
    message = str(exc.value)
    assert "nothing was imported" in message
    assert f"{paths[1]}: room 2W-03: unclosed ring" in message
    assert counts() == snapshot
    assert Room.objects.get(number="1W-01").name == "Patient room"


def test_a_failure_inside_the_transaction_rolls_back_every_file(db, tmp_path, monkeypatch):
    from hospital.facility import services

    paths = [write(tmp_path, floor_doc(1)), write(tmp_path, floor_doc(2))]
    real = services._sync_shapes
    calls = []

    def fail_on_second_floor(model, floor, *args, **kwargs):
        calls.append(floor.level)
        if floor.level == 2:
            raise RuntimeError("disk full")
        return real(model, floor, *args, **kwargs)

    monkeypatch.setattr(services, "_sync_shapes", fail_on_second_floor)
    with pytest.raises(RuntimeError):
        run(*paths)
    assert 1 in calls and counts() == (0, 0, 0, 0, 0, 0)


def test_missing_file_is_an_error(db, tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "nope.geojson")
    with pytest.raises(CommandError, match="no \\*.geojson files"):
        run(tmp_path)
