"""Shared fixtures."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from hospital import roles


@pytest.fixture
def make_user(db):
    """Create a user in one of the four roles (groups are synced by migrate)."""

    def make(role: str, username: str | None = None):
        user = get_user_model().objects.create_user(
            username=username or role.replace(" ", "_"), password="pw-for-tests-only",
            is_staff=role == roles.ADMINISTRATOR,
        )
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


def pytest_sessionstart(session):
    """In CI (REQUIRE_SERVICES=1) refuse to run on the embedded defaults: fail loudly instead."""
    import os

    if os.environ.get("REQUIRE_SERVICES") != "1":
        return
    from django.conf import settings

    problems = []
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        problems.append("DATABASE_URL does not point at PostgreSQL")
    if settings.MQTT_EMBEDDED:
        problems.append("MQTT_URL is not set (would use the embedded broker)")
    if not settings.REDIS_URL:
        problems.append("REDIS_URL is not set (would use the in-memory channel layer)")
    if problems:
        raise pytest.UsageError("REQUIRE_SERVICES=1 but " + "; ".join(problems))


@pytest.fixture
def floor(db):
    """A small floor with two rooms (labelled test data)."""
    from hospital.facility.models import Building, Floor, Room, Site

    site = Site.objects.create(code="tst", name="Test site")
    building = Building.objects.create(site=site, code="main", name="Main")
    fl = Floor.objects.create(building=building, level=1, name="Level 1", elevation_m=0, metres_per_unit=0.1)
    Room.objects.create(floor=fl, number="1-01", room_type="patient_room", polygon=[[0, 0], [5, 0], [5, 4], [0, 4]])
    Room.objects.create(floor=fl, number="1-02", room_type="equipment_storage", polygon=[[5, 0], [10, 0], [10, 4], [5, 4]])
    return fl


@pytest.fixture
def gateway_factory(floor):
    from sensors.models import Gateway

    def make(gateway_id: str, x: float = 2.5, y: float = 2.0, **kwargs):
        return Gateway.objects.create(
            gateway_id=gateway_id, site=floor.building.site, floor=floor, x=x, y=y, z=2.7, **kwargs
        )

    return make
