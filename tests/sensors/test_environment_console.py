"""The live console's websocket: authenticated and permission-checked in connect(); a snapshot on
connect, then deltas."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from hospital import roles
from sensors.environment.alarm_service import AlarmService
from sensors.environment.routing import websocket_urlpatterns
from tests.sensors.test_environment_support import T0, Clock, every, feed_series, make_world

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(db, floor):
    return make_world(floor)


def communicator(user, path="/ws/alarms/"):
    c = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    c.scope["user"] = user
    return c


def test_anonymous_and_unauthorised_users_are_rejected(make_user):
    async def attempt(user):
        c = communicator(user)
        connected, code = await c.connect()
        await c.disconnect()
        return connected, code

    assert async_to_sync(attempt)(AnonymousUser()) == (False, 4401)
    outsider = make_user(roles.NURSE, "outsider")
    outsider.groups.clear()
    assert async_to_sync(attempt)(outsider) == (False, 4403)


def test_snapshot_on_connect_then_deltas(world, make_user):
    svc = AlarmService(clock=Clock())
    feed_series(svc, world["iso"], "differential_pressure_pa", [(t, -1.0) for t in every(T0, T0 + 100, 10)])
    manager = make_user(roles.FACILITY_MANAGER)
    site = world["site"]

    async def scenario():
        c = communicator(manager, f"/ws/alarms/site/{site.pk}/")
        connected, _ = await c.connect()
        assert connected
        snap = await c.receive_json_from(timeout=5)
        assert snap["type"] == "alarms.snapshot"
        keys = {(a["key"], a["rule"]) for a in snap["alarms"]}
        assert ("iso-1", "pressure_not_negative") in keys
        assert snap["service"]["running"] is True
        # The fridge warms up: the console hears about its alarm without asking.
        await sync_to_async(feed_series)(svc, world["fridge"], "temperature_c",
                                         [(t, 13.0) for t in every(T0 + 110, T0 + 110 + 960, 60)])
        seen = []
        while True:
            msg = await c.receive_json_from(timeout=5)
            assert msg["type"] == "alarms.delta"
            seen += [(a["key"], a["rule"], a["state"], a["priority"]) for a in msg["alarms"]]
            if ("fridge-1", "temperature_high_critical", "active_unacknowledged", "high") in seen:
                break
        await c.send_json_to({"type": "alarms.ping"})
        assert (await c.receive_json_from(timeout=5))["type"] == "alarms.pong"
        await c.disconnect()

    async_to_sync(scenario)()


def test_nurses_may_watch_the_console(make_user):
    nurse = make_user(roles.NURSE)

    async def attempt():
        c = communicator(nurse)
        connected, _ = await c.connect()
        msg = await c.receive_json_from(timeout=5)
        await c.disconnect()
        return connected, msg["type"]

    assert async_to_sync(attempt)() == (True, "alarms.snapshot")
