"""Fixtures of the API tests: a small two-building hospital with located equipment (labelled test data)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from hospital import roles


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_for(make_user):
    """An APIClient logged in (session) as a new user of ``role``."""

    def make(role: str) -> APIClient:
        client = APIClient()
        client.force_login(make_user(role))
        return client

    return make


@pytest.fixture
def admin_client_api(make_user):
    client = APIClient()
    client.force_login(make_user(roles.ADMINISTRATOR))
    return client


def _room(floor, number, x0, name="", room_type="patient_room", department=None):
    from hospital.facility.models import Room

    return Room.objects.create(floor=floor, number=number, name=name, room_type=room_type, department=department,
                               polygon=[[x0, 0], [x0 + 5, 0], [x0 + 5, 4], [x0, 4]])


def _located(asset, tag_id, floor, room, x, y, *, accuracy=1.5, seen=None):
    from locator.models import CurrentLocation, Tag

    tag = Tag.objects.create(tag_id=tag_id, kind="ibeacon", asset=asset)
    if floor is not None:
        now = seen or timezone.now()
        CurrentLocation.objects.create(tag=tag, floor=floor, room=room, x=x, y=y, accuracy_m=accuracy,
                                       method="multilateration", gateways_heard=3, fixed_at=now, last_seen_at=now)
    return tag


@pytest.fixture
def world(floor):
    """Building ``main``: level 1 (rooms 1-01, 1-02 from the ``floor`` fixture, 1-03) and level 2
    (2-01, 2-02); building ``annex``: level 1 (A-01). Pumps spread over them, a monitor, a fridge
    installed in 1-02 and a pump whose tag has never been located."""
    from hospital.assets.models import Asset, AssetType
    from hospital.facility.models import Building, Department, Floor

    site = floor.building.site
    icu = Department.objects.create(site=site, code="icu", name="Intensive care")
    store = Department.objects.create(site=site, code="biomed", name="Biomedical engineering")
    r101, r102 = floor.rooms.order_by("number")
    r101.department, r101.name = icu, "ICU bay 1"
    r101.save()
    r103 = _room(floor, "1-03", 10, name="Clean utility", room_type="clean_utility")
    level2 = Floor.objects.create(building=floor.building, level=2, name="Level 2", elevation_m=4, metres_per_unit=0.1)
    r201 = _room(level2, "2-01", 0, name="Ward store", room_type="equipment_storage", department=store)
    r202 = _room(level2, "2-02", 5)
    annex = Building.objects.create(site=site, code="annex", name="Annex")
    annex1 = Floor.objects.create(building=annex, level=1, name="Annex level 1", elevation_m=0, metres_per_unit=0.1)
    a01 = _room(annex1, "A-01", 0, name="Day unit")

    pump = AssetType.objects.create(code="infusion-pump", name="Infusion pump", category="infusion",
                                    risk_class="high", pm_interval_days=365)
    monitor = AssetType.objects.create(code="monitor", name="Patient monitor", category="monitoring",
                                       risk_class="medium")
    fridge_type = AssetType.objects.create(code="vaccine-fridge", name="Vaccine fridge", category="cold_storage",
                                           risk_class="high", is_mobile=False)

    def asset(number, kind, **kwargs):
        defaults = {"manufacturer": "BD", "model": "Alaris 8100", "serial_number": f"SN-{number}"}
        return Asset.objects.create(asset_number=number, asset_type=kind, **{**defaults, **kwargs})

    assets = {
        "P1": asset("P1", pump, home_department=icu, udi="(01)00885403000019(21)P1"),
        "P2": asset("P2", pump),
        "P3": asset("P3", pump),
        "P4": asset("P4", pump),
        "P5": asset("P5", pump),
        "P6": asset("P6", pump, status="in_use"),
        "M1": asset("M1", monitor, manufacturer="Philips", model="IntelliVue MX450"),
        "F1": asset("F1", fridge_type, manufacturer="Liebherr", model="LKUv 1613", installed_room=r102),
    }
    tags = {
        "P1": _located(assets["P1"], "ibeacon:p1", floor, r101, 2.0, 2.0),     # 0.5 m from 1-01's centre
        "P2": _located(assets["P2"], "ibeacon:p2", floor, r102, 9.0, 2.0),     # 6.5 m
        "P3": _located(assets["P3"], "ibeacon:p3", level2, r201, 2.5, 2.0),    # one floor up
        "P4": _located(assets["P4"], "ibeacon:p4", annex1, a01, 2.5, 2.0),     # other building
        "P5": _located(assets["P5"], "ibeacon:p5", None, None, 0, 0),           # never located
        "P6": _located(assets["P6"], "ibeacon:p6", floor, r101, 3.0, 3.0),
        "M1": _located(assets["M1"], "ibeacon:m1", floor, r102, 6.0, 1.0),
    }
    return {
        "site": site, "floor": floor, "level2": level2, "annex1": annex1, "icu": icu,
        "rooms": {"1-01": r101, "1-02": r102, "1-03": r103, "2-01": r201, "2-02": r202, "A-01": a01},
        "types": {"pump": pump, "monitor": monitor, "fridge": fridge_type},
        "assets": assets, "tags": tags,
    }


@pytest.fixture
def history(world):
    """Three hours of P1's trail, one row an hour, newest last."""
    from locator.models import LocationHistory

    now = timezone.now().replace(microsecond=0)
    rooms = world["rooms"]
    rows = []
    for hours, room in ((3, rooms["2-01"]), (2, rooms["1-02"]), (1, rooms["1-01"])):
        rows.append(LocationHistory.objects.create(
            tag=world["tags"]["P1"], t=now - timedelta(hours=hours), floor=room.floor, room=room,
            x=room.centroid_x, y=room.centroid_y, accuracy_m=2.0, reason="room",
        ))
    return {"now": now, "rows": rows}
