"""The demo hospital: deterministic generator, committed output up to date, load_demo loads it all."""

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from hospital.assets.models import Asset, AssetType
from hospital.demo import generate
from hospital.facility.models import Floor, Room, Zone
from locator.models import Tag
from sensors.models import Gateway, Sensor

ROOT = Path(__file__).resolve().parents[2]
MAC = re.compile(r"^([0-9A-F]{2}:){5}[0-9A-F]{2}$")
COLD_PROFILES = {
    "vaccine_fridge",
    "vaccine_freezer",
    "ultra_cold_freezer",
    "blood_fridge",
    "platelet_incubator",
    "plasma_freezer",
    "pharmacy_fridge",
}
ROOM_PROFILES = {
    "operating_room",
    "isolation_room_negative",
    "protective_environment_positive",
    "pharmacy_crt",
    "sterile_storage",
    "waiting_area",
    "patient_room",
    "critical_care",
}


def items(name):
    return json.loads((ROOT / "fixtures" / "demo" / f"{name}.json").read_text(encoding="utf-8"))["items"]


def test_the_generator_is_deterministic(tmp_path):
    for out in ("a", "b"):
        assert generate.main(["--out", str(tmp_path / out)]) == 0
    a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert a == b and len(a) == 13
    for rel in a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_the_committed_demo_data_matches_a_fresh_generation():
    files = generate.build()
    stale = [rel for rel, text in files.items() if (ROOT / rel).read_bytes() != text.encode("utf-8")]
    assert not stale, f"regenerate with `python -m hospital.demo.generate`: {stale}"
    generated_here = {p.relative_to(ROOT).as_posix() for p in (ROOT / "floorplans").glob("*.*")} - {
        "floorplans/README.md"
    }
    assert generated_here == {rel for rel in files if rel.startswith("floorplans/")}, (
        "stray files in floorplans/"
    )
    assert sum(len(t.encode()) for t in files.values()) < 1_000_000


def test_svg_room_ids_match_the_geojson_room_numbers():
    for geojson in sorted((ROOT / "floorplans").glob("*.geojson")):
        doc = json.loads(geojson.read_text(encoding="utf-8"))
        numbers = [f["properties"]["number"] for f in doc["features"] if "number" in f["properties"]]
        root = ET.parse(geojson.parent / doc["properties"]["svg"]).getroot()
        shapes = [el for el in root.iter() if "data-room" in el.attrib]
        assert sorted(el.attrib["data-room"] for el in shapes) == sorted(numbers)
        assert all(el.attrib["id"] == f"room-{el.attrib['data-room']}" for el in shapes)
        # the drawing carries a scale bar, a north arrow, a door per room and a label per room
        ids = {el.attrib.get("id") for el in root.iter()}
        assert {"scale-bar", "north-arrow", "doors", "labels"} <= ids
        texts = "".join(root.itertext())
        assert all(n in texts for n in numbers)


def test_fixture_data_is_plausible():
    assets = items("assets")
    types = {t["code"]: t for t in items("asset_types")}
    statuses = Counter(a["status"] for a in assets)
    assert statuses["available"] + statuses["in_use"] > 0.75 * len(assets)
    assert (
        statuses["needs_cleaning"] > 10
        and 0 < statuses["in_maintenance"] < 40
        and statuses["out_of_service"] > 0
    )
    assert len({(a["manufacturer"], a["serial_number"]) for a in assets}) == len(assets)
    assert sum(1 for a in assets if a["udi"].startswith("(01)")) > 100
    for a in assets:
        mobile = types[a["asset_type"]]["is_mobile"]
        assert bool(a["initial_room"]) == mobile and bool(a["installed_room"]) != mobile
    assert types["ventilator"]["risk_class"] == types["defibrillator"]["risk_class"] == "high"
    assert types["infusion-pump"]["pm_interval_hours"] and types["ventilator"]["pm_interval_hours"]

    tags = items("tags")
    assert all(
        re.fullmatch(r"ibeacon:[0-9a-f-]{36}:\d+:\d+", t["tag_id"]) and MAC.match(t["mac"]) for t in tags
    )
    assert len({t["minor"] for t in tags if not t["is_reference"]}) == sum(
        1 for t in tags if not t["is_reference"]
    )
    sensors = items("sensors")
    assert all(MAC.match(s["mac"]) for s in sensors)
    encrypted = [s for s in sensors if s["bindkey"]]
    assert encrypted and all(
        s["ble_format"] == "bthome_v2" and len(bytes.fromhex(s["bindkey"])) == 16 for s in encrypted
    )
    due = sorted(s["calibration_due_in_days"] for s in sensors)
    assert due[0] < 0 and due[1] >= 0 and sum(1 for d in due if 0 <= d <= 30) >= 3
    assert {u["username"]: u["password"] for u in items("users")} == {
        "nurse": "demo-nurse",
        "engineer": "demo-engineer",
        "facility": "demo-facility",
        "admin": "demo-admin",
    }
    macs = [t["mac"] for t in tags] + [s["mac"] for s in sensors]
    assert len(set(macs)) == len(macs)


@pytest.fixture
def loaded(db):
    out = StringIO()
    call_command("load_demo", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_load_demo_loads_the_whole_hospital(loaded):
    assert "Demo hospital loaded in" in loaded
    assert Floor.objects.count() == 3
    rooms = Room.objects.exclude(room_type="corridor")
    assert rooms.count() >= 120 and Room.objects.filter(room_type="corridor").count() >= 24
    assert len(set(Room.objects.values_list("room_type", flat=True))) >= 18
    assert Asset.objects.count() >= 400
    assert AssetType.objects.filter(assets__isnull=False).distinct().count() >= 12
    assert set(Zone.objects.values_list("kind", flat=True)) == {"exit", "restricted"}
    assert {"main-entrance", "ambulance-bay", "pharmacy", "blood-bank"} <= set(
        Zone.objects.values_list("code", flat=True)
    )

    cold = Asset.objects.filter(asset_type__category="cold_storage")
    assert cold.count() >= 20
    for unit in cold.select_related("asset_type", "installed_room"):
        assert not unit.asset_type.is_mobile and unit.installed_room is not None
        [sensor] = unit.sensors.all()
        assert sensor.profile in COLD_PROFILES and sensor.room_id == unit.installed_room_id
    assert set(Sensor.objects.filter(asset__isnull=False).values_list("profile", flat=True)) == COLD_PROFILES
    assert set(Sensor.objects.filter(asset__isnull=True).values_list("profile", flat=True)) == ROOM_PROFILES
    for room in Room.objects.filter(
        room_type__in=["operating_room", "isolation_room", "protective_environment"]
    ):
        assert room.sensors.exists(), room
    today = timezone.localdate()
    assert Sensor.objects.filter(calibration_due_on__lt=today).count() == 1
    soon = today + dt.timedelta(days=30)
    assert Sensor.objects.filter(calibration_due_on__gte=today, calibration_due_on__lte=soon).count() >= 3

    without_gateway = rooms.filter(gateways__isnull=True)
    assert not without_gateway.exists(), list(without_gateway)
    assert Gateway.objects.filter(room__room_type="corridor").count() >= 24
    assert Gateway.objects.filter(z=2.7).count() == Gateway.objects.count()
    assert Gateway.objects.get(gateway_id="gw-2e-11").room.number == "2E-11"
    assert Gateway.objects.get(gateway_id="gw-1-cor-03").room.number == "1-COR-03"

    mobile = Asset.objects.filter(asset_type__is_mobile=True)
    assert mobile.count() == Tag.objects.filter(asset__isnull=False).count()
    assert not mobile.filter(tag__isnull=True).exists()
    refs = Tag.objects.filter(is_reference=True)
    assert refs.count() >= 3 and all(t.ref_floor and t.ref_x is not None and t.ref_z for t in refs)


def test_demo_users_log_in_with_their_roles(loaded):
    for username, group in (
        ("nurse", "nurse"),
        ("engineer", "biomedical engineer"),
        ("facility", "facility manager"),
        ("admin", "administrator"),
    ):
        user = authenticate(username=username, password=f"demo-{username}")
        assert user is not None and user.groups.filter(name=group).exists()
    admin = authenticate(username="admin", password="demo-admin")
    assert admin.is_superuser and admin.is_staff


def test_load_demo_refuses_a_database_with_assets_unless_forced(loaded):
    before = (Room.objects.count(), Asset.objects.count(), Tag.objects.count(), Sensor.objects.count())
    with pytest.raises(CommandError, match="already has .* assets.*--force"):
        call_command("load_demo", stdout=StringIO(), stderr=StringIO())
    out = StringIO()
    call_command("load_demo", "--force", stdout=out, stderr=StringIO())
    text = out.getvalue()
    for line in (
        "assets: 0 created, 0 updated, 476 unchanged",
        "rooms: 0 created, 0 updated, 147 unchanged",
        "tags: 0 created, 0 updated, 460 unchanged",
        "users: 0 created, 0 updated, 4 unchanged",
    ):
        assert line in text
    assert (
        Room.objects.count(),
        Asset.objects.count(),
        Tag.objects.count(),
        Sensor.objects.count(),
    ) == before


def test_load_demo_force_restores_edited_demo_records(loaded):
    Asset.objects.filter(asset_number="SEH-INF-0001").update(model="edited")
    out = StringIO()
    call_command("load_demo", "--force", stdout=out, stderr=StringIO())
    assert "assets: 0 created, 1 updated, 475 unchanged" in out.getvalue()
    assert Asset.objects.get(asset_number="SEH-INF-0001").model == "Alaris 8100 LVP module"


def test_the_demo_fixture_and_floorplan_dirs_are_the_settings_ones():
    assert (settings.FIXTURE_DIR / "demo" / "manifest.json").is_file()
    assert (settings.FLOORPLAN_DIR / "seh-main-1.geojson").is_file()


def test_every_demo_sensor_profile_is_a_known_monitoring_profile():
    profiles_file = ROOT / "fixtures" / "monitoring_profiles.json"
    if not profiles_file.is_file():
        pytest.skip("no monitoring profiles yet")
    known = set(json.loads(profiles_file.read_text(encoding="utf-8"))["profiles"])
    assert {s["profile"] for s in items("sensors")} <= known
