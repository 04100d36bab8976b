"""Fixtures for the maintenance tests (constructed, labelled test data), imported by the other
test_maintenance_*.py modules with ``from .test_maintenance_fixtures import *``."""

import datetime as dt

import numpy as np
import pytest
from django.utils import timezone

__all__ = ["world", "usage_history", "make_order", "ago"]


def ago(days: float, hours: float = 0.0) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days, hours=hours)


@pytest.fixture
def world(db):
    """Two floors, rooms of several types, pumps (high risk, 365 days or 1000 h) and wheelchairs (low risk,
    365 days), each pump with a tag. TEST DATA."""
    from hospital.assets.models import Asset, AssetType
    from hospital.facility.models import Building, Department, Floor, Room, Site
    from locator.models import Tag

    site = Site.objects.create(code="tst", name="Test site")
    building = Building.objects.create(site=site, code="main", name="Main")
    ward = Department.objects.create(site=site, code="ward", name="Ward A")
    f1 = Floor.objects.create(building=building, level=1, name="Level 1", elevation_m=0, metres_per_unit=0.1)
    f2 = Floor.objects.create(building=building, level=2, name="Level 2", elevation_m=4, metres_per_unit=0.1)
    sq = [[0, 0], [5, 0], [5, 4], [0, 4]]
    rooms = {
        "patient": Room.objects.create(floor=f1, number="1-01", room_type="patient_room", polygon=sq, department=ward),
        "storage": Room.objects.create(floor=f1, number="1-02", room_type="equipment_storage", polygon=sq),
        "corridor": Room.objects.create(floor=f1, number="1-COR", room_type="corridor", polygon=sq),
        "icu": Room.objects.create(floor=f2, number="2-01", room_type="icu_bay", polygon=sq, department=ward),
    }
    pump = AssetType.objects.create(code="pump", name="Infusion pump", category="infusion", risk_class="high",
                                    pm_interval_days=365, pm_interval_hours=1000)
    chair = AssetType.objects.create(code="chair", name="Wheelchair", category="mobility", risk_class="low",
                                     pm_interval_days=365)
    commissioned = timezone.localdate() - dt.timedelta(days=1000)
    pumps, chairs = [], []
    for i in range(1, 5):
        a = Asset.objects.create(asset_number=f"P-{i}", asset_type=pump, manufacturer="BD", model="Alaris 8100",
                                 serial_number=f"SP{i}", home_department=ward, commissioned_on=commissioned)
        Tag.objects.create(tag_id=f"test-tag-p{i}", kind="mac", asset=a)
        pumps.append(a)
    other = Asset.objects.create(asset_number="P-9", asset_type=pump, manufacturer="BD", model="Alaris GH",
                                 serial_number="SP9", home_department=ward, commissioned_on=commissioned)
    for i in range(1, 3):
        chairs.append(Asset.objects.create(asset_number=f"W-{i}", asset_type=chair, manufacturer="Invacare",
                                           model="Action 3", serial_number=f"SW{i}", commissioned_on=commissioned))
    return {"site": site, "ward": ward, "floors": (f1, f2), "rooms": rooms, "pump": pump, "chair": chair,
            "pumps": pumps, "other_model": other, "chairs": chairs}


def usage_history(assets_and_rates, *, days: int = 200, today=None, source: str = "import"):
    """Daily usage rows at a constant rate per asset for ``days`` days before today. TEST DATA."""
    from hospital.maintenance.models import DailyUsage

    today = today or timezone.localdate()
    rows = []
    for asset, rate in assets_and_rates:
        for d in range(1, days + 1):
            rows.append(DailyUsage(asset=asset, date=today - dt.timedelta(days=d), hours=float(rate), source=source))
    DailyUsage.objects.bulk_create(rows)


def make_order(asset, *, kind="preventive", status="scheduled", due_in=10, risk=None, plan=None, **kw):
    from hospital.maintenance import services

    today = timezone.localdate()
    due = today + dt.timedelta(days=due_in) if due_in is not None else None
    order = services.create_work_order(asset, kind, plan=plan, title=kw.pop("title", f"{kind} {asset.asset_number}"),
                                       status="scheduled" if status not in ("open", "scheduled") else status,
                                       due_date=due, planned_date=due, due_driver="calendar",
                                       risk_class=risk or asset.asset_type.risk_class, **kw)
    return order


def test_fixture_world_is_labelled_test_data(world):
    assert len(world["pumps"]) == 4 and world["pump"].pm_interval_hours == 1000
    assert np.isfinite(world["pump"].pm_interval_days)
