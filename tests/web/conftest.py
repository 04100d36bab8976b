"""Fixtures of the web tests: a small constructed hospital, an in-process live server (daphne in a
thread, sharing this process's channel layer so a test can publish a move), and headless Chromium.

The constructed hospital (labelled test data), two floors of one building, metres:

    y 8-14   1N-01 | 1N-02 | 1N-03          (north rooms, doors onto the corridor)
    y 5-8    1-COR-01 | 1-COR-02 | 1-COR-03  (corridor, 10 m segments)
    y 0-5    1S-01 | 1S-02 | 1S-03 (lift)    (south rooms; 1S-01 and 1S-02 share a wall, no door)
             x 0-10   10-20   20-30

Floor 2 repeats it (2N-.., 2-COR-.., 2S-..); the lifts 1S-03 and 2S-03 are one shaft.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "pw-for-tests-only"


def rect(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def build_world():
    """Create the constructed hospital; returns a dict of the interesting objects."""
    from hospital.assets.models import Asset, AssetType
    from hospital.facility.models import Building, Department, Floor, Room, Site
    from locator.models import CurrentLocation, Tag

    site = Site.objects.create(code="web", name="Web test hospital")
    building = Building.objects.create(site=site, code="main", name="Main building")
    ward = Department.objects.create(site=site, code="ward", name="Test ward")
    floors, rooms = {}, {}
    for level in (1, 2):
        floor = Floor.objects.create(building=building, level=level, name=f"Level {level} - Test", elevation_m=4 * level,
                                     metres_per_unit=0.1, origin_x=0, origin_y=140, width_m=30, depth_m=14)
        floors[level] = floor
        for i, x in enumerate((0, 10, 20), start=1):
            for number, box, kind, name in (
                (f"{level}-COR-0{i}", rect(x, 5, x + 10, 8), "corridor", f"Corridor {i}"),
                (f"{level}N-0{i}", rect(x, 8, x + 10, 14), "patient_room", f"Patient room N{i}"),
                (f"{level}S-0{i}", rect(x, 0, x + 10, 5),
                 "stairs_lift" if i == 3 else "equipment_storage" if i == 2 else "patient_room",
                 "Lift" if i == 3 else "Equipment store" if i == 2 else f"Patient room S{i}"),
            ):
                rooms[number] = Room.objects.create(floor=floor, number=number, name=name, room_type=kind,
                                                    polygon=box, department=ward)
    pump_type = AssetType.objects.create(code="pump", name="Infusion pump", category="infusion", risk_class="high",
                                         pm_interval_days=365)
    chair_type = AssetType.objects.create(code="chair", name="Wheelchair", category="mobility", risk_class="low")
    now = timezone.now()
    assets = {}

    def place(number, atype, status, room, x, y, seen_ago_s=5.0):
        asset = Asset.objects.create(asset_number=number, asset_type=atype, manufacturer="Acme", model="Flow 1",
                                     serial_number=number, status=status, home_department=ward)
        tag = Tag.objects.create(tag_id=f"mac:{len(assets):012X}", kind="mac", asset=asset)
        seen = now - timedelta(seconds=seen_ago_s)
        CurrentLocation.objects.create(tag=tag, floor=rooms[room].floor, room=rooms[room], x=x, y=y, accuracy_m=1.5,
                                       method="multilateration", fixed_at=seen, last_seen_at=seen)
        assets[number] = asset
        return asset

    place("P-ORIGIN-INUSE", pump_type, "in_use", "1S-01", 4.0, 2.0)      # in the origin room, but in use
    place("P-NORTH", pump_type, "available", "1N-01", 5.0, 12.0)         # ~9.5 m walk, 9.5 m straight
    place("P-BEHIND-WALL", pump_type, "available", "1S-02", 11.0, 2.5)  # 6 m straight, ~17.7 m walk
    place("P-UPSTAIRS", pump_type, "available", "2S-01", 5.0, 2.5)       # straight above, via the lift
    place("P-STALE", pump_type, "available", "1N-02", 12.0, 10.0, seen_ago_s=7200)  # not heard for 2 h
    place("W-1", chair_type, "available", "1N-03", 25.0, 11.0)
    return {"site": site, "building": building, "floors": floors, "rooms": rooms, "assets": assets,
            "pump_type": pump_type, "department": ward}


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture
def user_in_role(db):
    """Make a user in one of the four roles (groups are synced by migrate)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from hospital import roles

    def make(role: str, username: str | None = None):
        user = get_user_model().objects.create_user(
            username=username or role.replace(" ", "_"), password=PASSWORD, first_name=(role or "no").split()[0].title(),
            is_staff=role == roles.ADMINISTRATOR,
        )
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


# --------------------------------------------------------------------------- live server (in process)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}") from None
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class InProcessServer:
    """daphne serving hospital.asgi in a thread of the test process.

    In the test process, so a test can move a tag with ``locator.services.publish_floor_updates`` on the
    same channel layer (the embedded in-memory one by default, Redis when REDIS_URL is set), exactly as
    the demo runs ingest in a thread beside daphne. The Twisted reactor runs once per process, so this
    is session-scoped.
    """

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = None

    def start(self):
        from channels.layers import channel_layers
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server
        from django.conf import settings
        from django.db import connection

        for host in ("127.0.0.1", "localhost"):
            if host not in settings.ALLOWED_HOSTS:
                settings.ALLOWED_HOSTS.append(host)
        from hospital.asgi import application

        origins = application.application_mapping["websocket"].allowed_origins
        for host in ("127.0.0.1", "localhost"):
            if host not in origins:
                origins.append(host)
        # Server threads must not keep database connections open past a request: the test database is
        # flushed and finally dropped while the server still runs.
        self.old_max_age = connection.settings_dict.get("CONN_MAX_AGE", 0)
        connection.settings_dict["CONN_MAX_AGE"] = 0
        channel_layers.backends.clear()  # a fresh layer bound to the server's event loop
        self.server = Server(application=application,
                             endpoints=build_endpoint_description_strings(host="127.0.0.1", port=self.port),
                             signal_handlers=False, verbosity=0)
        self.thread = threading.Thread(target=self.server.run, name="live-daphne", daemon=True)
        self.thread.start()
        wait_for_port(self.port)
        return self

    def stop(self):
        from django.db import connection
        from twisted.internet import reactor

        if reactor.running:
            reactor.callFromThread(reactor.stop)
        self.thread.join(10)
        connection.settings_dict["CONN_MAX_AGE"] = self.old_max_age


@pytest.fixture(scope="module")
def test_database(django_db_setup, django_db_blocker):
    """The test database, even when no test of this session asked pytest-django for one (a session of
    browser tests only: their data is committed by hand, so they do not use the ``db`` fixtures)."""
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        created = None
        if connection.settings_dict["NAME"] != connection.creation._get_test_db_name():
            created = setup_databases(verbosity=0, interactive=False, aliases={"default"})
        yield
        if created is not None:
            teardown_databases(created, verbosity=0)


@pytest.fixture(scope="session")
def live_server_url(django_db_setup):
    server = InProcessServer().start()
    yield server.url
    server.stop()


# --------------------------------------------------------------------------- browser


def chromium_available() -> bool:
    return Path(CHROMIUM).exists()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for one test module. Module-scoped on purpose: while Playwright's sync API is
    active the thread counts as running an event loop, which Django's ORM and asyncio.run refuse."""
    if not chromium_available():
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"{CHROMIUM} is missing but REQUIRE_SERVICES=1")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
