"""The floor websocket: who may connect, the snapshot, then deltas, status changes and resync requests.

Through the real ASGI stack (origin check, session authentication, URL routing). Transactional: the
consumer reads the database from other threads.
"""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from hospital import roles
from locator import services
from locator.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED
from locator.models import CurrentLocation

pytestmark = pytest.mark.django_db(transaction=True)


def application():
    from hospital.asgi import application  # imported late: ALLOWED_HOSTS is set up for tests by then

    return application


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(path: str, cookie: bytes | None = None, origin: bytes = b"http://testserver"):
    headers = [(b"origin", origin), (b"host", b"testserver")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application(), path, headers=headers)


async def refused_with(path, cookie=None, origin=b"http://testserver"):
    comm = communicator(path, cookie, origin)
    connected, code = await comm.connect()
    await comm.disconnect()
    return connected, code


def test_anonymous_unauthorised_unknown_floor_and_foreign_origin_are_refused(world, user_in_role):
    floor = world["floors"][1]
    nobody = session_cookie(user_in_role("", username="nobody"))
    nurse = session_cookie(user_in_role(roles.NURSE))

    async def run():
        assert await refused_with(f"/ws/floors/{floor.pk}/") == (False, CLOSE_UNAUTHENTICATED)
        assert await refused_with(f"/ws/floors/{floor.pk}/", nobody) == (False, CLOSE_FORBIDDEN)
        assert await refused_with("/ws/floors/999999/", nurse) == (False, CLOSE_NOT_FOUND)
        connected, _ = await refused_with(f"/ws/floors/{floor.pk}/", nurse, origin=b"https://evil.example")
        assert not connected

    asyncio.run(run())


def test_snapshot_then_delta_then_status_change(world, user_in_role):
    floor = world["floors"][1]
    nurse_user = user_in_role(roles.NURSE)
    nurse = session_cookie(nurse_user)
    pump = world["assets"]["P-NORTH"]
    services.floor_memory.clear()

    async def run():
        comm = communicator(f"/ws/floors/{floor.pk}/", nurse)
        connected, _ = await comm.connect()
        assert connected
        snapshot = await comm.receive_json_from(timeout=5)
        assert snapshot["type"] == "floor.snapshot" and snapshot["floor"] == floor.pk
        markers = {m["number"]: m for m in snapshot["markers"]}
        assert set(markers) == {"P-ORIGIN-INUSE", "P-NORTH", "P-BEHIND-WALL", "P-STALE", "W-1"}
        assert markers["P-NORTH"]["x"] == 5.0

        # A move through the services layer reaches the browser as a delta.
        def move():
            loc = CurrentLocation.objects.get(tag__asset=pump)
            loc.x, loc.y = 15.0, 11.0
            loc.room = world["rooms"]["1N-02"]
            loc.save()
            services.publish_floor_updates([loc])
            return loc.tag_id

        tag_id = await sync_to_async(move)()
        delta = await comm.receive_json_from(timeout=5)
        assert delta["type"] == "floor.markers" and delta["gone"] == []
        assert delta["markers"] == [{"tag": tag_id, "x": 15.0, "y": 11.0, "accuracy_m": 1.5,
                                     "room": world["rooms"]["1N-02"].pk, "t": delta["markers"][0]["t"]}]

        # A status change (audited service) reaches it as floor.assets with the full details.
        from hospital.assets.models import Asset

        def flag():
            services.change_asset_status(Asset.objects.get(pk=pump.pk), "needs_cleaning", nurse_user)

        await sync_to_async(flag)()
        update = await comm.receive_json_from(timeout=5)
        assert update["type"] == "floor.assets" and update["markers"][0]["status"] == "needs_cleaning"
        assert update["markers"][0]["number"] == "P-NORTH" and update["markers"][0]["x"] == 15.0

        # The client asks again: snapshot, room tints, details of unknown tags, ping.
        await comm.send_json_to({"type": "floor.snapshot"})
        again = await comm.receive_json_from(timeout=5)
        assert again["type"] == "floor.snapshot"
        assert {m["number"]: m for m in again["markers"]}["P-NORTH"]["status"] == "needs_cleaning"
        await comm.send_json_to({"type": "floor.rooms"})
        assert (await comm.receive_json_from(timeout=5))["type"] == "floor.rooms"
        await comm.send_json_to({"type": "floor.describe", "tags": [tag_id, 123456789]})
        described = await comm.receive_json_from(timeout=5)
        assert described["type"] == "floor.assets" and [m["tag"] for m in described["markers"]] == [tag_id]
        await comm.send_to(text_data="not json")  # ignored, the connection stays
        await comm.send_json_to({"type": "floor.ping"})
        assert await comm.receive_json_from(timeout=5) == {"type": "floor.pong"}
        await comm.disconnect()

    asyncio.run(run())
    services.floor_memory.clear()


def test_asset_filtered_snapshot_and_other_floors_stay_quiet(world, user_in_role):
    f1, f2 = world["floors"][1], world["floors"][2]
    nurse = session_cookie(user_in_role(roles.NURSE))
    pump = world["assets"]["P-NORTH"]
    services.floor_memory.clear()

    async def run():
        one = communicator(f"/ws/floors/{f1.pk}/?asset={pump.pk}", nurse)
        other = communicator(f"/ws/floors/{f2.pk}/", nurse)
        assert (await one.connect())[0] and (await other.connect())[0]
        snap = await one.receive_json_from(timeout=5)
        assert [m["number"] for m in snap["markers"]] == ["P-NORTH"]
        await other.receive_json_from(timeout=5)  # floor 2's snapshot

        def move_on_floor_1():
            services.publish_floor_updates([CurrentLocation.objects.get(tag__asset=pump)])

        await sync_to_async(move_on_floor_1)()
        assert (await one.receive_json_from(timeout=5))["type"] == "floor.markers"
        assert await other.receive_nothing(timeout=0.3)
        await one.disconnect()
        await other.disconnect()

    asyncio.run(run())
    services.floor_memory.clear()
