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


@pytest.fixture(scope="session")
def mqtt_url():
    """The broker tests talk to: MQTT_URL (Mosquitto in CI), else an embedded amqtt on a free port."""
    import os

    from django.conf import settings

    if not settings.MQTT_EMBEDDED:
        yield settings.MQTT_URL
        return
    from sensors.mqtt.embedded import EmbeddedBroker
    from tests.support.mosquitto import free_port

    broker = EmbeddedBroker(port=free_port())
    broker.start()
    os.environ.setdefault("TEST_EMBEDDED_BROKER", "1")
    yield f"mqtt://tests@127.0.0.1:{broker.port}?protocol=3"
    broker.stop()


@pytest.fixture
def tracked_world(gateway_factory, floor):
    """A gateway, an equipment tag and a RuuviTag fridge sensor (labelled test data)."""
    from hospital.assets.models import Asset, AssetType
    from locator.models import Tag
    from sensors.models import Sensor

    gateway = gateway_factory("gw-a")
    pump_type = AssetType.objects.create(code="pump", name="Infusion pump", category="infusion", risk_class="high")
    pump = Asset.objects.create(asset_number="A-1", asset_type=pump_type, manufacturer="BD", model="Alaris 8100",
                                serial_number="S1")
    tag = Tag.objects.create(tag_id=f"ibeacon:{TEST_UUID}:1:7", kind="ibeacon", asset=pump)
    sensor = Sensor.objects.create(sensor_id="fridge-1", name="Fridge 1", mac_address=RUUVI_MAC, ble_format="ruuvi_v5",
                                   room=floor.rooms.first(), profile="vaccine_fridge")
    return {"gateway": gateway, "tag": tag, "sensor": sensor, "site": floor.building.site.code}


TEST_UUID = "e2c56db5-dffb-48d2-b060-d0f5a71096e0"
RUUVI_MAC = "CB:B8:33:4C:88:4F"
# Ruuvi data format 5 "valid data" vector from Ruuvi's specification: 24.3 C, 53.49 %, 100044 Pa.
RUUVI_V5_VALID = bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")


def ibeacon_payload(major: int, minor: int, uuid: str = TEST_UUID, tx: int = -59) -> bytes:
    import uuid as uuidlib

    return b"\x02\x15" + uuidlib.UUID(uuid).bytes + major.to_bytes(2, "big") + minor.to_bytes(2, "big") + (
        tx & 0xFF
    ).to_bytes(1, "big")
